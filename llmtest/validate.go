package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/llmgate/llmgate/wire"
)

// Limits of the parameters llmtest validates, as OpenAI documents them.
const (
	maxChoices     = 128
	maxTopLogprobs = 20
	maxStops       = 4
)

var functionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func badJSON(err error) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON, "",
		"We could not parse the JSON body of your request: %v", err)
}

func inRange(param string, v *float64, lo, hi float64) *wire.Error {
	if v != nil && (*v < lo || *v > hi) {
		return wire.InvalidParam(param, "%g is not a valid value for '%s': it must be between %g and %g.", *v, param, lo, hi)
	}
	return nil
}

// sampling validates the parameters both endpoints share and returns them
// as params.
func (h *handler) sampling(temperature, topP, freq, pres *float64, bias map[string]float64, n *int, stop wire.Stop, maxTokens *int, maxParam string) (params, *wire.Error) {
	p := defaultParams()
	for _, e := range []*wire.Error{
		inRange("temperature", temperature, 0, 2),
		inRange("top_p", topP, 0, 1),
		inRange("frequency_penalty", freq, -2, 2),
		inRange("presence_penalty", pres, -2, 2),
	} {
		if e != nil {
			return p, e
		}
	}
	if temperature != nil {
		p.temperature = *temperature
	}
	if topP != nil {
		p.topP = *topP
	}
	if freq != nil {
		p.freq = *freq
	}
	if pres != nil {
		p.pres = *pres
	}
	if len(bias) > 0 {
		p.bias = make(map[int32]float64, len(bias))
		for k, v := range bias {
			id, err := strconv.Atoi(k)
			if err != nil || !h.m.validToken(id) {
				return p, wire.InvalidParam("logit_bias", "Invalid key in 'logit_bias': %q is not a token id.", k)
			}
			if v < -100 || v > 100 {
				return p, wire.InvalidParam("logit_bias", "Invalid value for token %s in 'logit_bias': %g is not between -100 and 100.", k, v)
			}
			p.bias[int32(id)] = v
		}
	}
	if n != nil && (*n < 1 || *n > maxChoices) {
		return p, wire.InvalidParam("n", "%d is not a valid value for 'n': it must be between 1 and %d.", *n, maxChoices)
	}
	if len(stop) > maxStops {
		return p, wire.InvalidParam("stop", "'stop' holds %d sequences; at most %d are allowed.", len(stop), maxStops)
	}
	if maxTokens != nil && *maxTokens < 1 {
		return p, wire.InvalidParam(maxParam, "%d is not a valid value for '%s': it must be at least 1.", *maxTokens, maxParam)
	}
	return p, nil
}

// validateChat checks what llmtest needs of a chat request; it is not the
// full validator of middleware.Decode.
func (h *handler) validateChat(req *wire.ChatCompletionRequest) (params, *wire.Error) {
	if e := h.checkModel(req.Model); e != nil {
		return params{}, e
	}
	if len(req.Messages) == 0 {
		return params{}, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeMissingRequired, "messages",
			"'messages' must hold at least one message.")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case wire.RoleSystem, wire.RoleDeveloper, wire.RoleUser, wire.RoleAssistant, wire.RoleTool, wire.RoleFunction:
		default:
			return params{}, wire.InvalidParam(fmt.Sprintf("messages[%d].role", i), "Invalid role %q.", m.Role)
		}
	}
	maxTok, maxParam := req.MaxTokens, "max_tokens"
	if req.MaxCompletionTokens != nil {
		maxTok, maxParam = req.MaxCompletionTokens, "max_completion_tokens"
	}
	p, e := h.sampling(req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.LogitBias, req.N, req.Stop, maxTok, maxParam)
	if e != nil {
		return p, e
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > maxTopLogprobs {
			return p, wire.InvalidParam("top_logprobs", "%d is not a valid value for 'top_logprobs': it must be between 0 and %d.", *req.TopLogprobs, maxTopLogprobs)
		}
		if req.Logprobs == nil || !*req.Logprobs {
			return p, wire.InvalidParam("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.")
		}
	}
	if req.Logprobs != nil && *req.Logprobs {
		p.topN = 0
		if req.TopLogprobs != nil {
			p.topN = *req.TopLogprobs
		}
	}
	if req.StreamOptions != nil && !req.Stream {
		return p, wire.InvalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true.")
	}
	if e := checkFunctions(req); e != nil {
		return p, e
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case wire.FormatText, wire.FormatJSONObject:
		case wire.FormatJSONSchema:
			if rf.JSONSchema == nil || rf.JSONSchema.Name == "" {
				return p, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeMissingRequired,
					"response_format.json_schema.name", "A json_schema response format needs json_schema.name.")
			}
			if e := checkSchema("response_format.json_schema.schema", rf.JSONSchema.Schema); e != nil {
				return p, e
			}
		default:
			return p, wire.InvalidParam("response_format.type", "Invalid response format type %q.", rf.Type)
		}
	}
	return p, nil
}

