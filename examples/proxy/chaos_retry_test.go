package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// The retry budget the proxy's upstream transport gets by default
// (retry.BudgetConfig's documented defaults): retries ≤ budgetMax +
// budgetRatio·requests + budgetPerSecond·seconds.
const (
	budgetRatio     = 0.1
	budgetMax       = 10
	budgetPerSecond = 1
)

// TestChaosUpstream503RetryBudget puts the upstream in an outage — every
// attempt answered 503 — and sends requests through the gateway, which
// retries 5xx up to twice each. Without a budget that is three attempts per
// request; the retry budget must hold the attempts to the requests plus
// 10% (plus its documented allowance: a saved-up burst of 10 and one retry
// per second). Every client gets a 503 envelope, not a hang. Then the
// upstream heals and every request succeeds at the first attempt.
//
// 1,000 requests in the outage (400 under -race), 200 after;
// LLMGATE_SOAK=full: 10,000 and 2,000.
func TestChaosUpstream503RetryBudget(t *testing.T) {
	n := soakSize(1000, 10000)
	if raceEnabled && !soakFull() {
		n = 400
	}
	m, concurrency := n/5, 32
	var failing atomic.Bool
	var attempts atomic.Int64
	failing.Store(true)
	upSrv, _ := trackedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if failing.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write(wire.MarshalEnvelope(wire.Errorf(http.StatusServiceUnavailable, wire.TypeServer, "", "", "overloaded")))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-ok","object":"chat.completion","created":1700000000,"model":"llmtest-1",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	}))
	g := startGateway(t, testKeysYAML("chaos")+`
upstream: {url: "`+upSrv.URL+`/v1", retries: 2}
tiers:
  chaos: {rpm: 100000000, tpm: 1000000000, models: ["*"]}
`, 10*time.Second)
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: concurrency}}
	defer hc.CloseIdleConnections()
	body := func(phase string, i int) string { // unique: no cache hits
		return fmt.Sprintf(`{"model":"llmtest-1","max_tokens":4,"messages":[{"role":"user","content":"%s %d"}]}`, phase, i)
	}
	send := func(fails *failures, phase string, want int) func(int) {
		return func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
			defer cancel()
			status, b, err := post(ctx, hc, g.URL, "sk-chaos", body(phase, i))
			switch {
			case err != nil:
				fails.add("%s request %d: %v", phase, i, err)
			case status != want:
				fails.add("%s request %d: status %d, want %d: %.200s", phase, i, status, want, b)
			case status != 200:
				if _, err := envelope(status, b); err != nil {
					fails.add("%s request %d: %v", phase, i, err)
				}
			}
		}
	}

	began := time.Now()
	var outage failures
	runWorkers(n, concurrency, send(&outage, "outage", http.StatusServiceUnavailable))
	elapsed := time.Since(began)
	outage.check(t, n, "requests during the outage")
	got := attempts.Load()
	bound := float64(n) + budgetMax + budgetRatio*float64(n) + budgetPerSecond*math.Ceil(elapsed.Seconds())
	t.Logf("outage: %d requests, %d upstream attempts (%.3f per request; bound %.0f, 1.1× is %.0f; without a budget up to %d) in %v",
		n, got, float64(got)/float64(n), bound, 1.1*float64(n), 3*n, elapsed.Round(time.Millisecond))
	if float64(got) > bound {
		t.Errorf("%d upstream attempts for %d requests: the retry budget allows at most %.0f", got, n, bound)
	}
	if got <= int64(n) {
		t.Errorf("%d upstream attempts for %d requests: no retry at all, so the budget was not what bounded them", got, n)
	}

	failing.Store(false)
	attempts.Store(0)
	var healed failures
	runWorkers(m, concurrency, send(&healed, "healed", http.StatusOK))
	healed.check(t, m, "requests after the upstream healed")
	if got := attempts.Load(); got != int64(m) {
		t.Errorf("after the outage: %d upstream attempts for %d requests, want one each", got, m)
	}
}
