package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/limiter"
)

// backends are the stores of limits, spend and cached responses: in
// memory, or on the Redis that replicas share.
type backends struct {
	redis   *redis.Client // nil: in memory
	limits  limiter.Store
	ledger  billing.Ledger
	cache   cache.Store
	closers []func() error
}

// newBackends makes the stores cfg asks for; log receives what go-redis
// logs itself (see redisLog).
func newBackends(cfg *Config, log *slog.Logger) (*backends, error) {
	b := &backends{}
	if cfg.Redis.URL == "" {
		b.limits = limiter.NewMemory(limiter.MemoryConfig{})
		b.ledger = billing.NewMemory(billing.MemoryConfig{})
		if !cfg.Cache.Disabled {
			mem, err := cache.NewMemoryStore(cache.MemoryConfig{MaxBytes: int64(cfg.Cache.MaxBytes), TTL: time.Duration(cfg.Cache.TTL)})
			if err != nil {
				return nil, err
			}
			b.cache = mem
			b.closers = append(b.closers, mem.Close)
		}
		return b, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	// Deadlines come from each request's context; without this go-redis
	// waits for its own read timeout on a hung server.
	opts.ContextTimeoutEnabled = true
	// No command retries inside go-redis unless the URL sets max_retries: a
	// limit or ledger script that ran before the connection broke would be
	// charged twice. One dial per attempt: with go-redis's five dials and
	// backoff a dead server holds every request for its whole timeout
	// before redis.fail applies (measured: 250 ms → 0–2 ms per 503).
	if opts.MaxRetries == 0 {
		opts.MaxRetries = -1
	}
	opts.DialerRetries = 1
	useRedisLog(log)
	b.redis = redis.NewClient(opts)
	b.closers = append(b.closers, b.redis.Close)
	limFail, ledFail := limiter.FailClosed, billing.FailClosed
	if cfg.Redis.Fail == "open" {
		limFail, ledFail = limiter.FailOpen, billing.FailOpen
	}
	if b.limits, err = limiter.NewRedis(limiter.RedisConfig{Client: b.redis, Prefix: cfg.Redis.Prefix + "rl:", Fail: limFail, Replicas: cfg.Redis.Replicas}); err != nil {
		return nil, err
	}
	if b.ledger, err = billing.NewRedis(billing.RedisConfig{Client: b.redis, Prefix: "{" + cfg.Redis.Prefix + "billing}:", Fail: ledFail}); err != nil {
		return nil, err
	}
	if !cfg.Cache.Disabled {
		if b.cache, err = cache.NewRedisStore(cache.RedisConfig{Client: b.redis, Prefix: cfg.Redis.Prefix + "cache:", TTL: time.Duration(cfg.Cache.TTL)}); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ping reports whether the shared Redis answers; nil when in memory.
func (b *backends) ping(ctx context.Context) error {
	if b.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return b.redis.Ping(ctx).Err()
}
