package retry

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock records the waits instead of sleeping.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

type reply struct {
	status int
	header map[string]string
	hangup bool // close the connection without answering
}

// script serves replies in order and records the bodies it received.
type script struct {
	mu      sync.Mutex
	replies []reply
	bodies  []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	n := len(s.bodies)
	rep := reply{status: 200}
	if n <= len(s.replies) {
		rep = s.replies[n-1]
	}
	s.mu.Unlock()
	if rep.hangup {
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, "attempt")
}

func (s *script) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func TestRetry(t *testing.T) {
	httpDate := time.Date(2026, 1, 2, 3, 4, 12, 0, time.UTC).Format(http.TimeFormat) // fake now + 7s
	for _, tc := range []struct {
		name     string
		replies  []reply
		status   int
		attempts int
		waits    []time.Duration
	}{
		{"success first", nil, 200, 1, nil},
		{"429 retry-after-ms", []reply{{status: 429, header: map[string]string{"retry-after-ms": "250"}}}, 200, 2, []time.Duration{250 * time.Millisecond}},
		{"503 retry-after seconds", []reply{{status: 503, header: map[string]string{"retry-after": "2"}}}, 200, 2, []time.Duration{2 * time.Second}},
		{"retry-after-ms wins", []reply{{status: 429, header: map[string]string{"retry-after": "9", "retry-after-ms": "1500"}}}, 200, 2, []time.Duration{1500 * time.Millisecond}},
		{"retry-after date", []reply{{status: 503, header: map[string]string{"retry-after": httpDate}}}, 200, 2, []time.Duration{7 * time.Second}},
		{"408 409 500 with backoff", []reply{{status: 408}, {status: 409}}, 200, 3, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{"gives up after max attempts", []reply{{status: 500}, {status: 502}, {status: 504}}, 504, 3, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{"400 not retried", []reply{{status: 400}}, 400, 1, nil},
		{"404 not retried", []reply{{status: 404}}, 404, 1, nil},
		{"x-should-retry false", []reply{{status: 503, header: map[string]string{"x-should-retry": "false"}}}, 503, 1, nil},
		{"x-should-retry true on 400", []reply{{status: 400, header: map[string]string{"x-should-retry": "true"}}}, 200, 2, []time.Duration{250 * time.Millisecond}},
		{"retry-after too long", []reply{{status: 429, header: map[string]string{"retry-after": "120"}}}, 429, 1, nil},
		{"connection error", []reply{{hangup: true}}, 200, 2, []time.Duration{250 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{replies: tc.replies}
			srv := httptest.NewServer(s)
			defer srv.Close()
			clock := newFakeClock()
			tr := New(Config{Base: srv.Client().Transport, Clock: clock, Jitter: func() float64 { return 0.5 }})
			req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"model":"m"}`))
			req.GetBody = nil // as on a server-side request: the transport must buffer
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(body) != "attempt" {
				t.Errorf("status %d body %q, want %d", resp.StatusCode, body, tc.status)
			}
			if s.attempts() != tc.attempts {
				t.Errorf("attempts %d, want %d", s.attempts(), tc.attempts)
			}
			for i, b := range s.bodies {
				if b != `{"model":"m"}` {
					t.Errorf("attempt %d body %q", i+1, b)
				}
			}
			if len(clock.waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %v", clock.waits, tc.waits)
			}
			for i := range tc.waits {
				if clock.waits[i] != tc.waits[i] {
					t.Errorf("waits %v, want %v", clock.waits, tc.waits)
				}
			}
		})
	}
}

func TestBackoffCeilingAndJitter(t *testing.T) {
	tr := New(Config{InitialBackoff: time.Second, MaxBackoff: 5 * time.Second, Jitter: func() float64 { return 0.999 }})
	want := []time.Duration{999 * time.Millisecond, 1998 * time.Millisecond, 3996 * time.Millisecond, 4995 * time.Millisecond, 4995 * time.Millisecond}
	for i, w := range want {
		d, ok := tr.delay(i+1, nil)
		if !ok || d != w {
			t.Errorf("attempt %d: %v, want %v", i+1, d, w)
		}
	}
	tr = New(Config{Jitter: func() float64 { return 0 }})
	if d, _ := tr.delay(1, nil); d != 0 {
		t.Errorf("full jitter must allow 0, got %v", d)
	}
}

// During an outage the budget keeps retries to about 10% of requests.
func TestBudgetDuringOutage(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	clock := newFakeClock()
	budget := NewBudget(BudgetConfig{Clock: clock, MinPerSecond: -1}) // no time-based refill
	tr := New(Config{Base: srv.Client().Transport, Clock: clock, Budget: budget, MaxAttempts: 5,
		Jitter: func() float64 { return 0 }})
	const requests = 1000
	for range requests {
		resp, err := tr.RoundTrip(httptest.NewRequest("GET", srv.URL, nil).WithContext(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	retries := hits.Load() - requests
	// At most the saved-up Max (10) plus 10% of the requests.
	if retries > 10+requests/10 || retries < requests/10 {
		t.Errorf("%d retries for %d requests", retries, requests)
	}
}

func TestBudgetRefillsWithTime(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetConfig{Clock: clock, Max: 2, MinPerSecond: 1})
	for i, want := range []bool{true, true, false} {
		if got := b.withdraw(); got != want {
			t.Fatalf("withdrawal %d: %v; a full budget of 2 allows exactly 2 retries", i+1, got)
		}
	}
	clock.Sleep(context.Background(), 1500*time.Millisecond)
	if !b.withdraw() || b.withdraw() {
		t.Errorf("1.5 s at 1/s allows 1 retry; available %v", b.Available())
	}
}

func TestAttemptTimeout(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select { // the first attempt hangs until the transport gives up on it
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	tr := New(Config{Base: srv.Client().Transport, Clock: newFakeClock(), AttemptTimeout: 50 * time.Millisecond})
	resp, err := tr.RoundTrip(httptest.NewRequest("GET", srv.URL, nil).WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "ok" || n.Load() != 2 {
		t.Errorf("body %q after %d attempts", b, n.Load())
	}
}

// The attempt timeout bounds the wait for headers, not the body: a slow
// stream that has started goes on.
func TestAttemptTimeoutDoesNotCutBody(t *testing.T) {
	checkBodyOutlivesTimeout(t, func(base http.RoundTripper) Config {
		return Config{Base: base, AttemptTimeout: 20 * time.Millisecond}
	})
}

func TestCallerCancelStopsWaiting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	tr := New(Config{Base: srv.Client().Transport, Clock: cancelClock{cancel}})
	_, err := tr.RoundTrip(httptest.NewRequest("GET", srv.URL, nil).WithContext(ctx))
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("err %v", err)
	}
}

// cancelClock cancels the request while the transport waits to retry.
type cancelClock struct{ cancel context.CancelFunc }

func (cancelClock) Now() time.Time { return time.Now() }
func (c cancelClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return ctx.Err()
}

func TestLargeBodyIsSentOnceUnretried(t *testing.T) {
	s := &script{replies: []reply{{status: 503}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tr := New(Config{Base: srv.Client().Transport, Clock: newFakeClock(), MaxBufferedBody: 4})
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("0123456789")))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.attempts() != 1 || s.bodies[0] != "0123456789" {
		t.Errorf("status %d attempts %d bodies %q", resp.StatusCode, s.attempts(), s.bodies)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{"retry-after-ms": "20"}, 20 * time.Millisecond, true},
		{map[string]string{"retry-after-ms": "0.5"}, 500 * time.Microsecond, true},
		{map[string]string{"retry-after-ms": "-5"}, 0, true},
		{map[string]string{"retry-after-ms": "NaN", "retry-after": "1"}, time.Second, true},
		{map[string]string{"retry-after": "3"}, 3 * time.Second, true},
		{map[string]string{"retry-after": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"retry-after": "soon"}, 0, false},
		{map[string]string{"retry-after": "1e300"}, math.MaxInt64, true}, // longer than any MaxRetryAfter
		{map[string]string{"retry-after": "4294967295"}, 4294967295 * time.Second, true},
		{map[string]string{"retry-after-ms": "1e400"}, math.MaxInt64, true},
		{map[string]string{"retry-after-ms": "-1e400"}, 0, true},
		{map[string]string{"retry-after": "1.5"}, 1500 * time.Millisecond, true},
		{nil, 0, false},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		got, ok := RetryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v: got %v %v, want %v %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

// countingBase answers every attempt with status and header, counting
// attempts.
type countingBase struct {
	n      atomic.Int32
	status int
	header http.Header
}

func (b *countingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.n.Add(1)
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: b.status, Header: b.header.Clone(), Body: io.NopCloser(strings.NewReader("x")), Request: req}, nil
}

// countAttempts sends one POST through a Transport over base (at most
// three attempts, no jitter, a fake clock) and returns the status it
// returned and the attempts base saw.
func countAttempts(t *testing.T, base *countingBase) (status int, attempts int32) {
	t.Helper()
	tr := New(Config{Base: base, MaxAttempts: 3, Clock: newFakeClock(), Jitter: func() float64 { return 0 }})
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://upstream/v1/chat/completions", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, base.n.Load()
}

// TestRetryAfterLongerThanAnyWait: a server that asks for a wait too long
// to be a Duration asks for longer than MaxRetryAfter, so its answer goes
// back to the caller unretried (not retried after the usual backoff).
func TestRetryAfterLongerThanAnyWait(t *testing.T) {
	for _, h := range []http.Header{
		{"Retry-After": {"4294967295"}},
		{"Retry-After": {"1e300"}},
		{"Retry-After-Ms": {"10000000000000"}},
	} {
		if status, n := countAttempts(t, &countingBase{status: 503, header: h}); n != 1 || status != 503 {
			t.Errorf("%v: %d attempts, status %d; want 1 attempt and the 503", h, n, status)
		}
	}
}

// TestSuccessIsNeverRetried: x-should-retry is read on errors only; an
// answer that succeeded was generated (and billed) and goes back as it is.
func TestSuccessIsNeverRetried(t *testing.T) {
	for _, status := range []int{200, 201, 304} {
		if _, n := countAttempts(t, &countingBase{status: status, header: http.Header{"X-Should-Retry": {"true"}}}); n != 1 {
			t.Errorf("status %d with x-should-retry: true: %d attempts, want 1", status, n)
		}
	}
}
