package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/wire"
)

// redisProc is a private redis-server the test starts, kills, restarts,
// pauses and resumes. It keeps nothing on disk: a restart comes back empty,
// as a replacement instance would, without the cached Lua scripts.
type redisProc struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	ping *redis.Client
}

// startRedis runs redis-server on LLMGATE_CHAOS_REDIS_PORT (default 6394).
// The test runs where the other Redis tests run (LLMGATE_REDIS_URL set) and
// needs the redis-server binary; without either it is skipped, except under
// CI=true, where it fails.
func startRedis(t *testing.T) *redisProc {
	t.Helper()
	redisURL(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("examples/proxy: redis-server is not on PATH under CI=true; the Redis chaos test cannot run")
		}
		t.Skip("examples/proxy: the Redis chaos test restarts a redis-server of its own; install redis-server")
	}
	port := 6394
	if p := os.Getenv("LLMGATE_CHAOS_REDIS_PORT"); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			t.Fatalf("LLMGATE_CHAOS_REDIS_PORT=%q: %v", p, err)
		}
	}
	r := &redisProc{t: t, bin: bin, port: port, dir: t.TempDir()}
	r.ping = redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() {
		_ = r.ping.Close()
		r.kill()
	})
	r.start()
	return r
}

func (r *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisProc) url() string  { return "redis://" + r.addr() + "/0" }

// start runs the server and waits until it answers PING.
func (r *redisProc) start() {
	r.t.Helper()
	if ln, err := net.Listen("tcp", r.addr()); err != nil {
		r.t.Fatalf("port %d is taken (%v): set LLMGATE_CHAOS_REDIS_PORT to a free one", r.port, err)
	} else {
		_ = ln.Close()
	}
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", "")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitUntil(r.t, 20*time.Second, "redis-server to answer PING", func() (bool, string) {
		err := r.ping.Ping(context.Background()).Err()
		return err == nil, fmt.Sprint(err)
	})
}

// kill ends the server at once (SIGKILL), as a crash would.
func (r *redisProc) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// pause stops the server (SIGSTOP): connections are accepted by the kernel
// and nothing answers, as with a hung or overloaded Redis.
func (r *redisProc) pause() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
}

func (r *redisProc) resume() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatal(err)
	}
}

