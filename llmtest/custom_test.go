package llmtest

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
	"github.com/openai/openai-go/v3"
)

// queryPattern is the regex grammar of TestOpenAICustomTools' custom tool.
const queryPattern = `SELECT [a-z]+ FROM (users|orders) LIMIT \d{1,3}`

func queryTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionCustomTool(openai.ChatCompletionCustomToolCustomParam{
		Name: "run_query", Description: openai.String("Run a read-only SQL query."),
		Format: openai.ChatCompletionCustomToolCustomFormatUnionParam{OfGrammar: &openai.ChatCompletionCustomToolCustomFormatGrammarParam{
			Grammar: openai.ChatCompletionCustomToolCustomFormatGrammarGrammarParam{Definition: queryPattern, Syntax: "regex"},
		}},
	})
}

// TestOpenAICustomTools: a custom tool named by tool_choice, or the only
// one allowed_tools lets the model call, is called with input its regex
// grammar matches, counted as tokens(name) + tokens(input) + 3; streamed,
// the input comes in pieces that join to the same text.
func TestOpenAICustomTools(t *testing.T) {
	client := newClient(t, Config{})
	ctx := context.Background()
	match := regexp.MustCompile(`^(?:` + queryPattern + `)$`)
	for _, tc := range []struct {
		name   string
		choice openai.ChatCompletionToolChoiceOptionUnionParam
	}{
		{"named", openai.ToolChoiceOptionCustomToolChoice(openai.ChatCompletionNamedToolChoiceCustomCustomParam{Name: "run_query"})},
		{"allowed", openai.ToolChoiceOptionAllowedTools(openai.ChatCompletionAllowedToolsParam{
			Mode:  openai.ChatCompletionAllowedToolsModeRequired,
			Tools: []map[string]any{{"type": "custom", "custom": map[string]any{"name": "run_query"}}},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:      "llmtest-1",
				Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("How many users are there?")},
				Tools:      []openai.ChatCompletionToolUnionParam{weatherTool(t), queryTool()},
				ToolChoice: tc.choice,
				Seed:       openai.Int(3),
			}
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
				t.Fatalf("choice %+v", c)
			}
			call := c.Message.ToolCalls[0]
			if call.Type != "custom" || call.Custom.Name != "run_query" || !match.MatchString(call.Custom.Input) {
				t.Fatalf("call %+v: want run_query with input matching %s", call, queryPattern)
			}
			enc, _ := tokens.ForModel("llmtest-1")
			if want := 3 + enc.Count("run_query") + enc.Count(call.Custom.Input); resp.Usage.CompletionTokens != int64(want) {
				t.Errorf("completion tokens %d, want %d", resp.Usage.CompletionTokens, want)
			}
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			var input strings.Builder
			name, pieces := "", 0
			for stream.Next() {
				var ch wire.ChatCompletionChunk
				if err := json.Unmarshal([]byte(stream.Current().RawJSON()), &ch); err != nil {
					t.Fatal(err)
				}
				for _, cc := range ch.Choices {
					for _, d := range cc.Delta.ToolCalls {
						if d.Custom != nil {
							name += d.Custom.Name
							input.WriteString(d.Custom.Input)
							pieces++
						}
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if name != "run_query" || input.String() != call.Custom.Input || pieces < 2 {
				t.Errorf("streamed %q(%q) in %d pieces, want run_query(%q)", name, input.String(), pieces, call.Custom.Input)
			}
		})
	}
}

// TestCustomToolValidation: custom tools and the choices naming them are
// checked as OpenAI checks them.
func TestCustomToolValidation(t *testing.T) {
	h := Handler(Config{})
	tool := func(custom string) string {
		return `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":` + custom + `}]`
	}
	for _, tc := range []struct{ body, param string }{
		{tool(`{"name":"bad name"}`) + `}`, "tools[0].custom.name"},
		{tool(`{"name":"q","format":{"type":"yaml"}}`) + `}`, "tools[0].custom.format.type"},
		{tool(`{"name":"q","format":{"type":"grammar","grammar":{"definition":"x","syntax":"ebnf"}}}`) + `}`, "tools[0].custom.format.grammar.syntax"},
		{tool(`{"name":"q","format":{"type":"grammar"}}`) + `}`, "tools[0].custom.format.grammar"},
		{tool(`{"name":"q"}`) + `,"tool_choice":{"type":"custom","custom":{"name":"other"}}}`, "tool_choice"},
		{tool(`{"name":"q"}`) + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"sometimes","tools":[]}}}`, "tool_choice.allowed_tools.mode"},
		{tool(`{"name":"q"}`) + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"custom","custom":{"name":"x"}}]}}}`, "tool_choice.allowed_tools.tools[0]"},
	} {
		rec := do(t, h, "POST", "/v1/chat/completions", tc.body)
		e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
		if !ok || rec.Code != 400 || e.Param != tc.param {
			t.Errorf("%s: status %d, %s; want 400 naming %s", tc.body, rec.Code, rec.Body, tc.param)
		}
	}
}

// TestCustomInputMatchesRegex: the input generated for a regex grammar is
// matched by it, for every seed.
func TestCustomInputMatchesRegex(t *testing.T) {
	m, err := getModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{
		queryPattern, `\d+`, `[A-Z]{2}-\d{4}`, `(yes|no)`, `[^"\n]{1,8}`, `a*b?c+`, `(?i)hello`, `\w+@\w+\.com`, `^start.*end$`,
	} {
		re := regexp.MustCompile(`^(?:` + pattern + `)$`)
		f := &wire.CustomFormat{Type: wire.CustomFormatGrammar, Grammar: &wire.Grammar{Definition: pattern, Syntax: "regex"}}
		for seed := range 50 {
			in := customInput(f, seeded(int64(seed), pattern).rng(0), m.words)
			if !re.MatchString(in) {
				t.Errorf("%s, seed %d: %q does not match", pattern, seed, in)
				break
			}
		}
	}
	text := customInput(nil, seeded(1, "text").rng(0), m.words)
	if n := len(strings.Fields(text)); n < 3 || n > 8 {
		t.Errorf("text input %q: %d words, want 3 to 8", text, n)
	}
}
