package llmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// fakeSleep records the delays a handler asks for instead of waiting.
type fakeSleep struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (f *fakeSleep) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d > 0 {
		f.delays = append(f.delays, d)
	}
	return ctx.Err()
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testConfig() (Config, *fakeSleep) {
	fs := &fakeSleep{}
	return Config{Now: func() time.Time { return t0 }, Sleep: fs.Sleep}, fs
}

func do(t *testing.T, h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestErrors(t *testing.T) {
	cfg, _ := testConfig()
	cfg.APIKey = "sk-test"
	cfg.StrictModels = true
	cfg.Models = []string{"llmtest-1", "gpt-4o-mini"}
	cfg.MaxBodyBytes = 4096
	h := Handler(cfg)
	auth := []string{"Authorization", "Bearer sk-test"}
	msg := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code, param              string
	}{
		{"no key", "POST", "/v1/chat/completions", `{}`, nil, 401, wire.CodeInvalidAPIKey, ""},
		{"wrong key", "POST", "/v1/chat/completions", `{}`, []string{"Authorization", "Bearer nope"}, 401, wire.CodeInvalidAPIKey, ""},
		{"method", "GET", "/v1/chat/completions", ``, auth, 405, wire.CodeMethodNotAllowed, ""},
		{"unknown url", "POST", "/v1/embeddings", `{}`, auth, 404, wire.CodeUnknownURL, ""},
		{"bad json", "POST", "/v1/chat/completions", `{"model":`, auth, 400, wire.CodeInvalidJSON, ""},
		{"too large", "POST", "/v1/chat/completions", `{"model":"` + strings.Repeat("x", 5000) + `"}`, auth, 413, wire.CodeRequestTooLarge, ""},
		{"no model", "POST", "/v1/chat/completions", `{` + msg + `}`, auth, 400, wire.CodeMissingRequired, "model"},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-9",` + msg + `}`, auth, 404, wire.CodeModelNotFound, "model"},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"llmtest-1","messages":[]}`, auth, 400, wire.CodeMissingRequired, "messages"},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"llmtest-1","messages":[{"role":"robot","content":"x"}]}`, auth, 400, wire.CodeInvalidValue, "messages[0].role"},
		{"temperature", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"temperature":2.5}`, auth, 400, wire.CodeInvalidValue, "temperature"},
		{"top_p", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"top_p":1.5}`, auth, 400, wire.CodeInvalidValue, "top_p"},
		{"penalty", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"presence_penalty":-3}`, auth, 400, wire.CodeInvalidValue, "presence_penalty"},
		{"n", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"n":0}`, auth, 400, wire.CodeInvalidValue, "n"},
		{"bias key", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"logit_bias":{"999999999":1}}`, auth, 400, wire.CodeInvalidValue, "logit_bias"},
		{"bias value", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"logit_bias":{"13":101}}`, auth, 400, wire.CodeInvalidValue, "logit_bias"},
		{"top_logprobs alone", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"top_logprobs":3}`, auth, 400, wire.CodeInvalidValue, "top_logprobs"},
		{"top_logprobs range", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"logprobs":true,"top_logprobs":21}`, auth, 400, wire.CodeInvalidValue, "top_logprobs"},
		{"max_tokens", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"max_completion_tokens":0}`, auth, 400, wire.CodeInvalidValue, "max_completion_tokens"},
		{"stops", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"stop":["a","b","c","d","e"]}`, auth, 400, wire.CodeInvalidValue, "stop"},
		{"stream_options", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"stream_options":{"include_usage":true}}`, auth, 400, wire.CodeInvalidValue, "stream_options"},
		{"tool_choice without tools", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"tool_choice":"required"}`, auth, 400, wire.CodeInvalidValue, "tool_choice"},
		{"tool name", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"tools":[{"type":"function","function":{"name":"bad name"}}]}`, auth, 400, wire.CodeInvalidValue, "tools[0].function.name"},
		{"tool params", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, auth, 400, wire.CodeInvalidValue, "tools[0].function.parameters"},
		{"unknown tool choice", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, auth, 400, wire.CodeInvalidValue, "tool_choice"},
		{"response format", "POST", "/v1/chat/completions", `{"model":"llmtest-1",` + msg + `,"response_format":{"type":"yaml"}}`, auth, 400, wire.CodeInvalidValue, "response_format.type"},
		{"legacy logprobs", "POST", "/v1/completions", `{"model":"llmtest-1","prompt":"x","logprobs":6}`, auth, 400, wire.CodeInvalidValue, "logprobs"},
		{"legacy token prompt", "POST", "/v1/completions", `{"model":"llmtest-1","prompt":[1,2,-5]}`, auth, 400, wire.CodeInvalidValue, "prompt"},
		{"bad fault header", "POST", "/v1/chat/completions", `{}`, append([]string{FaultHeader, "status=42"}, auth...), 400, wire.CodeInvalidValue, FaultHeader},
		{"unknown model id", "GET", "/v1/models/gpt-9", ``, auth, 404, wire.CodeModelNotFound, "model"},
		{"models method", "POST", "/v1/models", `{}`, auth, 405, wire.CodeMethodNotAllowed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, h, tc.method, tc.path, tc.body, tc.header...)
			e, ok := wire.DecodeError(w.Code, w.Body.Bytes())
			if w.Code != tc.status || !ok || e.Code != tc.code || e.Param != tc.param {
				t.Fatalf("%d %s, want %d code %q param %q", w.Code, w.Body, tc.status, tc.code, tc.param)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content-type %q", ct)
			}
		})
	}
}

func TestModels(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	w := do(t, h, "GET", "/v1/models", "")
	var list struct {
		Object string
		Data   []ModelObject
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != DefaultModel || list.Data[0].Object != "model" {
		t.Fatalf("list %+v", list)
	}
	// Not strict: any model id exists, as any model name is served.
	w = do(t, h, "GET", "/v1/models/gpt-4o-mini", "")
	var mo ModelObject
	if err := json.Unmarshal(w.Body.Bytes(), &mo); err != nil || mo.ID != "gpt-4o-mini" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func chatReq(t *testing.T, h http.Handler, body string, header ...string) wire.ChatCompletion {
	t.Helper()
	w := do(t, h, "POST", "/v1/chat/completions", body, header...)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var resp wire.ChatCompletion
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestChatUsageAndEcho(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	for _, tc := range []struct{ name, body string }{
		{"plain", `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me a story."}],"seed":3,"max_tokens":30}`},
		{"cl100k model", `{"model":"gpt-4","messages":[{"role":"user","content":"Hello there, how are you?","name":"bob"}],"n":3,"seed":1}`},
		{"tools", `{"model":"llmtest-1","messages":[{"role":"user","content":"What is the weather in Paris? use get_weather"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather.","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req wire.ChatCompletionRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			resp := chatReq(t, h, tc.body)
			enc, _ := tokens.ForModel(req.Model)
			if want := tokens.CountChat(enc, &req, nil); resp.Usage.PromptTokens != want {
				t.Errorf("prompt_tokens %d, tokens.CountChat %d", resp.Usage.PromptTokens, want)
			}
			completion := 0
			for _, c := range resp.Choices {
				for _, tc := range c.Message.ToolCalls {
					completion += 3 + enc.Count(tc.Function.Name) + enc.Count(tc.Function.Arguments)
				}
			}
			if len(resp.Choices[0].Message.ToolCalls) == 0 {
				m := testModel(t)
				// The text is what the model generated token by token;
				// re-encoding it may merge differently, so replay the
				// generation with the same seed and count its tokens.
				p := defaultParams()
				material, _ := json.Marshal(struct {
					M  []wire.Message
					T  []wire.Tool
					F  []wire.FunctionDefinition
					RF *wire.ResponseFormat
				}{req.Messages, req.Tools, req.Functions, req.ResponseFormat})
				sd := newSeeder(req.Seed, material)
				for i := range resp.Choices {
					ch := m.generate(m.contextOf(promptText(&req)), &p, sd.rng(i), 256, nil)
					if ch.text != resp.Choices[i].Message.Content.String() {
						t.Fatalf("choice %d not reproducible: %q vs %q", i, ch.text, resp.Choices[i].Message.Content.String())
					}
					completion += ch.tokens
				}
			}
			if resp.Usage.CompletionTokens != completion || resp.Usage.TotalTokens != resp.Usage.PromptTokens+completion {
				t.Errorf("usage %+v, completion tokens %d", resp.Usage, completion)
			}
			if resp.Model != req.Model || resp.Object != wire.ObjectChatCompletion || resp.Created != t0.Unix() ||
				!strings.HasPrefix(resp.ID, "chatcmpl-") || resp.SystemFingerprint != testModel(t).fingerprint || len(resp.Choices) != req.Choices() {
				t.Errorf("header %+v", resp)
			}
		})
	}
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(t *testing.T, body []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := wire.NewReader(bytes.NewReader(body))
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, bytes.Clone(ev.Data))
	}
	return out
}

func TestChatStreamEqualsNonStream(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	base := `"model":"llmtest-1","messages":[{"role":"user","content":"How do I bake bread?"}],"seed":7,"n":2,"temperature":0.9,"logprobs":true,"top_logprobs":2,"stop":"\n"`
	full := chatReq(t, h, `{`+base+`}`)
	w := do(t, h, "POST", "/v1/chat/completions", `{`+base+`,"stream":true,"stream_options":{"include_usage":true}}`)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	events := sseEvents(t, w.Body.Bytes())
	if string(events[len(events)-1]) != "[DONE]" {
		t.Fatalf("last event %s", events[len(events)-1])
	}
	text := map[int]string{}
	nlp := map[int]int{}
	finish := map[int]wire.FinishReason{}
	var usage *wire.Usage
	for k, ev := range events[:len(events)-1] {
		var c struct {
			ID, Object        string
			SystemFingerprint string `json:"system_fingerprint"`
			Usage             *wire.Usage
			Choices           []struct {
				Index        int
				Delta        wire.Delta
				FinishReason *string `json:"finish_reason"`
				Logprobs     *wire.ChatLogprobs
			}
		}
		if err := json.Unmarshal(ev, &c); err != nil {
			t.Fatalf("event %d: %v: %s", k, err, ev)
		}
		if c.Object != wire.ObjectChatCompletionChunk || c.ID != full.ID || c.SystemFingerprint == "" {
			t.Fatalf("event %d header: %s", k, ev)
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 || k != len(events)-2 {
				t.Fatalf("usage chunk %d: %s", k, ev)
			}
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			if k < 2 && ch.Delta.Role != wire.RoleAssistant {
				t.Fatalf("first chunks carry the role: %s", ev)
			}
			text[ch.Index] += ch.Delta.Content
			if ch.Logprobs != nil {
				nlp[ch.Index] += len(ch.Logprobs.Content)
			}
			if ch.FinishReason != nil {
				finish[ch.Index] = wire.FinishReason(*ch.FinishReason)
			}
		}
	}
	for i, c := range full.Choices {
		if text[i] != c.Message.Content.String() || finish[i] != c.FinishReason || nlp[i] != len(c.Logprobs.Content) {
			t.Errorf("choice %d: stream %q %s %d, non-stream %q %s %d", i, text[i], finish[i], nlp[i], c.Message.Content.String(), c.FinishReason, len(c.Logprobs.Content))
		}
	}
	if usage == nil || *usage.PromptTokensDetails != *full.Usage.PromptTokensDetails || usage.TotalTokens != full.Usage.TotalTokens {
		t.Errorf("usage %+v vs %+v", usage, full.Usage)
	}
}

func TestLegacyCompletions(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	body := `{"model":"llmtest-1","prompt":["Once upon a time","Hello!"],"n":2,"seed":5,"max_tokens":12,"logprobs":3,"echo":true}`
	w := do(t, h, "POST", "/v1/completions", body)
	var resp wire.Completion
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(resp.Choices) != 4 || resp.Object != wire.ObjectTextCompletion {
		t.Fatalf("%s", w.Body)
	}
	var req wire.CompletionRequest
	_ = json.Unmarshal([]byte(body), &req)
	enc, _ := tokens.ForModel("llmtest-1")
	if resp.Usage.PromptTokens != tokens.CountPrompt(enc, &req) {
		t.Errorf("prompt tokens %d", resp.Usage.PromptTokens)
	}
	completion := 0
	for i, c := range resp.Choices {
		prompt := req.Prompt.Texts[i/2]
		if !strings.HasPrefix(c.Text, prompt) || c.Logprobs == nil {
			t.Fatalf("choice %d %q", i, c.Text)
		}
		lp := c.Logprobs
		completion += len(lp.Tokens)
		for k := range lp.Tokens {
			if !strings.HasPrefix(c.Text[lp.TextOffset[k]:], lp.Tokens[k]) || len(lp.TopLogprobs[k]) == 0 || len(lp.TopLogprobs[k]) > 3 {
				t.Fatalf("choice %d token %d: %q at %d, top %v", i, k, lp.Tokens[k], lp.TextOffset[k], lp.TopLogprobs[k])
			}
		}
	}
	if resp.Usage.CompletionTokens != completion {
		t.Errorf("completion tokens %d, logprob tokens %d", resp.Usage.CompletionTokens, completion)
	}
	// Streamed, the same choices arrive piece by piece.
	w = do(t, h, "POST", "/v1/completions", strings.TrimSuffix(body, "}")+`,"stream":true,"stream_options":{"include_usage":true}}`)
	got := map[int]string{}
	var usage *wire.Usage
	for _, ev := range sseEvents(t, w.Body.Bytes()) {
		if string(ev) == "[DONE]" {
			continue
		}
		var c wire.Completion
		if err := json.Unmarshal(ev, &c); err != nil {
			t.Fatalf("%v: %s", err, ev)
		}
		for _, ch := range c.Choices {
			got[ch.Index] += ch.Text
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	for i, c := range resp.Choices {
		if got[i] != c.Text {
			t.Errorf("stream choice %d %q, want %q", i, got[i], c.Text)
		}
	}
	if usage == nil || *usage != *resp.Usage {
		t.Errorf("stream usage %+v, want %+v", usage, resp.Usage)
	}
}
