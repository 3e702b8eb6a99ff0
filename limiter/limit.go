package limiter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// Kind says what a limit counts.
type Kind uint8

const (
	// Requests counts requests: each request costs 1 (RPM and friends).
	Requests Kind = iota
	// Tokens counts tokens: a request costs its prompt plus reserved
	// completion tokens, settled to the real usage afterwards (TPM).
	Tokens
)

// String returns "requests" or "tokens", the words OpenAI uses in its
// header names and in the type of a rate_limit_exceeded error.
func (k Kind) String() string {
	switch k {
	case Requests:
		return "requests"
	case Tokens:
		return "tokens"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limit is one bucket: Rate units per Period, refilled continuously, holding
// at most Burst units. A fresh (or long idle) key may spend Burst at once;
// after that it gets Rate/Period per second.
//
// The bucket's identity is (Key, Kind, Period): two limits with the same Key
// and Kind but different periods (a per-minute and a per-day limit) are
// different buckets, and changing Rate or Burst keeps a key's state.
//
// The zero Limit is invalid (Rate must be positive).
type Limit struct {
	// Key names who is limited, e.g. "key:k_123", "user:alice",
	// "org:acme:model:gpt-4o". On Redis, a "{...}" section in Key is the
	// Cluster hash tag (see RedisStore); without one, the whole Key is (so
	// there "x" and "{x}" name the same bucket: avoid relying on that).
	Key string
	// Kind is what the bucket counts. Default: Requests.
	Kind Kind
	// Rate is how many units the bucket refills per Period. Required (> 0).
	Rate int
	// Period is the refill period. Default: one minute.
	Period time.Duration
	// Burst is the bucket's capacity. Default: Rate.
	Burst int
	// Name names the limit in the IETF RateLimit headers. Default: derived
	// from Kind and Period, e.g. "rpm", "tpm", "rpd" (see PolicyName).
	Name string
}

// Request asks for Cost units of one Limit.
type Request struct {
	Limit Limit
	// Cost is how many units the request takes: 1 for Requests limits, the
	// prompt plus the reserved completion tokens for Tokens limits. Zero
	// only reads the bucket (and is denied only when the bucket is in debt).
	// Negative costs are invalid.
	Cost int
}

// Result is the state of one limit after a Reserve.
type Result struct {
	// Limit is the request's limit with defaults applied.
	Limit Limit
	// Cost is what the request asked of this limit (after Settle, what it
	// was charged).
	Cost int
	// Allowed reports whether this limit on its own admits Cost now. The
	// reservation as a whole is allowed only when every limit is.
	Allowed bool
	// TooLarge reports that Cost exceeds Burst: no amount of waiting will
	// admit it, so RetryAfter is zero and the client must ask for less.
	TooLarge bool
	// Remaining is how many units the bucket holds after this decision
	// (rounded down, never negative; 0 while the bucket is in debt).
	Remaining int
	// ResetAfter is how long until the bucket is full again (OpenAI's
	// x-ratelimit-reset-*; the draft's "t").
	ResetAfter time.Duration
	// RetryAfter is how long until this limit admits Cost, when it does not
	// now; zero when allowed or TooLarge.
	RetryAfter time.Duration
}

// inline is how many limits a Reservation holds without allocating.
const inline = 4

// Reservation is the outcome of Store.Reserve: the decision, a Result per
// limit, and the charge it made, which Settle and Cancel adjust later.
//
// A Reservation is a value; keep one copy and settle through it. It is not
// safe for concurrent use. The zero Reservation is denied and holds nothing.
type Reservation struct {
	// Allowed reports whether every limit admitted its cost; only then was
	// anything reserved. A denied reservation charged nothing anywhere.
	Allowed bool
	// TooLarge reports that some limit can never admit its cost (see
	// Result.TooLarge).
	TooLarge bool
	// RetryAfter is, when denied and not TooLarge, how long to wait until
	// every limit admits its cost (the largest RetryAfter of the results),
	// assuming no other traffic. Zero when allowed.
	RetryAfter time.Duration

	store    Store
	canceled bool
	n        int
	res      [inline]Result
	more     []Result
}

// Results returns one Result per request, in the order of the requests.
// The slice aliases the reservation; do not keep it past the reservation.
func (r *Reservation) Results() []Result {
	if r.more != nil {
		return r.more
	}
	return r.res[:r.n]
}

// Result returns the result of the first limit of kind k and whether there
// is one.
func (r *Reservation) Result(k Kind) (Result, bool) {
	for _, x := range r.Results() {
		if x.Limit.Kind == k {
			return x, true
		}
	}
	return Result{}, false
}

func (r *Reservation) init(n int) []Result {
	r.n = n
	if n > inline {
		r.more = make([]Result, n)
		return r.more
	}
	return r.res[:n]
}

// finish sets the reservation-wide fields from the results.
func (r *Reservation) finish(store Store) {
	r.Allowed = true
	for _, x := range r.Results() {
		if !x.Allowed {
			r.Allowed = false
		}
		if x.TooLarge {
			r.TooLarge = true
		}
		if x.RetryAfter > r.RetryAfter {
			r.RetryAfter = x.RetryAfter
		}
	}
	if r.TooLarge {
		r.RetryAfter = 0
	}
	if r.Allowed {
		r.store = store
	}
}

// Settle charges the Tokens limits of an allowed reservation actual tokens
// instead of what they reserved: it refunds the unused part, or charges the
// overage, which may push a bucket into debt so that later requests wait.
// Requests limits keep their charge. Settle may be called more than once
// (e.g. as a stream progresses); each call sets the charge to actual. It is
// a no-op on a denied reservation, and an error after Cancel.
func (r *Reservation) Settle(ctx context.Context, actual int) error {
	if r.store == nil {
		if r.canceled {
			return ErrCanceled
		}
		return nil
	}
	if actual < 0 {
		return fmt.Errorf("limiter: settle: negative cost %d", actual)
	}
	var buf [inline]Adjustment
	adj := buf[:0]
	res := r.Results()
	for _, x := range res {
		if x.Limit.Kind == Tokens && x.Cost != actual {
			adj = append(adj, Adjustment{Limit: x.Limit, Delta: actual - x.Cost})
		}
	}
	if len(adj) == 0 {
		return nil
	}
	if err := adjust(ctx, r.store, adj); err != nil {
		return err
	}
	for i := range res {
		if res[i].Limit.Kind == Tokens {
			res[i].Cost = actual
		}
	}
	return nil
}

// Cancel refunds everything an allowed reservation charged, request counts
// included: use it when the upstream failed before producing any output.
// Cancel on a denied or already canceled reservation is a no-op.
func (r *Reservation) Cancel(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	var buf [inline]Adjustment
	adj := buf[:0]
	for _, x := range r.Results() {
		if x.Cost != 0 {
			adj = append(adj, Adjustment{Limit: x.Limit, Delta: -x.Cost})
		}
	}
	if len(adj) > 0 {
		if err := adjust(ctx, r.store, adj); err != nil {
			return err
		}
	}
	r.store = nil
	r.canceled = true
	return nil
}

// adjust calls st.Adjust. The stores of this package are called directly:
// they do not keep adj, so Settle's and Cancel's buffers stay on the stack.
// A call through the interface would make every caller's buffer escape,
// so any other Store gets a copy.
func adjust(ctx context.Context, st Store, adj []Adjustment) error {
	switch st := st.(type) {
	case *MemoryStore:
		return st.Adjust(ctx, adj)
	case *RedisStore:
		return st.Adjust(ctx, adj)
	}
	return st.Adjust(ctx, slices.Clone(adj))
}

// Adjustment changes what a limit was charged: a positive Delta charges
// more (into debt if need be), a negative one refunds, never beyond a full
// bucket.
type Adjustment struct {
	Limit Limit
	Delta int
}

// Store decides and records limits. Implementations are safe for
// concurrent use.
type Store interface {
	// Reserve checks every request's limit and, only when all admit their
	// cost, charges them all, atomically. A denial is a Reservation with
	// Allowed false, not an error; the error is for when the store could
	// not decide (invalid limits, backend down, ctx done).
	Reserve(ctx context.Context, reqs []Request) (Reservation, error)
	// Adjust applies charges and refunds; Reservation.Settle and Cancel
	// use it.
	Adjust(ctx context.Context, adj []Adjustment) error
}

// Clock tells the time. A nil Clock in a config means the real clock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Errors callers may test with errors.Is.
var (
	// ErrInvalid wraps every error about a malformed limit or request.
	ErrInvalid = errors.New("limiter: invalid limit")
	// ErrUnavailable wraps every error that means the backend could not be
	// reached or did not answer in time; with FailClosed the middleware
	// turns it into a 503 envelope.
	ErrUnavailable = errors.New("limiter: backend unavailable")
	// ErrCanceled is returned by Settle after Cancel.
	ErrCanceled = errors.New("limiter: reservation canceled")
)

// maxSpan bounds Burst×interval so that sums of bucket times never
// overflow an int64 of nanoseconds.
const maxSpan = int64(1) << 61

// normalize applies a limit's defaults and validates it. It returns the
// emission interval (Period/Rate, rounded up to the nanosecond so that the
// limit is never exceeded) and the burst span (Burst intervals).
func (l *Limit) normalize() (interval, span int64, err error) {
	interval, span, ok := l.shape()
	if !ok {
		return 0, 0, l.invalid()
	}
	return interval, span, nil
}

// shape is normalize without building the error, small enough to be
// inlined into the hot path: ok is false when the limit is invalid.
func (l *Limit) shape() (interval, span int64, ok bool) {
	if l.Period == 0 {
		l.Period = time.Minute
	}
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	if l.Rate <= 0 || l.Period < 0 || l.Burst < 0 || l.Kind > Tokens {
		return 0, 0, false
	}
	interval = (int64(l.Period) + int64(l.Rate) - 1) / int64(l.Rate)
	hi, lo := bits.Mul64(uint64(l.Burst), uint64(interval))
	return interval, int64(lo), hi == 0 && lo <= uint64(maxSpan)
}

// invalid is the error for a limit that shape rejects.
//
//go:noinline
func (l *Limit) invalid() error {
	if l.Rate > 0 && l.Period >= 0 && l.Burst >= 0 && l.Kind <= Tokens {
		interval := (int64(l.Period) + int64(l.Rate) - 1) / int64(l.Rate)
		return fmt.Errorf("%w: key %q: burst %d of %v each overflows",
			ErrInvalid, l.Key, l.Burst, time.Duration(interval))
	}
	return fmt.Errorf("%w: key %q: rate %d per %v, burst %d, kind %v",
		ErrInvalid, l.Key, l.Rate, l.Period, l.Burst, l.Kind)
}

// clampDelta bounds a charge so that delta×interval stays within maxSpan.
func clampDelta(delta int, interval int64) int64 {
	d := int64(delta)
	if lim := maxSpan / interval; d > lim {
		return lim
	} else if d < -lim {
		return -lim
	}
	return d
}

// saturate converts an int64 count to int, saturating.
func saturate(v int64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	return int(v)
}
