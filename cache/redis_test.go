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

	"github.com/llmgate/llmgate/internal/outage"
	"github.com/llmgate/llmgate/internal/outage/outagetest"
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

// TestRedisOutageSkipped: after Redis fails, Get and Set skip it for
// RetryInterval (on a fake clock) and fail at once; then they try again,
// and an answer ends the outage.
func TestRedisOutageSkipped(t *testing.T) {
	live, prefix := testRedis(t)
	defer func() { _ = live.Del(context.Background(), prefix+keyN(1).String()).Err() }()
	opt := live.Options()
	nw := &outagetest.Network{}
	opt.Dialer, opt.MaxRetries, opt.DialerRetries = nw.Dial, -1, 1
	c := redis.NewClient(opt)
	defer c.Close()
	clk := &fakeClock{now: t0}
	s, _ := NewRedisStore(RedisConfig{Client: c, Prefix: prefix, RetryInterval: 5 * time.Second, Clock: clk})
	ctx := context.Background()
	if err := s.Set(ctx, keyN(1), bodyEntry(10), time.Minute); err != nil {
		t.Fatalf("Redis up: Set: %v", err)
	}

	nw.SetOff(true)
	if _, ok, err := s.Get(ctx, keyN(1)); ok || err == nil || errors.Is(err, outage.ErrSkipped) {
		t.Fatalf("first Get with Redis down: hit %v, %v; want the network's error", ok, err)
	}
	tried := nw.Attempts()
	for range 10 {
		if _, ok, err := s.Get(ctx, keyN(1)); ok || !errors.Is(err, outage.ErrSkipped) {
			t.Fatalf("Get within the interval: hit %v, %v; want outage.ErrSkipped", ok, err)
		}
		if err := s.Set(ctx, keyN(2), bodyEntry(10), time.Minute); !errors.Is(err, outage.ErrSkipped) {
			t.Fatalf("Set within the interval: %v; want outage.ErrSkipped", err)
		}
	}
	if n := nw.Attempts() - tried; n != 0 {
		t.Errorf("%d attempts reached the network within the retry interval", n)
	}

	nw.SetOff(false)
	clk.Advance(5 * time.Second)
	for range 2 {
		if _, ok, err := s.Get(ctx, keyN(1)); !ok || err != nil {
			t.Fatalf("after the interval, Redis back: hit %v, %v", ok, err)
		}
	}
}

// A caller's cancelled request is not a Redis outage.
func TestRedisCancelledCallerIsNotAnOutage(t *testing.T) {
	c, prefix := testRedis(t)
	s, _ := NewRedisStore(RedisConfig{Client: c, Prefix: prefix, Clock: &fakeClock{now: t0}})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Get(done, keyN(1)); err == nil {
		t.Fatal("Get with a done ctx succeeded")
	}
	if _, _, err := s.Get(context.Background(), keyN(1)); err != nil {
		t.Fatalf("the next caller's Get: %v", err)
	}
}
