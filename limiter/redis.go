package limiter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/outage"
)

// Client is the part of a go-redis client RedisStore uses. *redis.Client,
// *redis.ClusterClient and *redis.Ring implement it.
type Client interface {
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// FailMode says what a RedisStore does when Redis cannot be reached.
type FailMode uint8

const (
	// FailClosed returns an error wrapping ErrUnavailable (the middleware
	// answers 503 with an OpenAI error envelope). It is the default.
	FailClosed FailMode = iota
	// FailOpen limits locally instead, in a MemoryStore, at each limit's
	// Rate and Burst divided by RedisConfig.Replicas (at least 1), so that
	// the replicas together stay near the configured limit. A cost above
	// the local Burst is TooLarge while Redis is down.
	FailOpen
)

// String returns "closed" or "open", as in the proxy's configuration.
func (m FailMode) String() string {
	if m == FailOpen {
		return "open"
	}
	return "closed"
}

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// Client talks to Redis. Required. With go-redis, set
	// ContextTimeoutEnabled in its options: without it go-redis ignores
	// context deadlines on the socket, and a hung server holds a call for
	// the client's ReadTimeout instead of Timeout. Its own retries count
	// against Timeout: keep MaxRetries low.
	Client Client
	// Prefix starts every key. Default: "llmgate:rl:".
	Prefix string
	// Timeout bounds every call to Redis, within the caller's ctx
	// deadline. Default: 100ms.
	Timeout time.Duration
	// Fail says what to do when Redis fails or times out. Default:
	// FailClosed.
	Fail FailMode
	// Replicas is how many llmgate replicas share the limits: with
	// FailOpen each limits locally at limit/Replicas. Default: 1.
	Replicas int
	// RetryInterval is how long, after a failure, calls skip Redis —
	// failing at once, or limiting locally — before one probes it again;
	// the first success switches back to Redis. Default: 1s.
	RetryInterval time.Duration
	// Cluster makes Reserve check, before calling Redis, that all keys of
	// a request share one hash tag, as Redis Cluster requires of a script;
	// a request whose keys do not is an ErrInvalid error. Default: false.
	Cluster bool
	// Clock times RetryInterval and drives the FailOpen fallback; bucket
	// time is always Redis TIME. Default: the real clock.
	Clock Clock
}

// RedisStore is a Store on Redis (or Valkey, or Redis Cluster) shared by
// every replica: each Reserve is one EVALSHA of one Lua script that
// decides and charges every limit of the request atomically, with Redis
// TIME as the clock, so replicas neither multiply the limits nor disagree
// about time. A script missing from the server's cache (NOSCRIPT, after a
// restart or failover) is sent again with EVAL, which also caches it.
//
// Keys are Prefix + "{" + Key + "}:" + kind + ":" + period, so that the
// requests and tokens buckets of one Key share a Redis Cluster slot. A
// Key that already contains a hash tag ("{org:acme}:user:alice") is used
// as is: its tag decides the slot, and keys written that way — with the
// tenant as tag — can be reserved together in one script on a Cluster.
// Limits of one request with different tags (e.g. "user:alice" and
// "org:acme") work on a single Redis but not on a Cluster, where a script
// must stay in one slot; set RedisConfig.Cluster to get an ErrInvalid
// instead of a CROSSSLOT failure.
//
// A RedisStore is safe for concurrent use and starts no goroutine; it does
// not own Client. Use NewRedis; the zero value is not usable.
type RedisStore struct {
	c        Client
	prefix   string
	timeout  time.Duration
	fail     FailMode
	replicas int
	cluster  bool
	clock    Clock
	local    *MemoryStore
	down     *outage.Tracker
}

var _ Store = (*RedisStore)(nil)

// NewRedis returns a RedisStore. It does not contact Redis.
func NewRedis(cfg RedisConfig) (*RedisStore, error) {
	if cfg.Client == nil {
		return nil, errors.New("limiter: redis: nil Client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "llmgate:rl:"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &RedisStore{
		c:        cfg.Client,
		prefix:   cfg.Prefix,
		timeout:  cfg.Timeout,
		fail:     cfg.Fail,
		replicas: cfg.Replicas,
		down:     outage.New(cfg.RetryInterval, cfg.Clock.Now),
		cluster:  cfg.Cluster,
		clock:    cfg.Clock,
		local:    NewMemory(MemoryConfig{Clock: cfg.Clock}),
	}, nil
}

// Local returns the in-memory store FailOpen falls back to.
func (s *RedisStore) Local() *MemoryStore { return s.local }

// Key returns the Redis key of l's bucket.
func (s *RedisStore) Key(l Limit) string {
	if l.Period == 0 {
		l.Period = time.Minute
	}
	var b strings.Builder
	b.Grow(len(s.prefix) + len(l.Key) + 24)
	b.WriteString(s.prefix)
	if hashTag(l.Key) == "" {
		b.WriteByte('{')
		b.WriteString(l.Key)
		b.WriteByte('}')
	} else {
		b.WriteString(l.Key)
	}
	b.WriteByte(':')
	b.WriteString(l.Kind.String())
	b.WriteByte(':')
	b.WriteString(l.Period.String())
	return b.String()
}

// hashTag returns the part of key Redis Cluster hashes: what lies between
// the first '{' and the next '}', when that is not empty; else "".
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return ""
	}
	return key[i+1 : i+1+j]
}

