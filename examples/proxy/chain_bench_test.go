package main

// BenchmarkGateway measures, in one process and over loopback HTTP, what one
// request costs through the proxy next to a bare httputil.ReverseProxy to
// the same upstream: the in-process twin of bench/run.sh's scenarios (2),
// (3a) and (3b), for profiling (-cpuprofile) and instruction counting
// (valgrind --tool=callgrind with a fixed -benchtime=Nx):
//
//	go test -run '^$' -bench 'Gateway' -benchmem -count 5 ./examples/proxy
//
// ns/op is a whole round trip — client, gateway and upstream stub share the
// process — so read the "added-ns/op" metric: the scenario's ns/op minus the
// bare proxy's ns/op measured just before it in the same round.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/bench/load"
	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/wire"
)

// benchKey is the one key of the benchmark configurations.
var benchKey = load.KeyName(0)

// benchConfig is the examples/proxy configuration of a bench scenario, as
// bench/cmd/gencfg writes it for one key: limits and budgets no run reaches
// but every request checks and settles; "limits" turns policy, moderation
// and the cache off, "full" leaves them on (every request a cache miss),
// "full-topdown" is "full" with the policy evaluated by topdown instead of
// the IR evaluator.
func benchConfig(scenario, upstream string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream: {url: %q, retries: 0}\nlog: {format: json}\n", upstream)
	b.WriteString("tiers:\n  bench: {rpm: 1000000000, tpm: 2000000000, models: [\"*\"], budget: {usd_per_month: 1000000}}\n")
	b.WriteString("orgs:\n  bench: {budget: {usd_per_month: 1000000}}\n")
	switch scenario {
	case "limits":
		b.WriteString("policy: {disabled: true}\nmoderation: {input: false, output: false}\ncache: {disabled: true}\n")
	case "full", "full-topdown":
		b.WriteString("moderation: {input: true, output: true}\ncache: {max_bytes: 64MiB, ttl: 10m, scope: key}\n")
		if scenario == "full-topdown" {
			b.WriteString("policy: {evaluator: topdown}\n")
		}
	default:
		panic("benchConfig: unknown scenario " + scenario)
	}
	fmt.Fprintf(&b, "keys:\n  - {id: k0, key_sha256: %s, user: u0, org: bench, tier: bench}\n", middleware.HashKey(benchKey))
	return b.String()
}

// benchTarget is one server under test: the bare proxy or a gateway.
type benchTarget struct {
	url    string // the chat completions URL
	client *http.Client
}

// benchTargets are built once per process and kept across rounds
// (-count), so that an instruction count of two runs with different
// -benchtime=Nx cancels the set-up (policy compilation, tokenizer tables).
var benchTargets = struct {
	sync.Mutex
	upstream *httptest.Server
	m        map[string]*benchTarget
}{m: map[string]*benchTarget{}}

// benchUpstream returns the upstream stub (bench/load.Stub: a 16-word chat
// completion with usage, or a 16-chunk SSE stream with a usage chunk).
func benchUpstream() *httptest.Server {
	if benchTargets.upstream == nil {
		benchTargets.upstream = httptest.NewServer(load.Stub(load.StubConfig{Interval: benchInterval}))
	}
	return benchTargets.upstream
}

// target returns the named server, starting it on first use: "bare"
// (bench/load.Bare), "limits", "full" or "full-topdown" (newGateway behind newServer, logging JSON lines to
// io.Discard so the log line is formatted as in production).
func target(b *testing.B, name string) *benchTarget {
	b.Helper()
	benchTargets.Lock()
	defer benchTargets.Unlock()
	if t := benchTargets.m[name]; t != nil {
		return t
	}
	up := benchUpstream()
	var h http.Handler
	switch name {
	case "bare":
		u, _ := url.Parse(up.URL)
		h = load.Bare(u)
	default:
		cfg, err := ParseConfig([]byte(benchConfig(name, up.URL+"/v1")))
		if err != nil {
			b.Fatal(err)
		}
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		gw, err := newGateway(context.Background(), cfg, log)
		if err != nil {
			b.Fatal(err)
		}
		h = gw // never closed: it lives as long as the process
	}
	srv := httptest.NewUnstartedServer(h)
	if name != "bare" {
		srv.Config = newServer(h, 10*time.Second, slog.New(slog.DiscardHandler))
	}
	srv.Start()
	t := &benchTarget{url: srv.URL + "/v1/chat/completions", client: &http.Client{Transport: load.NewTransport(1)}}
	benchTargets.m[name] = t
	return t
}

