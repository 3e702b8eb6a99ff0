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
	// every attempt and every wait. Default: none (the request's context).
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
// (seconds or an HTTP date) and x-should-retry (true forces a retry, false
// forbids one), and stops when the budget is spent.
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
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var cancelAll context.CancelFunc = func() {}
	if t.cfg.Timeout > 0 {
		ctx, cancelAll = context.WithTimeout(ctx, t.cfg.Timeout)
	}
	t.cfg.Budget.deposit()

	getBody, replayable, err := t.replayableBody(req)
	if err != nil {
		cancelAll()
		return nil, err
	}
	attempts := t.cfg.MaxAttempts
	if !replayable {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		areq := req.Clone(ctx)
		if getBody != nil {
			if areq.Body, err = getBody(); err != nil {
				cancelAll()
				return nil, fmt.Errorf("retry: replaying request body: %w", err)
			}
			areq.GetBody = getBody
		}
		resp, cancelAttempt, err := t.attempt(areq)
		if attempt >= attempts || !t.shouldRetry(ctx, resp, err) {
			return finish(resp, err, cancelAttempt, cancelAll)
		}
		wait, ok := t.delay(attempt, resp)
		if !ok || !t.cfg.Budget.withdraw() {
			return finish(resp, err, cancelAttempt, cancelAll)
		}
		if resp != nil {
			drain(resp.Body)
		}
		cancelAttempt()
		if err := t.cfg.Clock.Sleep(ctx, wait); err != nil {
			cancelAll()
			return nil, fmt.Errorf("retry: waiting %v before attempt %d: %w", wait, attempt+1, err)
		}
	}
}

// attempt sends one attempt under AttemptTimeout. The returned cancel
// releases the attempt's context; a response body closes it too.
func (t *Transport) attempt(req *http.Request) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	var timer *time.Timer
	if t.cfg.AttemptTimeout > 0 {
		timer = time.AfterFunc(t.cfg.AttemptTimeout, func() { cancel(ErrAttemptTimeout) })
	}
	resp, err := t.cfg.Base.RoundTrip(req.WithContext(ctx))
	if timer != nil {
		timer.Stop()
	}
	if err != nil && errors.Is(context.Cause(ctx), ErrAttemptTimeout) {
		err = fmt.Errorf("retry: no response within %v: %w", t.cfg.AttemptTimeout, ErrAttemptTimeout)
	}
	return resp, func() { cancel(nil) }, err
}

// ErrAttemptTimeout is the error of an attempt that got no response
// headers within Config.AttemptTimeout.
var ErrAttemptTimeout = errors.New("retry: attempt timed out")

// finish hands resp (or err) to the caller; the contexts are released
// when the caller closes the body.
func finish(resp *http.Response, err error, cancels ...context.CancelFunc) (*http.Response, error) {
	release := func() {
		for _, c := range cancels {
			c()
		}
	}
	if err != nil {
		release()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		release()
		return resp, nil
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// replayableBody returns a function producing a fresh copy of the request
// body, buffering it when needed, and whether the request can be retried.
func (t *Transport) replayableBody(req *http.Request) (func() (io.ReadCloser, error), bool, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true, nil
	}
	if req.GetBody != nil {
		return req.GetBody, true, nil
	}
	if req.ContentLength > t.cfg.MaxBufferedBody {
		return func() (io.ReadCloser, error) { return req.Body, nil }, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, t.cfg.MaxBufferedBody+1))
	if err != nil {
		_ = req.Body.Close()
		return nil, false, fmt.Errorf("retry: reading request body: %w", err)
	}
	if int64(len(buf)) > t.cfg.MaxBufferedBody {
		// Too large to buffer: send what was read followed by the rest, once.
		rest := req.Body
		body := struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), rest), rest}
		return func() (io.ReadCloser, error) { return body, nil }, false, nil
	}
	_ = req.Body.Close()
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, true, nil
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
// (milliseconds, fractional allowed) first, else retry-after in whole
// seconds or as an HTTP date relative to now. It reports false when neither
// header holds a usable value. Negative waits become zero.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(ms) && !math.IsInf(ms, 0) && ms < 1e12 {
			return time.Duration(max(ms, 0) * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(s) && !math.IsInf(s, 0) && s < 1e9 {
		return time.Duration(max(s, 0) * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
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
