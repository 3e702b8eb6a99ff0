package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

func newClient(t *testing.T, cfg Config) openai.Client {
	t.Helper()
	srv := NewServer(cfg)
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"),
		option.WithUnsafeAllowHTTP(), option.WithHTTPClient(srv.Client()), option.WithMaxRetries(0))
}

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"],"additionalProperties":false}`

func weatherTool(t *testing.T) openai.ChatCompletionToolUnionParam {
	var params openai.FunctionParameters
	if err := json.Unmarshal([]byte(weatherSchema), &params); err != nil {
		t.Fatal(err)
	}
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather", Description: openai.String("Get the weather of a city."), Parameters: params,
	})
}

func TestOpenAIChatAndStream(t *testing.T) {
	client := newClient(t, Config{APIKey: "sk-test"})
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:               "gpt-4o-mini",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are kind."), openai.UserMessage("Tell me a story about the sea.")},
		Seed:                openai.Int(42),
		N:                   openai.Int(2),
		MaxCompletionTokens: openai.Int(40),
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Choices[0].Message.Content == "" || resp.Model != "gpt-4o-mini" {
		t.Fatalf("response %+v", resp)
	}
	enc, _ := tokens.ForModel("gpt-4o-mini")
	req := wire.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []wire.Message{
		{Role: "system", Content: wire.TextContent("You are kind.")}, {Role: "user", Content: wire.TextContent("Tell me a story about the sea.")}}}
	if want := tokens.CountChat(enc, &req, nil); resp.Usage.PromptTokens != int64(want) {
		t.Errorf("prompt tokens %d, want %d", resp.Usage.PromptTokens, want)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("accumulator refused %s", stream.Current().RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	got := acc.ChatCompletion
	if len(got.Choices) != 2 {
		t.Fatalf("accumulated %d choices", len(got.Choices))
	}
	for i := range got.Choices {
		if got.Choices[i].Message.Content != resp.Choices[i].Message.Content || got.Choices[i].FinishReason != resp.Choices[i].FinishReason {
			t.Errorf("choice %d: stream %q/%s, non-stream %q/%s", i, got.Choices[i].Message.Content, got.Choices[i].FinishReason,
				resp.Choices[i].Message.Content, resp.Choices[i].FinishReason)
		}
	}
	if got.Usage.TotalTokens != resp.Usage.TotalTokens || got.ID != resp.ID {
		t.Errorf("stream usage %+v id %s, non-stream %+v id %s", got.Usage, got.ID, resp.Usage, resp.ID)
	}
}

func TestOpenAITools(t *testing.T) {
	client := newClient(t, Config{})
	ctx := context.Background()
	schema := validator(t, weatherSchema)
	for _, tc := range []struct {
		name   string
		prompt string
		choice openai.ChatCompletionToolChoiceOptionUnionParam
		call   bool
	}{
		{"required", "Hi there.", openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}, true},
		{"named", "Hi there.", openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}), true},
		{"auto mentioned", "What does get weather say for Oslo?", openai.ChatCompletionToolChoiceOptionUnionParam{}, true},
		{"auto not mentioned", "Tell me a story.", openai.ChatCompletionToolChoiceOptionUnionParam{}, false},
		{"none", "Use get_weather please.", openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:      "llmtest-1",
				Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tc.prompt)},
				Tools:      []openai.ChatCompletionToolUnionParam{weatherTool(t)},
				ToolChoice: tc.choice,
				Seed:       openai.Int(7),
			}
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if !tc.call {
				if len(c.Message.ToolCalls) != 0 || c.Message.Content == "" || c.FinishReason == "tool_calls" {
					t.Fatalf("unexpected call: %+v", c)
				}
				return
			}
			if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
				t.Fatalf("choice %+v", c)
			}
			call := c.Message.ToolCalls[0]
			if call.Function.Name != "get_weather" || call.Type != "function" || len(call.ID) != 29 || call.ID[:5] != "call_" {
				t.Fatalf("call %+v", call)
			}
			if err := validate(t, schema, call.Function.Arguments); err != nil {
				t.Fatalf("arguments %s: %v", call.Function.Arguments, err)
			}
			enc, _ := tokens.ForModel("llmtest-1")
			if want := 3 + enc.Count("get_weather") + enc.Count(call.Function.Arguments); resp.Usage.CompletionTokens != int64(want) {
				t.Errorf("completion tokens %d, want %d", resp.Usage.CompletionTokens, want)
			}
			// Streamed: the accumulator rebuilds the same call.
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			finished := 0
			for stream.Next() {
				acc.AddChunk(stream.Current())
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished++
					if tc.Name != call.Function.Name || tc.Arguments != call.Function.Arguments || tc.ID != call.ID {
						t.Errorf("finished call %+v, want %+v", tc, call)
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			sc := acc.Choices[0]
			if sc.FinishReason != "tool_calls" || len(sc.Message.ToolCalls) != 1 || sc.Message.ToolCalls[0].Function.Arguments != call.Function.Arguments {
				t.Fatalf("streamed %+v", sc)
			}
			if finished != 1 {
				t.Errorf("JustFinishedToolCall fired %d times", finished)
			}
		})
	}
}

func TestOpenAILogprobs(t *testing.T) {
	client := newClient(t, Config{})
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:       "llmtest-1",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("How do I plant a tree?")},
		Logprobs:    openai.Bool(true),
		TopLogprobs: openai.Int(5),
		Temperature: openai.Float(0.8),
		Seed:        openai.Int(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.Choices[0]
	text := ""
	for k, lp := range c.Logprobs.Content {
		text += lp.Token
		if len(lp.TopLogprobs) == 0 || len(lp.TopLogprobs) > 5 || string(toBytes(lp.Bytes)) != lp.Token {
			t.Fatalf("token %d: %+v", k, lp)
		}
		if !slices.IsSortedFunc(lp.TopLogprobs, func(a, b openai.ChatCompletionTokenLogprobTopLogprob) int { return -cmpF(a.Logprob, b.Logprob) }) {
			t.Fatalf("token %d: top_logprobs not sorted", k)
		}
		found := false
		for _, a := range lp.TopLogprobs {
			if a.Token == lp.Token {
				found = a.Logprob == lp.Logprob
			}
		}
		if !found && lp.Logprob > lp.TopLogprobs[len(lp.TopLogprobs)-1].Logprob {
			t.Fatalf("token %d (%v) should be among its top_logprobs", k, lp.Logprob)
		}
		if lp.Logprob > 0 {
			t.Fatalf("token %d: logprob %v > 0", k, lp.Logprob)
		}
	}
	if text != c.Message.Content {
		t.Fatalf("logprob tokens %q, content %q", text, c.Message.Content)
	}
}

func toBytes(b []int64) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = byte(x)
	}
	return out
}

func TestOpenAIErrorAndLegacy(t *testing.T) {
	client := newClient(t, Config{})
	ctx := context.Background()
	_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "llmtest-1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}, option.WithHeader(FaultHeader, "status=429,retry_after=2"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != wire.CodeRateLimitExceeded ||
		apiErr.Response.Header.Get("Retry-After") != "2" || apiErr.Response.Header.Get("Retry-After-Ms") != "2000" {
		t.Fatalf("error %v", err)
	}
	comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
		Model:     "gpt-3.5-turbo-instruct",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(10),
		Seed:      openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Choices) != 1 || comp.Choices[0].Text == "" || comp.Usage.CompletionTokens == 0 || comp.Usage.CompletionTokens > 10 {
		t.Fatalf("completion %+v", comp)
	}
}