// benchRequest sends the request and reads the whole answer; it returns
// when the first byte of the body arrived.
func benchRequest(b *testing.B, t *benchTarget, body []byte) time.Duration {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, t.url, strings.NewReader(string(body)))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchKey)
	resp, err := t.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	n, _ := io.ReadFull(resp.Body, one[:])
	first := time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n != 1 {
		b.Fatalf("status %d, err %v: %s%s", resp.StatusCode, err, one[:n], rest)
	}
	return first
}

// BenchmarkGateway: see the top of the file. Sub-benchmarks
// json|sse / bare|limits|full|full-topdown; a scenario's added-ns/op and
// added-first-byte-ns/op are against the bare proxy of the same round
// (run bare in the same -bench pattern).
func BenchmarkGateway(b *testing.B) {
	for _, stream := range []bool{false, true} {
		mode := "json"
		if stream {
			mode = "sse"
		}
		b.Run(mode, func(b *testing.B) {
			body, seqAt := load.Body(load.Config{Stream: stream, Unique: true})
			var bareNs, bareFirst float64
			for _, name := range []string{"bare", "limits", "full", "full-topdown"} {
				b.Run(name, func(b *testing.B) {
					t := target(b, name)
					for range 3 { // warm the connections, pools and caches
						setSeq(body, seqAt, benchSeq.Add(1))
						benchRequest(b, t, body)
					}
					var first time.Duration
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						setSeq(body, seqAt, benchSeq.Add(1))
						first += benchRequest(b, t, body)
					}
					b.StopTimer()
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
					fb := float64(first.Nanoseconds()) / float64(b.N)
					if stream {
						b.ReportMetric(fb, "first-byte-ns/op")
					}
					if name == "bare" {
						bareNs, bareFirst = ns, fb
						return
					}
					if bareNs > 0 {
						b.ReportMetric(ns-bareNs, "added-ns/op")
						if stream {
							b.ReportMetric(fb-bareFirst, "added-first-byte-ns/op")
						}
					}
				})
			}
		})
	}
}

// benchSeq numbers the benchmark's requests across all its runs (-count,
// sub-benchmarks): the gateways live as long as the process, so a number
// sent twice would be a cache hit.
var benchSeq atomic.Int64

// setSeq writes seq into the body's sequence digits, so that every request
// is unique (a cache miss).
func setSeq(body []byte, at int, seq int64) {
	s := strconv.FormatInt(seq, 10)
	const width = 12
	for i := range width {
		body[at+i] = '0'
	}
	copy(body[at+width-len(s):], s)
}

// BenchmarkObserve prices examples/proxy/observe.go's per-request work —
// the recording writer, the Prometheus series and the JSON log line —
// around a handler that fills the Call as the chain does and writes a
// small JSON answer to a recorder: "none" is the handler alone, "nolog"
// observe with a disabled logger (metrics and attributes only), "json"
// observe with the JSON log line formatted to io.Discard.
func BenchmarkObserve(b *testing.B) {
	usage := &wire.Usage{PromptTokens: 300, CompletionTokens: 16, TotalTokens: 316}
	p := &middleware.Principal{KeyID: "k0", User: "u0", Org: "bench", Tier: "bench"}
	answer := []byte(`{"id":"x","object":"chat.completion","choices":[]}`)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := middleware.CallFrom(r.Context()); c != nil {
			c.Principal, c.Model, c.Endpoint = p, "gpt-4o-mini", middleware.EndpointChatCompletions
			c.Usage, c.Cost = usage, billing.Money(1234)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	m := newMetrics()
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"none", next},
		{"nolog", observe(slog.New(slog.DiscardHandler), m, false)(next)},
		{"json", observe(slog.New(slog.NewJSONHandler(io.Discard, nil)), m, false)(next)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			b.ReportAllocs()
			for range b.N {
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}

// benchInterval is the stub's pause between streamed chunks, from
// BENCH_INTERVAL (a duration; default none): with a pause, the gateway
// sees one event per read, as from a real model.
var benchInterval time.Duration

func init() {
	if v := os.Getenv("BENCH_INTERVAL"); v != "" {
		benchInterval, _ = time.ParseDuration(v)
	}
}
