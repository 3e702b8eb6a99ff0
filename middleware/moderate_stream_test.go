package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"go.uber.org/goleak"

	"github.com/llmgate/llmgate/wire"
)

// modStreamUpstream streams pieces as chat chunks (a role chunk first, a
// finish chunk and a usage-less [DONE] last). It sends the first write
// error it saw to errs, when errs is not nil.
func modStreamUpstream(pieces []string, errs chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		var err error
		chunk := func(d wire.Delta, fin wire.FinishReason) {
			if err == nil {
				err = sw.WriteJSON(wire.ChatCompletionChunk{ID: "chatcmpl-1", Object: wire.ObjectChatCompletionChunk, Created: 7, Model: "gpt-4o-mini",
					Choices: []wire.ChunkChoice{{Delta: d, FinishReason: fin}}})
			}
		}
		chunk(wire.Delta{Role: "assistant"}, "")
		for _, p := range pieces {
			chunk(wire.Delta{Content: p}, "")
		}
		chunk(wire.Delta{}, wire.FinishStop)
		if err == nil {
			err = sw.WriteDone()
		}
		if errs != nil {
			errs <- err
		}
	}
}

// modSSE is a parsed client-side view of a stream.
type modSSE struct {
	text   string            // the content the client received
	events []json.RawMessage // data of every event but [DONE]
	done   bool
}

func modParseSSE(t *testing.T, body []byte) modSSE {
	t.Helper()
	var out modSSE
	r := wire.NewReader(bytes.NewReader(body))
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.IsDone() {
			out.done = true
			continue
		}
		out.events = append(out.events, append(json.RawMessage(nil), ev.Data...))
		var ch wire.ChatCompletionChunk
		if err := json.Unmarshal(ev.Data, &ch); err != nil {
			t.Fatalf("event %s: %v", ev.Data, err)
		}
		for _, c := range ch.Choices {
			out.text += c.Delta.Content
		}
	}
	return out
}

func modStreamReq() string {
	return `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"tell me"}]}`
}

func TestModerateStream(t *testing.T) {
	clean := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	tests := []struct {
		name   string
		pieces []string
		prefix string // the client's text must be a non-empty prefix of this (cut) or equal it
		cut    bool
	}{
		{"clean text passes whole", strings.SplitAfter(clean, " "), clean, false},
		{"clean single chunk", []string{clean}, clean, false},
		{"term split across chunks", append(strings.SplitAfter(clean, " "), "and then I will ki", "ll you", " tomorrow."), clean, true},
		{"term split letter by letter", append(strings.SplitAfter(clean, " "), strings.Split("I'm going to kill you.", "")...), clean, true},
		{"flagged at once", []string{"I'm going to kill you."}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := make(chan error, 1)
			var flagged []string
			h, cp := modTestChain(t, ModerateConfig{Input: InputOff, OnOutputFlagged: func(_ *http.Request, res wire.ModerationResult) {
				flagged = append(flagged, "x")
			}}, modStreamUpstream(tt.pieces, errs))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			werr := <-errs
			got := modParseSSE(t, rec.Body.Bytes())
			if rec.Code != 200 || !got.done {
				t.Fatalf("status %d, done %v: %s", rec.Code, got.done, rec.Body)
			}
			last := string(got.events[len(got.events)-1])
			if !tt.cut {
				if got.text != tt.prefix || werr != nil || strings.Contains(last, "error") {
					t.Errorf("text %q (err %v), want %q", got.text, werr, tt.prefix)
				}
				if !strings.Contains(last, `"finish_reason":"stop"`) {
					t.Errorf("last event %s, want the handler's finish chunk", last)
				}
				return
			}
			if !strings.HasPrefix(tt.prefix, got.text) || (tt.prefix != "" && got.text == "") {
				t.Errorf("client text %q is not a clean prefix", got.text)
			}
			if strings.Contains(rec.Body.String(), "kill") || strings.Contains(rec.Body.String(), "ki\"") {
				t.Errorf("flagged text reached the client: %s", rec.Body)
			}
			if !errors.Is(werr, ErrContentFiltered) {
				t.Errorf("handler's write error %v, want ErrContentFiltered", werr)
			}
			var final struct {
				ID      string             `json:"id"`
				Model   string             `json:"model"`
				Choices []wire.ChunkChoice `json:"choices"`
				Error   *wire.Error        `json:"error"`
			}
			if err := json.Unmarshal([]byte(last), &final); err != nil {
				t.Fatal(err)
			}
			if final.Error == nil || final.Error.Code != wire.CodeContentPolicyViolation || !strings.Contains(final.Error.Message, "harassment") ||
				len(final.Choices) != 1 || final.Choices[0].FinishReason != wire.FinishContentFilter || final.ID != "chatcmpl-1" || final.Model != "gpt-4o-mini" {
				t.Errorf("final event %s", last)
			}
			if len(flagged) != 1 {
				t.Errorf("OnOutputFlagged called %d times", len(flagged))
			}
			if cp.call.Usage == nil || cp.call.Usage.CompletionTokens == 0 {
				t.Errorf("usage %+v: the withheld text was generated and is billed", cp.call.Usage)
			}
		})
	}
}

