package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/llmgate/llmgate/wire"
)

// sseUpstream is an OpenAI-compatible upstream that answers every chat
// completion with pieces as content chunks (or, from
// newSSEUpstreamMember, chunks of another delta member) after a role
// chunk, a finish chunk, a usage chunk and [DONE], as fast as it can write
// them.
type sseUpstream struct {
	*httptest.Server
	hits      atomic.Int64
	writeErrs atomic.Int64 // writes the proxy refused (a cut stream)
}

func newSSEUpstream(t *testing.T, pieces []string) *sseUpstream {
	t.Helper()
	return newSSEUpstreamMember(t, "content", pieces)
}

// newSSEUpstreamMember sends the pieces as the delta member named member
// (reasoning_content, say).
func newSSEUpstreamMember(t *testing.T, member string, pieces []string) *sseUpstream {
	t.Helper()
	deltas := make([]map[string]any, len(pieces))
	for i, p := range pieces {
		deltas[i] = map[string]any{member: p}
	}
	return newSSEUpstreamDeltas(t, deltas, "stop")
}

// newSSEUpstreamDeltas sends the deltas, then a chunk that finishes the
// choice with finish.
func newSSEUpstreamDeltas(t *testing.T, deltas []map[string]any, finish string) *sseUpstream {
	t.Helper()
	u := &sseUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if _, err := io.Copy(io.Discard, r.Body); err != nil { // a real server reads the whole request
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		send := func(v any) bool {
			b, _ := json.Marshal(v)
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				u.writeErrs.Add(1)
				return false
			}
			return rc.Flush() == nil
		}
		chunk := func(delta map[string]any, finish any) map[string]any {
			return map[string]any{"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1700000000, "model": "llmtest-1",
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		}
		if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
			return
		}
		for _, d := range deltas {
			if !send(chunk(d, nil)) {
				return
			}
		}
		if !send(chunk(map[string]any{}, finish)) {
			return
		}
		if !send(map[string]any{"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1700000000, "model": "llmtest-1",
			"choices": []any{}, "usage": map[string]any{"prompt_tokens": 9, "completion_tokens": len(deltas), "total_tokens": 9 + len(deltas)}}) {
			return
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(u.Close)
	return u
}

// streamResult is what a raw SSE client saw.
type streamResult struct {
	text   string
	chunks int // content chunks, role and finish chunks excluded
	finish string
	usage  bool
	done   bool
}

// rawStream sends a streamed chat request and parses the SSE answer.
func rawStream(ctx context.Context, hc *http.Client, base, key, body string) (streamResult, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return streamResult{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return streamResult{}, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return parseSSE(res.Body)
}

// TestStreamIntegrity sends thousands of streams through the proxy from an
// upstream that writes them as fast as it can: every one must arrive whole,
// every chunk and [DONE]. Without full duplex (upstream.go) net/http closes
// the request body under the transport and some of them end truncated.
func TestStreamIntegrity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	n := 5000
	if raceEnabled {
		n = 1500 // the proxy runs under the race detector too; about 5x slower
	}
	const concurrency = 32
	pieces := make([]string, 20)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("tok%02d ", i)
	}
	want := strings.Join(pieces, "")
	up := newSSEUpstream(t, pieces)
	p := configProxy(t, testKeysYAML("fast")+`
upstream: {url: "`+up.URL+`/v1", retries: 0}
tiers:
  fast: {rpm: 10000000, tpm: 1000000000, models: ["*"]}
cache: {disabled: true}
`)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	defer hc.CloseIdleConnections()
	body := `{"model":"llmtest-1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count to twenty"}],"max_tokens":64}`

	var (
		mu       sync.Mutex
		failures []string
		bad      int
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				sr, err := rawStream(context.Background(), hc, p.URL, "sk-fast", body)
				if err == nil && (!sr.done || sr.text != want || sr.chunks != len(pieces) || sr.finish != "stop" || !sr.usage) {
					err = fmt.Errorf("truncated: done=%v chunks=%d finish=%q usage=%v text=%q", sr.done, sr.chunks, sr.finish, sr.usage, sr.text)
				}
				if err != nil {
					mu.Lock()
					bad++
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("stream %d: %v", i, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d streams were not whole (%.2f%%):\n%s", bad, n, 100*float64(bad)/float64(n), strings.Join(failures, "\n"))
	}
	if got := up.hits.Load(); got != int64(n) {
		t.Errorf("upstream served %d requests, want %d", got, n)
	}
	t.Logf("%d streams of %d chunks, %d concurrent, race=%v", n, len(pieces), concurrency, raceEnabled)
}

// TestStreamCutByOutputModeration streams a flagged phrase split across
// chunks: the official client reads the clean text before it, then an
// error event, and never the flagged words.
func TestStreamCutByOutputModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	clean := strings.Repeat("Once upon a time there was a calm little town by the sea. ", 3)
	pieces := append(strings.SplitAfter(clean, " "), "Then he said: I will ki", "ll you", " and left.")
	stream, up := moderatedStream(t, "content", pieces)
	var text strings.Builder
	var finish []string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = append(finish, string(ch.FinishReason))
			}
		}
	}
	serr := stream.Err()
	_ = stream.Close()
	got := text.String()
	if got == "" || !strings.HasPrefix(clean, got) {
		t.Errorf("client text %q is not a non-empty prefix of the clean text", got)
	}
	for _, bad := range []string{"ki", "kill", "you and left"} {
		if strings.Contains(strings.TrimPrefix(got, clean), bad) {
			t.Errorf("flagged text %q reached the client: %q", bad, got)
		}
	}
	se := wantPolicyCut(t, serr)
	if strings.Contains(string(se.Event.Data), "kill") {
		t.Errorf("the error event quotes the flagged text: %s", se.Event.Data)
	}
	if len(finish) != 0 {
		t.Errorf("finish reasons %v before the error", finish)
	}
	if up.hits.Load() != 1 {
		t.Errorf("upstream hits %d, want 1", up.hits.Load())
	}
}

