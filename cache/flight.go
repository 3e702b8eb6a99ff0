package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrLeaderPanicked is what followers get when the leader's function
// panicked; they proceed uncached, and the panic continues in the leader.
var ErrLeaderPanicked = errors.New("cache: singleflight leader panicked")

// Group collapses concurrent identical misses into one call: the first
// caller of Do for a key (the leader) runs its function, and the callers
// that arrive while it runs (followers) wait for its result instead of
// calling the upstream themselves. Keys carry their scope, so requests of
// different tenants never share a call.
//
// The zero value is ready to use. A Group is safe for concurrent use and
// starts no goroutine.
type Group struct {
	mu sync.Mutex
	m  map[Key]*flight
	// finished counts the flights that ended, see Finished.
	finished atomic.Uint64
}

type flight struct {
	done    chan struct{}
	e       *Entry
	err     error
	waiters int
	// abandoned reports a leader whose own ctx ended before its function
	// produced an entry: its failure says nothing about the request, so
	// followers elect a new leader instead of giving up.
	abandoned bool
}

// Do runs fn as the leader for k, or waits for the leader already running
// for k. leader reports which role the caller had. The leader gets fn's
// result. A follower gets the leader's entry, or the leader's error when
// fn failed (the follower should then proceed uncached), or its own ctx's
// error when ctx ends first (it stops waiting; the leader carries on).
//
// When the leader's ctx ends before fn returns an entry — its client went
// away — followers are not told about that failure: one of them becomes
// the new leader and runs its own fn.
//
// fn receives the leader's ctx and must return an entry or an error (the
// error of a response that was not storable wraps ErrNotStorable). If fn panics, waiting followers get
// ErrLeaderPanicked and the panic is re-raised in the leader.
func (g *Group) Do(ctx context.Context, k Key, fn func(ctx context.Context) (*Entry, error)) (e *Entry, leader bool, err error) {
	e, l, err := g.Join(ctx, k)
	if l == nil {
		return e, false, err
	}
	finished := false
	defer func() {
		if !finished {
			l.finish(nil, ErrLeaderPanicked, false)
		}
	}()
	e, err = fn(ctx)
	finished = true
	l.Finish(e, err)
	return e, true, err
}

// Lead is the leader's side of a flight started by Join. Its holder must
// call Finish exactly once (later calls do nothing); until then followers
// of the same key wait. A Lead is safe for concurrent use.
type Lead struct {
	g    *Group
	k    Key
	f    *flight
	ctx  context.Context
	once sync.Once
}

// Join is Do split in two, for a leader whose result arrives later than
// the function call that starts the work (an HTTP response observed when
// it ends): when no leader runs for k, Join makes the caller the leader
// and returns a non-nil Lead at once; the caller does the work and calls
// Lead.Finish. Otherwise Join waits like a follower of Do and returns the
// leader's entry or error (or its own ctx's error), with a nil Lead. When
// the leader's ctx had ended when it finished without an entry, a waiting
// follower becomes the new leader: Join returns a Lead to it.
func (g *Group) Join(ctx context.Context, k Key) (*Entry, *Lead, error) {
	for {
		g.mu.Lock()
		if g.m == nil {
			g.m = make(map[Key]*flight)
		}
		f, ok := g.m[k]
		if !ok {
			f = &flight{done: make(chan struct{})}
			g.m[k] = f
			g.mu.Unlock()
			return nil, &Lead{g: g, k: k, f: f, ctx: ctx}, nil
		}
		f.waiters++
		g.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			g.mu.Lock()
			f.waiters--
			g.mu.Unlock()
			return nil, nil, fmt.Errorf("cache: singleflight wait: %w", ctx.Err())
		}
		if f.abandoned {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("cache: singleflight wait: %w", err)
			}
			continue // elect a new leader among the followers
		}
		return f.e, nil, f.err
	}
}

// Finish ends the flight with the leader's result and wakes the followers:
// they get e, or err (a nil e with a nil err is reported to them as
// ErrNotStorable). When e is nil and the leader's ctx has ended, the
// followers elect a new leader instead (see Join).
func (l *Lead) Finish(e *Entry, err error) {
	l.finish(e, err, true)
}

func (l *Lead) finish(e *Entry, err error, mayAbandon bool) {
	l.once.Do(func() {
		f := l.f
		f.e, f.err = e, err
		if e == nil && err == nil {
			f.err = fmt.Errorf("%w: the leader produced no entry", ErrNotStorable)
		}
		if e == nil && mayAbandon && l.ctx.Err() != nil {
			f.abandoned = true
		}
		l.g.mu.Lock()
		if l.g.m[l.k] == f {
			delete(l.g.m, l.k)
		}
		l.g.mu.Unlock()
		l.g.finished.Add(1)
		close(f.done)
	})
}

// Finished returns how many flights have finished so far, each counted
// when its leader called Finish (or panicked). A caller that reads it
// before looking a key up in a store, and reads the same number once Join
// has made it the leader, knows that no leader which stores its entry
// before finishing did so in between: its lookup's miss still stands, and
// it need not look again.
func (g *Group) Finished() uint64 { return g.finished.Load() }

// waiting returns how many followers wait for k's leader.
func (g *Group) waiting(k Key) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		return f.waiters
	}
	return 0
}

// Waiting returns how many callers wait for a leader, over all keys.
func (g *Group) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, f := range g.m {
		n += f.waiters
	}
	return n
}

// InFlight returns the number of keys whose leader is running.
func (g *Group) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
