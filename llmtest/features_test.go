package llmtest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func TestResponseFormat(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	schema := `{"type":"object","properties":{"title":{"type":"string"},"rating":{"type":"integer","minimum":1,"maximum":5},"tags":{"type":"array","items":{"type":"string"}}},"required":["title","rating","tags"],"additionalProperties":false}`
	for _, tc := range []struct{ name, format, schema string }{
		{"json_schema", `{"type":"json_schema","json_schema":{"name":"review","schema":` + schema + `}}`, schema},
		{"json_object", `{"type":"json_object"}`, `{"type":"object"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := chatReq(t, h, `{"model":"llmtest-1","messages":[{"role":"user","content":"Review a book."}],"logprobs":true,"top_logprobs":1,"response_format":`+tc.format+`}`)
			c := resp.Choices[0]
			content := c.Message.Content.String()
			if err := validate(t, validator(t, tc.schema), content); err != nil || c.FinishReason != wire.FinishStop {
				t.Fatalf("%s %s: %v", content, c.FinishReason, err)
			}
			enc := testModel(t).enc
			if resp.Usage.CompletionTokens != enc.Count(content) || len(c.Logprobs.Content) != enc.Count(content) {
				t.Fatalf("usage %d, logprobs %d, tokens %d", resp.Usage.CompletionTokens, len(c.Logprobs.Content), enc.Count(content))
			}
			for _, lp := range c.Logprobs.Content {
				if lp.Logprob != 0 || len(lp.TopLogprobs) != 1 {
					t.Fatalf("forced token %+v", lp)
				}
			}
		})
	}
}

func TestParallelAndLegacyCalls(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},{"type":"function","function":{"name":"get_time"}},{"type":"function","function":{"name":"unused"}}]`
	ask := `"messages":[{"role":"user","content":"Use get_weather and get-time for Oslo."}]`
	resp := chatReq(t, h, `{"model":"m",`+ask+`,`+tools+`}`)
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" || calls[1].Function.Arguments != "{}" || calls[0].ID == calls[1].ID {
		t.Fatalf("parallel calls %+v", calls)
	}
	resp = chatReq(t, h, `{"model":"m",`+ask+`,`+tools+`,"parallel_tool_calls":false}`)
	if calls := resp.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != "get_weather" {
		t.Fatalf("parallel_tool_calls false: %+v", calls)
	}
	// A tool result sent back gets a text answer under "auto".
	resp = chatReq(t, h, `{"model":"m","messages":[{"role":"user","content":"Use get_weather for Oslo."},{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"Sunny, 21 degrees."}],`+tools+`}`)
	if c := resp.Choices[0]; len(c.Message.ToolCalls) != 0 || c.Message.Content.String() == "" {
		t.Fatalf("after a tool result: %+v", c)
	}
	// Legacy functions answer with function_call, streamed as fragments.
	legacy := `{"model":"m","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}],"function_call":{"name":"lookup"},"seed":2`
	resp = chatReq(t, h, legacy+`}`)
	fc := resp.Choices[0].Message.FunctionCall
	if fc == nil || fc.Name != "lookup" || resp.Choices[0].FinishReason != wire.FinishFunctionCall || !json.Valid([]byte(fc.Arguments)) {
		t.Fatalf("legacy %+v", resp.Choices[0])
	}
	w := do(t, h, "POST", "/v1/chat/completions", legacy+`,"stream":true}`)
	var name, args strings.Builder
	for _, ev := range sseEvents(t, w.Body.Bytes()) {
		var c wire.ChatCompletionChunk
		if json.Unmarshal(ev, &c) == nil && len(c.Choices) == 1 && c.Choices[0].Delta.FunctionCall != nil {
			name.WriteString(c.Choices[0].Delta.FunctionCall.Name)
			args.WriteString(c.Choices[0].Delta.FunctionCall.Arguments)
		}
	}
	if name.String() != "lookup" || args.String() != fc.Arguments {
		t.Fatalf("streamed function_call %q %q, want %q", name.String(), args.String(), fc.Arguments)
	}
}

func TestConcurrentRequests(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	body := `{"model":"llmtest-1","messages":[{"role":"user","content":"Tell me a story."}],"seed":9,"max_tokens":20,"frequency_penalty":0.5}`
	want := chatReq(t, h, body).Choices[0].Message.Content.String()
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			w := do(t, h, "POST", "/v1/chat/completions", body)
			var resp wire.ChatCompletion
			if json.Unmarshal(w.Body.Bytes(), &resp) != nil || resp.Choices[0].Message.Content.String() != want {
				errs <- w.Body.String()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent request differs: %s", e)
	}
}

// TestRetokenization measures how often the generated text re-encodes to
// the number of tokens generated (what a stream counter without usage
// would count). It is not exact by design: sampled token sequences are not
// always the canonical BPE encoding of their text.
func TestRetokenization(t *testing.T) {
	m := testModel(t)
	p := defaultParams()
	same, gen, recount := 0, 0, 0
	const runs = 200
	for i := range runs {
		ch := m.generate(m.contextOf(testPrompts[i%len(testPrompts)]), &p, seeded(int64(i), "r").rng(0), 64, nil)
		gen += ch.tokens
		n := m.enc.Count(ch.text)
		recount += n
		if n == ch.tokens {
			same++
		}
	}
	t.Logf("%d/%d choices re-encode to their token count; %d tokens generated, %d after re-encoding", same, runs, gen, recount)
	if same < runs/2 {
		t.Fatalf("only %d/%d choices re-encode to their token count", same, runs)
	}
}