// moderatedStream starts an upstream that streams pieces as the delta
// member named member, and the proxy binary in front of it with input and
// output moderation, and asks it for a story with openai-go.
func moderatedStream(t *testing.T, member string, pieces []string) (*ssestream.Stream[openai.ChatCompletionChunk], *sseUpstream) {
	t.Helper()
	return moderatedUpstream(t, newSSEUpstreamMember(t, member, pieces))
}

// moderatedUpstream streams a chat completion from up through a proxy
// with input and output moderation.
func moderatedUpstream(t *testing.T, up *sseUpstream) (*ssestream.Stream[openai.ChatCompletionChunk], *sseUpstream) {
	t.Helper()
	p := configProxy(t, testKeysYAML("writer")+`
upstream: {url: "`+up.URL+`/v1", retries: 0}
tiers:
  writer: {models: ["*"]}
moderation: {input: true, output: true}
`)
	client := p.client("sk-writer")
	return client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "llmtest-1", Messages: userMsg("Tell me a story."),
	}), up
}

// wantPolicyCut fails unless serr is the error event of a stream the
// content filter cut, and returns it.
func wantPolicyCut(t *testing.T, serr error) *ssestream.StreamError {
	t.Helper()
	var se *ssestream.StreamError
	if !errors.As(serr, &se) {
		t.Fatalf("stream error %v (%T), want *ssestream.StreamError", serr, serr)
	}
	var env struct{ Error wire.Error }
	if err := json.Unmarshal(se.Event.Data, &env); err != nil || env.Error.Code != wire.CodeContentPolicyViolation {
		t.Errorf("error event %s (%v), want a content_policy_violation envelope", se.Event.Data, err)
	}
	return se
}

// TestStreamReasoningCutByOutputModeration: a reasoning model's thinking
// (vLLM's reasoning_content deltas) is moderated like its answer: the
// official client reads the clean reasoning before a flagged phrase, then
// an error event, and never the phrase.
func TestStreamReasoningCutByOutputModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	clean := strings.Repeat("The user wants a story about a calm town by the sea. ", 3)
	pieces := append(strings.SplitAfter(clean, " "), "So the hero says: I will ki", "ll you", " and leaves.")
	stream, _ := moderatedStream(t, "reasoning_content", pieces)
	var reasoning strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			var d struct {
				ReasoningContent string `json:"reasoning_content"`
			}
			if err := json.Unmarshal([]byte(ch.Delta.RawJSON()), &d); err != nil {
				t.Fatalf("delta %s: %v", ch.Delta.RawJSON(), err)
			}
			reasoning.WriteString(d.ReasoningContent)
		}
	}
	serr := stream.Err()
	_ = stream.Close()
	got := reasoning.String()
	if got == "" || !strings.HasPrefix(clean, got) {
		t.Errorf("client reasoning %q is not a non-empty prefix of the clean reasoning", got)
	}
	wantPolicyCut(t, serr)
}

// TestStreamToolCallCutByOutputModeration: a tool call whose arguments the
// content filter flags never reaches the official client's accumulator,
// which reports no finished call and an error event instead; a clean call
// before it is held with it. A clean stream of calls finishes as sent.
func TestStreamToolCallCutByOutputModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	call := func(index int, name, args string) []map[string]any {
		d := []map[string]any{{"tool_calls": []any{map[string]any{"index": index, "id": fmt.Sprint("call_", index), "type": "function",
			"function": map[string]any{"name": name, "arguments": ""}}}}}
		for len(args) > 0 {
			n := min(5, len(args))
			d = append(d, map[string]any{"tool_calls": []any{map[string]any{"index": index, "function": map[string]any{"arguments": args[:n]}}}})
			args = args[n:]
		}
		return d
	}
	run := func(deltas []map[string]any) (finished []openai.FinishedChatCompletionToolCall, serr error) {
		stream, _ := moderatedUpstream(t, newSSEUpstreamDeltas(t, deltas, "tool_calls"))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		serr = stream.Err()
		_ = stream.Close()
		return finished, serr
	}
	clean := `{"city":"Paris"}`
	finished, serr := run(slices.Concat(call(0, "weather", clean), call(1, "weather", clean)))
	if serr != nil || len(finished) != 2 || finished[0].Arguments != clean || finished[1].Arguments != clean {
		t.Errorf("clean calls: finished %+v, error %v", finished, serr)
	}
	finished, serr = run(slices.Concat(call(0, "weather", clean), call(1, "post", `{"text":"I will kill you."}`)))
	if len(finished) != 0 {
		t.Errorf("the client finished calls %+v of a flagged stream", finished)
	}
	wantPolicyCut(t, serr)
}
