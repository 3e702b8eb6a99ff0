package billing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the fixed start of every test timeline: 2026-03-31 23:00 UTC, an
// hour before a day and a month end.
var t0 = time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// redisURL returns LLMGATE_REDIS_URL, skipping the test when it is unset,
// except under CI=true, where a missing Redis fails.
func redisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("LLMGATE_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("billing: CI=true but LLMGATE_REDIS_URL is not set; Redis tests cannot run")
		}
		t.Skip("billing: LLMGATE_REDIS_URL not set; skipping Redis test " +
			"(redis-server --port 6393 --save '' --daemonize yes; export LLMGATE_REDIS_URL=redis://127.0.0.1:6393/0)")
	}
	return url
}

// newRedisClient returns a client of LLMGATE_REDIS_URL, closed and its
// keys under prefix deleted at cleanup.
func newRedisClient(t testing.TB, prefix string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatalf("LLMGATE_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("Redis at LLMGATE_REDIS_URL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		keys, _ := c.Keys(ctx, escapeGlob(prefix)+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		_ = c.Close()
	})
	return c
}

func escapeGlob(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// randomPrefix returns a fresh key prefix with its own hash tag.
func randomPrefix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "{llmgate-test-" + hex.EncodeToString(b) + "}:"
}

// newRedisLedgers returns n ledgers on separate clients sharing one
// random prefix: n processes sharing a Redis.
func newRedisLedgers(t testing.TB, n int) []*RedisLedger {
	t.Helper()
	prefix := randomPrefix()
	ls := make([]*RedisLedger, n)
	for i := range ls {
		l, err := NewRedis(RedisConfig{Client: newRedisClient(t, prefix), Prefix: prefix, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	return ls
}

// backend is a ledger under test: instance(i) returns the i-th of several
// ledgers sharing state (one for memory, which is per process).
type backend struct {
	name     string
	instance func(i int) Ledger
}

// backends returns the in-memory ledger and, when Redis is available, two
// Redis ledgers sharing a prefix. The memory ledger's clock is the real
// clock here; rollover tests use their own.
func backends(t *testing.T) []backend {
	t.Helper()
	mem := NewMemory(MemoryConfig{})
	bs := []backend{{"memory", func(int) Ledger { return mem }}}
	if os.Getenv("LLMGATE_REDIS_URL") == "" && os.Getenv("CI") != "true" {
		t.Log("billing: LLMGATE_REDIS_URL not set; Redis backend skipped")
		return bs
	}
	rs := newRedisLedgers(t, 2)
	return append(bs, backend{"redis", func(i int) Ledger { return rs[i%len(rs)] }})
}
