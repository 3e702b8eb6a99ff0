package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// upstreamRecorder is an upstream stub that records what each attempt
// carried and answers with statuses in order (then 200), or, with hang
// set, answers no attempt until the proxy gives up on it.
type upstreamRecorder struct {
	mu       sync.Mutex
	statuses []int
	hang     bool
	paths    []string
	bodies   []string
	headers  []http.Header
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.paths = append(u.paths, r.URL.Path)
	u.bodies = append(u.bodies, string(b))
	u.headers = append(u.headers, r.Header.Clone())
	n := len(u.paths)
	status := http.StatusOK
	if n <= len(u.statuses) {
		status = u.statuses[n-1]
	}
	u.mu.Unlock()
	if u.hang {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if status != http.StatusOK {
		w.Header().Set("Retry-After-Ms", "0") // retry at once: the test waits for nothing
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"id":"x"}`)
}

func (u *upstreamRecorder) attempts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.paths)
}

// serveUpstream starts newUpstream(cfg) in front of rec (an
// upstreamRecorder, or any handler); prepare, when set,
// changes each request before the proxy sees it (as the chain does).
func serveUpstream(t *testing.T, rec http.Handler, path string, cfg Upstream, prepare func(*http.Request)) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(rec)
	t.Cleanup(func() { up.CloseClientConnections(); up.Close() })
	cfg.URL = up.URL + path
	h, err := newUpstream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if prepare != nil {
			prepare(r)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { gw.CloseClientConnections(); gw.Close() })
	return gw
}

func retriesOf(n int) *int { return &n }

// The client's /v1 is replaced by the upstream URL's API root, and the
// client's credentials by the upstream's.
func TestUpstreamRewrite(t *testing.T) {
	t.Setenv("LLMGATE_TEST_UPSTREAM_KEY", "sk-up")
	for _, tc := range []struct {
		root, in, want string
	}{
		{"/v1", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1/", "/v1/chat/completions", "/v1/chat/completions"},
		{"/openai/v1", "/v1/chat/completions", "/openai/v1/chat/completions"},
		{"", "/v1/models", "/models"},
		{"/v1", "/v1x/models", "/v1x/models"},
		{"/api", "/other", "/api/other"},
	} {
		t.Run(tc.root+" "+tc.in, func(t *testing.T) {
			rec := &upstreamRecorder{}
			gw := serveUpstream(t, rec, tc.root, Upstream{APIKeyEnv: "LLMGATE_TEST_UPSTREAM_KEY", Timeout: Duration(time.Minute), Retries: retriesOf(0)}, nil)
			req, _ := http.NewRequest(http.MethodGet, gw.URL+tc.in, nil)
			req.Header.Set("Authorization", "Bearer sk-client")
			req.Header.Set("Api-Key", "sk-client")
			resp, err := gw.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if rec.attempts() != 1 || rec.paths[0] != tc.want {
				t.Fatalf("upstream paths %q, want [%q]", rec.paths, tc.want)
			}
			h := rec.headers[0]
			if h.Get("Authorization") != "Bearer sk-up" || h.Get("Api-Key") != "" {
				t.Errorf("upstream got Authorization %q, Api-Key %q", h.Get("Authorization"), h.Get("Api-Key"))
			}
		})
	}
}

// An upstream that sends no headers within upstream.timeout is a 504
// envelope, retries on or off; each attempt is bounded. (The retry waits
// a real backoff of up to 500ms: newUpstream takes no clock.)
func TestUpstreamAttemptTimeoutIs504(t *testing.T) {
	for _, retries := range []int{0, 1} {
		t.Run(strings.Repeat("retry ", retries)+"timeout", func(t *testing.T) {
			rec := &upstreamRecorder{hang: true}
			gw := serveUpstream(t, rec, "/v1", Upstream{Timeout: Duration(20 * time.Millisecond), Retries: retriesOf(retries)}, nil)
			resp, err := gw.Client().Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			e, ok := wire.DecodeError(resp.StatusCode, b)
			if resp.StatusCode != http.StatusGatewayTimeout || !ok || e.Code != wire.CodeUpstreamError {
				t.Errorf("status %d body %s, want a 504 upstream_error envelope", resp.StatusCode, b)
			}
			if rec.attempts() != retries+1 {
				t.Errorf("%d attempts, want %d", rec.attempts(), retries+1)
			}
		})
	}
}

// A retried request carries the same body and headers on every attempt,
// whether the chain gave it a GetBody (as middleware.Decode does) or the
// retry transport had to buffer it.
func TestUpstreamRetryReplaysTheRequest(t *testing.T) {
	const payload = `{"model":"m","messages":[{"role":"user","content":"hello"}]}`
	withGetBody := func(r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	}
	for _, tc := range []struct {
		name    string
		prepare func(*http.Request)
	}{
		{"GetBody", withGetBody},
		{"buffered", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &upstreamRecorder{statuses: []int{http.StatusBadGateway}}
			gw := serveUpstream(t, rec, "/v1", Upstream{Timeout: Duration(time.Minute), Retries: retriesOf(1)}, tc.prepare)
			req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", "req-1")
			resp, err := gw.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || rec.attempts() != 2 {
				t.Fatalf("status %d after %d attempts, want 200 after 2", resp.StatusCode, rec.attempts())
			}
			for i := range 2 {
				h := rec.headers[i]
				if rec.bodies[i] != payload || h.Get("Content-Type") != "application/json" || h.Get("X-Request-Id") != "req-1" ||
					h.Get("X-Forwarded-For") == "" {
					t.Errorf("attempt %d: body %q headers %v", i+1, rec.bodies[i], h)
				}
			}
		})
	}
}

// A JSON answer the upstream sends chunked (no Content-Length) reaches
// the client with a Content-Length, so that the chain can send it before
// its end-of-request work; one too big to hold, and streams, pass as they
// come: the client reads a stream's first line while the upstream still
// waits to send the second. A JSON answer cut off midway is a 502.
func TestUpstreamDelimitsJSON(t *testing.T) {
	streams := []string{"text/event-stream", "application/x-ndjson"}
	release := map[string]chan struct{}{} // per stream type, until the client has the first line
	for _, ct := range streams {
		release[ct] = make(chan struct{})
	}
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		if n, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil {
			body := `{"pad":"` + strings.Repeat("x", n-10) + `"}`
			_, _ = io.WriteString(w, body[:n/2])
			http.NewResponseController(w).Flush() // now it is chunked
			if r.URL.Query().Has("cut") {
				panic(http.ErrAbortHandler) // the connection drops mid-answer
			}
			_, _ = io.WriteString(w, body[n/2:])
			return
		}
		_, _ = io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release[r.URL.Query().Get("ct")]:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "second\n")
	})
	gw := serveUpstream(t, up, "/v1", Upstream{Retries: retriesOf(0)}, nil)
	post := func(query string) *http.Response {
		t.Helper()
		resp, err := gw.Client().Post(gw.URL+"/v1/chat/completions?"+query, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	for _, tc := range []struct {
		size   int
		length int64
	}{{10 << 10, 10 << 10}, {maxDelimitedBody + 1<<10, -1}} {
		resp := post("ct=application%2Fjson%3B+charset%3Dutf-8&size=" + strconv.Itoa(tc.size))
		b, err := io.ReadAll(resp.Body)
		if err != nil || len(b) != tc.size || !json.Valid(b) {
			t.Fatalf("%d-byte answer: read %d bytes (valid %v), %v", tc.size, len(b), json.Valid(b), err)
		}
		if resp.ContentLength != tc.length {
			t.Errorf("%d-byte answer: Content-Length %d, want %d", tc.size, resp.ContentLength, tc.length)
		}
	}

	// An answer that breaks off before its end is a 502 envelope that says so.
	resp := post("ct=application%2Fjson&size=10000&cut")
	b, _ := io.ReadAll(resp.Body)
	if e, ok := wire.DecodeError(resp.StatusCode, b); resp.StatusCode != http.StatusBadGateway || !ok ||
		e.Code != wire.CodeUpstreamError || !strings.Contains(e.Message, "broke off") {
		t.Errorf("cut answer: %d %s, want a 502 envelope saying it broke off", resp.StatusCode, b)
	}

	for _, ct := range streams {
		// Should the proxy hold the stream back (and so its header too),
		// the guard lets the upstream finish after a while, and the test
		// fails rather than hangs.
		var once sync.Once
		timedOut := false
		guard := time.AfterFunc(10*time.Second, func() { once.Do(func() { timedOut = true; close(release[ct]) }) })
		resp := post("ct=" + ct)
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		guard.Stop()
		once.Do(func() { close(release[ct]) })
		if timedOut || err != nil || line != "first\n" {
			t.Fatalf("%s: first line %q, %v: the stream was held back (%v)", ct, line, err, timedOut)
		}
		if resp.ContentLength != -1 {
			t.Errorf("%s: Content-Length %d, want none", ct, resp.ContentLength)
		}
	}
}
