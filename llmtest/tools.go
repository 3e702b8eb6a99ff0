package llmtest

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/llmgate/llmgate/wire"
)

// toolPlan says which functions every choice of a chat request calls.
type toolPlan struct {
	names  []string
	legacy bool // answer with function_call (legacy functions)
}

// planTools decides, deterministically, whether the model calls tools:
//
//   - tool_choice naming a function: that function;
//   - "required": the tools the last message mentions, else the first tool;
//   - "auto" (the default when tools are given): the tools the last
//     message mentions when it is a user message, else none (so an agent
//     loop that sends tool results back gets a text answer);
//   - "none": none.
//
// A message mentions a tool when its text holds the tool's name, ignoring
// case and reading "_" and "-" as spaces in both ("get_weather",
// "get-weather" and "Get weather" all mention get_weather). Several tools are called in parallel
// unless parallel_tool_calls is false, which keeps the first. The legacy
// functions / function_call follow the same rules and call at most one.
func planTools(req *wire.ChatCompletionRequest) toolPlan {
	var names []string
	var choice *wire.ToolChoice
	legacy := false
	switch {
	case len(req.Tools) > 0:
		for i := range req.Tools {
			names = append(names, req.Tools[i].Name())
		}
		choice = req.ToolChoice
	case len(req.Functions) > 0:
		legacy = true
		for _, f := range req.Functions {
			names = append(names, f.Name)
		}
		if fc := req.FunctionCall; fc != nil {
			choice = &wire.ToolChoice{Mode: fc.Mode, Function: fc.Name}
		}
	default:
		return toolPlan{}
	}
	mode := wire.ToolChoiceAuto
	if choice != nil {
		if n := choice.Name(); n != "" {
			return toolPlan{names: []string{n}, legacy: legacy}
		}
		mode = choice.Mode
		if a := choice.Allowed; a != nil {
			// allowed_tools: its mode, over the tools it names
			mode, names = a.Mode, slices.DeleteFunc(names, func(n string) bool {
				return !slices.ContainsFunc(a.Tools, func(t wire.ToolChoice) bool { return t.Name() == n })
			})
			if len(names) == 0 {
				return toolPlan{}
			}
		}
	}
	var last *wire.Message
	if n := len(req.Messages); n > 0 {
		last = &req.Messages[n-1]
	}
	var called []string
	switch mode {
	case wire.ToolChoiceRequired:
		if last != nil {
			called = mentioned(names, last.Content.String())
		}
		if len(called) == 0 {
			called = names[:1]
		}
	case wire.ToolChoiceAuto:
		if last != nil && last.Role == wire.RoleUser {
			called = mentioned(names, last.Content.String())
		}
	}
	if len(called) > 1 && (legacy || (req.ParallelToolCalls != nil && !*req.ParallelToolCalls)) {
		called = called[:1]
	}
	return toolPlan{names: called, legacy: legacy}
}

// mentioned returns the names text mentions, in names order.
func mentioned(names []string, text string) []string {
	spaced := strings.NewReplacer("_", " ", "-", " ")
	text = spaced.Replace(strings.ToLower(text))
	var out []string
	for _, n := range names {
		if n != "" && strings.Contains(text, spaced.Replace(strings.ToLower(n))) {
			out = append(out, n)
		}
	}
	return out
}

// customTool returns the named custom tool of the request, or nil.
func customTool(req *wire.ChatCompletionRequest, name string) *wire.CustomTool {
	for i := range req.Tools {
		if c := req.Tools[i].Custom; c != nil && c.Name == name {
			return c
		}
	}
	return nil
}

// parameters returns the JSON Schema of the named function.
func parameters(req *wire.ChatCompletionRequest, name string) json.RawMessage {
	for _, t := range req.Tools {
		if t.Function.Name == name {
			return t.Function.Parameters
		}
	}
	for _, f := range req.Functions {
		if f.Name == name {
			return f.Parameters
		}
	}
	return nil
}

// toolCalls generates the calls of one choice: arguments from each
// function's parameters schema, ids "call_" + 24 letters and digits.
func (m *model) toolCalls(req *wire.ChatCompletionRequest, plan toolPlan, rng *rand.Rand) ([]wire.ToolCall, error) {
	calls := make([]wire.ToolCall, 0, len(plan.names))
	for _, name := range plan.names {
		if ct := customTool(req, name); ct != nil {
			calls = append(calls, wire.ToolCall{
				ID:     "call_" + randomID(rng, 24),
				Type:   wire.ToolCustom,
				Custom: &wire.CustomCall{Name: name, Input: customInput(ct.Format, rng, m.words)},
			})
			continue
		}
		args, err := generateJSON(parameters(req, name), rng, m.words)
		if err != nil {
			return nil, err
		}
		calls = append(calls, wire.ToolCall{
			ID:       "call_" + randomID(rng, 24),
			Type:     "function",
			Function: wire.FunctionCall{Name: name, Arguments: args},
		})
	}
	return calls, nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomID(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rng.IntN(len(idAlphabet))]
	}
	return string(b)
}
