package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmgate/llmgate/wire"
)

// The soak and chaos tests (chaos_*_test.go) run small by default — they
// are part of `go test -race ./...` — and at the full sizes when
// LLMGATE_SOAK=full is set.

// soakFull reports whether LLMGATE_SOAK=full asks for the full sizes.
func soakFull() bool { return os.Getenv("LLMGATE_SOAK") == "full" }

// soakSize is small normally and full under LLMGATE_SOAK=full.
func soakSize(small, full int) int {
	if soakFull() {
		return full
	}
	return small
}

// connTracker follows a server's connections through http.Server.ConnState.
// Safe for concurrent use.
type connTracker struct {
	mu     sync.Mutex
	state  map[net.Conn]http.ConnState
	opened int
	closed int
}

func newConnTracker() *connTracker { return &connTracker{state: map[net.Conn]http.ConnState{}} }

// hook is the server's ConnState.
func (c *connTracker) hook(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
		c.state[conn] = s
	case http.StateClosed, http.StateHijacked:
		c.closed++
		delete(c.state, conn)
	default:
		c.state[conn] = s
	}
}

// connCounts are a tracker's connections at one moment.
type connCounts struct {
	Opened, Closed    int // since the server started; hijacked ones count as closed
	New, Active, Idle int // open now, by state
}

func (c connCounts) open() int { return c.New + c.Active + c.Idle }

func (c connCounts) String() string {
	return fmt.Sprintf("%d opened, %d closed; open now: %d new, %d active, %d idle", c.Opened, c.Closed, c.New, c.Active, c.Idle)
}

func (c *connTracker) counts() connCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := connCounts{Opened: c.opened, Closed: c.closed}
	for _, s := range c.state {
		switch s {
		case http.StateNew:
			n.New++
		case http.StateActive:
			n.Active++
		case http.StateIdle:
			n.Idle++
		}
	}
	return n
}

// trackedServer is an httptest server whose connections are tracked.
func trackedServer(t *testing.T, h http.Handler) (*httptest.Server, *connTracker) {
	t.Helper()
	tr := newConnTracker()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = tr.hook // httptest chains its own hook in front of it
	srv.Start()
	t.Cleanup(func() {
		// Close waits for the handlers; a test that failed may have left
		// some hanging on connections only closing them ends.
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, tr
}

// inprocGateway is the proxy built in the test process — newGateway behind
// the http.Server that main builds (newServer) — so that a test can see its
// goroutines and connections.
type inprocGateway struct {
	URL   string
	gw    *gateway
	srv   *http.Server
	conns *connTracker

	serveDone chan struct{}
	closeOnce sync.Once
}

// startGateway builds the gateway from a YAML configuration and serves it
// on a loopback port; headerTimeout is the -header-timeout flag.
func startGateway(t *testing.T, yaml string, headerTimeout time.Duration) *inprocGateway {
	t.Helper()
	return startGatewayLog(t, yaml, headerTimeout, slog.New(slog.DiscardHandler)) // one line per request is noise at these counts
}

// startGatewayLog is startGateway with the gateway's logger.
func startGatewayLog(t *testing.T, yaml string, headerTimeout time.Duration, log *slog.Logger) *inprocGateway {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := newGateway(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = gw.Close()
		t.Fatal(err)
	}
	g := &inprocGateway{URL: "http://" + ln.Addr().String(), gw: gw, srv: newServer(gw, headerTimeout, log),
		conns: newConnTracker(), serveDone: make(chan struct{})}
	g.srv.ConnState = g.conns.hook
	go func() {
		defer close(g.serveDone)
		_ = g.srv.Serve(ln)
	}()
	t.Cleanup(g.Close)
	return g
}

// Close closes the server, every connection and the gateway, and waits for
// the server's accept loop to return.
func (g *inprocGateway) Close() {
	g.closeOnce.Do(func() {
		_ = g.srv.Close()
		<-g.serveDone
		_ = g.gw.Close()
	})
}

// closeQuiet closes the connections that carry no request: idle
// keep-alive ones, and new ones that never sent one (a transport may
// finish a dial for a request that was cancelled meanwhile and keep the
// connection for later). Call it only when no request is on its way.
func (c *connTracker) closeQuiet() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn, s := range c.state {
		if s == http.StateNew || s == http.StateIdle {
			_ = conn.Close()
		}
	}
}

// dropIdle closes the keep-alive connections of the client transport and
// of the tracked servers, and waits until the servers have no connection
// left. Call it when no request is on its way: an active connection then
// is a leak, and so is a goroutine that outlives the connections.
func dropIdle(t *testing.T, client *http.Transport, trackers ...*connTracker) {
	t.Helper()
	client.CloseIdleConnections()
	waitUntil(t, 20*time.Second, "every connection to close", func() (bool, string) {
		var states []string
		for _, tr := range trackers {
			tr.closeQuiet()
			if c := tr.counts(); c.open() > 0 {
				states = append(states, c.String())
			}
		}
		return len(states) == 0, strings.Join(states, "; ")
	})
}

// waitUntil polls cond every 10ms until it holds, failing the test with
// cond's last description when d passes first. It is for state another
// goroutine or process reaches asynchronously; nothing here times it.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s: %s", d, what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noLeaks fails t unless, within 20s, every goroutine is one that ignore
// (a goleak.IgnoreCurrent snapshot) ignores. goleak's own retries give up
// after about half a second, which a loaded machine can need just to run
// the exiting goroutines.
func noLeaks(t *testing.T, ignore goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a chat completion request with key and reads the whole answer.
func post(ctx context.Context, hc *http.Client, base, key, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// envelope decodes an OpenAI error envelope, or says why body is not one.
func envelope(status int, body []byte) (*wire.Error, error) {
	e, ok := wire.DecodeError(status, body)
	if !ok {
		return nil, fmt.Errorf("status %d with a body that is not an OpenAI error envelope: %.200q", status, body)
	}
	return e, nil
}

// failures collects the first few failures of many concurrent requests and
// counts them all.
type failures struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 8 {
		f.first = append(f.first, fmt.Sprintf(format, args...))
	}
}

// check fails t when anything failed, out of total.
func (f *failures) check(t *testing.T, total int, what string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		t.Errorf("%d of %d %s failed; the first:\n%s", f.n, total, what, strings.Join(f.first, "\n"))
	}
}

// runWorkers runs job(i) for i in [0, n) on c goroutines.
func runWorkers(n, c int, job func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				job(i)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// parseSSE reads a chat completion stream: its text, finish reason, usage
// and [DONE]. An error event, data after [DONE] or a read error is an
// error (with what was read until then).
func parseSSE(r io.Reader) (sr streamResult, err error) {
	var text strings.Builder
	defer func() { sr.text = text.String() }()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		if sr.done {
			return sr, errors.New("data after [DONE]")
		}
		if string(data) == "[DONE]" {
			sr.done = true
			continue
		}
		var c struct {
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Usage *struct{}
			Error *wire.Error
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return sr, fmt.Errorf("bad event %q: %w", data, err)
		}
		if c.Error != nil {
			return sr, fmt.Errorf("error event %s", data)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				sr.chunks++
				text.WriteString(ch.Delta.Content)
			}
			if ch.FinishReason != "" {
				sr.finish = ch.FinishReason
			}
		}
		sr.usage = sr.usage || c.Usage != nil
	}
	return sr, sc.Err()
}
