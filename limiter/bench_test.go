package limiter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const benchKeys = 1 << 20

var benchKeyNames = sync.OnceValue(func() []string {
	k := make([]string, benchKeys)
	for i := range k {
		k[i] = fmt.Sprintf("key:%07d", i)
	}
	return k
})

// benchKeys1 returns the million bench keys when many, else one key, so
// that single-key runs do not build (nor garbage-collect) a million strings.
func benchKeys1(many bool) []string {
	if many {
		return benchKeyNames()
	}
	return []string{"key:0000000"}
}

// BenchmarkMemoryReserve measures one in-memory decision. Sequential runs
// use ReserveAt on a timeline moving 1µs per decision; parallel runs use
// Reserve with the real clock.
func BenchmarkMemoryReserve(b *testing.B) {
	lim := Limit{Kind: Requests, Rate: 60_000_000} // one per µs: mostly allowed
	tok := Limit{Kind: Tokens, Rate: 600_000_000}
	cases := []struct {
		name string
		reqs func(key string) []Request
		many bool
	}{
		{"single-key", func(k string) []Request { l := lim; l.Key = k; return []Request{{Limit: l, Cost: 1}} }, false},
		{"single-key-rpm+tpm", func(k string) []Request {
			l, t := lim, tok
			l.Key, t.Key = k, k
			return []Request{{Limit: l, Cost: 1}, {Limit: t, Cost: 5}}
		}, false},
		{"1M-keys", func(k string) []Request { l := lim; l.Key = k; return []Request{{Limit: l, Cost: 1}} }, true},
	}
	for _, c := range cases {
		b.Run(c.name+"/seq", func(b *testing.B) {
			keys := benchKeys1(c.many)
			s := NewMemory(MemoryConfig{})
			reqs := c.reqs(keys[0])
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if c.many {
					for j := range reqs {
						reqs[j].Limit.Key = keys[i&(benchKeys-1)]
					}
				}
				if _, err := s.ReserveAt(now.Add(time.Duration(i)*time.Microsecond), reqs); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			keys := benchKeys1(c.many)
			s := NewMemory(MemoryConfig{})
			ctx := context.Background()
			var seq atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1) * 7919)
				reqs := c.reqs(keys[0])
				for pb.Next() {
					if c.many {
						for j := range reqs {
							reqs[j].Limit.Key = keys[i&(benchKeys-1)]
						}
						i++
					}
					if _, err := s.Reserve(ctx, reqs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRateBaseline is the baseline: golang.org/x/time/rate, one
// Limiter.AllowN (single key), or a sync.Map of limiters per key.
func BenchmarkRateBaseline(b *testing.B) {
	newLim := func() *rate.Limiter { return rate.NewLimiter(rate.Limit(1_000_000), 60_000_000) }
	b.Run("single-key/seq", func(b *testing.B) {
		l := newLim()
		now := time.Now()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.AllowN(now.Add(time.Duration(i)*time.Microsecond), 1)
			i++
		}
	})
	b.Run("single-key/parallel", func(b *testing.B) {
		l := newLim()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.AllowN(time.Now(), 1)
			}
		})
	})
	perKey := func(m *sync.Map, k string) *rate.Limiter {
		if v, ok := m.Load(k); ok {
			return v.(*rate.Limiter)
		}
		v, _ := m.LoadOrStore(k, newLim())
		return v.(*rate.Limiter)
	}
	b.Run("1M-keys/seq", func(b *testing.B) {
		keys := benchKeyNames()
		var m sync.Map
		now := time.Now()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			perKey(&m, keys[i&(benchKeys-1)]).AllowN(now.Add(time.Duration(i)*time.Microsecond), 1)
			i++
		}
	})
	b.Run("1M-keys/parallel", func(b *testing.B) {
		keys := benchKeyNames()
		var m sync.Map
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1) * 7919)
			for pb.Next() {
				perKey(&m, keys[i&(benchKeys-1)]).AllowN(time.Now(), 1)
				i++
			}
		})
	})
}

// BenchmarkRedisReserve measures one decision on the Redis at
// LLMGATE_REDIS_URL; BenchmarkRedisBaseline the plain round trips.
func BenchmarkRedisReserve(b *testing.B) {
	c, prefix := benchRedis(b)
	s, err := NewRedis(RedisConfig{Client: c, Prefix: prefix, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lim := Limit{Key: "bench", Rate: 60_000_000}
	tok := Limit{Key: "bench", Kind: Tokens, Rate: 600_000_000}
	for _, c := range []struct {
		name string
		reqs []Request
	}{
		{"single-key", []Request{{Limit: lim, Cost: 1}}},
		{"single-key-rpm+tpm", []Request{{Limit: lim, Cost: 1}, {Limit: tok, Cost: 5}}},
	} {
		b.Run(c.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Reserve(ctx, c.reqs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Reserve(ctx, c.reqs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkRedisBaseline(b *testing.B) {
	c, prefix := benchRedis(b)
	ctx := context.Background()
	key := prefix + "get"
	if err := c.Set(ctx, key, "1", 0).Err(); err != nil { // the cleanup deletes it
		b.Fatal(err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"ping", func() error { return c.Ping(ctx).Err() }},
		{"get", func() error { return c.Get(ctx, key).Err() }},
	}
	for _, op := range ops {
		b.Run(op.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op.do(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(op.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op.do(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