func TestModerateStreamKeepsFields(t *testing.T) {
	// Chunks with fields Moderate does not know, tool calls, a usage chunk,
	// a keep-alive and an upstream error event: all pass, content is
	// delayed, and the concatenation is unchanged.
	body := "" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
		": keep-alive\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"obfuscation\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello <b>&\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\\n\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"x_vendor\":{\"k\":1}}\n\n" +
		"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n" +
		"data: [DONE]\n\n"
	h, cp := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < len(body); i += 7 { // split anywhere
			_, _ = w.Write([]byte(body[i:min(i+7, len(body))]))
		}
	})
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	got := modParseSSE(t, rec.Body.Bytes())
	if got.text != "Hello <b>& world\n" || !got.done {
		t.Errorf("text %q done %v", got.text, got.done)
	}
	all := rec.Body.String()
	for _, want := range []string{`"reasoning_content":"think"`, `"arguments":"{}"`, `"x_vendor":{"k":1}`, `"finish_reason":"tool_calls"`,
		`"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}`, `"content":"Hello <b>& world\n"`} {
		if !strings.Contains(all, want) {
			t.Errorf("stream lacks %s:\n%s", want, all)
		}
	}
	if cp.call.Usage == nil || cp.call.Usage.TotalTokens != 7 || cp.call.UsageCounted {
		t.Errorf("usage %+v: the reported usage must reach the tap", cp.call.Usage)
	}
}

func TestModerateStreamEndsWithoutDone(t *testing.T) {
	// A stream the handler ends without finish_reason or [DONE]: the held
	// back text is judged as the end and released in a chunk of its own.
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		for _, p := range []string{"short ", "answer"} {
			_ = sw.WriteJSON(wire.ChatCompletionChunk{ID: "z", Object: wire.ObjectChatCompletionChunk, Model: "m",
				Choices: []wire.ChunkChoice{{Delta: wire.Delta{Content: p}}}})
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through Moderate: %v", err)
		}
	})
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	got := modParseSSE(t, rec.Body.Bytes())
	if got.text != "short answer" || got.done || len(got.events) != 1 {
		t.Errorf("text %q done %v events %d: %s", got.text, got.done, len(got.events), rec.Body)
	}
}

