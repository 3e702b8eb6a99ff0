package billing

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

var sinkMoney Money

// BenchmarkCost compares Cost (exact 128-bit integer arithmetic, one
// rounding) with the float64 formula it replaces (baseline).
func BenchmarkCost(b *testing.B) {
	p := models.Prices{Input: 1_100_000, CachedInput: 275_000, Output: 4_400_000, AsOf: "x"}
	u := usage(2000, 1024, 800, 640)
	b.Run("exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkMoney += Cost(p, u)
		}
	})
	b.Run("baseline=float", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cached := float64(u.CachedTokens())
			usd := (float64(u.PromptTokens)-cached)*float64(p.Input)/1e12 +
				cached*float64(p.CachedInput)/1e12 + float64(u.CompletionTokens)*float64(p.Output)/1e12
			sinkMoney += Money(usd * 1e9)
		}
	})
}

// mutexMap is the baseline ledger: one global mutex over a map of totals,
// the least an atomic check-and-increment over several scopes can do (no
// windows, no balances, no reservation state).
type mutexMap struct {
	mu sync.Mutex
	m  map[string]Money
}

func (l *mutexMap) reserve(scopes []string, budget, amount Money) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range scopes {
		if l.m[s]+amount > budget {
			return false
		}
	}
	for _, s := range scopes {
		l.m[s] += amount
	}
	return true
}

func (l *mutexMap) settle(scopes []string, amount, actual Money) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range scopes {
		l.m[s] += actual - amount
	}
}

// BenchmarkMemoryReserveSettle measures one Reserve and one Settle on the
// in-memory ledger, over the scopes of a typical request (key, user, org;
// monthly, daily and 30-day windows), against the mutex-map baseline.
// "parallel" runs use GOMAXPROCS goroutines, each with its own key and
// user and a shared org.
func BenchmarkMemoryReserveSettle(b *testing.B) {
	ctx := context.Background()
	charges := func(id string) []Charge {
		return []Charge{
			{Scope: "key:" + id, Window: Monthly, Budget: MaxAmount, Amount: Cent},
			{Scope: "user:" + id, Window: Daily, Budget: MaxAmount, Amount: Cent},
			{Scope: "org:acme", Window: LastDays(30), Budget: MaxAmount, Amount: Cent},
		}
	}
	clock := newClock(t0)
	b.Run("serial/ledger", func(b *testing.B) {
		l := NewMemory(MemoryConfig{Clock: clock})
		ch := charges("k")
		b.ReportAllocs()
		for b.Loop() {
			r, err := l.Reserve(ctx, ch)
			if err != nil || !r.Allowed {
				b.Fatal(r.Allowed, err)
			}
			if err := r.Settle(ctx, Cent/2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serial/baseline=mutex-map", func(b *testing.B) {
		l := &mutexMap{m: map[string]Money{}}
		scopes := []string{"key:k", "user:k", "org:acme"}
		b.ReportAllocs()
		for b.Loop() {
			if !l.reserve(scopes, MaxAmount, Cent) {
				b.Fatal("denied")
			}
			l.settle(scopes, Cent, Cent/2)
		}
	})
	var id atomic.Int64
	b.Run("parallel/ledger", func(b *testing.B) {
		l := NewMemory(MemoryConfig{Clock: clock})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ch := charges(strconv.FormatInt(id.Add(1), 10))
			for pb.Next() {
				r, err := l.Reserve(ctx, ch)
				if err != nil || !r.Allowed {
					b.Error(r.Allowed, err)
					return
				}
				_ = r.Settle(ctx, Cent/2)
			}
		})
	})
	b.Run("parallel/baseline=mutex-map", func(b *testing.B) {
		l := &mutexMap{m: map[string]Money{}}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			n := strconv.FormatInt(id.Add(1), 10)
			scopes := []string{"key:" + n, "user:" + n, "org:acme"}
			for pb.Next() {
				if !l.reserve(scopes, MaxAmount, Cent) {
					b.Error("denied")
					return
				}
				l.settle(scopes, Cent, Cent/2)
			}
		})
	})
}

// BenchmarkRedisReserveSettle measures Reserve+Settle on Redis (two
// script calls) against two PINGs, the round trips' floor (baseline).
func BenchmarkRedisReserveSettle(b *testing.B) {
	ctx := context.Background()
	prefix := randomPrefix()
	c := newRedisClient(b, prefix)
	l, _ := NewRedis(RedisConfig{Client: c, Prefix: prefix, Timeout: time.Second})
	ch := []Charge{
		{Scope: "key:k", Window: Monthly, Budget: MaxAmount, Amount: Cent},
		{Scope: "user:k", Window: Daily, Budget: MaxAmount, Amount: Cent},
		{Scope: "org:acme", Window: LastDays(30), Budget: MaxAmount, Amount: Cent},
	}
	b.Run("ledger", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := l.Reserve(ctx, ch)
			if err != nil || !r.Allowed {
				b.Fatal(r.Allowed, err)
			}
			if err := r.Settle(ctx, Cent/2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=2xPING", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var _ = wire.Usage{}
