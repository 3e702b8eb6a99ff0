// Package outage remembers that a remote store (Redis) failed, so that for
// a short while its clients fail at once instead of each call waiting out
// its own timeout. After the retry interval one call tries the store
// again while the others still skip it, and its success ends the outage.
//
// With Redis hung, a gateway request that makes five Redis calls (limit,
// budget reserve and settle, cache get and set) would otherwise wait for
// five timeouts; with a Tracker per store it waits for at most one per
// store per retry interval.
package outage

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrSkipped is the cause given for a call not made because the store
// failed within the retry interval.
var ErrSkipped = errors.New("redis failed recently; not called again until the retry interval has passed")

// DefaultRetryInterval is how long a store is skipped after a failure when
// no interval is configured.
const DefaultRetryInterval = time.Second

// A Tracker records a store's last failure. The zero Tracker is not
// usable; make one with New. It is safe for concurrent use.
type Tracker struct {
	interval time.Duration
	now      func() time.Time
	until    atomic.Int64 // UnixNano until which calls are skipped; 0: up
}

// New returns a Tracker that skips the store for interval after each
// failure (DefaultRetryInterval when interval ≤ 0), timed by now
// (time.Now when nil).
func New(interval time.Duration, now func() time.Time) *Tracker {
	if interval <= 0 {
		interval = DefaultRetryInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Tracker{interval: interval, now: now}
}

// Skip reports whether the call should not be made: the store failed less
// than the retry interval ago, or it did longer ago and another call is
// probing it. The first call after the interval is the probe; the others
// skip until it answers (Observe, Succeeded or Failed), or for one more
// interval, so that a hung store costs one timeout per interval however
// many calls arrive during the probe.
func (t *Tracker) Skip() bool {
	u := t.until.Load()
	if u == 0 {
		return false
	}
	now := t.now().UnixNano()
	if now < u {
		return true
	}
	return !t.until.CompareAndSwap(u, now+int64(t.interval))
}

// Failed records a failure of the store: calls are skipped for the retry
// interval from now. Call it for failures of the store only (a refused
// connection, a timeout), not for a caller's cancelled context or a
// rejected argument.
func (t *Tracker) Failed() { t.until.Store(t.now().Add(t.interval).UnixNano()) }

// Observe records the outcome of a call to the store made under ctx: a
// failure of the store (see Down) starts an outage, any answer from the
// store ends one, and the caller's own done ctx says nothing either way.
func (t *Tracker) Observe(ctx context.Context, err error) {
	switch {
	case Down(ctx, err):
		t.Failed()
	case err == nil || ctx.Err() == nil:
		t.Succeeded()
	}
}

// Succeeded records an answer from the store: the outage, if any, is over.
func (t *Tracker) Succeeded() {
	if t.until.Load() != 0 {
		t.until.Store(0)
	}
}

// Down reports whether err, returned by a Redis call made under ctx, says
// that Redis is unreachable or too slow: it is not nil, not the caller's
// own done ctx, and not a reply from Redis (an error reply, or redis.Nil
// for a missing key), which shows the server is up.
func Down(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply)
}
