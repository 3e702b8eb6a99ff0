package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Transport. The zero value retries up to twice with
// the defaults below.
type Config struct {
	// Base sends each attempt. Default: http.DefaultTransport.
	Base http.RoundTripper
	// MaxAttempts bounds the attempts per request, the first included.
	// Default: 3. 1 disables retries.
	MaxAttempts int
	// InitialBackoff is the backoff ceiling before the first retry; it
	// doubles per retry up to MaxBackoff. The wait is a uniformly random
	// duration below the ceiling ("full jitter"). Default: 500ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff ceiling. Default: 8s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest server-requested wait (retry-after-ms,
	// retry-after) the transport honours; a response asking for longer is
	// returned to the caller unretried. Default: 60s.
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds one attempt until its response headers arrive.
	// The body of a returned response is not bounded by it. Default: none.
	AttemptTimeout time.Duration
	// Timeout bounds the whole exchange until response headers arrive:
	// every attempt and every wait; its error wraps
	// context.DeadlineExceeded. Like AttemptTimeout, it does not bound the
	// body of a returned response. Default: none (the request's context).
	Timeout time.Duration
	// MaxBufferedBody is the largest request body the transport buffers to
	// replay it. A larger body without GetBody is sent once, unretried.
	// Default: 4 MiB.
	MaxBufferedBody int64
	// Budget limits retries across requests; share one Budget among the
	// transports that talk to one upstream. Default: a budget of its own
	// with the BudgetConfig defaults (retries add at most ~10% load).
	Budget *Budget
	// Clock waits between attempts and tells the time for HTTP-date
	// retry-after values. Default: the real clock.
	Clock Clock
	// Jitter returns a uniform random number in [0, 1). Default: math/rand/v2.
	Jitter func() float64
	// ShouldRetry, when set, replaces the default decision for a response
	// (err == nil) or a transport error (resp == nil).
	ShouldRetry func(resp *http.Response, err error) bool
}

