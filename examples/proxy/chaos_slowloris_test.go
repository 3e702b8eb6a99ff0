package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowloris is one connection that sends a request's headers a byte at a
// time and never finishes them.
type slowloris struct {
	sent   atomic.Int64  // header bytes written
	cut    chan struct{} // closed when the server closed the connection
	answer string        // what the server wrote before closing, if anything
}

// startSlowloris dials addr and trickles headers, one byte every tick,
// until the server closes the connection or max bytes are out.
func startSlowloris(t *testing.T, addr string, tick time.Duration, max int) *slowloris {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s := &slowloris{cut: make(chan struct{})}
	go func() {
		b, _ := io.ReadAll(conn) // returns when the server closes
		s.answer = string(b)
		close(s.cut)
	}()
	go func() {
		header := "POST /v1/chat/completions HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: "
		if _, err := io.WriteString(conn, header); err != nil {
			return
		}
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for range max {
			select {
			case <-s.cut:
				return
			case <-tk.C:
			}
			if _, err := conn.Write([]byte{'a'}); err != nil {
				return
			}
			s.sent.Add(1)
		}
	}()
	return s
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// proxyGoroutines reads the proxy's goroutine count from /debug/pprof.
func proxyGoroutines(t *testing.T, hc *http.Client, base string) int {
	t.Helper()
	res, err := hc.Get(base + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := goroutineTotal.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/debug/pprof/goroutine: %d %.200s", res.StatusCode, b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestChaosSlowloris opens connections that send their headers a byte at a
// time (each byte well within any idle timeout, the whole header never)
// against the proxy binary started with -header-timeout, and sends normal
// traffic — plain and streamed — meanwhile. Every slowloris connection is
// closed by the server before it finishes (the header timeout is the only
// thing that can end it), every normal request is served, and once the
// slowloris connections are gone the proxy's goroutines are back to where
// they were. Latencies are logged, not asserted.
//
// 20 slowloris connections and 60 normal requests; LLMGATE_SOAK=full: 500
// and 2,000.
func TestChaosSlowloris(t *testing.T) {
	nSlow, nNormal, concurrency := soakSize(20, 500), soakSize(60, 2000), 8
	const headerTimeout, tick = time.Second, 20 * time.Millisecond
	maxBytes := int(100 * headerTimeout / tick) // 100x the header timeout: never finishes in time
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	yaml := testKeysYAML("normal") + `
tiers:
  normal: {rpm: 100000000, tpm: 1000000000, models: ["*"]}
debug: {pprof: true}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, "-config", path, "-header-timeout", headerTimeout.String())
	u, _ := url.Parse(p.URL)
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: concurrency}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	// normal sends requests, every other one streamed, until n are done
	// and more() is false, and returns their latencies; each must be
	// served whole.
	normal := func(what string, n int, more func() bool) []time.Duration {
		t.Helper()
		var (
			fails failures
			mu    sync.Mutex
			took  []time.Duration
			next  atomic.Int64
			wg    sync.WaitGroup
		)
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n && !more() {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
					began := time.Now()
					if i%2 == 0 {
						status, b, err := post(ctx, hc, p.URL, "sk-normal",
							fmt.Sprintf(`{"model":"llmtest-1","max_tokens":8,"messages":[{"role":"user","content":"%s %d"}]}`, what, i))
						if err != nil || status != 200 {
							fails.add("%s request %d: %d %.200s %v", what, i, status, b, err)
						}
					} else {
						sr, err := rawStream(ctx, hc, p.URL, "sk-normal",
							fmt.Sprintf(`{"model":"llmtest-1","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"%s %d"}]}`, what, i))
						if err != nil || !sr.done || sr.text == "" {
							fails.add("%s stream %d: done=%v text=%q %v", what, i, sr.done, sr.text, err)
						}
					}
					cancel()
					mu.Lock()
					took = append(took, time.Since(began))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		fails.check(t, len(took), what+" requests")
		slices.Sort(took)
		return took
	}
	quantiles := func(d []time.Duration) string {
		return fmt.Sprintf("p50 %v, max %v", d[len(d)/2].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	}

	before := normal("warm-up", nNormal, func() bool { return false })
	tr.CloseIdleConnections()
	baseline := 0
	waitUntil(t, 20*time.Second, "the proxy's goroutine count to settle", func() (bool, string) {
		n := proxyGoroutines(t, hc, p.URL)
		tr.CloseIdleConnections()
		settled := n == baseline
		baseline = n
		return settled, fmt.Sprintf("%d goroutines", n)
	})

	slow := make([]*slowloris, nSlow)
	for i := range slow {
		slow[i] = startSlowloris(t, u.Host, tick, maxBytes)
	}
	// Normal traffic for as long as any slowloris connection is open.
	open := func() int {
		n := 0
		for _, s := range slow {
			select {
			case <-s.cut:
			default:
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(time.Duration(maxBytes) * tick * 2) // a hang guard only
	during := normal("during slowloris", nNormal, func() bool { return open() > 0 && time.Now().Before(deadline) })

	for i, s := range slow {
		select {
		case <-s.cut:
		default:
			t.Fatalf("slowloris %d was not cut after %d header bytes", i, s.sent.Load())
		}
		if got := s.sent.Load(); got >= int64(maxBytes) {
			t.Errorf("slowloris %d sent all %d bytes before it was cut", i, got)
		}
		if s.answer != "" && !strings.HasPrefix(s.answer, "HTTP/1.1 408") {
			t.Errorf("slowloris %d got %.100q, want nothing or a 408", i, s.answer)
		}
	}
	tr.CloseIdleConnections()
	waitUntil(t, 20*time.Second, "the proxy's goroutines to return to their baseline", func() (bool, string) {
		tr.CloseIdleConnections()
		n := proxyGoroutines(t, hc, p.URL)
		return n <= baseline, fmt.Sprintf("%d goroutines, baseline %d", n, baseline)
	})
	t.Logf("%d slowloris connections cut; %d normal requests before them: %s; %d while they were open: %s",
		nSlow, len(before), quantiles(before), len(during), quantiles(during))
}
