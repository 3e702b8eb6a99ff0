package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// How a soak stream ends, chosen by the client and told to the upstream in
// the X-Chaos-Abort header so that it can hold the stream open until the
// abort reaches it.
const (
	abortNone   = ""       // the stream runs to [DONE]
	abortBefore = "before" // the client goes away before the response headers
	abortDuring = "during" // the client goes away mid-stream
)

// abortUpstream streams chat completions. A request marked X-Chaos-Abort
// tells the test (through arrived) that it has arrived — before any byte of
// the answer, or after half the chunks — then waits for its request context
// to end: only the gateway passing on the client's abort ends it. A gateway
// that did not would leave the handler, and its connection, hanging.
type abortUpstream struct {
	pieces    []string
	arrived   sync.Map // X-Chaos-Stream → chan struct{}, closed on arrival
	hits      atomic.Int64
	aborted   atomic.Int64 // handlers that saw their request context end
	completed atomic.Int64 // streams written to [DONE]
}

func (u *abortUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	mode := r.Header.Get("X-Chaos-Abort")
	signal := func() {
		if ch, ok := u.arrived.LoadAndDelete(r.Header.Get("X-Chaos-Stream")); ok {
			close(ch.(chan struct{}))
		}
	}
	hold := func() {
		signal()
		<-r.Context().Done()
		u.aborted.Add(1)
	}
	if mode == abortBefore {
		hold()
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 1700000000, "model": "llmtest-1",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	for i, p := range u.pieces {
		if mode == abortDuring && i == len(u.pieces)/2 {
			hold()
			return
		}
		if !send(chunk(map[string]any{"content": p}, nil)) {
			return
		}
	}
	if !send(chunk(map[string]any{}, "stop")) {
		return
	}
	if !send(map[string]any{"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 1700000000, "model": "llmtest-1",
		"choices": []any{}, "usage": map[string]any{"prompt_tokens": 9, "completion_tokens": len(u.pieces), "total_tokens": 9 + len(u.pieces)}}) {
		return
	}
	if _, err := io.WriteString(w, "data: [DONE]\n\n"); err == nil && rc.Flush() == nil {
		u.completed.Add(1)
	}
}

// abortMode is the fate of stream i: 30% of the streams are aborted, a
// third of those before the response headers.
func abortMode(i int) string {
	switch i % 10 {
	case 0:
		return abortBefore
	case 3, 7:
		return abortDuring
	}
	return abortNone
}

// TestSoakStreamsWithClientAborts sends streams through the whole chain
// (auth, validation, counting, moderation in and out, policy, limits,
// budgets, cache) while 30% of the clients go away, before the headers or
// mid-stream. Every other stream must arrive whole; every abort must reach
// the upstream (its handler returns); afterwards no upstream connection is
// left active, the gateway's goroutines are back to their baseline, and
// once everything is closed nothing it started is left running (goleak).
//
// 1,000 streams, 32 at a time (400 under -race); LLMGATE_SOAK=full:
// 10,000, 128 at a time.
func TestSoakStreamsWithClientAborts(t *testing.T) {
	start := goleak.IgnoreCurrent()
	n, concurrency := soakSize(1000, 10000), soakSize(32, 128)
	if raceEnabled && !soakFull() {
		n = 400 // the whole chain runs ~10x slower under the race detector
	}
	pieces := make([]string, 8)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("tok%02d ", i)
	}
	want := strings.Join(pieces, "")
	up := &abortUpstream{pieces: pieces}
	upSrv, upConns := trackedServer(t, up)
	g := startGateway(t, testKeysYAML("soak")+`
upstream: {url: "`+upSrv.URL+`/v1", retries: 2}
tiers:
  soak: {rpm: 100000000, tpm: 1000000000, models: ["*"], budget: {usd_per_month: 1000000}}
orgs:
  acme: {budget: {usd_per_month: 1000000}}
moderation: {input: true, output: true}
`, 10*time.Second)
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: concurrency}
	hc := &http.Client{Transport: tr}

	var fails failures
	stream := func(i int) {
		mode := abortMode(i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
		defer cancel()
		id := fmt.Sprint(i)
		if mode != abortNone {
			arrived := make(chan struct{})
			up.arrived.Store(id, arrived)
			go func() {
				select {
				case <-arrived:
					cancel() // the client goes away
				case <-ctx.Done():
				}
			}()
		}
		body := fmt.Sprintf(`{"model":"llmtest-1","stream":true,"stream_options":{"include_usage":true},"max_tokens":64,`+
			`"messages":[{"role":"user","content":"soak stream %d, count to eight"}]}`, i) // unique: no cache hits
		req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk-soak")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Chaos-Stream", id)
		req.Header.Set("X-Chaos-Abort", mode)
		sr, err := readStream(hc, req)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			fails.add("stream %d (abort %q): no end within a minute", i, mode)
		case mode != abortNone && !errors.Is(err, context.Canceled):
			fails.add("stream %d (abort %q): err %v after %d chunks, want the client's cancellation", i, mode, err, sr.chunks)
		case mode == abortNone && err != nil:
			fails.add("stream %d: %v", i, err)
		case mode == abortNone && (!sr.done || sr.text != want || sr.finish != "stop" || !sr.usage):
			fails.add("stream %d: not whole: done=%v finish=%q usage=%v text=%q", i, sr.done, sr.finish, sr.usage, sr.text)
		}
	}

	began := time.Now()
	// Warm up (lazily started parts start now), then take the baseline with
	// no connection open.
	for i := range 10 {
		stream(i)
	}
	fails.check(t, 10, "warm-up streams")
	if t.Failed() {
		return
	}
	dropIdle(t, tr, g.conns, upConns)
	baseline := goleak.IgnoreCurrent()
	hitsBefore, abortedBefore, completedBefore := up.hits.Load(), up.aborted.Load(), up.completed.Load()

	t.Logf("warm-up and baseline: %v", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	runWorkers(n, concurrency, stream)
	elapsed := time.Since(began)
	fails.check(t, n, "streams")
	aborts := 0
	for i := range n {
		if abortMode(i) != abortNone {
			aborts++
		}
	}

	// Every abort reaches the upstream, whose handler then returns; no
	// upstream connection stays active.
	waitUntil(t, 20*time.Second, "the upstream to see every abort and no connection to stay active", func() (bool, string) {
		c, seen := upConns.counts(), up.aborted.Load()-abortedBefore
		return seen == int64(aborts) && c.Active == 0,
			fmt.Sprintf("%d of %d aborts seen by the upstream; upstream connections: %v", seen, aborts, c)
	})
	if got := up.hits.Load() - hitsBefore; got != int64(n) {
		t.Errorf("upstream served %d requests for %d streams; want one each (no retry, no cache hit)", got, n)
	}
	if got := up.completed.Load() - completedBefore; got != int64(n-aborts) {
		t.Errorf("upstream completed %d streams, want %d", got, n-aborts)
	}
	t.Logf("%d streams (%d aborted), %d at a time, in %v; upstream connections: %v; gateway connections: %v",
		n, aborts, concurrency, elapsed.Round(time.Millisecond), upConns.counts(), g.conns.counts())

	// With the keep-alive connections closed, the gateway's goroutines are
	// those it had before the load.
	dropIdle(t, tr, g.conns, upConns)
	noLeaks(t, baseline)

	// Closed, it leaves nothing running.
	g.Close()
	upSrv.Close()
	tr.CloseIdleConnections()
	if c := upConns.counts(); c.Opened != c.Closed {
		t.Errorf("upstream connections after close: %v", c)
	}
	noLeaks(t, start)
}

// readStream sends req and parses the SSE answer; an error status is an
// error.
func readStream(hc *http.Client, req *http.Request) (streamResult, error) {
	var sr streamResult
	res, err := hc.Do(req)
	if err != nil {
		return sr, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return sr, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return parseSSE(res.Body)
}
