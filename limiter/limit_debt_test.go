package limiter

import (
	"context"
	"math"
	"testing"
)

// TestMemoryDebtSaturates: debt from settles of absurd usage (each clamped
// to 2^61 ns) piles up without overflowing the int64 TAT into a full
// bucket: the key stays in debt, as it does on Redis.
func TestMemoryDebtSaturates(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(MemoryConfig{Clock: newFakeClock()})
	lim := tpm("k", 1000)
	for i := range 5 {
		r, err := s.Reserve(ctx, []Request{{Limit: lim, Cost: 0}})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Allowed {
			break // in debt: reads are denied, which is right
		}
		// An upstream reporting an absurd usage: Settle charges it as debt.
		if err := r.Settle(ctx, math.MaxInt); err != nil {
			t.Fatalf("settle %d: %v", i, err)
		}
	}
	// Make sure the debt is there, then keep adding it through Adjust the
	// way successive settles of several reservations would.
	for range 4 {
		if err := s.Adjust(ctx, []Adjustment{{Limit: lim, Delta: math.MaxInt}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Reserve(ctx, []Request{{Limit: lim, Cost: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed {
		t.Fatalf("a bucket charged ~5×2^61 ns of debt admits a full burst: remaining %d, reset %v",
			r.Results()[0].Remaining, r.Results()[0].ResetAfter)
	}
}

// TestRedisDebtStays is TestMemoryDebtSaturates on Redis, whose TAT is a
// Lua double.
func TestRedisDebtStays(t *testing.T) {
	c, prefix := sharedRedis(t)
	ctx := context.Background()
	s := newRedisStore(t, RedisConfig{Client: c, Prefix: prefix})
	lim := tpm("k", 1000)
	for range 5 {
		if err := s.Adjust(ctx, []Adjustment{{Limit: lim, Delta: math.MaxInt}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Reserve(ctx, []Request{{Limit: lim, Cost: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed {
		t.Fatalf("redis admits a bucket in debt")
	}
}
