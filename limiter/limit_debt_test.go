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
	checkInDebt(t, s, lim, 4)
}

// checkInDebt charges lim's bucket the most debt an adjustment can, times
// times, and checks that a full burst is then refused.
func checkInDebt(t *testing.T, s Store, lim Limit, times int) {
	t.Helper()
	ctx := context.Background()
	for range times {
		if err := s.Adjust(ctx, []Adjustment{{Limit: lim, Delta: math.MaxInt}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Reserve(ctx, []Request{{Limit: lim, Cost: lim.Rate}}) // a full burst: Burst 0 is Rate
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed {
		t.Fatalf("a bucket in debt admits a full burst: remaining %d, reset %v",
			r.Results()[0].Remaining, r.Results()[0].ResetAfter)
	}
}

// TestRedisDebtStays is TestMemoryDebtSaturates on Redis, whose TAT is a
// Lua double.
func TestRedisDebtStays(t *testing.T) {
	c, prefix := sharedRedis(t)
	checkInDebt(t, newRedisStore(t, RedisConfig{Client: c, Prefix: prefix}), tpm("k", 1000), 5)
}
