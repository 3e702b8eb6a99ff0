package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requestLines is a slog destination that hands the test each JSON
// "request" log line as it is written (a JSON handler writes one record
// per Write).
type requestLines chan map[string]any

func (l requestLines) Write(p []byte) (int, error) {
	var rec map[string]any
	if json.Unmarshal(p, &rec) == nil && rec["msg"] == "request" {
		l <- rec
	}
	return len(p), nil
}

// next returns the next request line; the timeout only guards a hang.
func (l requestLines) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case rec := <-l:
		return rec
	case <-time.After(20 * time.Second):
		t.Fatal("no request log line within 20s")
		return nil
	}
}

// metricSum scrapes url's /metrics and adds up the samples of the series
// named name (every label set).
func metricSum(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// abortingUpstream streams chat completions, or fails to, as the request's
// X-Test-Mode says: "whole" streams to [DONE]; "client-before" tells the
// test (arrived) that the request has arrived and holds, before any byte,
// until the gateway passes on the client's going away; "client-during"
// holds so after the first chunk; "upstream-cut" breaks the connection
// after the first chunk.
type abortingUpstream struct{ arrived chan struct{} }

func (u abortingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	mode := r.Header.Get("X-Test-Mode")
	if mode == "client-before" {
		u.arrived <- struct{}{}
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta string) {
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"llmtest-1",`+
			`"choices":[{"index":0,"delta":{"content":"`+delta+`"},"finish_reason":null}]}`+"\n\n")
		_ = http.NewResponseController(w).Flush()
	}
	chunk("one ")
	switch mode {
	case "client-during":
		<-r.Context().Done()
		return
	case "upstream-cut":
		panic(http.ErrAbortHandler)
	}
	chunk("two")
	_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"llmtest-1","choices":[],`+
		`"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`+"\n\ndata: [DONE]\n\n")
}

// TestAbortedRequestsAreObserved checks that every request through the
// chain, aborted ones included, gives exactly one log line and its
// metrics: a client that goes away before the answer or mid-stream, and an
// upstream that breaks off mid-stream (ReverseProxy panics with
// http.ErrAbortHandler for both of the latter).
func TestAbortedRequestsAreObserved(t *testing.T) {
	for _, moderation := range []string{"false", "true"} {
		t.Run("output moderation "+moderation, func(t *testing.T) {
			up := abortingUpstream{arrived: make(chan struct{}, 1)}
			upSrv, _ := trackedServer(t, up)
			lines := make(requestLines, 16)
			g := startGatewayLog(t, testKeysYAML("ab")+`
upstream: {url: "`+upSrv.URL+`/v1", retries: 0}
tiers:
  ab: {rpm: 100000, tpm: 100000000, models: ["*"], budget: {usd_per_month: 1000}}
orgs:
  acme: {budget: {usd_per_month: 1000}}
policy: {disabled: true}
cache: {disabled: true}
moderation: {input: false, output: `+moderation+`}
log: {format: json}
`, 10*time.Second, slog.New(slog.NewJSONHandler(lines, nil)))

			for i, tc := range []struct {
				mode    string
				status  float64
				outcome string
			}{
				{"whole", 200, "ok"},
				{"client-before", 499, "aborted"},
				{"client-during", 200, "aborted"},
				{"upstream-cut", 200, "aborted"},
				{"whole", 200, "ok"},
			} {
				durations := metricSum(t, g.URL, "llmgate_request_duration_seconds_count")
				requests := metricSum(t, g.URL, "llmgate_requests_total")
				aborted := metricSum(t, g.URL, "llmgate_requests_aborted_total")

				ctx, cancel := context.WithCancel(context.Background())
				id := "req-" + strconv.Itoa(i) + "-" + tc.mode
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(
					`{"model":"llmtest-1","stream":true,"messages":[{"role":"user","content":"hello"}]}`))
				req.Header.Set("Authorization", "Bearer sk-ab")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Request-Id", id)
				req.Header.Set("X-Test-Mode", tc.mode)
				done := make(chan error, 1)
				go func() {
					resp, err := http.DefaultClient.Do(req)
					if err == nil {
						if tc.mode == "client-during" {
							cancel() // the client goes away once the stream has started
						}
						_, err = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					}
					done <- err
				}()
				if tc.mode == "client-before" {
					<-up.arrived
					cancel() // the client goes away
				}
				err := <-done
				cancel()
				if (tc.outcome == "ok") != (err == nil) {
					t.Errorf("%s: client got error %v", tc.mode, err)
				}

				rec := lines.next(t)
				if rec["request_id"] != id || rec["status"] != tc.status || rec["outcome"] != tc.outcome {
					t.Errorf("%s: log line %v, want request_id %s status %v outcome %s", tc.mode, rec, id, tc.status, tc.outcome)
				}
				wantAborted := aborted
				if tc.outcome == "aborted" {
					wantAborted++
				}
				for _, m := range []struct {
					name string
					want float64
				}{
					{"llmgate_request_duration_seconds_count", durations + 1},
					{"llmgate_requests_total", requests + 1},
					{"llmgate_requests_aborted_total", wantAborted},
				} {
					if got := metricSum(t, g.URL, m.name); got != m.want {
						t.Errorf("%s: %s %v, want %v", tc.mode, m.name, got, m.want)
					}
				}
			}
			select {
			case rec := <-lines:
				t.Errorf("a second log line for a request: %v", rec)
			default:
			}
		})
	}
}