func TestModerateStreamMultipleChoices(t *testing.T) {
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		send := func(i int, s string, fin wire.FinishReason) {
			_ = sw.WriteJSON(wire.ChatCompletionChunk{ID: "n", Object: wire.ObjectChatCompletionChunk, Model: "m",
				Choices: []wire.ChunkChoice{{Index: i, Delta: wire.Delta{Content: s}, FinishReason: fin}}})
		}
		send(0, "A fine answer.", "")
		send(1, "Another fine one.", "")
		send(0, "", wire.FinishStop)
		send(1, " I'm going to kill you.", "")
		send(1, "", wire.FinishStop)
		_ = sw.WriteDone()
	})
	rec := postJSON(h, "/v1/chat/completions", `{"model":"gpt-4o-mini","n":2,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	body := rec.Body.String()
	if !strings.Contains(body, `"content":"A fine answer."`) || strings.Contains(body, "kill") || strings.Contains(body, "Another") {
		t.Errorf("choice 0 must be released whole and choice 1 withheld: %s", body)
	}
	if !strings.Contains(body, `"choices":[{"index":1,"delta":{},"finish_reason":"content_filter"}],"error":`) {
		t.Errorf("final event must end only the unfinished choice: %s", body)
	}
}

// TestModerateStreamOpenAIClient is the end-to-end check of issue 7: the
// official client sees the clean prefix, then the error, and nothing
// flagged.
func TestModerateStreamOpenAIClient(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	clean := strings.Repeat("Once upon a time there was a calm little town by the sea. ", 3)
	pieces := append(strings.SplitAfter(clean, " "), "Then he said: I will ki", "ll you", " and left.")
	errs := make(chan error, 1)
	m, err := NewModerate(ModerateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Chain(RequestID, Recover(RecoverConfig{}), Decode(DecodeConfig{}), Count(CountConfig{}), m.Wrap)(modStreamUpstream(pieces, errs)))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0), option.WithHTTPClient(hc))

	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")},
	})
	var text strings.Builder
	var finish []string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = append(finish, ch.FinishReason)
			}
		}
	}
	serr := stream.Err()
	_ = stream.Close()
	if werr := <-errs; !errors.Is(werr, ErrContentFiltered) {
		t.Errorf("upstream write error %v, want ErrContentFiltered", werr)
	}
	got := text.String()
	if got == "" || !strings.HasPrefix(clean, got) {
		t.Errorf("client text %q is not a non-empty clean prefix", got)
	}
	if strings.Contains(got, "ki") && !strings.HasPrefix(clean, got) {
		t.Errorf("flagged text reached the client: %q", got)
	}
	var se *ssestream.StreamError
	if !errors.As(serr, &se) {
		t.Fatalf("stream error %v (%T), want *ssestream.StreamError", serr, serr)
	}
	var env struct{ Error wire.Error }
	if err := json.Unmarshal(se.Event.Data, &env); err != nil || env.Error.Code != wire.CodeContentPolicyViolation {
		t.Errorf("error event %s (%v), want a content_policy_violation envelope", se.Event.Data, err)
	}
	if len(finish) != 0 {
		t.Errorf("finish reasons %v before the error", finish)
	}

	// The same text, not streamed: a normal completion whose choice ends
	// with content_filter and carries no text.
	full := strings.Join(pieces, "")
	srv2 := httptest.NewServer(Chain(Decode(DecodeConfig{}), Count(CountConfig{}), m.Wrap)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, wire.ChatCompletion{ID: "c", Object: wire.ObjectChatCompletion, Model: "gpt-4o-mini", Choices: []wire.ChatChoice{{
			Message: wire.Message{Role: "assistant", Content: wire.TextContent(full)}, FinishReason: wire.FinishStop}}})
	})))
	defer srv2.Close()
	client2 := openai.NewClient(option.WithBaseURL(srv2.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0), option.WithHTTPClient(hc))
	resp, err := client2.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].FinishReason != "content_filter" || resp.Choices[0].Message.Content != "" {
		t.Errorf("choices %+v", resp.Choices)
	}
}

// TestModerateStreamReverseProxy cuts a stream that httputil.ReverseProxy
// relays: the proxy aborts on the failed write (http.ErrAbortHandler), and
// the client has already received the final event with the error.
func TestModerateStreamReverseProxy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	clean := strings.Repeat("A calm and quiet evening by the lake. ", 3)
	pieces := append(strings.SplitAfter(clean, " "), "I will ki", "ll you", " now.")
	for range 50 { // more than the proxy's buffer: it must be stopped, not drained
		pieces = append(pieces, " and more text")
	}
	errs := make(chan error, 1)
	upstream := httptest.NewServer(modStreamUpstream(pieces, errs))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	m, _ := NewModerate(ModerateConfig{})
	srv := httptest.NewServer(Chain(RequestID, Recover(RecoverConfig{}), Decode(DecodeConfig{}), Count(CountConfig{}), m.Wrap)(proxy))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0), option.WithHTTPClient(hc))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")},
	})
	var text strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	var se *ssestream.StreamError
	if err := stream.Err(); !errors.As(err, &se) || !strings.Contains(err.Error(), wire.CodeContentPolicyViolation) {
		t.Errorf("stream error %v, want the content_policy_violation event", err)
	}
	_ = stream.Close()
	if got := text.String(); got == "" || !strings.HasPrefix(clean, got) {
		t.Errorf("client text %q is not a non-empty clean prefix", got)
	}
	<-errs // the upstream handler ends (its client, the proxy, went away or read all)
}

func TestModerateStreamCompletions(t *testing.T) {
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		for _, p := range []string{strings.Repeat("calm words here ", 6), "I'm going to ", "kill you."} {
			_ = sw.WriteJSON(wire.Completion{ID: "cmpl-1", Object: wire.ObjectTextCompletion, Model: "m",
				Choices: []wire.CompletionChoice{{Text: p}}})
		}
		_ = sw.WriteDone()
	})
	rec := postJSON(h, "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi","stream":true}`)
	body := rec.Body.String()
	if strings.Contains(body, "kill") || !strings.Contains(body, `"text":"calm words here`) ||
		!strings.Contains(body, `"choices":[{"index":0,"text":"","finish_reason":"content_filter"}],"error":{`) {
		t.Errorf("completions stream: %s", body)
	}
}

func TestModerateBufferedFlush(t *testing.T) {
	// A handler that flushes a JSON body early does not commit the
	// response: it is sent once moderated, with its real length.
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		_, _ = io.WriteString(w, `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"I'm going to kill you."},"finish_reason":"stop"}]}`)
	})
	rec := postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
	res := rec.Result()
	if cl := res.Header.Get("Content-Length"); cl != itoa(rec.Body.Len()) || strings.Contains(rec.Body.String(), "kill") {
		t.Errorf("Content-Length %q for %d bytes: %s", cl, rec.Body.Len(), rec.Body)
	}
}
