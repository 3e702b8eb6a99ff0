package cache

import (
	"context"
	"errors"
	"time"
)

// Store keeps entries by key. Implementations are safe for concurrent use.
//
// Get reports a miss as ok false with a nil error; an error means the
// store could not answer (the caller then proceeds uncached). Entries are
// shared: callers must not modify an entry they passed to Set or got from
// Get.
type Store interface {
	// Get returns the entry stored under k, if it has not expired.
	Get(ctx context.Context, k Key) (e *Entry, ok bool, err error)
	// Set stores e under k for ttl (a non-positive ttl means the store's
	// default), replacing any entry there.
	Set(ctx context.Context, k Key, e *Entry, ttl time.Duration) error
	// Delete removes the entry under k, if any.
	Delete(ctx context.Context, k Key) error
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("cache: store closed")

// ErrTooLarge is returned (wrapped) by Set for an entry larger than the
// store accepts.
var ErrTooLarge = errors.New("cache: entry too large")

// Clock tells the time. A nil Clock in a config means the real clock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
