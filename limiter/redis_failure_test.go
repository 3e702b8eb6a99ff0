package limiter

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRedisStoppedMidTest kills a private redis-server in the middle of
// the test: the fail-closed store answers ErrUnavailable within its
// timeout, the fail-open store keeps limiting locally at limit/replicas,
// and both go back to Redis once it returns and the retry interval (on a
// fake clock) has passed.
func TestRedisStoppedMidTest(t *testing.T) {
	srv := startPrivateRedis(t)
	ctx := context.Background()
	clk := newFakeClock()
	const timeout = 300 * time.Millisecond
	closedHook, openHook := &countHook{}, &countHook{}
	closedClient := newClient(t, srv.url(), closedHook)
	closed := newRedisStore(t, RedisConfig{Client: closedClient, Timeout: timeout, Clock: clk})
	open := newRedisStore(t, RedisConfig{Client: newClient(t, srv.url(), openHook), Timeout: timeout, Clock: clk,
		Fail: FailOpen, Replicas: 3})
	lim := rpm("key:k1", 600) // locally 200 per minute, burst 200
	one := []Request{{Limit: lim, Cost: 1}}

	for _, s := range []*RedisStore{closed, open} {
		if r, err := s.Reserve(ctx, one); err != nil || !r.Allowed {
			t.Fatalf("%v with Redis up: %+v, %v", s, r, err)
		}
	}

	srv.stop()

	t.Run("fail closed", func(t *testing.T) {
		begin := time.Now()
		_, err := closed.Reserve(ctx, one)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if took := time.Since(begin); took > timeout+time.Second {
			t.Errorf("answered after %v; timeout is %v", took, timeout)
		}
		// Until the retry interval passes, it fails without asking Redis.
		before := closedHook.roundTrips()
		for range 10 {
			if _, err := closed.Reserve(ctx, one); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		}
		if n := closedHook.roundTrips() - before; n != 0 {
			t.Errorf("%d calls reached the dead Redis within the retry interval", n)
		}
	})

	t.Run("fail open limits locally", func(t *testing.T) {
		admitted := 0
		var last Reservation
		for range 250 {
			r, err := open.Reserve(ctx, one)
			if err != nil {
				t.Fatalf("fail-open returned an error: %v", err)
			}
			if r.Allowed {
				admitted++
				last = r
			}
		}
		if admitted != 200 {
			t.Errorf("fail-open admitted %d of 250 at once, want 600/3 = 200", admitted)
		}
		// Local reservations settle locally.
		if err := last.Cancel(ctx); err != nil {
			t.Errorf("cancel of a local reservation: %v", err)
		}
		if r, _ := open.Reserve(ctx, one); !r.Allowed {
			t.Error("cancel did not refund the local bucket")
		}
		// Local refill follows the fake clock: 200 per minute.
		clk.Advance(300 * time.Millisecond) // still inside the retry interval
		if r, _ := open.Reserve(ctx, one); !r.Allowed {
			t.Error("local bucket did not refill one unit in 300ms")
		}
		if r, _ := open.Reserve(ctx, one); r.Allowed {
			t.Error("local bucket admitted more than it refilled")
		}
	})

	t.Run("settle while down fails", func(t *testing.T) {
		// A reservation made on Redis cannot be settled while it is down.
		r := Reservation{Allowed: true, store: closed, n: 1}
		r.res[0] = Result{Limit: tpm("key:k1", 100), Cost: 10, Allowed: true}
		clk.Advance(2 * time.Second) // let the store try Redis again
		if err := r.Settle(ctx, 5); !errors.Is(err, ErrUnavailable) {
			t.Errorf("settle with Redis down: %v, want ErrUnavailable", err)
		}
	})

	srv.start()
	clk.Advance(2 * time.Second) // past the retry interval

	t.Run("both recover", func(t *testing.T) {
		for _, s := range []*RedisStore{closed, open} {
			before := map[*RedisStore]*countHook{closed: closedHook, open: openHook}[s].roundTrips()
			r, err := s.Reserve(ctx, one)
			if err != nil || !r.Allowed {
				t.Fatalf("%v after Redis returned: %+v, %v", s, r, err)
			}
			// The restarted server is empty, so the answer comes from Redis:
			// a fresh bucket of 600, not the local one of 200.
			if got := r.Results()[0].Remaining; got < 598 {
				t.Errorf("%v: Remaining %d, want a fresh Redis bucket (598 or 599)", s, got)
			}
			if n := map[*RedisStore]*countHook{closed: closedHook, open: openHook}[s].roundTrips() - before; n < 1 {
				t.Errorf("%v: did not ask Redis", s)
			}
		}
		if n, err := closedClient.Exists(ctx, closed.Key(lim)).Result(); err != nil || n != 1 {
			t.Errorf("bucket key in Redis: %d, %v", n, err)
		}
	})
}
