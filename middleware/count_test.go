package middleware

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