// checkFunctions validates tools, tool_choice, functions and function_call.
func checkFunctions(req *wire.ChatCompletionRequest) *wire.Error {
	names := map[string]bool{}
	for i := range req.Tools {
		t := &req.Tools[i]
		param := fmt.Sprintf("tools[%d]", i)
		switch t.Type {
		case wire.ToolFunction:
			if e := checkFunction(param+".function", &t.Function); e != nil {
				return e
			}
		case wire.ToolCustom:
			if e := checkCustom(param+".custom", t.Custom); e != nil {
				return e
			}
		default:
			return wire.InvalidParam(param+".type", "Invalid tool type %q; \"function\" and \"custom\" are supported.", t.Type)
		}
		names[t.Name()] = true
	}
	for i := range req.Functions {
		param := fmt.Sprintf("functions[%d]", i)
		if e := checkFunction(param, &req.Functions[i]); e != nil {
			return e
		}
		names[req.Functions[i].Name] = true
	}
	if tc := req.ToolChoice; tc != nil {
		if len(req.Tools) == 0 {
			return wire.InvalidParam("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.")
		}
		switch {
		case tc.Name() != "":
			if !names[tc.Name()] {
				return wire.InvalidParam("tool_choice", "Tool choice names tool %q, which is not in 'tools'.", tc.Name())
			}
		case tc.Allowed != nil:
			if m := tc.Allowed.Mode; m != wire.ToolChoiceAuto && m != wire.ToolChoiceRequired {
				return wire.InvalidParam("tool_choice.allowed_tools.mode", "Invalid mode %q.", m)
			}
			for i := range tc.Allowed.Tools {
				if n := tc.Allowed.Tools[i].Name(); !names[n] {
					return wire.InvalidParam(fmt.Sprintf("tool_choice.allowed_tools.tools[%d]", i), "Allowed tool %q is not in 'tools'.", n)
				}
			}
		case tc.Mode != wire.ToolChoiceNone && tc.Mode != wire.ToolChoiceAuto && tc.Mode != wire.ToolChoiceRequired:
			return wire.InvalidParam("tool_choice", "Invalid tool_choice %q.", tc.Mode)
		}
	}
	if fc := req.FunctionCall; fc != nil {
		if len(req.Functions) == 0 {
			return wire.InvalidParam("function_call", "'function_call' is only allowed when 'functions' are specified.")
		}
		if fc.Name != "" && !names[fc.Name] {
			return wire.InvalidParam("function_call", "function_call names function %q, which is not in 'functions'.", fc.Name)
		}
		if fc.Name == "" && fc.Mode != wire.ToolChoiceNone && fc.Mode != wire.ToolChoiceAuto {
			return wire.InvalidParam("function_call", "Invalid function_call %q.", fc.Mode)
		}
	}
	return nil
}

// checkCustom checks a custom tool: its name, and its format (text, or a
// lark or regex grammar with a definition).
func checkCustom(param string, c *wire.CustomTool) *wire.Error {
	if c == nil {
		return wire.InvalidParam(param, "A custom tool needs 'custom'.")
	}
	if !functionName.MatchString(c.Name) {
		return wire.InvalidParam(param+".name", "Invalid tool name %q: use a-z, A-Z, 0-9, underscores and dashes, at most 64.", c.Name)
	}
	switch f := c.Format; {
	case f == nil || f.Type == wire.CustomFormatText:
	case f.Type != wire.CustomFormatGrammar:
		return wire.InvalidParam(param+".format.type", "Invalid format type %q.", f.Type)
	case f.Grammar == nil || f.Grammar.Definition == "":
		return wire.InvalidParam(param+".format.grammar", "A grammar format needs a grammar definition.")
	case f.Grammar.Syntax != "lark" && f.Grammar.Syntax != "regex":
		return wire.InvalidParam(param+".format.grammar.syntax", "Invalid grammar syntax %q.", f.Grammar.Syntax)
	}
	return nil
}

func checkFunction(param string, f *wire.FunctionDefinition) *wire.Error {
	if !functionName.MatchString(f.Name) {
		return wire.InvalidParam(param+".name", "Invalid function name %q: use a-z, A-Z, 0-9, underscores and dashes, at most 64.", f.Name)
	}
	return checkSchema(param+".parameters", f.Parameters)
}

// checkSchema requires a schema, when given, to be a JSON object.
func checkSchema(param string, raw json.RawMessage) *wire.Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return wire.InvalidParam(param, "'%s' must be a JSON Schema object.", param)
	}
	return nil
}
