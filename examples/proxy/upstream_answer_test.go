package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// answerCompletion is a whole chat completion, as answerUpstream sends it.
const answerCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"llmtest-1",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`

// answerUpstream answers 200 as the request's X-Test-Answer says: "whole"
// (a chat completion with a Content-Length), "whole-chunked", "text-plain"
// (the same JSON labelled text/plain), "cut" (Content-Length 500, 30 bytes,
// then the connection drops), "cut-chunked", "html" (text/html
// <html>hi</html>), "bad-json" ({"id": oops as application/json),
// "bad-json-chunked", "empty" (application/json, no body) and "sse" (a
// one-chunk stream).
func answerUpstream(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h := w.Header()
	flush := func() { _ = http.NewResponseController(w).Flush() }
	switch mode := r.Header.Get("X-Test-Answer"); mode {
	case "whole", "text-plain":
		h.Set("Content-Type", "application/json")
		if mode == "text-plain" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		h.Set("Content-Length", strconv.Itoa(len(answerCompletion)))
		_, _ = io.WriteString(w, answerCompletion)
	case "whole-chunked":
		h.Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answerCompletion[:40])
		flush()
		_, _ = io.WriteString(w, answerCompletion[40:])
	case "cut", "cut-chunked":
		h.Set("Content-Type", "application/json")
		if mode == "cut" {
			h.Set("Content-Length", "500")
		}
		_, _ = io.WriteString(w, answerCompletion[:30])
		flush()
		panic(http.ErrAbortHandler) // the connection drops mid-answer
	case "html":
		h.Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>hi</html>")
	case "bad-json", "bad-json-chunked":
		h.Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id": `)
		if mode == "bad-json-chunked" {
			flush()
		}
		_, _ = io.WriteString(w, `oops`)
	case "empty":
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", "0")
	case "sse", "sse-html":
		h.Set("Content-Type", "text/event-stream")
		if mode == "sse-html" {
			h.Set("Content-Type", "text/html; charset=utf-8") // Flask's default
		}
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"llmtest-1",`+
			`"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}
}

// answerCases are answerUpstream's answers and what the client must get:
// 200 and the answer, or a 502 envelope whose message says why.
var answerCases = []struct {
	answer string
	status int
	msg    string // a 502's message contains it
}{
	{"whole", 200, ""},
	{"whole-chunked", 200, ""},
	{"text-plain", 200, ""},
	{"sse", 200, ""},
	{"cut", 502, "broke off"},
	{"cut-chunked", 502, "broke off"},
	{"html", 502, "not JSON"},
	{"bad-json", 502, "not JSON"},
	{"bad-json-chunked", 502, "not JSON"},
	{"empty", 502, "not JSON"},
}

// checkAnswer checks resp (to an answerUpstream request) against want.
func checkAnswer(t *testing.T, what string, resp *http.Response, status int, msg string) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Errorf("%s: reading the answer (status %d, %d bytes): %v", what, resp.StatusCode, len(b), err)
		return
	}
	if status == http.StatusOK {
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("%s: %d %s, want 200 and the answer", what, resp.StatusCode, b)
		}
		return
	}
	e, ok := wire.DecodeError(resp.StatusCode, b)
	if resp.StatusCode != status || !ok || e.Code != wire.CodeUpstreamError || !strings.Contains(e.Message, msg) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: %d %s %s, want a %d upstream_error envelope saying %q", what, resp.StatusCode, resp.Header.Get("Content-Type"), b, status, msg)
	}
}

// A 200 that is not a stream, to a JSON endpoint, reaches the client only
// whole and valid JSON: one that breaks off short of its Content-Length
// (or of its last chunk) is a 502 envelope saying so, as is one that is
// not JSON (an HTML page, a truncated object) whatever its Content-Type.
// Streams pass as they come. This is the upstream handler alone, on each
// JSON endpoint.
func TestUpstreamAnswerIsWholeJSON(t *testing.T) {
	gw := serveUpstream(t, http.HandlerFunc(answerUpstream), "/v1", Upstream{Timeout: Duration(time.Minute), Retries: retriesOf(0)}, nil)
	for _, path := range []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/moderations"} {
		for _, tc := range answerCases {
			req, _ := http.NewRequest(http.MethodPost, gw.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-Answer", tc.answer)
			resp, err := gw.Client().Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", path, tc.answer, err)
				continue
			}
			checkAnswer(t, path+" "+tc.answer, resp, tc.status, tc.msg)
		}
	}
}

// The same through the whole chain, output moderation off and on (which
// buffers the answer): the client gets the answer or a 502 envelope, never
// an empty reply or a 200 that is not JSON.
func TestGatewayUpstreamAnswerIsWholeJSON(t *testing.T) {
	up, _ := trackedServer(t, http.HandlerFunc(answerUpstream))
	for _, moderation := range []string{"false", "true"} {
		t.Run("output moderation "+moderation, func(t *testing.T) {
			g := startGateway(t, testKeysYAML("ans")+`
upstream: {url: "`+up.URL+`/v1", retries: 0}
tiers:
  ans: {rpm: 100000, tpm: 100000000, models: ["*"]}
policy: {disabled: true}
cache: {disabled: true}
moderation: {input: false, output: `+moderation+`}
`, 10*time.Second)
			// ask sends a chat request whose answer answerUpstream picks.
			ask := func(answer string, stream bool) (*http.Response, error) {
				req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(
					`{"model":"llmtest-1","stream":`+strconv.FormatBool(stream)+`,"messages":[{"role":"user","content":"hello"}]}`))
				req.Header.Set("Authorization", "Bearer sk-ans")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Test-Answer", answer)
				return http.DefaultClient.Do(req)
			}
			for _, tc := range answerCases {
				resp, err := ask(tc.answer, tc.answer == "sse")
				if err != nil {
					t.Errorf("%s: %v", tc.answer, err)
					continue
				}
				checkAnswer(t, tc.answer, resp, tc.status, tc.msg)
			}
			if moderation == "true" {
				return // output moderation cannot read a stream it is not told is one
			}
			// A stream the client asked for passes as it comes, labelled
			// text/html or not: never read whole and judged as JSON.
			resp, err := ask("sse-html", true)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), "data: [DONE]") {
				t.Errorf("a stream labelled text/html: %d %s, want 200 and the stream", resp.StatusCode, b)
			}
		})
	}
}

// validJSON agrees with json.Valid.
func TestValidJSON(t *testing.T) {
	for _, s := range []string{"", " ", "{}", " {} \n", `{"a":[1,2.5e3,true,null,"x\u00e9"]}`, `{"id": oops`, `{"a":1}}`,
		`{"a":1} {"b":2}`, `<html>hi</html>`, `[`, `"\x01"`, "\"\x01\"", `123`, `{"a":"\q"}`} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", s, got, want)
		}
	}
}