// Clock is the time source of a Transport.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Transport is an http.RoundTripper that retries failed attempts with
// exponential backoff and full jitter. It retries 408, 409, 429 and 5xx
// responses and connection errors, honours retry-after-ms, retry-after
// (seconds or an HTTP date) and, on an error status, x-should-retry (true
// forces a retry, false forbids one), and stops when the budget is spent.
// A response below 400 is an answer and is never retried.
//
// A response is retried only before it is returned: once a response —
// streamed or not — reaches the caller, it is the caller's, so a stream
// that has started is never retried.
//
// Transport is safe for concurrent use.
type Transport struct {
	cfg Config
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport for cfg.
func New(cfg Config) *Transport {
	if cfg.Base == nil {
		cfg.Base = http.DefaultTransport
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 8 * time.Second
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 60 * time.Second
	}
	if cfg.MaxBufferedBody <= 0 {
		cfg.MaxBufferedBody = 4 << 20
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Budget == nil {
		cfg.Budget = NewBudget(BudgetConfig{Clock: cfg.Clock})
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	return &Transport{cfg: cfg}
}

// RoundTrip sends req, retrying as the Transport's doc says.
//
// The first attempt costs little: it sends req's own body, and its own
// request when no timeout applies, so that with retries off (MaxAttempts
// 1) the transport is close to Base alone. A retry pays for what only a
// retry needs: a clone of req and a fresh body from GetBody (or from the
// buffer of a body without GetBody, read before the first attempt).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var cancelAll context.CancelCauseFunc
	var whole *watchdog
	if t.cfg.Timeout > 0 {
		ctx, cancelAll = context.WithCancelCause(ctx)
		whole = startWatchdog(t.cfg.Timeout, cancelAll, errTimeout)
	}
	t.cfg.Budget.deposit()

	p := bodyPlan{body: req.Body, getBody: req.GetBody, attempts: 1}
	if t.cfg.MaxAttempts > 1 {
		var err error
		if p, err = t.replayableBody(req); err != nil {
			return t.end(ctx, whole, nil, err, nil, cancelAll)
		}
	}
	// The first attempt sends req itself unless its context or body differ.
	copyFirst := cancelAll != nil || t.cfg.AttemptTimeout > 0 || p.buffered
	for n := 1; ; n++ {
		resp, cancelAttempt, err := t.attempt(ctx, req, n, copyFirst, p)
		if n >= p.attempts || !t.shouldRetry(ctx, resp, err) {
			return t.end(ctx, whole, resp, err, cancelAttempt, cancelAll)
		}
		wait, ok := t.delay(n, resp)
		if !ok || !t.cfg.Budget.withdraw() {
			return t.end(ctx, whole, resp, err, cancelAttempt, cancelAll)
		}
		if resp != nil {
			drain(resp.Body)
		}
		if cancelAttempt != nil {
			cancelAttempt(nil)
		}
		if err := t.cfg.Clock.Sleep(ctx, wait); err != nil {
			err = fmt.Errorf("retry: waiting %v before attempt %d: %w", wait, n+1, err)
			return t.end(ctx, whole, nil, err, nil, cancelAll)
		}
		if p.getBody != nil {
			if p.body, err = p.getBody(); err != nil {
				err = fmt.Errorf("retry: replaying request body: %w", err)
				return t.end(ctx, whole, nil, err, nil, cancelAll)
			}
		}
	}
}

// errTimeout is the cause of an exchange that Config.Timeout ended.
var errTimeout = fmt.Errorf("retry: exchange timed out: %w", context.DeadlineExceeded)

// end ends the exchange: it stops Timeout's watchdog (whole, nil without
// Timeout), turns an exchange that Timeout ended into an error wrapping
// context.DeadlineExceeded, and hands resp (or err) to the caller.
func (t *Transport) end(ctx context.Context, whole *watchdog, resp *http.Response, err error, cancelAttempt, cancelAll context.CancelCauseFunc) (*http.Response, error) {
	if whole != nil {
		if !whole.stop() && err == nil {
			// Timeout passed as the headers arrived: the body is doomed.
			<-ctx.Done()
			drain(resp.Body)
			resp, err = nil, context.Cause(ctx)
		}
		if err != nil && errors.Is(context.Cause(ctx), errTimeout) {
			err = fmt.Errorf("retry: no response within %v: %w", t.cfg.Timeout, context.DeadlineExceeded)
		}
	}
	return finish(resp, err, cancelAttempt, cancelAll)
}

// attempt sends attempt n of req with p.body under ctx and AttemptTimeout.
// The first attempt is req itself unless copyFirst, else a shallow copy
// (req.WithContext); a retry sends a clone with headers of its own. The
// returned cancel, nil without AttemptTimeout, releases the attempt's
// context once its response body is done.
func (t *Transport) attempt(ctx context.Context, req *http.Request, n int, copyFirst bool, p bodyPlan) (*http.Response, context.CancelCauseFunc, error) {
	var cancel context.CancelCauseFunc
	if t.cfg.AttemptTimeout > 0 {
		ctx, cancel = context.WithCancelCause(ctx)
	}
	areq := req
	switch {
	case n > 1:
		areq = req.Clone(ctx)
		areq.Body, areq.GetBody = p.body, p.getBody
	case copyFirst:
		areq = req.WithContext(ctx)
		areq.Body, areq.GetBody = p.body, p.getBody
	}
	var w *watchdog
	if cancel != nil {
		w = startWatchdog(t.cfg.AttemptTimeout, cancel, ErrAttemptTimeout)
	}
	resp, err := t.cfg.Base.RoundTrip(areq)
	if w != nil && !w.stop() && err == nil {
		// The watchdog fired as the headers arrived: the attempt's context
		// is (about to be) cancelled, so its body would fail on a read.
		<-ctx.Done()
		drain(resp.Body)
		resp, err = nil, context.Cause(ctx)
	}
	if err != nil && cancel != nil && errors.Is(context.Cause(ctx), ErrAttemptTimeout) {
		err = fmt.Errorf("retry: no response within %v: %w", t.cfg.AttemptTimeout, ErrAttemptTimeout)
	}
	return resp, cancel, err
}

// ErrAttemptTimeout is the error of an attempt that got no response
// headers within Config.AttemptTimeout.
var ErrAttemptTimeout = errors.New("retry: attempt timed out")

// A watchdog cancels an attempt (or a whole exchange) that got no response
// headers within AttemptTimeout (or Timeout), with cause. Watchdogs are pooled with their timers, so that an
// attempt that is answered in time allocates no timer: a stopped timer
// whose function will not run is reset for the next attempt, while one
// that fired (or is firing) is left to the garbage collector, since its
// function may still read cancel.
type watchdog struct {
	timer  *time.Timer
	cancel context.CancelCauseFunc
	cause  error
}

var watchdogs sync.Pool // of *watchdog, stopped

func startWatchdog(d time.Duration, cancel context.CancelCauseFunc, cause error) *watchdog {
	if w, ok := watchdogs.Get().(*watchdog); ok {
		w.cancel, w.cause = cancel, cause
		w.timer.Reset(d)
		return w
	}
	w := &watchdog{cancel: cancel, cause: cause}
	w.timer = time.AfterFunc(d, w.fire)
	return w
}

func (w *watchdog) fire() { w.cancel(w.cause) }

// stop stops w and pools it when its function did not and will not run;
// it reports false when the function ran or is running.
func (w *watchdog) stop() bool {
	if !w.timer.Stop() {
		return false
	}
	w.cancel, w.cause = nil, nil
	watchdogs.Put(w)
	return true
}

// finish hands resp (or err) to the caller; the contexts are released
// when the caller closes the body.
func finish(resp *http.Response, err error, cancelAttempt, cancelAll context.CancelCauseFunc) (*http.Response, error) {
	if err != nil {
		releaseBoth(cancelAttempt, cancelAll)
		return nil, err
	}
	if cancelAttempt == nil && cancelAll == nil {
		return resp, nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		releaseBoth(cancelAttempt, cancelAll)
		return resp, nil
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, cancelAttempt: cancelAttempt, cancelAll: cancelAll}
	return resp, nil
}

// releaseBoth cancels the attempt's and the exchange's contexts (either
// may be nil).
func releaseBoth(cancelAttempt, cancelAll context.CancelCauseFunc) {
	if cancelAttempt != nil {
		cancelAttempt(nil)
	}
	if cancelAll != nil {
		cancelAll(nil)
	}
}

// releasingBody releases the contexts of the exchange when the caller
// closes the response body.
type releasingBody struct {
	io.ReadCloser
	cancelAttempt context.CancelCauseFunc
	cancelAll     context.CancelCauseFunc
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	releaseBoth(b.cancelAttempt, b.cancelAll)
	return err
}

// bodyPlan is how a request's body is sent: the body of the first attempt,
// a function producing a fresh copy for each retry (nil when there is no
// body to copy), and the attempts the body allows.
type bodyPlan struct {
	body     io.ReadCloser
	getBody  func() (io.ReadCloser, error)
	attempts int
	buffered bool // body is not req.Body but read from a buffer of it
}

// replayableBody plans the body of a request that may be retried: req's
// own body with its GetBody, or, without GetBody, a buffer of the whole
// body up to MaxBufferedBody. A larger body is sent once, unretried.
func (t *Transport) replayableBody(req *http.Request) (bodyPlan, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return bodyPlan{body: req.Body, attempts: t.cfg.MaxAttempts}, nil
	}
	if req.GetBody != nil {
		return bodyPlan{body: req.Body, getBody: req.GetBody, attempts: t.cfg.MaxAttempts}, nil
	}
	if req.ContentLength > t.cfg.MaxBufferedBody {
		return bodyPlan{body: req.Body, attempts: 1}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, t.cfg.MaxBufferedBody+1))
	if err != nil {
		_ = req.Body.Close()
		return bodyPlan{}, fmt.Errorf("retry: reading request body: %w", err)
	}
	if int64(len(buf)) > t.cfg.MaxBufferedBody {
		// Too large to buffer: send what was read followed by the rest, once.
		rest := req.Body
		return bodyPlan{body: struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), rest), rest}, attempts: 1, buffered: true}, nil
	}
	_ = req.Body.Close()
	getBody := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	body, _ := getBody()
	return bodyPlan{body: body, getBody: getBody, attempts: t.cfg.MaxAttempts, buffered: true}, nil
}

