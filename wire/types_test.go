package wire_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func TestRoundTrip(t *testing.T) {
	// Each JSON value decodes and encodes back to itself.
	cases := []struct {
		name string
		into func() any
		json string
	}{
		{"content string", func() any { return new(wire.Content) }, `"hello"`},
		{"content parts", func() any { return new(wire.Content) }, `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]`},
		{"content empty parts", func() any { return new(wire.Content) }, `[]`},
		{"content null", func() any { return new(wire.Content) }, `null`},
		{"stop string", func() any { return new(wire.Stop) }, `"\n"`},
		{"stop array", func() any { return new(wire.Stop) }, `["a","b"]`},
		{"tool_choice mode", func() any { return new(wire.ToolChoice) }, `"required"`},
		{"tool_choice function", func() any { return new(wire.ToolChoice) }, `{"type":"function","function":{"name":"get_weather"}}`},
		{"tool_choice custom", func() any { return new(wire.ToolChoice) }, `{"type":"custom","custom":{"name":"apply_patch"}}`},
		{"tool_choice allowed_tools", func() any { return new(wire.ToolChoice) },
			`{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"custom","custom":{"name":"apply_patch"}}]}}`},
		{"tool function", func() any { return new(wire.Tool) }, `{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}`},
		{"tool custom", func() any { return new(wire.Tool) }, `{"type":"custom","custom":{"name":"apply_patch","description":"Edits files."}}`},
		{"tool custom text", func() any { return new(wire.Tool) }, `{"type":"custom","custom":{"name":"t","format":{"type":"text"}}}`},
		{"tool custom grammar", func() any { return new(wire.Tool) },
			`{"type":"custom","custom":{"name":"sql","format":{"type":"grammar","grammar":{"definition":"start: \"SELECT\" NAME","syntax":"lark"}}}}`},
		{"tool call function", func() any { return new(wire.ToolCall) }, `{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}`},
		{"tool call custom", func() any { return new(wire.ToolCall) }, `{"id":"call_2","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch"}}`},
		{"tool call custom delta", func() any { return new(wire.ToolCall) }, `{"index":0,"custom":{"input":"piece"}}`},
		{"function_call mode", func() any { return new(wire.FunctionCallChoice) }, `"auto"`},
		{"function_call name", func() any { return new(wire.FunctionCallChoice) }, `{"name":"f"}`},
		{"prompt string", func() any { return new(wire.Prompt) }, `"Say this"`},
		{"prompt strings", func() any { return new(wire.Prompt) }, `["a","b"]`},
		{"prompt tokens", func() any { return new(wire.Prompt) }, `[1,2,3]`},
		{"prompt token arrays", func() any { return new(wire.Prompt) }, `[[1,2],[3]]`},
		{"prompt one token array", func() any { return new(wire.Prompt) }, `[[1,2]]`},
		{"moderation string", func() any { return new(wire.ModerationInput) }, `"text"`},
		{"moderation strings", func() any { return new(wire.ModerationInput) }, `["a","b"]`},
		{"moderation parts", func() any { return new(wire.ModerationInput) }, `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]`},
		{"finish null", func() any { return new(wire.ChunkChoice) }, `{"index":0,"delta":{"content":"x"},"finish_reason":null}`},
		{"usage details", func() any { return new(wire.Usage) }, `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.into()
			if err := json.Unmarshal([]byte(tc.json), v); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.json {
				t.Errorf("round trip\n got %s\nwant %s", out, tc.json)
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		into any
		json string
	}{
		{"content number", new(wire.Content), `1`},
		{"stop object", new(wire.Stop), `{}`},
		{"stop numbers", new(wire.Stop), `[1]`},
		{"tool_choice number", new(wire.ToolChoice), `3`},
		{"function_call bool", new(wire.FunctionCallChoice), `true`},
		{"prompt object", new(wire.Prompt), `{"a":1}`},
		{"moderation number", new(wire.ModerationInput), `7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := json.Unmarshal([]byte(tc.json), tc.into)
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	var req wire.ChatCompletionRequest
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_tokens":7,"n":2,"stream":true,"stream_options":{"include_usage":true}}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	if got := req.Messages[0].Content.String(); got != "ab" {
		t.Errorf("content %q", got)
	}
	if req.MaxOutputTokens() != 7 || req.Choices() != 2 || !req.IncludeUsage() {
		t.Errorf("accessors: %d %d %v", req.MaxOutputTokens(), req.Choices(), req.IncludeUsage())
	}
	var u *wire.Usage
	if u.CachedTokens() != 0 || u.ReasoningTokens() != 0 {
		t.Error("nil usage")
	}
	in := wire.ModerationInput{Parts: []wire.ModerationPart{{Type: "text", Text: "x"}}}
	if in.Len() != 1 || (wire.ModerationInput{Texts: []string{"a", "b"}}).Len() != 2 {
		t.Error("moderation Len")
	}
	if !reflect.DeepEqual(wire.TextPrompt("a").Texts, []string{"a"}) {
		t.Error("TextPrompt")
	}
}

func TestToolCallNameInput(t *testing.T) {
	fn := wire.ToolCall{Type: wire.ToolFunction, Function: wire.FunctionCall{Name: "f", Arguments: `{"a":1}`}}
	cu := wire.ToolCall{Type: wire.ToolCustom, Custom: &wire.CustomCall{Name: "c", Input: "text"}}
	both := wire.ToolCall{Function: wire.FunctionCall{Arguments: "x"}, Custom: &wire.CustomCall{Input: "y"}}
	for _, tc := range []struct {
		call        wire.ToolCall
		name, input string
	}{{fn, "f", `{"a":1}`}, {cu, "c", "text"}, {both, "", "x\ny"}} {
		if got := tc.call.Name(); got != tc.name {
			t.Errorf("Name() = %q, want %q", got, tc.name)
		}
		if got := tc.call.Input(); got != tc.input {
			t.Errorf("Input() = %q, want %q", got, tc.input)
		}
	}
	tool := wire.Tool{Type: wire.ToolCustom, Custom: &wire.CustomTool{Name: "c"}}
	choice := wire.ToolChoice{Type: wire.ToolChoiceCustom, Custom: "c"}
	if tool.Name() != "c" || choice.Name() != "c" {
		t.Errorf("Tool.Name() = %q, ToolChoice.Name() = %q, want c", tool.Name(), choice.Name())
	}
}