// slotKey is what decides a full key's slot: its tag, or the whole key.
func slotKey(key string) string {
	if t := hashTag(key); t != "" {
		return t
	}
	return key
}

// Reserve implements Store with one round trip to Redis (two the first
// time a server sees the script).
func (s *RedisStore) Reserve(ctx context.Context, reqs []Request) (Reservation, error) {
	if len(reqs) == 0 {
		return Reservation{Allowed: true}, nil
	}
	var r Reservation
	res := r.init(len(reqs))
	keys := make([]string, len(reqs))
	args := make([]any, 0, 4*len(reqs))
	for i := range reqs {
		l := reqs[i].Limit
		if _, _, err := l.normalize(); err != nil {
			return Reservation{}, err
		}
		if reqs[i].Cost < 0 {
			return Reservation{}, fmt.Errorf("%w: key %q: negative cost %d", ErrInvalid, l.Key, reqs[i].Cost)
		}
		res[i] = Result{Limit: l, Cost: reqs[i].Cost}
		keys[i] = s.Key(l)
		args = append(args, int64(l.Period), l.Rate, l.Burst, reqs[i].Cost)
	}
	if s.cluster {
		tag := slotKey(keys[0])
		for _, k := range keys[1:] {
			if slotKey(k) != tag {
				return Reservation{}, fmt.Errorf("%w: keys %q and %q have different hash tags and cannot be reserved together on Redis Cluster", ErrInvalid, keys[0], k)
			}
		}
	}
	if s.down.Skip() {
		return s.fallback(ctx, reqs, outage.ErrSkipped)
	}
	vals, err := s.run(ctx, reserveScript, keys, args).Int64Slice()
	if err == nil && len(vals) != 1+5*len(reqs) {
		err = fmt.Errorf("limiter: redis: reserve script returned %d values for %d limits", len(vals), len(reqs))
	}
	s.down.Observe(ctx, err)
	if err != nil {
		if ctx.Err() != nil {
			return Reservation{}, fmt.Errorf("limiter: reserve: %w", ctx.Err())
		}
		return s.fallback(ctx, reqs, err)
	}
	for i := range res {
		v := vals[1+5*i:]
		res[i].Allowed = v[0] == 1
		res[i].TooLarge = v[1] == 1
		res[i].Remaining = saturate(v[2])
		res[i].ResetAfter = time.Duration(v[3]) * time.Microsecond
		res[i].RetryAfter = time.Duration(v[4]) * time.Microsecond
	}
	r.finish(s)
	return r, nil
}

// fallback handles a Reserve Redis could not answer, as the FailMode says.
func (s *RedisStore) fallback(ctx context.Context, reqs []Request, cause error) (Reservation, error) {
	if s.fail != FailOpen {
		return Reservation{}, fmt.Errorf("%w: redis: %w", ErrUnavailable, cause)
	}
	local := make([]Request, len(reqs))
	for i, q := range reqs {
		l := q.Limit
		if l.Burst == 0 {
			l.Burst = l.Rate
		}
		l.Rate = max(1, l.Rate/s.replicas)
		l.Burst = max(1, l.Burst/s.replicas)
		local[i] = Request{Limit: l, Cost: q.Cost}
	}
	return s.local.Reserve(ctx, local)
}

// Adjust implements Store in one round trip. A failure is an error
// wrapping ErrUnavailable whatever the FailMode: the charge it was to fix
// lives in Redis.
func (s *RedisStore) Adjust(ctx context.Context, adj []Adjustment) error {
	keys := make([]string, 0, len(adj))
	args := make([]any, 0, 3*len(adj))
	for _, a := range adj {
		l := a.Limit
		iv, _, err := l.normalize()
		if err != nil {
			return err
		}
		if d := clampDelta(a.Delta, iv); d != 0 {
			keys = append(keys, s.Key(l))
			args = append(args, int64(l.Period), l.Rate, d)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	err := s.run(ctx, adjustScript, keys, args).Err()
	s.down.Observe(ctx, err)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("limiter: adjust: %w", ctx.Err())
		}
		return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
	}
	return nil
}

// run evaluates sc by SHA within the timeout, sending the source when the
// server does not have it cached.
func (s *RedisStore) run(ctx context.Context, sc script, keys []string, args []any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := s.c.EvalSha(ctx, sc.sha, keys, args...)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd = s.c.Eval(ctx, sc.src, keys, args...)
	}
	return cmd
}

// String describes the store for logs.
func (s *RedisStore) String() string {
	return "limiter.RedisStore(prefix=" + strconv.Quote(s.prefix) + ", fail=" + s.fail.String() + ")"
}
