package middleware

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

func countChain(t *testing.T, cat *models.Catalog, h http.HandlerFunc) (http.Handler, **Call, *[]byte) {
	t.Helper()
	var seen *Call
	var body []byte
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = CallFrom(r.Context())
		body, _ = io.ReadAll(r.Body)
		h(w, r)
	})
	return Chain(Decode(DecodeConfig{}), Count(CountConfig{Catalog: cat}))(inner), &seen, &body
}

func postJSON(h http.Handler, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func TestCountPromptAndReservation(t *testing.T) {
	cat, err := models.New(models.Config{Aliases: map[string]string{"gpt-4": "gpt-4-0613"}})
	if err != nil {
		t.Fatal(err)
	}
	h, seen, body := countChain(t, cat, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, wire.ChatCompletion{Object: wire.ObjectChatCompletion})
	})
	enc, _ := tokens.Get("cl100k_base")
	req := `{"model":"gpt-4","messages":[{"role":"user","content":"Hello there"}],"max_tokens":100,"n":2,"x_unknown":{"keep":true}}`
	rec := postJSON(h, "/v1/chat/completions", req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	c := *seen
	var parsed wire.ChatCompletionRequest
	_ = json.Unmarshal([]byte(req), &parsed)
	if want := tokens.CountChat(enc, &parsed, nil); c.PromptTokens != want || want == 0 {
		t.Errorf("prompt tokens %d, want %d", c.PromptTokens, want)
	}
	if c.MaxCompletionTokens != 200 {
		t.Errorf("reserved %d completion tokens, want 100 × 2", c.MaxCompletionTokens)
	}
	if c.Model != "gpt-4-0613" || c.Chat.Model != "gpt-4-0613" || c.RequestedModel != "gpt-4" {
		t.Errorf("model %q / %q, want the pinned version", c.Model, c.Chat.Model)
	}
	want := strings.Replace(req, `"gpt-4"`, `"gpt-4-0613"`, 1)
	if string(*body) != want {
		t.Errorf("handler got %s\nwant %s", *body, want)
	}
}

func TestCountLimits(t *testing.T) {
	cat, err := models.New(models.Config{Models: map[string]models.Override{
		"tiny-model": {ContextWindow: ptr(100), MaxOutput: ptr(40), Encoding: "cl100k_base"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, seen, _ := countChain(t, cat, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{}) })
	long := strings.Repeat("word ", 200)
	for _, tc := range []struct {
		name, body string
		status     int
		param      string
		reserved   int
	}{
		{"defaults to the model's output cap", `{"model":"tiny-model","messages":[{"role":"user","content":"hi"}]}`, 200, "", 40},
		{"max_tokens over the cap", `{"model":"tiny-model","messages":[{"role":"user","content":"hi"}],"max_tokens":41}`, 400, "max_tokens", 0},
		{"max_completion_tokens over the cap", `{"model":"tiny-model","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":41}`, 400, "max_completion_tokens", 0},
		{"prompt over the window", `{"model":"tiny-model","messages":[{"role":"user","content":"` + long + `"}]}`, 400, "messages", 0},
		{"unknown model gets the default", `{"model":"my-own-llm","messages":[{"role":"user","content":"hi"}]}`, 200, "", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*seen = nil
			rec := postJSON(h, "/v1/chat/completions", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if tc.status != 200 {
				e, _ := wire.DecodeError(rec.Code, rec.Body.Bytes())
				if e == nil || e.Param != tc.param {
					t.Errorf("envelope %s, want param %q", rec.Body, tc.param)
				}
				return
			}
			if (*seen).MaxCompletionTokens != tc.reserved {
				t.Errorf("reserved %d, want %d", (*seen).MaxCompletionTokens, tc.reserved)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Usage comes from the handler when it reports it, and is counted when it
// does not — from a JSON body or from streamed deltas.
func TestCountUsage(t *testing.T) {
	enc, _ := tokens.Get("o200k_base")
	reply := "The quick brown fox jumps over the lazy dog, twice."
	for _, tc := range []struct {
		name    string
		body    string
		handler http.HandlerFunc
		want    int // completion tokens
		counted bool
	}{
		{"reported", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, wire.ChatCompletion{Usage: &wire.Usage{PromptTokens: 1, CompletionTokens: 77, TotalTokens: 78}})
			}, 77, false},
		{"counted from JSON", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, wire.ChatCompletion{Choices: []wire.ChatChoice{{Message: wire.Message{Role: "assistant", Content: wire.TextContent(reply)}}}})
			}, enc.Count(reply), true},
		{"counted from stream", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, word := range strings.SplitAfter(reply, " ") {
					b, _ := json.Marshal(wire.ChatCompletionChunk{Object: wire.ObjectChatCompletionChunk,
						Choices: []wire.ChunkChoice{{Delta: wire.Delta{Content: word}}}})
					fmt.Fprintf(w, "data: %s\n\n", b)
				}
				io.WriteString(w, "data: [DONE]\n\n")
			}, enc.Count(reply), true},
		{"legacy completion stream", `{"model":"gpt-4o","stream":true,"prompt":"hi"}`,
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, word := range strings.SplitAfter(reply, " ") {
					b, _ := json.Marshal(wire.Completion{Object: wire.ObjectTextCompletion,
						Choices: []wire.CompletionChoice{{Text: word}}})
					fmt.Fprintf(w, "data: %s\n\n", b)
				}
				io.WriteString(w, "data: [DONE]\n\n")
			}, enc.Count(reply), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, seen, _ := countChain(t, nil, tc.handler)
			path := "/v1/chat/completions"
			if strings.Contains(tc.body, `"prompt"`) {
				path = "/v1/completions"
			}
			rec := postJSON(h, path, tc.body)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			c := *seen
			if c.Usage == nil || c.Usage.CompletionTokens != tc.want || c.UsageCounted != tc.counted {
				t.Fatalf("usage %+v counted=%v, want %d counted=%v", c.Usage, c.UsageCounted, tc.want, tc.counted)
			}
			if tc.counted && c.Usage.PromptTokens != c.PromptTokens {
				t.Errorf("counted prompt %d != %d", c.Usage.PromptTokens, c.PromptTokens)
			}
		})
	}
}