// shouldRetry decides on one attempt's outcome.
func (t *Transport) shouldRetry(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false // the caller gave up, or Timeout passed
	}
	if t.cfg.ShouldRetry != nil {
		return t.cfg.ShouldRetry(resp, err)
	}
	if err != nil {
		return true // connection errors and attempt timeouts; the caller's own cancel was ruled out above
	}
	if resp.StatusCode < 400 {
		return false // an answer, generated and billed: never thrown away
	}
	switch resp.Header.Get("X-Should-Retry") {
	case "true":
		return true
	case "false":
		return false
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusConflict, c == http.StatusTooManyRequests:
		return true
	case c >= 500:
		return true
	}
	return false
}

// delay returns how long to wait before the next attempt, and false when
// the server asks for a longer wait than MaxRetryAfter.
func (t *Transport) delay(attempt int, resp *http.Response) (time.Duration, bool) {
	if resp != nil {
		if d, ok := RetryAfter(resp.Header, t.cfg.Clock.Now()); ok {
			return d, d <= t.cfg.MaxRetryAfter
		}
	}
	ceiling := float64(t.cfg.InitialBackoff) * math.Pow(2, float64(attempt-1))
	ceiling = math.Min(ceiling, float64(t.cfg.MaxBackoff))
	return time.Duration(t.cfg.Jitter() * ceiling), true
}

// RetryAfter returns the wait a response asks for: retry-after-ms
// (milliseconds, fractional allowed) first, else retry-after in seconds or
// as an HTTP date relative to now. It reports false when neither header
// holds a usable value. Negative waits become zero, and a wait too long for
// a time.Duration (retry-after: 1e300) the longest one.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if d, ok := waitOf(v, time.Millisecond); ok {
			return d, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := waitOf(v, time.Second); ok {
		return d, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// waitOf parses a wait of v units, clamped to [0, the longest Duration].
func waitOf(v string, unit time.Duration) (time.Duration, bool) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(x) {
		return 0, false
	}
	switch {
	case x <= 0:
		return 0, true
	case x >= math.MaxInt64/float64(unit):
		return math.MaxInt64, true
	}
	return time.Duration(x * float64(unit)), true
}

// drain reads a little of a discarded body so its connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}
