package llmtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// FaultHeader is the request header that sets a request's faults. Its
// value uses the grammar of [ParseFault].
const FaultHeader = "X-Llmtest-Fault"

// ErrBadFault is returned (wrapped) by [ParseFault] for a malformed spec.
var ErrBadFault = errors.New("llmtest: bad fault spec")

// Fault describes the failures and delays injected into a response. The
// zero value injects nothing. A Fault is a plain value, safe to share.
type Fault struct {
	// Latency is waited before anything is written. Default: 0.
	Latency time.Duration
	// TTFT (time to first token) is waited before the first token: in a
	// stream, after the headers and the role chunk went out; otherwise
	// before the response. Default: 0.
	TTFT time.Duration
	// PerToken is waited before each streamed token chunk (and, for a
	// response that is not streamed, once per completion token before
	// it). Default: 0.
	PerToken time.Duration
	// Status, when non-zero, answers with an OpenAI error envelope of this
	// status (after Latency) instead of a completion: 429 is a rate limit
	// (code rate_limit_exceeded), 500, 502, 503 and 504 server errors,
	// other statuses an invalid_request_error. Default: 0.
	Status int
	// RetryAfter, with Status, is sent as retry-after (whole seconds,
	// rounded up) and retry-after-ms. Default: 0 (no headers), except 1s
	// for 429.
	RetryAfter time.Duration
	// CutAfter, when positive, closes the connection of a stream after
	// that many token chunks, without finish chunk or [DONE] (a response
	// that is not streamed is cut after half of its body). The handler
	// panics with http.ErrAbortHandler to do so, as
	// httputil.ReverseProxy does. Default: 0 (never).
	CutAfter int
	// MalformedAfter, when positive, sends one event whose data is not
	// valid JSON after that many token chunks; the stream then goes on.
	// Default: 0 (never).
	MalformedAfter int
	// Times, when positive, applies the fault to the first Times requests
	// that carry it (counted per handler and per spec), and serves later
	// ones normally: "status=503,times=2" fails twice, then succeeds.
	// Default: 0 (every request).
	Times int
}

// IsZero reports whether f injects nothing.
func (f Fault) IsZero() bool { return f == Fault{} }

// ParseFault parses a fault spec: comma-separated key=value pairs, with
// optional spaces around them:
//
//	latency=50ms      Fault.Latency (a Go duration)
//	ttft=20ms         Fault.TTFT
//	per_token=1ms     Fault.PerToken
//	status=429        Fault.Status (400–599)
//	retry_after=2     Fault.RetryAfter: seconds (may be fractional) or a duration (1500ms)
//	cut_after=5       Fault.CutAfter (≥ 1)
//	malformed_after=3 Fault.MalformedAfter (≥ 1)
//	times=2           Fault.Times (≥ 1)
//
// The empty spec is the zero Fault. An unknown key, a repeated key or a bad
// value is an error wrapping ErrBadFault.
func ParseFault(spec string) (Fault, error) {
	var f Fault
	seen := map[string]bool{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return Fault{}, fmt.Errorf("%w: %q is not key=value", ErrBadFault, item)
		}
		if seen[k] {
			return Fault{}, fmt.Errorf("%w: %s given twice", ErrBadFault, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "latency":
			f.Latency, err = parseDuration(v, false)
		case "ttft":
			f.TTFT, err = parseDuration(v, false)
		case "per_token":
			f.PerToken, err = parseDuration(v, false)
		case "retry_after":
			f.RetryAfter, err = parseDuration(v, true)
		case "status":
			f.Status, err = parseInt(v, 400, 599)
		case "cut_after":
			f.CutAfter, err = parseInt(v, 1, 1<<30)
		case "malformed_after":
			f.MalformedAfter, err = parseInt(v, 1, 1<<30)
		case "times":
			f.Times, err = parseInt(v, 1, 1<<30)
		default:
			return Fault{}, fmt.Errorf("%w: unknown key %q", ErrBadFault, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("%w: %s: %w", ErrBadFault, k, err)
		}
	}
	return f, nil
}

// String returns f in the grammar of ParseFault; ParseFault(f.String())
// returns f.
func (f Fault) String() string {
	var parts []string
	add := func(k string, d time.Duration) {
		if d != 0 {
			parts = append(parts, k+"="+d.String())
		}
	}
	addN := func(k string, n int) {
		if n != 0 {
			parts = append(parts, k+"="+strconv.Itoa(n))
		}
	}
	add("latency", f.Latency)
	add("ttft", f.TTFT)
	add("per_token", f.PerToken)
	addN("status", f.Status)
	add("retry_after", f.RetryAfter)
	addN("cut_after", f.CutAfter)
	addN("malformed_after", f.MalformedAfter)
	addN("times", f.Times)
	return strings.Join(parts, ",")
}

func parseDuration(v string, seconds bool) (time.Duration, error) {
	if seconds {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s < 0 || s > 1e6 {
				return 0, fmt.Errorf("%s out of range", v)
			}
			return time.Duration(s * float64(time.Second)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %s", v)
	}
	return d, nil
}

func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d not in [%d, %d]", n, lo, hi)
	}
	return n, nil
}

// faultCounter counts the requests each fault spec was applied to, for
// Fault.Times.
type faultCounter struct {
	mu   sync.Mutex
	seen map[Fault]int
}

// take reports whether f applies to one more request.
func (c *faultCounter) take(f Fault) bool {
	if f.Times <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[Fault]int{}
	}
	if c.seen[f] >= f.Times {
		return false
	}
	c.seen[f]++
	return true
}

// faultError returns the envelope Fault.Status answers with.
func faultError(status int) *wire.Error {
	switch {
	case status == http.StatusTooManyRequests:
		return wire.Errorf(status, wire.TypeRequests, wire.CodeRateLimitExceeded, "",
			"Rate limit reached (injected by llmtest). Please try again later.")
	case status >= 500:
		return wire.Errorf(status, wire.TypeServer, "", "",
			"The server had an error while processing your request (injected by llmtest: %d %s).",
			status, http.StatusText(status))
	}
	return wire.Errorf(status, wire.TypeInvalidRequest, "", "",
		"Injected by llmtest: %d %s.", status, http.StatusText(status))
}

// writeFault sends the error of f.Status with its retry headers.
func writeFault(w http.ResponseWriter, f Fault) {
	ra := f.RetryAfter
	if ra == 0 && f.Status == http.StatusTooManyRequests {
		ra = time.Second
	}
	if ra > 0 {
		secs := (ra + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(ra.Milliseconds(), 10))
	}
	wire.WriteError(w, faultError(f.Status))
}

// sleepCtx is the default Config.Sleep: it waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
