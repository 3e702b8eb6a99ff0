package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a Base that records each attempt's request, its body object
// and what the body held, and answers with statuses in order, then 200.
type recorder struct {
	mu       sync.Mutex
	statuses []int
	reqs     []*http.Request
	bodyObjs []io.ReadCloser
	bodies   []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.bodyObjs = append(r.bodyObjs, req.Body)
	r.bodies = append(r.bodies, string(b))
	status := http.StatusOK
	if n := len(r.reqs); n <= len(r.statuses) {
		status = r.statuses[n-1]
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("attempt")), Request: req}, nil
}

// countingGetBody returns a GetBody for payload that counts its calls.
func countingGetBody(payload string, calls *atomic.Int32) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		calls.Add(1)
		return io.NopCloser(strings.NewReader(payload)), nil
	}
}

// The first attempt pays only for what it needs: without a timeout it is
// the request itself, and its body is the request's own unless the body
// must be buffered to be replayed (retries on, no GetBody).
func TestFirstAttemptSendsTheRequestItself(t *testing.T) {
	const payload = `{"model":"m"}`
	for _, tc := range []struct {
		name     string
		cfg      Config
		getBody  bool
		sameReq  bool // Base got req itself
		sameBody bool // Base got req.Body itself, not a buffered copy
	}{
		{"retries off", Config{MaxAttempts: 1}, true, true, true},
		{"retries off, no GetBody, body too large to buffer", Config{MaxAttempts: 1, MaxBufferedBody: 4}, false, true, true},
		{"retries off, attempt timeout", Config{MaxAttempts: 1, AttemptTimeout: time.Minute}, true, false, true},
		{"retries on, GetBody", Config{MaxAttempts: 3}, true, true, true},
		{"retries on, GetBody, attempt timeout", Config{MaxAttempts: 3, AttemptTimeout: time.Minute}, true, false, true},
		{"retries on, no GetBody", Config{MaxAttempts: 3}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			tc.cfg.Base, tc.cfg.Clock = rec, newFakeClock()
			var calls atomic.Int32
			req, _ := http.NewRequest(http.MethodPost, "http://upstream.invalid/v1", strings.NewReader(payload))
			req.GetBody = nil
			if tc.getBody {
				req.GetBody = countingGetBody(payload, &calls)
			}
			body := req.Body
			resp, err := New(tc.cfg).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if len(rec.reqs) != 1 || rec.bodies[0] != payload {
				t.Fatalf("%d attempts, bodies %q", len(rec.reqs), rec.bodies)
			}
			if got := rec.reqs[0] == req; got != tc.sameReq {
				t.Errorf("Base got the caller's request: %v, want %v", got, tc.sameReq)
			}
			if got := rec.bodyObjs[0] == body; got != tc.sameBody {
				t.Errorf("Base got the caller's body: %v, want %v", got, tc.sameBody)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("GetBody called %d times for a first attempt that succeeded", n)
			}
		})
	}
}

// A retry sends a clone of the request, headers of its own included, with
// a fresh copy of the same body: from GetBody, or from the buffer of a
// body without one.
func TestRetryReplaysBodyAndHeaders(t *testing.T) {
	const payload = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name    string
		method  string
		body    string
		getBody bool
	}{
		{"GetBody", http.MethodPost, payload, true},
		{"buffered", http.MethodPost, payload, false},
		{"no body", http.MethodGet, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{statuses: []int{503, 429}}
			tr := New(Config{Base: rec, Clock: newFakeClock(), AttemptTimeout: time.Minute, Jitter: func() float64 { return 0 }})
			var rd io.Reader
			if tc.body != "" {
				rd = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, "http://upstream.invalid/v1", rd)
			req.Header["X-Multi"] = []string{"a", "b"}
			req.Header.Set("Authorization", "Bearer k")
			want := req.Header.Clone()
			var calls atomic.Int32
			req.GetBody = nil
			if tc.getBody {
				req.GetBody = countingGetBody(tc.body, &calls)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || len(rec.reqs) != 3 {
				t.Fatalf("status %d after %d attempts, want 200 after 3", resp.StatusCode, len(rec.reqs))
			}
			for i, r := range rec.reqs {
				if rec.bodies[i] != tc.body {
					t.Errorf("attempt %d: body %q, want %q", i+1, rec.bodies[i], tc.body)
				}
				if !reflect.DeepEqual(r.Header, want) {
					t.Errorf("attempt %d: header %v, want %v", i+1, r.Header, want)
				}
				if r.Method != tc.method || r.URL.String() != req.URL.String() {
					t.Errorf("attempt %d: %s %s", i+1, r.Method, r.URL)
				}
				if i > 0 && reflect.ValueOf(r.Header).UnsafePointer() == reflect.ValueOf(req.Header).UnsafePointer() {
					t.Errorf("attempt %d shares the caller's header map", i+1)
				}
				if i > 0 && tc.body != "" && r.GetBody == nil {
					t.Errorf("attempt %d has no GetBody", i+1)
				}
			}
			if tc.getBody && calls.Load() != 2 {
				t.Errorf("GetBody called %d times for 2 retries", calls.Load())
			}
		})
	}
}

// hangingBase answers no request: it waits for the attempt's context to
// end and returns its error, as a transport does.
type hangingBase struct{ calls atomic.Int32 }

