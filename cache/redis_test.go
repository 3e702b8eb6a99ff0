package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis returns a client for LLMGATE_REDIS_URL and a random key prefix.
// Without the variable the test is skipped, except under CI=true, where it
// fails.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("LLMGATE_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LLMGATE_REDIS_URL is not set; CI must provide Redis")
		}
		t.Skip("LLMGATE_REDIS_URL not set: skipping Redis test (start redis-server and export LLMGATE_REDIS_URL=redis://127.0.0.1:6392/0)")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("LLMGATE_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", url, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return c, "llmgate-test:" + hex.EncodeToString(b[:]) + ":"
}

func TestRedisSharedBetweenReplicas(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	// Two replicas: separate stores (and clients), one Redis.
	c2 := redis.NewClient(c.Options())
	defer c2.Close()
	a, err := NewRedisStore(RedisConfig{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRedisStore(RedisConfig{Client: c2, Prefix: prefix})
	alice := mustKey(t, KeyInput{Endpoint: chatPath, Scope: Scope{ID: "alice"}, Body: chatRequest1K})
	bob := mustKey(t, KeyInput{Endpoint: chatPath, Scope: Scope{ID: "bob"}, Body: chatRequest1K})

	stream := record(t, KindChat, chatStream)
	if err := a.Set(ctx, alice, stream, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.Get(ctx, alice)
	if err != nil || !ok {
		t.Fatalf("replica b: hit %v err %v", ok, err)
	}
	if !got.Stream || len(got.Events) != len(chatStream) || string(got.Events[3]) != chatStream[3] ||
		got.Usage.TotalTokens != 43 || !got.Created.Equal(t0) || got.Model != stream.Model || !got.StreamUsage {
		t.Errorf("entry changed in transit: %+v", got)
	}
	if _, ok, _ := b.Get(ctx, bob); ok {
		t.Error("bob read alice's entry")
	}
	ttl, err := c.PTTL(ctx, prefix+alice.String()).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL %v %v", ttl, err)
	}
	if err := b.Delete(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get(ctx, alice); ok {
		t.Error("deleted entry still there")
	}
}

func TestRedisLimitsAndVersions(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	s, _ := NewRedisStore(RedisConfig{Client: c, Prefix: prefix, MaxEntryBytes: 500, TTL: 30 * time.Second})
	k := keyN(1)
	if err := s.Set(ctx, k, bodyEntry(1000), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if err := s.Set(ctx, k, bodyEntry(10), 0); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, prefix+k.String()).Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Errorf("default TTL not applied: %v", ttl)
	}
	// Another codec version is a miss; garbage is an error.
	_ = c.Set(ctx, prefix+k.String(), []byte{codecVersion + 1, 0}, time.Minute).Err()
	if _, ok, err := s.Get(ctx, k); ok || err != nil {
		t.Errorf("other version: hit %v err %v", ok, err)
	}
	_ = c.Set(ctx, prefix+k.String(), []byte{codecVersion, 0xff}, time.Minute).Err()
	if _, _, err := s.Get(ctx, k); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt: %v", err)
	}
	_ = c.Del(ctx, prefix+k.String())
	if _, ok, err := s.Get(ctx, k); ok || err != nil {
		t.Errorf("missing: hit %v err %v", ok, err)
	}
	if _, err := NewRedisStore(RedisConfig{}); err == nil {
		t.Error("nil client accepted")
	}
}

func TestRedisUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer c.Close()
	s, _ := NewRedisStore(RedisConfig{Client: c})
	if _, ok, err := s.Get(context.Background(), keyN(1)); err == nil || ok {
		t.Errorf("unreachable Redis: hit %v err %v", ok, err)
	}
}
