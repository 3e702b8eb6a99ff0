package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/limiter"
)

// testRedisURL returns LLMGATE_REDIS_URL, once Redis there answers a
// PING; without the variable the test is skipped, except under CI=true,
// where it fails, and a Redis that does not answer fails it at once
// (rather than every request of the test getting a 503).
func testRedisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("LLMGATE_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("middleware: LLMGATE_REDIS_URL is not set under CI=true; the Redis tests cannot run")
		}
		t.Skip("middleware: set LLMGATE_REDIS_URL (e.g. redis://127.0.0.1:6390/0) to run the Redis tests")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("middleware: LLMGATE_REDIS_URL %q: %v", u, err)
	}
	c := redis.NewClient(opt)
	err = c.Ping(t.Context()).Err()
	_ = c.Close()
	if err != nil {
		t.Fatalf("middleware: Redis at LLMGATE_REDIS_URL: %v", err)
	}
	return u
}

// limitRedisClient connects to url and closes the client after the test.
func limitRedisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %q: %v", url, err)
	}
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1 // fail at once: the store's Timeout and FailMode decide
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func limitRedisPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "llmgate-test:limit:" + hex.EncodeToString(b) + ":"
}

func limitRedisStore(t *testing.T, c *redis.Client, cfg limiter.RedisConfig) *limiter.RedisStore {
	t.Helper()
	cfg.Client = c
	s, err := limiter.NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two middleware instances (two replicas) on one Redis share the limits
// (with Cluster checking, so all keys of a request share one hash tag):
// together they admit the bucket once, not twice, and a settle on one is
// visible on the other.
func TestLimitRedisShared(t *testing.T) {
	url := testRedisURL(t)
	prefix := limitRedisPrefix()
	// A day-long period: Redis TIME moves on during the test, but refills
	// nothing measurable (1 token per 86.4s).
	cfg := func() LimitConfig {
		return LimitConfig{
			Store:  limitRedisStore(t, limitRedisClient(t, url), limiter.RedisConfig{Prefix: prefix, Cluster: true}),
			Period: 24 * time.Hour,
			Tiers: freeTier(LimitTier{
				Key: LimitRates{RPM: 3, TPM: 1000},
				Org: LimitRates{RPM: 100},
			}),
			Tokens: limitFixedTokens(100),
		}
	}
	replicas := []*limitEnv{limitTestChain(t, cfg()), limitTestChain(t, cfg())}
	steps := []struct {
		code               int
		requests, tokens   string
		total              string // usage the upstream reports
		wantType, wantRate string
	}{
		{200, "2", "900", "10", "", `"rpd";r=2;t=28800, "tpd";r=900;t=8640, "org-rpd";r=99;t=864`},
		{200, "1", "890", "500", "", `"rpd";r=1;t=57600, "tpd";r=890;t=9504, "org-rpd";r=98;t=1728`},
		{200, "0", "390", "100", "", `"rpd";r=0;t=86400, "tpd";r=390;t=52704, "org-rpd";r=97;t=2592`},
		{429, "0", "390", "", "requests", `"rpd";r=0;t=86400, "tpd";r=390;t=52704, "org-rpd";r=97;t=2592`},
		{429, "0", "390", "", "requests", `"rpd";r=0;t=86400, "tpd";r=390;t=52704, "org-rpd";r=97;t=2592`},
	}
	for i, s := range steps {
		env := replicas[i%2]
		rec := env.do("sk-b", "X-Test-Total: "+s.total)
		h := limitHeader(rec)
		if rec.Code != s.code || h["remaining-requests"] != s.requests || h["remaining-tokens"] != s.tokens {
			t.Errorf("step %d (replica %d): status %d remaining %s/%s, want %d %s/%s; %s",
				i, i%2, rec.Code, h["remaining-requests"], h["remaining-tokens"], s.code, s.requests, s.tokens, rec.Body)
		}
		// Redis TIME moved a little since the reservation: allow t to be
		// a second shorter than the nominal value.
		if !limitRateLimitClose(h["ratelimit"], s.wantRate) {
			t.Errorf("step %d: RateLimit %q, want about %q", i, h["ratelimit"], s.wantRate)
		}
		if s.wantType != "" {
			if e := limitEnvelope(t, rec); e.Type != s.wantType {
				t.Errorf("step %d: type %q, want %q", i, e.Type, s.wantType)
			}
		}
	}
}

// limitRateLimitClose compares RateLimit fields, letting each t be up to
// one second less than in want.
func limitRateLimitClose(got, want string) bool {
	g, w := strings.Split(got, ", "), strings.Split(want, ", ")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		gp, gt, _ := strings.Cut(g[i], ";t=")
		wp, wt, _ := strings.Cut(w[i], ";t=")
		gn, _ := strconv.Atoi(gt)
		wn, _ := strconv.Atoi(wt)
		if gp != wp || gn > wn || gn < wn-1 {
			return false
		}
	}
	return true
}

