package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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

// serveUpstream starts newUpstream(cfg) in front of rec; prepare, when set,
// changes each request before the proxy sees it (as the chain does).
func serveUpstream(t *testing.T, rec *upstreamRecorder, path string, cfg Upstream, prepare func(*http.Request)) *httptest.Server {
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
