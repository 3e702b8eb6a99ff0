package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmgate/llmgate/wire"
)

// TestCustomToolsOpenAIClient: what openai-go v3 sends for custom tools
// (text and grammar formats), allowed_tools and custom tool choices, and
// custom tool calls in the history passes Decode, Count and Moderate and
// reaches the upstream as sent; the model's custom tool call comes back
// to the client when clean, and is withheld, with finish_reason
// content_filter, when its input is flagged, in a body and in a stream.
func TestCustomToolsOpenAIClient(t *testing.T) {
	var mu sync.Mutex
	var input string // the input of the custom call the upstream answers with
	var seen []string
	upstream := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		in := input
		seen = append(seen, string(CallFrom(r.Context()).Raw))
		mu.Unlock()
		call := wire.ToolCall{ID: "call_9", Type: wire.ToolCustom, Custom: &wire.CustomCall{Name: "apply_patch", Input: in}}
		if CallFrom(r.Context()).Stream {
			zero := 0
			first, rest := call, wire.ToolCall{Index: &zero, Custom: &wire.CustomCall{Input: in[len(in)/2:]}}
			first.Index, first.Custom = &zero, &wire.CustomCall{Name: "apply_patch", Input: in[:len(in)/2]}
			chunk := func(d wire.Delta, fin wire.FinishReason) []byte {
				return mustJSON(wire.ChatCompletionChunk{ID: "c", Object: wire.ObjectChatCompletionChunk, Model: "gpt-4o-mini",
					Choices: []wire.ChunkChoice{{Delta: d, FinishReason: fin}}})
			}
			modRawStream(chunk(wire.Delta{Role: "assistant"}, ""), chunk(wire.Delta{ToolCalls: []wire.ToolCall{first}}, ""),
				chunk(wire.Delta{ToolCalls: []wire.ToolCall{rest}}, ""), chunk(wire.Delta{}, wire.FinishToolCalls))(w, r)
			return
		}
		writeJSON(w, wire.ChatCompletion{ID: "c", Object: wire.ObjectChatCompletion, Model: "gpt-4o-mini",
			Choices: []wire.ChatChoice{{Message: wire.Message{Role: "assistant", ToolCalls: []wire.ToolCall{call}}, FinishReason: wire.FinishToolCalls}}})
	}
	h, _ := modTestChain(t, ModerateConfig{}, upstream)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))

	patchTool := openai.ChatCompletionCustomTool(openai.ChatCompletionCustomToolCustomParam{
		Name: "apply_patch", Description: openai.String("Edits files."),
		Format: openai.ChatCompletionCustomToolCustomFormatUnionParam{OfGrammar: &openai.ChatCompletionCustomToolCustomFormatGrammarParam{
			Grammar: openai.ChatCompletionCustomToolCustomFormatGrammarGrammarParam{Definition: `start: "*** Begin Patch" /.+/`, Syntax: "lark"}}},
	})
	noteTool := openai.ChatCompletionCustomTool(openai.ChatCompletionCustomToolCustomParam{
		Name: "note", Format: openai.ChatCompletionCustomToolCustomFormatUnionParam{OfText: &openai.ChatCompletionCustomToolCustomFormatTextParam{}},
	})
	params := func(choice openai.ChatCompletionToolChoiceOptionUnionParam) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{
			Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.UserMessage("Fix the typo in README."),
				{OfAssistant: &openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
					{OfCustom: &openai.ChatCompletionMessageCustomToolCallParam{ID: "call_1",
						Custom: openai.ChatCompletionMessageCustomToolCallCustomParam{Name: "apply_patch", Input: "*** Begin Patch\n*** End Patch"}}},
				}}},
				openai.ToolMessage("Patch applied.", "call_1"),
			},
			Tools:      []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"}), patchTool, noteTool},
			ToolChoice: choice,
		}
	}
	allowed := openai.ToolChoiceOptionAllowedTools(openai.ChatCompletionAllowedToolsParam{
		Mode:  openai.ChatCompletionAllowedToolsModeRequired,
		Tools: []map[string]any{{"type": "custom", "custom": map[string]any{"name": "apply_patch"}}, {"type": "function", "function": map[string]any{"name": "get_weather"}}},
	})
	custom := openai.ToolChoiceOptionCustomToolChoice(openai.ChatCompletionNamedToolChoiceCustomCustomParam{Name: "apply_patch"})
	const clean = "*** Begin Patch\n*** Update File: README.md\n-teh\n+the\n*** End Patch"

	for _, choice := range []openai.ChatCompletionToolChoiceOptionUnionParam{allowed, custom} {
		mu.Lock()
		input, seen = clean, nil
		mu.Unlock()
		res, err := client.Chat.Completions.New(context.Background(), params(choice))
		if err != nil {
			t.Fatalf("clean call: %v", err)
		}
		if c := res.Choices[0]; c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].AsCustom().Custom.Input != clean {
			t.Errorf("clean call: %s", res.RawJSON())
		}
		mu.Lock()
		if len(seen) != 1 || !strings.Contains(seen[0], `"type":"custom"`) || !strings.Contains(seen[0], `"tool_choice":{`) {
			t.Errorf("upstream got %q", seen)
		}
		mu.Unlock()

		// A stream: the custom input arrives in two pieces.
		stream := client.Chat.Completions.NewStreaming(context.Background(), params(choice))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("clean stream: %v", err)
		}
		if c := acc.Choices; len(c) != 1 || c[0].FinishReason != "tool_calls" {
			t.Errorf("clean stream: %+v", acc.ChatCompletion)
		}
	}

	// A flagged custom call input is withheld, in a body and in a stream.
	mu.Lock()
	input = "*** Begin Patch\n" + modHarmful
	mu.Unlock()
	res, err := client.Chat.Completions.New(context.Background(), params(allowed))
	if err != nil {
		t.Fatalf("flagged call: %v", err)
	}
	if c := res.Choices[0]; c.FinishReason != "content_filter" || len(c.Message.ToolCalls) != 0 || strings.Contains(res.RawJSON(), "kill") {
		t.Errorf("flagged call reached the client: %s", res.RawJSON())
	}
	stream := client.Chat.Completions.NewStreaming(context.Background(), params(custom))
	var got strings.Builder
	finish := ""
	for stream.Next() {
		ch := stream.Current()
		got.WriteString(ch.RawJSON())
		for _, c := range ch.Choices {
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	if strings.Contains(got.String(), "kill") || (finish != "content_filter" && stream.Err() == nil) {
		t.Errorf("flagged streamed call reached the client (finish %q, error %v): %s", finish, stream.Err(), got.String())
	}
}
