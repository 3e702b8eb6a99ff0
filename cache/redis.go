package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/outage"
)

// RedisClient is the part of a go-redis client RedisStore uses.
// *redis.Client, *redis.ClusterClient and *redis.Ring implement it.
type RedisClient interface {
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// Client talks to Redis. Required.
	Client RedisClient
	// Prefix starts every key. Default: "llmgate:cache:".
	Prefix string
	// TTL is how long an entry lives when Set gets no ttl. Default: 10m.
	TTL time.Duration
	// MaxEntryBytes refuses entries whose encoding is larger
	// (ErrTooLarge). Default: 1 MiB.
	MaxEntryBytes int
	// Timeout bounds every call to Redis, within the caller's ctx
	// deadline. Default: 100ms.
	Timeout time.Duration
	// RetryInterval is how long, after Redis failed or timed out, calls
	// skip it: Get and Set fail at once (the middleware treats that as a
	// miss and an entry not stored) instead of each waiting for Timeout.
	// After it, calls try Redis again and the first answer ends the
	// outage. Default: 1s.
	RetryInterval time.Duration
	// Clock times RetryInterval; entries expire by Redis's clock.
	// Default: the real clock.
	Clock Clock
}

// DefaultRedisMaxEntryBytes is RedisConfig.MaxEntryBytes's default.
const DefaultRedisMaxEntryBytes = 1 << 20

// RedisStore is a Store on Redis (or Valkey, or Redis Cluster) shared by
// every replica. Each entry is one string key, Prefix + Key.String(),
// holding the entry's binary encoding (Entry.MarshalBinary), written with
// SET PX so that Redis expires it. An entry written by another codec
// version reads as a miss.
//
// A RedisStore is safe for concurrent use, starts no goroutine and does
// not own Client. Use NewRedisStore; the zero value is not usable.
type RedisStore struct {
	c        RedisClient
	prefix   string
	ttl      time.Duration
	maxEntry int
	timeout  time.Duration
	down     *outage.Tracker
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore. It does not contact Redis.
func NewRedisStore(cfg RedisConfig) (*RedisStore, error) {
	if cfg.Client == nil {
		return nil, errors.New("cache: redis: nil Client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "llmgate:cache:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = DefaultRedisMaxEntryBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &RedisStore{c: cfg.Client, prefix: cfg.Prefix, ttl: cfg.TTL, maxEntry: cfg.MaxEntryBytes, timeout: cfg.Timeout,
		down: outage.New(cfg.RetryInterval, cfg.Clock.Now)}, nil
}

func (s *RedisStore) key(k Key) string {
	return string(k.AppendText([]byte(s.prefix)))
}

// Get returns the entry under k. A missing key, or an entry of another
// codec version, is a miss; a Redis failure (or a call skipped after one,
// see RetryInterval) or a corrupt entry is an error.
func (s *RedisStore) Get(ctx context.Context, k Key) (*Entry, bool, error) {
	if s.down.Skip() {
		return nil, false, fmt.Errorf("cache: redis get: %w", outage.ErrSkipped)
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, err := s.c.Get(tctx, s.key(k)).Bytes()
	s.down.Observe(ctx, err)
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
	e := new(Entry)
	if err := e.UnmarshalBinary(b); err != nil {
		if errors.Is(err, errVersion) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return e, true, nil
}

// Set stores e under k for ttl (the configured TTL when ttl ≤ 0) with SET
// PX. An entry whose encoding exceeds MaxEntryBytes is refused with
// ErrTooLarge before Redis is called.
func (s *RedisStore) Set(ctx context.Context, k Key, e *Entry, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = s.ttl
	}
	b, _ := e.MarshalBinary()
	if len(b) > s.maxEntry {
		return fmt.Errorf("%w: %d bytes encoded, limit %d", ErrTooLarge, len(b), s.maxEntry)
	}
	if s.down.Skip() {
		return fmt.Errorf("cache: redis set: %w", outage.ErrSkipped)
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.c.Set(tctx, s.key(k), b, ttl).Err()
	s.down.Observe(ctx, err)
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Delete removes the entry under k.
func (s *RedisStore) Delete(ctx context.Context, k Key) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.c.Del(ctx, s.key(k)).Err(); err != nil {
		return fmt.Errorf("cache: redis del: %w", err)
	}
	return nil
}
