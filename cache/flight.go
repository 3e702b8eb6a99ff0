package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
			e, err := g.lead(ctx, k, f, fn)
			return e, true, err
		}
		f.waiters++
		g.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			g.mu.Lock()
			f.waiters--
			g.mu.Unlock()
			return nil, false, fmt.Errorf("cache: singleflight wait: %w", ctx.Err())
		}
		if f.abandoned {
			if err := ctx.Err(); err != nil {
				return nil, false, fmt.Errorf("cache: singleflight wait: %w", err)
			}
			continue // elect a new leader among the followers
		}
		return f.e, false, f.err
	}
}

func (g *Group) lead(ctx context.Context, k Key, f *flight, fn func(context.Context) (*Entry, error)) (e *Entry, err error) {
	finished := false
	defer func() {
		if !finished {
			f.err = ErrLeaderPanicked
		}
		g.mu.Lock()
		if g.m[k] == f {
			delete(g.m, k)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	e, err = fn(ctx)
	finished = true
	f.e, f.err = e, err
	if e == nil && err == nil {
		f.err = fmt.Errorf("%w: the leader produced no entry", ErrNotStorable)
	}
	if e == nil && ctx.Err() != nil {
		f.abandoned = true
	}
	return e, err
}

// waiting returns how many followers wait for k's leader.
func (g *Group) waiting(k Key) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		return f.waiters
	}
	return 0
}

// InFlight returns the number of keys whose leader is running.
func (g *Group) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