func TestCountDeprecationHeaders(t *testing.T) {
	cat, err := models.New(models.Config{Models: map[string]models.Override{
		"old-model": {Deprecated: ptr(true), Replacement: "new-model"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := countChain(t, cat, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{}) })
	rec := postJSON(h, "/v1/chat/completions", `{"model":"old-model","messages":[{"role":"user","content":"hi"}]}`)
	if got := rec.Header().Get(models.DeprecatedHeader); got != "use new-model" {
		t.Errorf("%s: %q", models.DeprecatedHeader, got)
	}
}

// Reasoning text that an upstream sends beside the content
// (reasoning_content: vLLM, llama.cpp, DeepSeek; reasoning: newer vLLM,
// Ollama) is counted as completion tokens when it reports no usage, per
// choice and apart from the content, and the stream's bound covers it.
func TestCountReasoning(t *testing.T) {
	enc, _ := tokens.Get("o200k_base")
	thinking := "The user says hi. I should greet them back, briefly and kindly."
	other := "Greet, then offer help."
	reply := "Hello! How can I help you today?"
	pieces := func(s string) []string { return strings.SplitAfter(s, " ") }
	chunkData := func(head string, choices ...map[string]any) []byte {
		cs := make([]any, len(choices))
		for i, delta := range choices {
			index := i
			if v, ok := delta["_index"]; ok {
				index = v.(int)
				delete(delta, "_index")
			}
			cs[i] = map[string]any{"index": index, "delta": delta, "finish_reason": nil}
		}
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": cs})
		if head != "" {
			b = append([]byte(`{`+head+`,`), b[1:]...)
		}
		return b
	}
	// stream sends a delta with name set to each piece of thinking (and,
	// with also, the same text under that name too), then the reply.
	stream := func(head string, also string, names ...string) func() [][]byte {
		return func() [][]byte {
			var events [][]byte
			for _, p := range pieces(thinking) {
				d := map[string]any{}
				for _, n := range names {
					d[n] = p
				}
				if also != "" {
					d[also] = p
				}
				events = append(events, chunkData(head, d))
			}
			for _, p := range pieces(reply) {
				events = append(events, chunkData(head, map[string]any{"content": p}))
			}
			return events
		}
	}
	body := func(message string) string {
		return `{"id":"chatcmpl-r","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":` + message + `,"finish_reason":"stop"}]}`
	}
	msg := func(members string) string {
		b, _ := json.Marshal(reply)
		return `{"role":"assistant","content":` + string(b) + members + `}`
	}
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	exact := enc.Count(thinking) + enc.Count(reply)
	for _, tc := range []struct {
		name   string
		events func() [][]byte // a stream without usage
		body   string          // else a JSON body without usage
		want   int
		bound  int // the least the stream's bound must be
	}{
		{"stream reasoning_content", stream("", "", "reasoning_content"), "", exact, len(thinking) + len(reply)},
		{"stream reasoning", stream("", "", "reasoning"), "", exact, len(thinking) + len(reply)},
		{"stream both names, same text, counted once", stream("", "reasoning", "reasoning_content"), "", exact, len(thinking) + len(reply)},
		{"stream decoded by json.Unmarshal", stream(`"X_Vendor":1`, "", "reasoning_content"), "", exact, len(thinking) + len(reply)},
		{"stream both names, different texts", func() [][]byte {
			return [][]byte{
				chunkData("", map[string]any{"reasoning_content": thinking, "reasoning": other}),
				chunkData("", map[string]any{"content": reply}),
			}
		}, "", enc.Count(thinking+other) + enc.Count(reply), len(thinking) + len(other) + len(reply)},
		{"stream null and object values ignored", func() [][]byte {
			return [][]byte{
				chunkData("", map[string]any{"reasoning_content": nil, "content": ""}),
				chunkData("", map[string]any{"reasoning": map[string]any{"summary": thinking}}),
				chunkData("", map[string]any{"content": reply}),
			}
		}, "", enc.Count(reply), len(reply)},
		{"stream two choices, counted apart", func() [][]byte {
			var events [][]byte
			for _, p := range pieces(thinking) {
				events = append(events, chunkData("", map[string]any{"_index": 1, "reasoning_content": p}, map[string]any{"_index": 0, "reasoning_content": p}))
			}
			return events
		}, "", 2 * enc.Count(thinking), 2 * len(thinking)},
		{"stream reasoning beside the delta, not counted", func() [][]byte { // only a delta's reasoning is text the client shows
			return [][]byte{[]byte(`{"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"m","choices":[` +
				`{"index":0,"delta":{"content":` + js(reply) + `},"reasoning_content":` + js(thinking) + `}]}`)}
		}, "", enc.Count(reply), len(reply)},
		{"body reasoning_content", nil, body(msg(`,"reasoning_content":` + js(thinking))), exact, 0},
		{"body reasoning", nil, body(msg(`,"reasoning":` + js(thinking))), exact, 0},
		{"body both names, same text, counted once", nil, body(msg(`,"reasoning_content":` + js(thinking) + `,"reasoning":` + js(thinking))), exact, 0},
		{"body escaped name", nil, body(msg(`,"\u0072easoning_content":` + js(thinking))), exact, 0},
		{"body null and object values ignored", nil, body(msg(`,"reasoning_content":null,"reasoning":{"summary":` + js(thinking) + `}`)), enc.Count(reply), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events [][]byte
			if tc.events != nil {
				events = tc.events()
				if strings.Contains(tc.name, "json.Unmarshal") {
					dec := chunkjson.Decoder{KeepUnknown: true}
					var ch wire.ChatCompletionChunk
					if err := dec.Decode(events[0], &ch); err != nil {
						t.Fatal(err)
					}
					if _, ok := dec.Unknown(); ok {
						t.Fatal("the decoder's fast path read the chunk")
					}
				}
			}
			h, seen, _ := countChain(t, nil, func(w http.ResponseWriter, r *http.Request) {
				if events == nil {
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, tc.body)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				for _, ev := range events {
					fmt.Fprintf(w, "data: %s\n\n", ev)
				}
				io.WriteString(w, "data: [DONE]\n\n")
			})
			rec := postJSON(h, "/v1/chat/completions", fmt.Sprintf(`{"model":"gpt-4o","n":2,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, events != nil))
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			c := *seen
			if c.Usage == nil || c.Usage.CompletionTokens != tc.want || !c.UsageCounted {
				t.Fatalf("usage %+v counted=%v, want %d completion tokens counted", c.Usage, c.UsageCounted, tc.want)
			}
			if events != nil && (c.tally.bound < tc.bound || c.tally.bound < tc.want) {
				t.Errorf("stream bound %d, want at least %d and the count %d", c.tally.bound, tc.bound, tc.want)
			}
		})
	}
}

// TestCountCompletionPrompts: each prompt of a legacy batch is a completion
// of its own, so each must fit the context window (their sum is billed);
// max_tokens 0 asks for the prompt only; errors name "prompt".
func TestCountCompletionPrompts(t *testing.T) {
	cat, err := models.New(models.Config{Models: map[string]models.Override{
		"tiny-model": {ContextWindow: ptr(100), MaxOutput: ptr(40), Encoding: "cl100k_base"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, seen, _ := countChain(t, cat, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{}) })
	enc, _ := tokens.Get("cl100k_base")
	sixty := strings.Repeat("word ", 59)
	n := enc.Count(sixty)
	for _, tc := range []struct {
		name, body       string
		status           int
		param            string
		prompt, reserved int
	}{
		{"a batch whose prompts each fit", `{"model":"tiny-model","prompt":["` + sixty + `","` + sixty + `"],"max_tokens":5}`, 200, "", 2 * n, 10},
		{"a prompt over the window", `{"model":"tiny-model","prompt":"` + sixty + sixty + `"}`, 400, "prompt", 0, 0},
		{"a prompt and max_tokens over the window", `{"model":"tiny-model","prompt":"` + sixty + `and more words","max_tokens":40}`, 400, "prompt", 0, 0},
		{"max_tokens 0", `{"model":"tiny-model","prompt":"hi","max_tokens":0,"echo":true,"logprobs":1}`, 200, "", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*seen = nil
			rec := postJSON(h, "/v1/completions", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if tc.status != 200 {
				if e, _ := wire.DecodeError(rec.Code, rec.Body.Bytes()); e == nil || e.Param != tc.param {
					t.Errorf("envelope %s, want param %q", rec.Body, tc.param)
				}
				return
			}
			if c := *seen; c.PromptTokens != tc.prompt || c.MaxCompletionTokens != tc.reserved {
				t.Errorf("prompt %d, reserved %d; want %d, %d", c.PromptTokens, c.MaxCompletionTokens, tc.prompt, tc.reserved)
			}
		})
	}
}
