package limiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// needRedis returns the URL of the shared test Redis: LLMGATE_REDIS_URL.
// Without it the test is skipped, except under CI=true, where it fails.
func needRedis(t testing.TB) string {
	t.Helper()
	u := os.Getenv("LLMGATE_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("limiter: LLMGATE_REDIS_URL is not set under CI=true; Redis tests cannot run")
		}
		t.Skip("limiter: set LLMGATE_REDIS_URL (e.g. redis://127.0.0.1:6390/0) to run the Redis tests")
	}
	return u
}

// newClient connects to url with the options every test wants, and
// closes the client when the test ends.
func newClient(t testing.TB, url string, hooks ...redis.Hook) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %q: %v", url, err)
	}
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = 64
	c := redis.NewClient(opt)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sharedRedis returns a client on the shared test Redis, checked to
// answer, and a key prefix no other test uses. Keys it leaves behind
// expire on their own; the cleanup deletes them sooner.
func sharedRedis(t testing.TB, hooks ...redis.Hook) (*redis.Client, string) {
	t.Helper()
	c := newClient(t, needRedis(t), hooks...)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("LLMGATE_REDIS_URL is set but Redis does not answer: %v", err)
	}
	prefix := "llmgate-test:" + randomHex(8) + ":"
	t.Cleanup(func() { deletePrefix(c, prefix) })
	return c, prefix
}

func deletePrefix(c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// countHook counts the commands and pipelines a client sends.
type countHook struct {
	cmds, pipes atomic.Int64
	last        atomic.Value // name of the last command
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		h.last.Store(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipes.Add(1)
		return next(ctx, cmds)
	}
}

func (h *countHook) roundTrips() int64 { return h.cmds.Load() + h.pipes.Load() }

// privateRedis is a redis-server process the test owns, to stop and
// restart at will.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

// startPrivateRedis starts a redis-server on a free port. It skips the
// test when the binary is missing, except under CI=true.
func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("limiter: redis-server not found under CI=true")
		}
		t.Skip("limiter: redis-server not installed; skipping the test that stops Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &privateRedis{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }
func (s *privateRedis) url() string  { return "redis://" + s.addr() + "/0" }

func (s *privateRedis) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	// Wait for it to answer (process start-up, not test timing).
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			_, _ = fmt.Fprint(conn, "PING\r\n")
			buf := make([]byte, 7)
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := conn.Read(buf)
			_ = conn.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not start: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *privateRedis) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// benchRedis is sharedRedis for benchmarks.
func benchRedis(b *testing.B) (*redis.Client, string) { return sharedRedis(b) }
