package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const (
	policyA = "package llmgate\n\ndecision := {\"allow\": true, \"reasons\": [\"A\"]}\n"
	policyB = "package llmgate\n\ndecision := {\"allow\": true, \"reasons\": [\"B is here\"]}\n"
	broken  = "package llmgate\n\ndecision := {\"allow\": \n"
)

type reloadEvent struct {
	rev string
	err error
}

// reloadHarness is an engine on a temp directory with a fake ticker and a
// channel of OnReload events.
type reloadHarness struct {
	t       *testing.T
	dir     string
	e       *Engine
	ticks   chan time.Time
	reloads chan reloadEvent
	stopped chan struct{}
	polled  chan struct{}
}

func newReloadHarness(t *testing.T) *reloadHarness {
	h := &reloadHarness{t: t, dir: t.TempDir(), ticks: make(chan time.Time), reloads: make(chan reloadEvent, 8), stopped: make(chan struct{}), polled: make(chan struct{})}
	write(t, h.dir, "policy.rego", policyA)
	h.e = newEngine(t, Config{
		Dir:          h.dir,
		PollInterval: time.Second,
		NewTicker: func(d time.Duration) (<-chan time.Time, func()) {
			if d != time.Second {
				t.Errorf("ticker interval %v", d)
			}
			return h.ticks, func() { close(h.stopped) }
		},
		OnReload:  func(rev string, err error) { h.reloads <- reloadEvent{rev, err} },
		afterPoll: func() { h.polled <- struct{}{} },
	})
	return h
}

// tick delivers one tick and waits until the poller handled it.
func (h *reloadHarness) tick() {
	h.ticks <- t0
	<-h.polled
}

func (h *reloadHarness) reason() string {
	h.t.Helper()
	d, err := h.e.Decide(context.Background(), sampleInput())
	if err != nil {
		h.t.Fatal(err)
	}
	return d.Reasons[0]
}

// update writes a policy file with a modification time in the future, so
// the change is seen whatever the file system's time granularity.
func (h *reloadHarness) update(name, src string, age time.Duration) {
	h.t.Helper()
	write(h.t, h.dir, name, src)
	mt := time.Now().Add(age)
	if err := os.Chtimes(filepath.Join(h.dir, name), mt, mt); err != nil {
		h.t.Fatal(err)
	}
}

func (h *reloadHarness) nextReload() reloadEvent {
	h.t.Helper()
	select {
	case ev := <-h.reloads:
		return ev
	case <-time.After(10 * time.Second): // a deadline, not a sleep
		h.t.Fatal("no reload")
	}
	return reloadEvent{}
}

func (h *reloadHarness) noReload() {
	h.t.Helper()
	select {
	case ev := <-h.reloads:
		h.t.Fatalf("unexpected reload %+v", ev)
	default:
	}
}

func TestReloadOnChange(t *testing.T) {
	h := newReloadHarness(t)
	revA := h.e.Revision()
	if h.reason() != "A" {
		t.Fatal("policy A not in use")
	}

	h.tick() // nothing changed
	h.noReload()

	h.update("policy.rego", policyA, time.Hour) // touched, same content
	h.tick()
	h.noReload()

	h.update("policy.rego", policyB, 2*time.Hour)
	h.tick()
	if ev := h.nextReload(); ev.err != nil || ev.rev == revA {
		t.Fatalf("reload = %+v", ev)
	}
	if h.reason() != "B is here" {
		t.Fatal("policy B not in use after reload")
	}
	revB := h.e.Revision()

	// A broken file: the last good policy stays, the error is reported once.
	h.update("policy.rego", broken, 3*time.Hour)
	h.tick()
	ev := h.nextReload()
	if !errors.Is(ev.err, ErrCompile) || ev.rev != revB {
		t.Fatalf("reload of a broken policy = %+v", ev)
	}
	if h.reason() != "B is here" || h.e.Revision() != revB {
		t.Fatal("the last good policy was not kept")
	}
	h.tick()
	h.noReload() // not retried until the files change again

	// A new file whose rules conflict with the existing ones is rejected.
	h.update("policy.rego", policyB, 4*time.Hour)
	h.update("more.rego", "package llmgate\n\ndecision contains 1\n", 4*time.Hour)
	h.tick()
	if ev := h.nextReload(); !errors.Is(ev.err, ErrCompile) {
		t.Fatalf("reload with a conflicting file = %+v", ev)
	}
	if err := os.Remove(filepath.Join(h.dir, "more.rego")); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if ev := h.nextReload(); ev.err != nil || ev.rev != revB {
		t.Fatalf("reload after the fix = %+v", ev)
	}

	// The directory disappears: keep the policy.
	if err := os.RemoveAll(h.dir); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if ev := h.nextReload(); !errors.Is(ev.err, ErrLoad) {
		t.Fatalf("reload of a missing directory = %+v", ev)
	}
	if h.reason() != "B is here" {
		t.Fatal("the last good policy was not kept")
	}
	h.tick()
	h.noReload() // still missing: reported once

	write(t, h.dir, "policy.rego", policyA)
	h.tick()
	if ev := h.nextReload(); ev.err != nil || ev.rev == revB {
		t.Fatalf("reload after the directory came back = %+v", ev)
	}

	if err := h.e.Close(); err != nil {
		t.Fatal(err)
	}
	<-h.stopped // Close stopped the ticker
}

func TestReloadForced(t *testing.T) {
	h := newReloadHarness(t)
	if err := h.e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.noReload() // same content: nothing to do
	h.update("policy.rego", broken, time.Hour)
	if err := h.e.Reload(context.Background()); !errors.Is(err, ErrCompile) {
		t.Fatalf("Reload of a broken policy = %v", err)
	}
	if ev := h.nextReload(); !errors.Is(ev.err, ErrCompile) {
		t.Fatalf("OnReload = %+v", ev)
	}
	if h.reason() != "A" {
		t.Fatal("the last good policy was not kept")
	}
}

func TestReloadOnInjectedSignal(t *testing.T) {
	h := newReloadHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal)
	h.e.ReloadOn(ctx, sig)
	h.update("policy.rego", policyB, time.Hour)
	sig <- syscall.SIGHUP
	if ev := h.nextReload(); ev.err != nil {
		t.Fatal(ev.err)
	}
	if h.reason() != "B is here" {
		t.Fatal("signal did not reload")
	}
	cancel() // stops the goroutine; goleak checks it ended
}

func TestReloadOnSIGHUP(t *testing.T) {
	h := newReloadHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.e.ReloadOnSignal(ctx)
	h.update("policy.rego", policyB, time.Hour)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if ev := h.nextReload(); ev.err != nil {
		t.Fatal(ev.err)
	}
	if h.reason() != "B is here" {
		t.Fatal("SIGHUP did not reload")
	}
	_ = h.e.Close() // stops the signal goroutine too
	h.e.ReloadOnSignal(ctx)
}

func TestLibraryDoesNotPoll(t *testing.T) {
	called := false
	e := newEngine(t, Config{NewTicker: func(time.Duration) (<-chan time.Time, func()) {
		called = true
		return nil, func() {}
	}})
	_ = e.Close()
	if called {
		t.Fatal("the embedded library is polled")
	}
}