func (h *hangingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	h.calls.Add(1)
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// The attempt timeout holds with retries off too (examples/proxy's 504).
func TestAttemptTimeoutWithAndWithoutRetries(t *testing.T) {
	for _, attempts := range []int{1, 3} {
		t.Run(fmt.Sprint("attempts=", attempts), func(t *testing.T) {
			base := &hangingBase{}
			tr := New(Config{Base: base, MaxAttempts: attempts, AttemptTimeout: 5 * time.Millisecond, Clock: newFakeClock()})
			req, _ := http.NewRequest(http.MethodPost, "http://upstream.invalid/v1", strings.NewReader("{}"))
			_, err := tr.RoundTrip(req)
			if !errors.Is(err, ErrAttemptTimeout) {
				t.Errorf("err %v, want ErrAttemptTimeout", err)
			}
			if n := base.calls.Load(); n != int32(attempts) {
				t.Errorf("%d attempts, want %d", n, attempts)
			}
		})
	}
}

// lateBase answers each request as its attempt's context ends: headers
// that arrive just as the attempt timeout fires.
type lateBase struct{}

func (lateBase) RoundTrip(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("late"))}, nil
}

// A response that arrives as the attempt timeout fires has a cancelled
// context, so its body would fail on the first read: it is an attempt
// timeout, not a response.
func TestResponseAtAttemptTimeoutIsATimeout(t *testing.T) {
	tr := New(Config{Base: lateBase{}, MaxAttempts: 1, AttemptTimeout: time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.invalid/v1", nil)
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrAttemptTimeout) {
		t.Errorf("resp %v err %v, want ErrAttemptTimeout", resp, err)
	}
}

// ctxBase answers at once, or, for a request with header "Hang", when its
// context ends; it keeps the contexts of the responses it returns.
type ctxBase struct{}

func (ctxBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Hang") != "" {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// Watchdogs are pooled: a watchdog that fired for one attempt must never
// cancel another, and one that was stopped must leave its attempt's
// context alive until the response body is closed, which releases it.
func TestWatchdogsCancelOnlyTheirAttempt(t *testing.T) {
	tr := New(Config{Base: ctxBase{}, MaxAttempts: 1, AttemptTimeout: 2 * time.Millisecond})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*http.Response
	var timeouts int
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				req, _ := http.NewRequest(http.MethodGet, "http://upstream.invalid/v1", nil)
				hang := (g+i)%3 == 0
				if hang {
					req.Header.Set("Hang", "1")
				}
				resp, err := tr.RoundTrip(req)
				mu.Lock()
				switch {
				case err == nil && !hang:
					open = append(open, resp)
				case errors.Is(err, ErrAttemptTimeout):
					timeouts++ // a hanging attempt, or (rarely, on a loaded machine) a slow one
				default:
					t.Errorf("goroutine %d request %d (hang %v): %v", g, i, hang, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if timeouts < 4*50/3 {
		t.Errorf("%d timeouts, want at least one per hanging request", timeouts)
	}
	for _, resp := range open {
		ctx := resp.Request.Context()
		if err := context.Cause(ctx); err != nil {
			t.Fatalf("an answered attempt's context ended before its body was closed: %v", err)
		}
		_ = resp.Body.Close()
		if ctx.Err() == nil {
			t.Fatal("closing the body did not release the attempt's context")
		}
	}
}

// ctxClock waits between attempts until the context ends.
type ctxClock struct{}

func (ctxClock) Now() time.Time { return time.Now() }
func (ctxClock) Sleep(ctx context.Context, d time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// Timeout ends the exchange, in an attempt or in a wait, with an error
// wrapping context.DeadlineExceeded.
func TestTimeoutEndsTheExchange(t *testing.T) {
	for _, tc := range []struct {
		name string
		base http.RoundTripper
	}{
		{"in an attempt", &hangingBase{}},
		{"in a wait", &recorder{statuses: []int{503, 503, 503}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{Base: tc.base, MaxAttempts: 3, Timeout: 5 * time.Millisecond, Clock: ctxClock{}})
			req, _ := http.NewRequest(http.MethodPost, "http://upstream.invalid/v1", strings.NewReader("{}"))
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				_ = resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("resp %v err %v, want context.DeadlineExceeded", resp, err)
			}
		})
	}
}

// Timeout bounds the exchange until the headers, not the body: a slow
// stream that has started goes on.
func TestTimeoutDoesNotCutBody(t *testing.T) {
	checkBodyOutlivesTimeout(t, func(base http.RoundTripper) Config {
		return Config{Base: base, Timeout: 20 * time.Millisecond}
	})
}

// checkBodyOutlivesTimeout checks that a stream whose headers arrived in
// time goes on after the 20 ms timeout that config sets has passed.
func checkBodyOutlivesTimeout(t *testing.T, config func(base http.RoundTripper) Config) {
	t.Helper()
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		_ = http.NewResponseController(w).Flush()
		<-next
		_, _ = io.WriteString(w, "data: 2\n\n")
	}))
	defer srv.Close()
	tr := New(config(srv.Client().Transport))
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil).WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	// Wait well past the timeout before letting the stream go on.
	timer := time.NewTimer(60 * time.Millisecond)
	<-timer.C
	close(next)
	rest, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(rest) != "data: 2\n\n" {
		t.Errorf("rest %q err %v", rest, err)
	}
}
