package limiter

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

func newRedisStore(t *testing.T, cfg RedisConfig) *RedisStore {
	t.Helper()
	s, err := NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedisKey(t *testing.T) {
	s := newRedisStore(t, RedisConfig{Client: nilClient{}})
	tests := []struct {
		l         Limit
		key, slot string
	}{
		{rpm("key:k1", 60), "llmgate:rl:{key:k1}:requests:1m0s", "key:k1"},
		{tpm("key:k1", 60), "llmgate:rl:{key:k1}:tokens:1m0s", "key:k1"},
		{Limit{Key: "{org:acme}:user:alice", Rate: 1, Period: time.Hour}, "llmgate:rl:{org:acme}:user:alice:requests:1h0m0s", "org:acme"},
		{Limit{Key: "weird{}key", Rate: 1}, "llmgate:rl:{weird{}key}:requests:1m0s", "weird{"},
	}
	for _, tt := range tests {
		t.Run(tt.l.Key, func(t *testing.T) {
			k := s.Key(tt.l)
			if k != tt.key {
				t.Errorf("Key = %q, want %q", k, tt.key)
			}
			if got := slotKey(k); got != tt.slot {
				t.Errorf("slot of %q = %q, want %q", k, got, tt.slot)
			}
		})
	}
	if _, err := NewRedis(RedisConfig{}); err == nil {
		t.Error("NewRedis without a client succeeded")
	}
}

// nilClient fails every call; tests use it where Redis must not be asked.
type nilClient struct{ Client }

func TestRedisClusterCheck(t *testing.T) {
	s := newRedisStore(t, RedisConfig{Client: nilClient{}, Cluster: true})
	_, err := s.Reserve(context.Background(), []Request{{Limit: tpm("user:alice", 10), Cost: 1}, {Limit: tpm("org:acme", 10), Cost: 1}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("cross-slot reserve: %v, want ErrInvalid before any call", err)
	}
}

func TestRedisReserve(t *testing.T) {
	c, prefix := sharedRedis(t)
	ctx := context.Background()
	// Hour periods: the milliseconds a test takes refill nothing visible.
	h := func(l Limit) Limit { l.Period = time.Hour; return l }
	s := newRedisStore(t, RedisConfig{Client: c, Prefix: prefix})

	t.Run("burst then deny", func(t *testing.T) {
		one := []Request{{Limit: h(rpm("burst", 60)), Cost: 1}}
		for i := range 60 {
			r, err := s.Reserve(ctx, one)
			if err != nil || !r.Allowed || r.Results()[0].Remaining != 59-i {
				t.Fatalf("request %d: %+v, %v", i, r.Results(), err)
			}
		}
		r, err := s.Reserve(ctx, one)
		if err != nil || r.Allowed || r.TooLarge {
			t.Fatalf("61st: %+v, %v", r, err)
		}
		if r.RetryAfter <= 59*time.Second || r.RetryAfter > time.Minute {
			t.Errorf("RetryAfter %v, want just under 1m", r.RetryAfter)
		}
		if x := r.Results()[0]; x.ResetAfter <= 59*time.Minute || x.ResetAfter > time.Hour {
			t.Errorf("ResetAfter %v, want just under 1h", x.ResetAfter)
		}
	})
	t.Run("one denied limit charges none of the others", func(t *testing.T) {
		both := func(tokens int) []Request {
			return []Request{{Limit: h(rpm("atom", 10)), Cost: 1}, {Limit: h(tpm("atom", 100)), Cost: tokens}}
		}
		expect(t, s, both(80), true, []int{9, 20})
		expect(t, s, both(30), false, []int{9, 20})
		expect(t, s, both(20), true, []int{8, 0})
	})
	t.Run("too large", func(t *testing.T) {
		r, err := s.Reserve(ctx, []Request{{Limit: h(tpm("big", 100)), Cost: 101}})
		if err != nil || r.Allowed || !r.TooLarge || r.RetryAfter != 0 {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("settle and cancel", func(t *testing.T) {
		lims := []Request{{Limit: h(rpm("settle", 10)), Cost: 1}, {Limit: h(tpm("settle", 1000)), Cost: 100}}
		peek := []Request{{Limit: h(rpm("settle", 10))}, {Limit: h(tpm("settle", 1000))}}
		r, err := s.Reserve(ctx, lims)
		if err != nil || !r.Allowed {
			t.Fatalf("%+v, %v", r, err)
		}
		if err := r.Settle(ctx, 40); err != nil {
			t.Fatal(err)
		}
		expect(t, s, peek, true, []int{9, 960})
		if err := r.Settle(ctx, 1500); err != nil {
			t.Fatal(err)
		}
		expect(t, s, peek, false, []int{9, 0})
		if err := r.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		expect(t, s, peek, true, []int{10, 1000})
		if err := r.Settle(ctx, 1); !errors.Is(err, ErrCanceled) {
			t.Errorf("settle after cancel: %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		if _, err := s.Reserve(ctx, []Request{{Limit: Limit{Key: "x"}, Cost: 1}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("zero rate: %v", err)
		}
		if _, err := s.Reserve(ctx, []Request{{Limit: rpm("x", 1), Cost: -1}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative cost: %v", err)
		}
	})
	t.Run("keys expire when full again", func(t *testing.T) {
		l := Limit{Key: "ttl", Rate: 1000, Period: time.Minute}
		if _, err := s.Reserve(ctx, []Request{{Limit: l, Cost: 5}}); err != nil {
			t.Fatal(err)
		}
		// 5 of 1000 per minute refill in 300ms.
		ttl, err := c.PTTL(ctx, s.Key(l)).Result()
		if err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
			t.Errorf("PTTL %v, %v; want at most 300ms", ttl, err)
		}
	})
}

func expect(t *testing.T, s Store, reqs []Request, allowed bool, rem []int) {
	t.Helper()
	r, err := s.Reserve(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "reserve", r, Reservation{Allowed: allowed, RetryAfter: r.RetryAfter, TooLarge: r.TooLarge}, rem)
}

// TestRedisMatchesMemory runs one random sequence of reservations,
// settlements and cancellations on both stores and compares every
// decision. Periods are an hour long so that the milliseconds between the
// two stores' clocks do not show.
func TestRedisMatchesMemory(t *testing.T) {
	c, prefix := sharedRedis(t)
	ctx := context.Background()
	rs := newRedisStore(t, RedisConfig{Client: c, Prefix: prefix})
	ms := NewMemory(MemoryConfig{})
	pool := []Limit{
		{Key: "a", Kind: Requests, Rate: 20, Period: time.Hour},
		{Key: "a", Kind: Tokens, Rate: 500, Period: time.Hour, Burst: 300},
		{Key: "b", Kind: Requests, Rate: 7, Period: time.Hour},
		{Key: "b", Kind: Tokens, Rate: 1000, Period: time.Hour},
		{Key: "{org}:u", Kind: Tokens, Rate: 900, Period: time.Hour},
		{Key: "{org}:v", Kind: Tokens, Rate: 50, Period: 2 * time.Hour},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type pair struct{ m, r Reservation }
	var open []pair
	for step := range 400 {
		switch op := rng.IntN(10); {
		case op < 6 || len(open) == 0:
			n := 1 + rng.IntN(5)
			reqs := make([]Request, n)
			for i := range reqs {
				l := pool[rng.IntN(len(pool))]
				cost := 1
				if l.Kind == Tokens {
					cost = rng.IntN(120)
				}
				if rng.IntN(8) == 0 {
					cost = 0 // a read, as Limit.SetHeaders makes
				}
				reqs[i] = Request{Limit: l, Cost: cost}
			}
			m, err1 := ms.Reserve(ctx, reqs)
			r, err2 := rs.Reserve(ctx, reqs)
			if err1 != nil || err2 != nil {
				t.Fatalf("step %d: %v / %v", step, err1, err2)
			}
			if m.Allowed != r.Allowed || m.TooLarge != r.TooLarge || !near(m.RetryAfter, r.RetryAfter) {
				t.Fatalf("step %d: memory %v %v %v, redis %v %v %v", step, m.Allowed, m.TooLarge, m.RetryAfter, r.Allowed, r.TooLarge, r.RetryAfter)
			}
			for i := range reqs {
				a, b := m.Results()[i], r.Results()[i]
				if a.Allowed != b.Allowed || a.Remaining != b.Remaining || !near(a.ResetAfter, b.ResetAfter) || !near(a.RetryAfter, b.RetryAfter) {
					t.Fatalf("step %d, limit %d:\nmemory %+v\n redis %+v", step, i, a, b)
				}
			}
			if m.Allowed {
				open = append(open, pair{m, r})
			}
		case op < 9:
			i := rng.IntN(len(open))
			actual := rng.IntN(200)
			if err := open[i].m.Settle(ctx, actual); err != nil {
				t.Fatal(err)
			}
			if err := open[i].r.Settle(ctx, actual); err != nil {
				t.Fatal(err)
			}
		default:
			i := rng.IntN(len(open))
			if err := open[i].m.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			if err := open[i].r.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			open = append(open[:i], open[i+1:]...)
		}
	}
}

// near compares durations from the two stores, whose clocks are read
// milliseconds apart.
func near(a, b time.Duration) bool {
	d := a - b
	return d < time.Second && d > -time.Second
}

// TestRedisOneRoundTrip counts what reaches Redis: one EVALSHA per
// decision and per settlement once the script is cached.
func TestRedisOneRoundTrip(t *testing.T) {
	hook := &countHook{}
	c, prefix := sharedRedis(t, hook)
	ctx := context.Background()
	s := newRedisStore(t, RedisConfig{Client: c, Prefix: prefix})
	reqs := []Request{{Limit: rpm("rt", 1000), Cost: 1}, {Limit: tpm("rt", 100000), Cost: 50}, {Limit: tpm("rt:org", 100000), Cost: 50}}
	warm, err := s.Reserve(ctx, reqs) // may load the script: EVALSHA + EVAL
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Settle(ctx, 10); err != nil { // likewise for the adjust script
		t.Fatal(err)
	}
	start, startPipes := hook.roundTrips(), hook.pipes.Load()
	const n = 50
	for i := range n {
		r, err := s.Reserve(ctx, reqs)
		if err != nil || !r.Allowed {
			t.Fatalf("reserve %d: %+v %v", i, r, err)
		}
		if got := hook.roundTrips() - start; got != int64(i+1)*2-1 {
			t.Fatalf("reserve %d: %d round trips so far, want %d", i, got, (i+1)*2-1)
		}
		if name, _ := hook.last.Load().(string); name != "evalsha" {
			t.Fatalf("reserve %d sent %q, want evalsha", i, name)
		}
		if err := r.Settle(ctx, 20); err != nil {
			t.Fatal(err)
		}
	}
	if got := hook.roundTrips() - start; got != 2*n {
		t.Errorf("%d decisions and settlements took %d round trips, want %d", n, got, 2*n)
	}
	if p := hook.pipes.Load() - startPipes; p != 0 {
		t.Errorf("%d pipelines sent, want none", p)
	}
}

// TestRedisNoScript flushes the script cache of a private server: the
// next decision reloads the script (EVALSHA, NOSCRIPT, EVAL) and the one
// after is a single EVALSHA again.
func TestRedisNoScript(t *testing.T) {
	srv := startPrivateRedis(t)
	hook := &countHook{}
	c := newClient(t, srv.url(), hook)
	ctx := context.Background()
	s := newRedisStore(t, RedisConfig{Client: c})
	reqs := []Request{{Limit: rpm("k", 100), Cost: 1}}
	for round := range 2 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int64{2, 1} {
			before := hook.roundTrips()
			if _, err := s.Reserve(ctx, reqs); err != nil {
				t.Fatal(err)
			}
			if got := hook.roundTrips() - before; got != want {
				t.Errorf("round %d, call %d: %d round trips, want %d", round, i, got, want)
			}
		}
	}
}

// TestRedisAccuracyThreeInstances: three stores, each with its own client
// as if on three replicas, share one Redis; 200 goroutines hammer one key
// for a few seconds of real time. Together they admit what one bucket
// allows, not three times it.
func TestRedisAccuracyThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("short: runs for seconds of real time")
	}
	needRedis(t)
	tests := []struct {
		name     string
		limit    Limit
		cost     func(w, i int) int
		maxCost  int
		duration time.Duration
	}{
		{"rpm 600", Limit{Key: "hot", Kind: Requests, Rate: 600}, func(int, int) int { return 1 }, 1, 3 * time.Second},
		{"tpm 6000 varied costs", Limit{Key: "hot", Kind: Tokens, Rate: 6000, Burst: 600}, func(w, i int) int { return 1 + (w*7+i)%20 }, 20, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, prefix := sharedRedis(t)
			stores := make([]*RedisStore, 3)
			for i := range stores {
				stores[i] = newRedisStore(t, RedisConfig{Client: newClient(t, needRedis(t)), Prefix: prefix, Timeout: 5 * time.Second})
			}
			lim := tt.limit
			iv, _, _ := lim.normalize()
			var (
				mu         sync.Mutex
				firstReply time.Time // earliest reply to an admitted request
				lastSend   time.Time // latest send of any request
			)
			stop := make(chan struct{})
			start := time.Now()
			go func() {
				<-time.After(tt.duration)
				close(stop)
			}()
			adm, attempts, err := hammer(200, stop,
				func(ctx context.Context, w int, q []Request) (Reservation, int64, error) {
					sent := time.Now()
					r, err := stores[w%3].Reserve(ctx, q)
					replied := time.Now()
					mu.Lock()
					if sent.After(lastSend) {
						lastSend = sent
					}
					if err == nil && r.Allowed && (firstReply.IsZero() || replied.Before(firstReply)) {
						firstReply = replied
					}
					mu.Unlock()
					return r, 0, err
				},
				func(w, i int) []Request { return []Request{{Limit: lim, Cost: tt.cost(w, i)}} })
			end := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			got := sumCost(adm)
			// Upper: every admission happened inside [start, end].
			upper := int64(lim.Burst) + int64(end.Sub(start))/iv
			// Lower: between the first admission (no later than firstReply)
			// and the last attempt (no earlier than lastSend) the bucket was
			// drained continuously.
			lower := int64(lim.Burst) + int64(lastSend.Sub(firstReply))/iv - int64(tt.maxCost)
			t.Logf("%d attempts, %d admitted, %d units in %v; bounds [%d, %d]", attempts, len(adm), got, end.Sub(start), lower, upper)
			if got > upper {
				t.Errorf("three instances admitted %d units, more than one bucket allows (%d)", got, upper)
			}
			if got < lower {
				t.Errorf("admitted %d units, fewer than the bucket allows (%d)", got, lower)
			}
		})
	}
}

// TestRedisTimeout points a store at a server that accepts connections
// and never answers: the decision fails within the configured timeout.
func TestRedisTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	c := newClient(t, "redis://"+l.Addr().String()+"/0")
	const timeout = 150 * time.Millisecond
	clk := newFakeClock()
	s := newRedisStore(t, RedisConfig{Client: c, Timeout: timeout, Clock: clk})
	begin := time.Now()
	_, err = s.Reserve(context.Background(), []Request{{Limit: rpm("k", 10), Cost: 1}})
	took := time.Since(begin)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if took > timeout+time.Second {
		t.Errorf("failed after %v, want about the %v timeout", took, timeout)
	}
	t.Logf("hung Redis: ErrUnavailable after %v (timeout %v)", took, timeout)
	// Within the retry interval the store does not wait again.
	begin = time.Now()
	if _, err = s.Reserve(context.Background(), []Request{{Limit: rpm("k", 10), Cost: 1}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second call: %v", err)
	}
	if took := time.Since(begin); took > timeout/2 {
		t.Errorf("second call within the retry interval took %v", took)
	}
}

// TestRedisContextCanceled: a caller that gives up is not a Redis failure.
func TestRedisContextCanceled(t *testing.T) {
	c, prefix := sharedRedis(t)
	s := newRedisStore(t, RedisConfig{Client: c, Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Reserve(ctx, []Request{{Limit: rpm("k", 10), Cost: 1}})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	if r, err := s.Reserve(context.Background(), []Request{{Limit: rpm("k", 10), Cost: 1}}); err != nil || !r.Allowed {
		t.Fatalf("after a canceled call: %+v, %v", r, err)
	}
}
