package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestCallGoOutsideOnEnd checks that Go runs f at once where no tap waits.
func TestCallGoOutsideOnEnd(t *testing.T) {
	c := &Call{}
	ran := false
	c.Go(func() { ran = true })
	if !ran {
		t.Fatal("Go outside OnEnd did not run f at once")
	}
}

// TestCallGoOverlaps checks that the work two OnEnd observers hand to Go
// runs at the same time, and that the handler returns only once it is all
// done. Each piece waits for the other to start: run one after the other,
// they would wait until the deadline.
func TestCallGoOverlaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var done atomic.Int32
	c := &Call{Endpoint: EndpointChatCompletions}
	for i := range 2 {
		c.Observe(Observer{OnEnd: func(*Response) {
			c.Go(func() {
				close(started[i])
				select {
				case <-started[1-i]:
				case <-ctx.Done():
					t.Errorf("work %d waited alone: Go did not run it alongside the other", i)
				}
				done.Add(1)
			})
		}})
	}
	serveTapped(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("{}"))
	}), httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil), c)
	if n := done.Load(); n != 2 {
		t.Fatalf("the handler returned with %d of 2 pieces of work done", n)
	}
}

// TestCallGoPanics checks that a panic in work handed to Go goes on on
// the handler's goroutine, once the rest of the work is done.
func TestCallGoPanics(t *testing.T) {
	c := &Call{Endpoint: EndpointChatCompletions}
	var other atomic.Bool
	c.Observe(Observer{OnEnd: func(*Response) { c.Go(func() { panic("settle failed badly") }) }})
	c.Observe(Observer{OnEnd: func(*Response) {
		c.Go(func() { time.Sleep(10 * time.Millisecond); other.Store(true) })
	}})
	defer func() {
		if v := recover(); v != "settle failed badly" {
			t.Fatalf("recovered %v, want the work's panic", v)
		}
		if !other.Load() {
			t.Error("the panic went on before the other work was done")
		}
	}()
	serveTapped(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}),
		httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil), c)
	t.Fatal("no panic")
}
