package outage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTracker(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	tr := New(2*time.Second, clk.Now)
	if tr.Skip() {
		t.Fatal("a new tracker skips")
	}
	tr.Failed()
	if !tr.Skip() {
		t.Fatal("no skip right after a failure")
	}
	clk.Advance(1999 * time.Millisecond)
	if !tr.Skip() {
		t.Fatal("no skip within the retry interval")
	}
	clk.Advance(time.Millisecond)
	if tr.Skip() {
		t.Fatal("still skipping once the retry interval passed")
	}
	tr.Failed() // the probe failed: another interval
	clk.Advance(time.Second)
	if !tr.Skip() {
		t.Fatal("a failed probe did not start a new interval")
	}
	tr.Succeeded()
	if tr.Skip() {
		t.Fatal("skipping after a success")
	}
}

func TestDefaults(t *testing.T) {
	tr := New(0, nil)
	if tr.interval != DefaultRetryInterval {
		t.Errorf("interval = %v", tr.interval)
	}
	tr.Failed()
	if !tr.Skip() {
		t.Error("real clock: no skip right after a failure")
	}
}

func TestConcurrent(t *testing.T) {
	tr := New(time.Hour, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if i%2 == 0 {
					tr.Failed()
				} else {
					tr.Succeeded()
				}
				_ = tr.Skip()
			}
		}()
	}
	wg.Wait()
}

func Example() {
	clk := &fakeClock{t: time.Unix(0, 0)}
	redis := New(time.Second, clk.Now)

	call := func() string {
		if redis.Skip() {
			return "skipped: " + ErrSkipped.Error()
		}
		return "called"
	}
	fmt.Println(call())
	redis.Failed() // say the call timed out
	fmt.Println(call())
	clk.Advance(time.Second)
	fmt.Println(call())
	// Output:
	// called
	// skipped: redis failed recently; not called again until the retry interval has passed
	// called
}

func TestDown(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(live)
	cancel()
	refused := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", live, nil, false},
		{"refused", live, refused, true},
		{"timeout", live, fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{"caller gone", done, refused, false},
		{"missing key", live, redis.Nil, false},
		{"error reply", live, fmt.Errorf("script: %w", replyError("WRONGTYPE Operation against a key")), false},
	} {
		if got := Down(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: Down = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// replyError is an error reply as go-redis returns one: a redis.Error.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestObserve(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(live)
	cancel()
	refused := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	tr := New(time.Hour, nil)
	tr.Observe(live, refused)
	if !tr.Skip() {
		t.Fatal("a refused call did not start an outage")
	}
	tr.Observe(done, nil) // an answer, though the caller had gone
	if tr.Skip() {
		t.Fatal("an answer did not end the outage")
	}
	tr.Observe(done, refused)
	if tr.Skip() {
		t.Fatal("a caller's done ctx started an outage")
	}
	tr.Failed()
	tr.Observe(done, context.Canceled)
	if !tr.Skip() {
		t.Fatal("a caller's done ctx ended an outage")
	}
	tr.Observe(live, redis.Nil)
	if tr.Skip() {
		t.Fatal("a reply from Redis did not end the outage")
	}
}

// TestTrackerOneProbe: once the retry interval has passed, one call probes
// the store and the others keep skipping it until the probe answers, or
// for one more interval if it never does (its caller gave up).
func TestTrackerOneProbe(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	tr := New(time.Second, clk.Now)
	tr.Failed()
	clk.Advance(time.Second)
	probes := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 50 {
		wg.Go(func() {
			if !tr.Skip() {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d calls probed the store, want 1", probes)
	}
	clk.Advance(999 * time.Millisecond)
	if !tr.Skip() {
		t.Fatal("a call went to the store while the probe is out")
	}
	clk.Advance(time.Millisecond) // the probe never answered
	if tr.Skip() {
		t.Fatal("no new probe an interval after an unanswered one")
	}
	tr.Succeeded()
	for range 2 {
		if tr.Skip() {
			t.Fatal("skipping after the probe succeeded")
		}
	}
}