// TestChaosRedisRestart runs two gateways on one Redis — one with
// redis.fail: closed, one with fail: open (replicas: 2) — under a steady
// background load, and kills Redis, restarts it empty, then pauses and
// resumes it. With Redis gone, fail: closed answers every request with a
// 503 envelope and /readyz with 503, and fail: open serves, limiting each
// key locally at its limit / replicas. When Redis is back, both serve from
// it again (the limits are shared ones again, at the full rate). A paused
// Redis, which accepts connections and never answers, is cut off by the
// stores' timeouts: every request is still answered.
func TestChaosRedisRestart(t *testing.T) {
	r := startRedis(t)
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	const limitedRPM, replicas = 20, 2
	localLimit := limitedRPM / replicas
	config := func(fail string) (yaml, prefix string) {
		prefix = "chaos-" + hex.EncodeToString(rnd) + "-" + fail + ":"
		return testKeysYAML("bulk", "limited") + fmt.Sprintf(`
tiers:
  bulk:    {rpm: 100000000, tpm: 1000000000, models: ["*"], budget: {usd_per_month: 1000000}}
  limited: {rpm: %d, models: ["*"]}
redis: {url: %q, fail: %s, replicas: %d, prefix: %q}
`, limitedRPM, r.url(), fail, replicas, prefix), prefix
	}
	closedYAML, _ := config("closed")
	openYAML, openPrefix := config("open")
	closed := startGateway(t, closedYAML, 10*time.Second)
	open := startGateway(t, openYAML, 10*time.Second)
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()

	var seq atomic.Int64
	t0 := time.Now()
	phase := func(name string) { t.Logf("%v: %s", time.Since(t0).Round(time.Millisecond), name) }
	chat := func(g *inprocGateway, key string) (int, *wire.Error, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard only
		defer cancel()
		body := fmt.Sprintf(`{"model":"llmtest-1","max_tokens":2,"messages":[{"role":"user","content":"chaos %d"}]}`, seq.Add(1))
		status, b, err := post(ctx, hc, g.URL, "sk-"+key, body)
		if err != nil || status == 200 {
			return status, nil, err
		}
		e, err := envelope(status, b)
		return status, e, err
	}
	ready := func(g *inprocGateway) int {
		res, err := hc.Get(g.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// expect sends k requests and fails unless each gets want (and, when
	// not 200, an envelope of type typ). It logs how long the answers
	// took: measured, never asserted.
	expect := func(what string, g *inprocGateway, key string, k, want int, typ string) {
		t.Helper()
		var took []time.Duration
		for i := range k {
			began := time.Now()
			status, e, err := chat(g, key)
			took = append(took, time.Since(began).Round(time.Millisecond))
			switch {
			case err != nil:
				t.Fatalf("%s: request %d: %v", what, i, err)
			case status != want:
				t.Fatalf("%s: request %d: status %d (%+v), want %d", what, i, status, e, want)
			case e != nil && e.Type != typ:
				t.Fatalf("%s: request %d: envelope %+v, want type %s", what, i, e, typ)
			}
		}
		if k > 1 {
			t.Logf("%s: %d answers took %v", what, k, took)
		}
	}
	// admitted sends k requests of the limited key and counts the 200s;
	// every other answer must be a 429 rate_limit_exceeded envelope.
	admitted := func(what string, g *inprocGateway, k int) (int, time.Duration) {
		t.Helper()
		began, ok := time.Now(), 0
		for i := range k {
			status, e, err := chat(g, "limited")
			switch {
			case err != nil:
				t.Fatalf("%s: request %d: %v", what, i, err)
			case status == 200:
				ok++
			case status != http.StatusTooManyRequests || e.Code != wire.CodeRateLimitExceeded:
				t.Fatalf("%s: request %d: status %d %+v, want 200 or 429 %s", what, i, status, e, wire.CodeRateLimitExceeded)
			}
		}
		return ok, time.Since(began)
	}
	// refills is how many requests a limit of rpm admits on top of its
	// burst over d: the tests take no time for granted.
	refills := func(rpm int, d time.Duration) int { return int(d.Seconds()*float64(rpm)/60) + 1 }
	// recovered waits until the closed gateway serves again.
	recovered := func(what string) {
		t.Helper()
		waitUntil(t, 20*time.Second, what, func() (bool, string) {
			status, e, err := chat(closed, "bulk")
			return err == nil && status == 200, fmt.Sprintf("status %d %+v %v", status, e, err)
		})
		expect(what, closed, "bulk", 5, 200, "")
		if got := ready(closed); got != 200 {
			t.Errorf("%s: /readyz %d, want 200", what, got)
		}
	}

	// Steady background load on both gateways through every phase: each
	// answer is a 200 or an envelope (503 from the closed gateway while
	// Redis is away), never a transport error, a hang or a bare status.
	var (
		stop     = make(chan struct{})
		bg       sync.WaitGroup
		bgMu     sync.Mutex
		bgStatus = map[string]int{}
		bgFails  failures
	)
	for _, gw := range []struct {
		name string
		g    *inprocGateway
	}{{"closed", closed}, {"open", open}} {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, e, err := chat(gw.g, "bulk")
				switch {
				case err != nil:
					bgFails.add("background %s: %v", gw.name, err)
				case status != 200 && !(gw.name == "closed" && status == 503 && e.Type == wire.TypeServer):
					bgFails.add("background %s: status %d %+v", gw.name, status, e)
				}
				bgMu.Lock()
				bgStatus[fmt.Sprintf("%s %d", gw.name, status)]++
				bgMu.Unlock()
			}
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			bg.Wait()
		}
	}
	defer stopLoad()

	// Redis up: both serve, both ready.
	expect("redis up, fail closed", closed, "bulk", 5, 200, "")
	expect("redis up, fail open", open, "bulk", 5, 200, "")
	for _, g := range []*inprocGateway{closed, open} {
		if got := ready(g); got != 200 {
			t.Fatalf("/readyz with Redis up: %d", got)
		}
	}

	phase("killing Redis")
	// Redis killed.
	r.kill()
	expect("redis killed, fail closed", closed, "bulk", 4, http.StatusServiceUnavailable, wire.TypeServer)
	if got := ready(closed); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis killed: %d, want 503", got)
	}
	expect("redis killed, fail open", open, "bulk", 4, 200, "")
	ok, took := admitted("redis killed, fail open, local limit", open, localLimit+3)
	if ok < localLimit || ok > localLimit+refills(localLimit, took) {
		t.Errorf("with Redis killed, fail open admitted %d of %d requests of a %d rpm key with %d replicas; want the local limit, %d",
			ok, localLimit+3, limitedRPM, replicas, localLimit)
	}

	phase("restarting Redis")
	// Redis back, empty: the closed gateway serves again; the open one
	// limits in Redis again, at the full rate (its local bucket is spent).
	r.start()
	recovered("the fail-closed gateway to serve after Redis restarted")
	waitUntil(t, 20*time.Second, "the fail-open gateway to limit in Redis again", func() (bool, string) {
		expect("redis restarted, fail open", open, "bulk", 1, 200, "")
		keys, err := r.ping.Keys(context.Background(), openPrefix+"rl:*").Result()
		return err == nil && len(keys) > 0, fmt.Sprintf("limiter keys in Redis: %q, %v", keys, err)
	})
	ok, took = admitted("redis restarted, fail open, shared limit", open, limitedRPM+3)
	if ok < limitedRPM || ok > limitedRPM+refills(limitedRPM, took) {
		t.Errorf("with Redis back, fail open admitted %d of %d requests of a %d rpm key; want the shared limit, %d",
			ok, limitedRPM+3, limitedRPM, limitedRPM)
	}

	phase("pausing Redis")
	// Redis hung: requests are still answered, by the stores' timeouts.
	r.pause()
	expect("redis paused, fail closed", closed, "bulk", 3, http.StatusServiceUnavailable, wire.TypeServer)
	expect("redis paused, fail open", open, "bulk", 3, 200, "")
	phase("resuming Redis")
	r.resume()
	recovered("the fail-closed gateway to serve after Redis resumed")
	expect("redis resumed, fail open", open, "bulk", 5, 200, "")

	phase("done")
	stopLoad()
	bgFails.check(t, int(seq.Load()), "background requests")
	t.Logf("background answers: %v", bgStatus)
}
