package policy

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Reload reads and compiles the policy again and swaps it in atomically.
// When the files did not change (same content hash) it keeps the current
// policy and returns nil. When the new policy does not load or compile it
// keeps the last good one, logs the error, reports it to OnReload and
// returns it. Safe for concurrent use; reloads are serialised.
func (e *Engine) Reload(ctx context.Context) error {
	_, err := e.reload(ctx, true)
	return err
}

// reload reloads when force is set or the files' stamp changed. It
// reports whether a new policy is in use.
func (e *Engine) reload(ctx context.Context, force bool) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	stamp, err := e.src.stamp()
	if err == nil && !force && stamp == e.stampSum {
		return false, nil
	}
	if err != nil && !force && e.failed && err.Error() == e.lastErr {
		return false, nil // still unreadable: reported already
	}
	var p *prepared
	if err == nil {
		var snap *snapshot
		snap, err = e.src.read()
		switch {
		case err != nil:
		case snap.sum == e.sum && !e.failed:
			e.stampSum = stamp // touched, not changed
			return false, nil
		case snap.sum == e.sum: // back to the policy in use after a failure
			p = e.cur.Load()
		default:
			p, err = compile(ctx, snap, e.src.dir, e.query, e.data, e.hook, e.evaluator)
		}
		if err == nil {
			e.store(p)
			e.sum = snap.sum
		}
	}
	// A failed load is not retried until the files change again.
	e.stampSum = stamp
	e.failed, e.lastErr = err != nil, ""
	if err != nil {
		e.lastErr = err.Error()
	}
	rev := e.Revision()
	if err != nil {
		e.logger.ErrorContext(ctx, "policy: reload failed; keeping the last good policy", "revision", rev, "err", err)
	} else {
		e.logger.InfoContext(ctx, "policy: reloaded", "revision", rev)
	}
	if e.onReload != nil {
		e.onReload(rev, err)
	}
	return err == nil, err
}

// poll checks the files at every tick until Close.
func (e *Engine) poll(ticks <-chan time.Time, stop func()) {
	defer e.wg.Done()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-e.done:
			return
		case <-ticks:
			_, _ = e.reload(ctx, false) // errors are logged and reported
			if e.polled != nil {
				e.polled()
			}
		}
	}
}

// ReloadOnSignal reloads the policy on every SIGHUP until ctx is done or
// the engine is closed. The handler is registered before it returns, so a
// SIGHUP sent afterwards is never lost (nor fatal to the process). It
// starts one goroutine.
func (e *Engine) ReloadOnSignal(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	e.reloadOn(ctx, ch, func() { signal.Stop(ch) })
}

// ReloadOn is ReloadOnSignal with the signals delivered on ch: a reload
// for every value received, until ctx is done, ch is closed or the engine
// is closed. It starts one goroutine.
func (e *Engine) ReloadOn(ctx context.Context, ch <-chan os.Signal) {
	e.reloadOn(ctx, ch, func() {})
}

func (e *Engine) reloadOn(ctx context.Context, ch <-chan os.Signal, stop func()) {
	select {
	case <-e.done: // closed: start nothing
		stop()
		return
	default:
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.done:
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
				_, _ = e.reload(ctx, true) // errors are logged and reported
			}
		}
	}()
}