// limitPrivateRedis is a redis-server this test owns, to stop and start.
type limitPrivateRedis struct {
	t    *testing.T
	port string
	dir  string
	cmd  *exec.Cmd
}

func limitStartRedis(t *testing.T) *limitPrivateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("middleware: redis-server not found under CI=true")
		}
		t.Skip("middleware: redis-server is not installed; skipping the test that stops Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	r := &limitPrivateRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *limitPrivateRedis) url() string { return "redis://127.0.0.1:" + r.port + "/0" }

func (r *limitPrivateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.dir, "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	// Wait for the process to listen: start-up, not test timing.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %s did not start: %v", r.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *limitPrivateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Redis stopped mid-test: FailClosed answers 503 envelopes, FailOpen
// limits locally; both recover when Redis is back and the retry interval
// has passed.
func TestLimitRedisStopped(t *testing.T) {
	for _, mode := range []limiter.FailMode{limiter.FailClosed, limiter.FailOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := limitStartRedis(t)
			clock := newLimitClock()
			store := limitRedisStore(t, limitRedisClient(t, srv.url()), limiter.RedisConfig{
				Prefix: limitRedisPrefix(), Fail: mode, Timeout: 200 * time.Millisecond,
				RetryInterval: time.Second, Clock: clock,
			})
			env := limitTestChain(t, LimitConfig{Store: store, Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 2}}),
				Logger: limitQuietLogger()})
			if rec := env.do("sk-a"); rec.Code != 200 || limitHeader(rec)["remaining-requests"] != "1" {
				t.Fatalf("Redis up: status %d headers %v", rec.Code, limitHeader(rec))
			}
			srv.stop()
			start := time.Now()
			rec := env.do("sk-a")
			elapsed := time.Since(start)
			switch mode {
			case limiter.FailClosed:
				e := limitEnvelope(t, rec)
				if rec.Code != 503 || e.Type != "server_error" || strings.Contains(strings.ToLower(e.Message), "redis") {
					t.Fatalf("Redis down, fail closed: status %d envelope %+v", rec.Code, e)
				}
				if elapsed > 2*time.Second {
					t.Errorf("the 503 took %v with a 200ms store timeout", elapsed)
				}
			case limiter.FailOpen:
				// The local bucket (limit/Replicas = 2) is fresh.
				if rec.Code != 200 || limitHeader(rec)["remaining-requests"] != "1" {
					t.Fatalf("Redis down, fail open: status %d headers %v", rec.Code, limitHeader(rec))
				}
				env.do("sk-a")
				if rec := env.do("sk-a"); rec.Code != 429 {
					t.Fatalf("fail open must still limit: third local request got %d", rec.Code)
				}
			}
			srv.start()
			clock.Advance(time.Second) // the retry interval
			rec = env.do("sk-a")
			if rec.Code != 200 || limitHeader(rec)["remaining-requests"] != "1" {
				t.Errorf("Redis back (empty): status %d headers %v", rec.Code, limitHeader(rec))
			}
		})
	}
}

// A Redis that accepts connections but never answers: the store's timeout
// turns into a 503 envelope.
func TestLimitRedisHung(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	store := limitRedisStore(t, limitRedisClient(t, "redis://"+l.Addr().String()+"/0"),
		limiter.RedisConfig{Timeout: 100 * time.Millisecond})
	env := limitTestChain(t, LimitConfig{Store: store, Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 2}}),
		Logger: limitQuietLogger()})
	start := time.Now()
	rec := env.do("sk-a")
	elapsed := time.Since(start)
	if e := limitEnvelope(t, rec); rec.Code != 503 || e.Code != "limiter_unavailable" {
		t.Fatalf("status %d envelope %+v", rec.Code, e)
	}
	if elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("answered after %v; the store's timeout is 100ms", elapsed)
	}
}
