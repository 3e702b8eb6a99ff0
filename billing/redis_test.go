package billing

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/outage"
	"github.com/llmgate/llmgate/internal/outage/outagetest"
)

func TestRedisNoScriptReload(t *testing.T) {
	ctx := context.Background()
	prefix := randomPrefix()
	c := newRedisClient(t, prefix)
	l, err := NewRedis(RedisConfig{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ch := []Charge{{Scope: "key:ns", Budget: Dollar, Amount: Cent}}
	for i := range 3 {
		// The script cache is flushed before every call: EVALSHA answers
		// NOSCRIPT and the ledger must load the script again.
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		r, err := l.Reserve(ctx, ch)
		if err != nil || !r.Allowed {
			t.Fatalf("call %d after SCRIPT FLUSH: %v, %v", i, r.Allowed, err)
		}
	}
	bal, err := l.Balances(ctx, ch)
	if err != nil || bal[0].Reserved != 3*Cent {
		t.Fatalf("Balances = %+v, %v; want $0.03 reserved", bal, err)
	}
}

// TestRedisKeys checks key layout, TTLs and that Redis TIME is the clock.
func TestRedisKeys(t *testing.T) {
	ctx := context.Background()
	prefix := randomPrefix()
	c := newRedisClient(t, prefix)
	l, _ := NewRedis(RedisConfig{Client: c, Prefix: prefix})
	charges := []Charge{
		{Scope: "org:acme", Window: Daily, Budget: Dollar, Amount: Cent},
		{Scope: "org:acme", Window: Monthly, Budget: Dollar, Amount: Cent},
		{Scope: "org:acme", Window: LastDays(7), Budget: Dollar, Amount: Cent},
	}
	r, err := l.Reserve(ctx, charges)
	if err != nil || !r.Allowed {
		t.Fatalf("Reserve = %v, %v", r.Allowed, err)
	}
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	day := dayOf(now)
	if r.day != day && r.day != day-1 { // the call may straddle midnight
		t.Errorf("reservation day %d, Redis TIME day %d", r.day, day)
	}
	tests := []struct {
		key string
		ttl time.Duration
	}{
		{prefix + "org:acme|day|" + itoa(r.day), 3 * 24 * time.Hour},
		{prefix + "org:acme|month|" + itoa(monthOf(r.day)), 33 * 24 * time.Hour},
		{prefix + "org:acme|7d|" + itoa(r.day), 9 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := c.HGet(ctx, tt.key, "r").Int64()
			if err != nil || Money(got) != Cent {
				t.Errorf("HGET r = %d, %v; want %d", got, err, Cent)
			}
			ttl, err := c.TTL(ctx, tt.key).Result()
			if err != nil || ttl <= tt.ttl-time.Minute || ttl > tt.ttl {
				t.Errorf("TTL = %v, %v; want about %v", ttl, err, tt.ttl)
			}
		})
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.HGet(ctx, tests[0].key, "r").Int64(); got != 0 {
		t.Errorf("reserved after Cancel = %d", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// deadRedis returns a client of a TCP port that accepts nothing.
func deadRedis(t *testing.T) *redis.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connections are refused
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisFailMode(t *testing.T) {
	ch := []Charge{{Scope: "key:down", Budget: Dollar, Amount: Cent}}
	tests := []struct {
		name       string
		fail       FailMode
		ctxDone    bool
		wantErr    bool
		failedOpen bool
	}{
		{"closed", FailClosed, false, true, false},
		{"open", FailOpen, false, false, true},
		{"open but ctx done", FailOpen, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewRedis(RedisConfig{Client: deadRedis(t), Timeout: 200 * time.Millisecond, Fail: tt.fail})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.ctxDone {
				cancel()
			}
			r, err := l.Reserve(ctx, ch)
			if tt.wantErr != (err != nil) || r.FailedOpen != tt.failedOpen || r.Allowed != tt.failedOpen {
				t.Fatalf("Reserve = %+v, %v; want error %v, failed open %v", r, err, tt.wantErr, tt.failedOpen)
			}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				t.Errorf("error %v does not wrap ErrUnavailable", err)
			}
			if tt.failedOpen {
				if ok, err := r.Continue(ctx, Dollar, 0); !ok || err != nil {
					t.Errorf("Continue on failed-open = %v, %v; want true", ok, err)
				}
				// Settle still tries to record the spend, and reports that it could not.
				if err := r.Settle(ctx, Cent); !errors.Is(err, ErrUnavailable) {
					t.Errorf("Settle = %v, want ErrUnavailable", err)
				}
			}
			if _, err := l.Balances(ctx, ch); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Balances = %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestRedisTimeout: a Redis that accepts connections and never answers is
// cut off by the ledger's Timeout, not the caller's patience.
func TestRedisTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return
			}
			conns = append(conns, c) // never answer
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	l, _ := NewRedis(RedisConfig{Client: c, Timeout: 50 * time.Millisecond})
	_, err = l.Reserve(context.Background(), []Charge{{Scope: "s", Budget: Dollar}})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Reserve = %v; want ErrUnavailable wrapping a deadline", err)
	}
	_ = c.Close()
	_ = ln.Close()
	<-done
}

func TestNewRedisErrors(t *testing.T) {
	if _, err := NewRedis(RedisConfig{}); err == nil {
		t.Error("nil client accepted")
	}
	c := redis.NewClient(&redis.Options{})
	defer func() { _ = c.Close() }()
	if _, err := NewRedis(RedisConfig{Client: c, Fail: 7}); err == nil {
		t.Error("bad FailMode accepted")
	}
}

// TestApplyDifferential applies the same random ops, with explicit days
// around a month end, to the memory ledger and to Redis, and requires
// identical outcomes: the Lua script and the Go code implement one ledger.
func TestApplyDifferential(t *testing.T) {
	ctx := context.Background()
	mem := NewMemory(MemoryConfig{Clock: newClock(t0)})
	red := newRedisLedgers(t, 1)[0]
	rng := rand.New(rand.NewPCG(1, 2))
	windows := []Window{Daily, Monthly, LastDays(3)}
	scopes := []string{"key:a", "user:b", "org:c"}
	base := dayOf(t0) - 2 // Mar 29 … Apr 2
	for step := range 400 {
		n := 1 + rng.IntN(3)
		var ops []Op
		used := map[[2]int]bool{}
		for range n {
			si, wi := rng.IntN(len(scopes)), rng.IntN(len(windows))
			if used[[2]int{si, wi}] {
				continue
			}
			used[[2]int{si, wi}] = true
			budget := Money(rng.IntN(300))
			if rng.IntN(5) == 0 {
				budget = Unlimited
			}
			ops = append(ops, Op{
				Charge:   Charge{Scope: scopes[si], Window: windows[wi], Budget: budget},
				Day:      base + int64(rng.IntN(5)),
				Reserved: Money(rng.IntN(60) - 20),
				Spent:    Money(rng.IntN(40) - 10),
				Check:    rng.IntN(2) == 0,
			})
		}
		want, err := mem.Apply(ctx, ops)
		if err != nil {
			t.Fatal(err)
		}
		got, err := red.Apply(ctx, ops)
		if err != nil {
			t.Fatal(err)
		}
		if got.OK != want.OK {
			t.Fatalf("step %d: ops %+v: redis OK %v, memory %v", step, ops, got.OK, want.OK)
		}
		for i := range ops {
			g, w := got.Balances[i], want.Balances[i]
			if g.Spent != w.Spent || g.Reserved != w.Reserved || g.Allowed != w.Allowed || !g.End().Equal(w.End()) {
				t.Fatalf("step %d op %d %+v: redis %+v, memory %+v", step, i, ops[i], g, w)
			}
		}
	}
}

// TestRedisMonthBoundaries checks the script's month arithmetic against
// Go's calendar at every month end from 2024 to 2031, leap Februaries
// included: spend on a month's first day is seen on its last day and not
// on the next month's first.
func TestRedisMonthBoundaries(t *testing.T) {
	ctx := context.Background()
	l := newRedisLedgers(t, 1)[0]
	c := Charge{Scope: "key:months", Window: Monthly, Budget: Unlimited}
	for m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); m.Year() < 2031; m = m.AddDate(0, 1, 0) {
		first, next := dayOf(m), dayOf(m.AddDate(0, 1, 0))
		if _, err := l.Apply(ctx, []Op{{Charge: c, Day: first, Spent: 1}}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			day  int64
			want Money
		}{{next - 1, 1}, {next, 0}} {
			a, err := l.Apply(ctx, []Op{{Charge: c, Day: tt.day}})
			if err != nil {
				t.Fatal(err)
			}
			if a.Balances[0].Spent != tt.want {
				t.Fatalf("%v: spent %d on %v, want %d", m.Format("2006-01"), a.Balances[0].Spent, dayStart(tt.day), tt.want)
			}
		}
	}
}

// TestRedisOutageSkipped: after Redis fails, the ledger stops calling it
// for RetryInterval (on a fake clock) — Reserve fails closed or open at
// once, Apply and Balances fail at once — then tries again, and one answer
// ends the outage.
func TestRedisOutageSkipped(t *testing.T) {
	opt, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	fn := &outagetest.Network{}
	opt.Dialer, opt.MaxRetries, opt.DialerRetries = fn.Dial, -1, 1
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	clk := newClock(time.Unix(1_750_000_000, 0))
	prefix := randomPrefix()
	closed, _ := NewRedis(RedisConfig{Client: c, Prefix: prefix, RetryInterval: 5 * time.Second, Clock: clk})
	open, _ := NewRedis(RedisConfig{Client: c, Prefix: prefix, RetryInterval: 5 * time.Second, Clock: clk, Fail: FailOpen})
	newRedisClient(t, prefix) // deletes the test's keys at the end
	ctx := context.Background()
	ch := []Charge{{Scope: "key:outage", Budget: Dollar, Amount: Cent}}

	for _, l := range []*RedisLedger{closed, open} {
		if r, err := l.Reserve(ctx, ch); err != nil || !r.Allowed || r.FailedOpen {
			t.Fatalf("Redis up: Reserve = %+v, %v", r, err)
		}
	}

	fn.SetOff(true)
	for _, l := range []*RedisLedger{closed, open} {
		r, err := l.Reserve(ctx, ch) // finds Redis down
		if l == closed && !errors.Is(err, ErrUnavailable) || l == open && !r.FailedOpen {
			t.Fatalf("first call with Redis down: %+v, %v", r, err)
		}
	}
	tried := fn.Attempts()
	if tried == 0 {
		t.Fatal("the first calls did not reach the network")
	}
	for range 10 {
		if _, err := closed.Reserve(ctx, ch); !errors.Is(err, ErrUnavailable) || !errors.Is(err, outage.ErrSkipped) {
			t.Fatalf("fail closed within the interval: %v, want ErrUnavailable wrapping outage.ErrSkipped", err)
		}
		if r, err := open.Reserve(ctx, ch); err != nil || !r.FailedOpen {
			t.Fatalf("fail open within the interval: %+v, %v", r, err)
		}
		if _, err := closed.Balances(ctx, ch); !errors.Is(err, outage.ErrSkipped) {
			t.Fatalf("Balances within the interval: %v", err)
		}
	}
	if n := fn.Attempts() - tried; n != 0 {
		t.Errorf("%d attempts reached the network within the retry interval", n)
	}

	fn.SetOff(false)
	clk.Set(clk.Now().Add(5 * time.Second))
	for _, l := range []*RedisLedger{closed, open} {
		if r, err := l.Reserve(ctx, ch); err != nil || !r.Allowed || r.FailedOpen {
			t.Fatalf("after the interval, Redis back: Reserve = %+v, %v", r, err)
		}
	}
}
