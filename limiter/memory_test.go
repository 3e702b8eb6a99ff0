package limiter

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func rpm(key string, rate int) Limit { return Limit{Key: key, Kind: Requests, Rate: rate} }
func tpm(key string, rate int) Limit { return Limit{Key: key, Kind: Tokens, Rate: rate} }

// step is one call on a fake timeline: at offset at, reserve reqs and
// expect want (only the fields set are compared, see check).
type step struct {
	at   time.Duration
	reqs []Request
	want Reservation
	rem  []int // Remaining per result, when not nil
}

func TestMemoryReserve(t *testing.T) {
	k := "key:k1"
	one := []Request{{Limit: rpm(k, 60), Cost: 1}}
	tests := []struct {
		name  string
		setup func(s *MemoryStore) // run at t0 before the steps
		steps []step
	}{
		{
			name: "fresh key bursts Rate then waits one interval",
			setup: func(s *MemoryStore) {
				for range 59 {
					mustReserve(t, s, t0, one)
				}
			},
			steps: []step{
				{at: 0, reqs: one, want: Reservation{Allowed: true}, rem: []int{0}},
				{at: 0, reqs: one, want: Reservation{RetryAfter: time.Second}, rem: []int{0}},
				{at: 999 * time.Millisecond, reqs: one, want: Reservation{RetryAfter: time.Millisecond}},
				{at: time.Second, reqs: one, want: Reservation{Allowed: true}, rem: []int{0}},
				{at: 3500 * time.Millisecond, reqs: one, want: Reservation{Allowed: true}, rem: []int{1}},
			},
		},
		{
			name: "burst smaller than rate",
			setup: func(s *MemoryStore) {
				for range 10 {
					mustReserve(t, s, t0, []Request{{Limit: Limit{Key: k, Rate: 60, Burst: 10}, Cost: 1}})
				}
			},
			steps: []step{
				{at: 0, reqs: []Request{{Limit: Limit{Key: k, Rate: 60, Burst: 10}, Cost: 1}}, want: Reservation{RetryAfter: time.Second}},
				{at: 2 * time.Second, reqs: []Request{{Limit: Limit{Key: k, Rate: 60, Burst: 10}, Cost: 2}}, want: Reservation{Allowed: true}, rem: []int{0}},
			},
		},
		{
			name: "refill is continuous for tokens",
			steps: []step{
				{at: 0, reqs: []Request{{Limit: tpm(k, 6000), Cost: 6000}}, want: Reservation{Allowed: true}, rem: []int{0}},
				// 6000 per minute is 100 per second: 250 tokens take 2.5s.
				{at: 0, reqs: []Request{{Limit: tpm(k, 6000), Cost: 250}}, want: Reservation{RetryAfter: 2500 * time.Millisecond}},
				{at: 2500 * time.Millisecond, reqs: []Request{{Limit: tpm(k, 6000), Cost: 250}}, want: Reservation{Allowed: true}, rem: []int{0}},
			},
		},
		{
			name: "cost above burst is too large, never a wait",
			steps: []step{
				{at: 0, reqs: []Request{{Limit: tpm(k, 1000), Cost: 1001}}, want: Reservation{TooLarge: true}, rem: []int{1000}},
				{at: 0, reqs: []Request{{Limit: tpm(k, 1000), Cost: 1000}}, want: Reservation{Allowed: true}, rem: []int{0}},
			},
		},
		{
			name: "one denied limit charges none of the others",
			steps: []step{
				{at: 0, reqs: []Request{{Limit: rpm(k, 10), Cost: 1}, {Limit: tpm(k, 100), Cost: 80}}, want: Reservation{Allowed: true}, rem: []int{9, 20}},
				{at: 0, reqs: []Request{{Limit: rpm(k, 10), Cost: 1}, {Limit: tpm(k, 100), Cost: 30}}, want: Reservation{RetryAfter: 6 * time.Second}, rem: []int{9, 20}},
				{at: 0, reqs: []Request{{Limit: rpm(k, 10), Cost: 1}, {Limit: tpm(k, 100), Cost: 20}}, want: Reservation{Allowed: true}, rem: []int{8, 0}},
			},
		},
		{
			name: "the same bucket twice in one request adds up",
			steps: []step{
				{at: 0, reqs: []Request{{Limit: tpm(k, 10), Cost: 6}, {Limit: tpm(k, 10), Cost: 6}}, want: Reservation{RetryAfter: 12 * time.Second}, rem: []int{10, 10}},
				{at: 0, reqs: []Request{{Limit: tpm(k, 10), Cost: 6}, {Limit: tpm(k, 10), Cost: 4}}, want: Reservation{Allowed: true}, rem: []int{4, 0}},
			},
		},
		{
			name: "kinds and periods are separate buckets",
			setup: func(s *MemoryStore) {
				mustReserve(t, s, t0, []Request{{Limit: rpm(k, 1), Cost: 1}})
			},
			steps: []step{
				{at: 0, reqs: []Request{{Limit: tpm(k, 1), Cost: 1}}, want: Reservation{Allowed: true}},
				{at: 0, reqs: []Request{{Limit: Limit{Key: k, Rate: 1, Period: time.Hour}, Cost: 1}}, want: Reservation{Allowed: true}},
				{at: 0, reqs: []Request{{Limit: rpm("key:k2", 1), Cost: 1}}, want: Reservation{Allowed: true}},
				{at: 0, reqs: []Request{{Limit: rpm(k, 1), Cost: 1}}, want: Reservation{RetryAfter: time.Minute}},
			},
		},
		{
			name: "more limits than fit inline",
			steps: []step{
				{at: 0, reqs: []Request{
					{Limit: rpm("a", 5), Cost: 1}, {Limit: rpm("b", 5), Cost: 1}, {Limit: rpm("c", 5), Cost: 1},
					{Limit: rpm("d", 5), Cost: 1}, {Limit: rpm("e", 5), Cost: 1}, {Limit: rpm("f", 1), Cost: 2},
				}, want: Reservation{TooLarge: true}, rem: []int{5, 5, 5, 5, 5, 1}},
				{at: 0, reqs: []Request{
					{Limit: rpm("a", 5), Cost: 1}, {Limit: rpm("b", 5), Cost: 1}, {Limit: rpm("c", 5), Cost: 1},
					{Limit: rpm("d", 5), Cost: 1}, {Limit: rpm("e", 5), Cost: 1}, {Limit: rpm("f", 1), Cost: 1},
				}, want: Reservation{Allowed: true}, rem: []int{4, 4, 4, 4, 4, 0}},
			},
		},
		{
			name:  "no requests is allowed",
			steps: []step{{at: 0, reqs: nil, want: Reservation{Allowed: true}, rem: []int{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemory(MemoryConfig{Clock: newFakeClock()})
			if tt.setup != nil {
				tt.setup(s)
			}
			for i, st := range tt.steps {
				got := mustReserve(t, s, t0.Add(st.at), st.reqs)
				check(t, fmt.Sprintf("step %d", i), got, st.want, st.rem)
			}
		})
	}
}

func mustReserve(t *testing.T, s *MemoryStore, now time.Time, reqs []Request) Reservation {
	t.Helper()
	r, err := s.ReserveAt(now, reqs)
	if err != nil {
		t.Fatalf("ReserveAt: %v", err)
	}
	return r
}

func check(t *testing.T, what string, got, want Reservation, rem []int) {
	t.Helper()
	if got.Allowed != want.Allowed || got.TooLarge != want.TooLarge || got.RetryAfter != want.RetryAfter {
		t.Errorf("%s: got Allowed=%v TooLarge=%v RetryAfter=%v, want %v %v %v", what,
			got.Allowed, got.TooLarge, got.RetryAfter, want.Allowed, want.TooLarge, want.RetryAfter)
	}
	if rem == nil {
		return
	}
	res := got.Results()
	if len(res) != len(rem) {
		t.Fatalf("%s: %d results, want %d", what, len(res), len(rem))
	}
	for i, r := range res {
		if r.Remaining != rem[i] {
			t.Errorf("%s: result %d (%s %v): Remaining %d, want %d", what, i, r.Limit.Key, r.Limit.Kind, r.Remaining, rem[i])
		}
	}
}

func TestMemoryResultFields(t *testing.T) {
	s := NewMemory(MemoryConfig{Clock: newFakeClock()})
	r := mustReserve(t, s, t0, []Request{{Limit: rpm("k", 600), Cost: 1}, {Limit: tpm("k", 6000), Cost: 1500}})
	got := r.Results()
	want := []Result{
		{Limit: Limit{Key: "k", Kind: Requests, Rate: 600, Period: time.Minute, Burst: 600}, Cost: 1, Allowed: true, Remaining: 599, ResetAfter: 100 * time.Millisecond},
		{Limit: Limit{Key: "k", Kind: Tokens, Rate: 6000, Period: time.Minute, Burst: 6000}, Cost: 1500, Allowed: true, Remaining: 4500, ResetAfter: 15 * time.Second},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if x, ok := r.Result(Tokens); !ok || x.Cost != 1500 {
		t.Errorf("Result(Tokens) = %+v, %v", x, ok)
	}
	// A denied request reports the untouched state and when it would pass.
	d := mustReserve(t, s, t0, []Request{{Limit: tpm("k", 6000), Cost: 5000}})
	x := d.Results()[0]
	if x.Allowed || x.Remaining != 4500 || x.ResetAfter != 15*time.Second || x.RetryAfter != 5*time.Second {
		t.Errorf("denied result %+v", x)
	}
}

func TestMemorySettle(t *testing.T) {
	ctx := context.Background()
	lims := []Request{{Limit: rpm("k", 10), Cost: 1}, {Limit: tpm("k", 1000), Cost: 100}}
	remaining := func(t *testing.T, s *MemoryStore) []int {
		t.Helper()
		r := mustReserve(t, s, t0, []Request{{Limit: rpm("k", 10)}, {Limit: tpm("k", 1000)}})
		return []int{r.Results()[0].Remaining, r.Results()[1].Remaining}
	}
	tests := []struct {
		name    string
		act     func(ctx context.Context, r *Reservation) error
		want    []int
		wantErr error
	}{
		{"settle less refunds the rest", func(ctx context.Context, r *Reservation) error { return r.Settle(ctx, 40) }, []int{9, 960}, nil},
		{"settle exact changes nothing", func(ctx context.Context, r *Reservation) error { return r.Settle(ctx, 100) }, []int{9, 900}, nil},
		{"settle more charges the overage", func(ctx context.Context, r *Reservation) error { return r.Settle(ctx, 700) }, []int{9, 300}, nil},
		{"settle twice sets the charge", func(ctx context.Context, r *Reservation) error {
			if err := r.Settle(ctx, 50); err != nil {
				return err
			}
			return r.Settle(ctx, 70)
		}, []int{9, 930}, nil},
		{"cancel refunds everything", func(ctx context.Context, r *Reservation) error { return r.Cancel(ctx) }, []int{10, 1000}, nil},
		{"cancel after settle refunds the settled charge", func(ctx context.Context, r *Reservation) error {
			if err := r.Settle(ctx, 300); err != nil {
				return err
			}
			return r.Cancel(ctx)
		}, []int{10, 1000}, nil},
		{"settle after cancel fails", func(ctx context.Context, r *Reservation) error {
			if err := r.Cancel(ctx); err != nil {
				return err
			}
			if err := r.Cancel(ctx); err != nil {
				return fmt.Errorf("second cancel: %w", err)
			}
			return r.Settle(ctx, 5)
		}, []int{10, 1000}, ErrCanceled},
		{"negative settle is refused", func(ctx context.Context, r *Reservation) error { return r.Settle(ctx, -1) }, []int{9, 900}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s := NewMemory(MemoryConfig{Clock: clk})
			r := mustReserve(t, s, t0, lims)
			err := tt.act(ctx, &r)
			switch {
			case tt.wantErr == errAny && err == nil, tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := remaining(t, s); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("remaining %v, want %v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestMemoryOverageDebt(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	s := NewMemory(MemoryConfig{Clock: clk})
	lim := tpm("k", 1000) // one token per 60ms
	r, err := s.Reserve(ctx, []Request{{Limit: lim, Cost: 100}})
	if err != nil || !r.Allowed {
		t.Fatalf("reserve: %+v, %v", r, err)
	}
	if err := r.Settle(ctx, 1500); err != nil {
		t.Fatal(err)
	}
	// 1500 tokens in a bucket of 1000: 500 in debt, so one more token
	// waits for 501 tokens' worth of refill.
	d, _ := s.Reserve(ctx, []Request{{Limit: lim, Cost: 1}})
	if d.Allowed || d.RetryAfter != 501*60*time.Millisecond || d.Results()[0].Remaining != 0 {
		t.Fatalf("in debt: %+v", d)
	}
	if d.Results()[0].ResetAfter != 1500*60*time.Millisecond {
		t.Errorf("ResetAfter %v", d.Results()[0].ResetAfter)
	}
	clk.Advance(d.RetryAfter)
	if a, _ := s.Reserve(ctx, []Request{{Limit: lim, Cost: 1}}); !a.Allowed {
		t.Fatalf("after RetryAfter: %+v", a)
	}
}

func TestMemoryDeniedReservationHoldsNothing(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(MemoryConfig{Clock: newFakeClock()})
	mustReserve(t, s, t0, []Request{{Limit: rpm("k", 1), Cost: 1}})
	d := mustReserve(t, s, t0, []Request{{Limit: rpm("k", 1), Cost: 1}})
	if d.Allowed {
		t.Fatal("second request allowed")
	}
	if err := d.Settle(ctx, 10); err != nil {
		t.Errorf("Settle on denied: %v", err)
	}
	if err := d.Cancel(ctx); err != nil {
		t.Errorf("Cancel on denied: %v", err)
	}
	if again := mustReserve(t, s, t0, []Request{{Limit: rpm("k", 1), Cost: 1}}); again.Allowed {
		t.Error("Cancel of a denied reservation refunded someone else's charge")
	}
}

func TestMemoryInvalid(t *testing.T) {
	s := NewMemory(MemoryConfig{})
	tests := []struct {
		name string
		req  Request
	}{
		{"zero rate", Request{Limit: Limit{Key: "k"}, Cost: 1}},
		{"negative rate", Request{Limit: Limit{Key: "k", Rate: -1}, Cost: 1}},
		{"negative burst", Request{Limit: Limit{Key: "k", Rate: 1, Burst: -1}, Cost: 1}},
		{"negative period", Request{Limit: Limit{Key: "k", Rate: 1, Period: -time.Second}, Cost: 1}},
		{"unknown kind", Request{Limit: Limit{Key: "k", Rate: 1, Kind: 7}, Cost: 1}},
		{"negative cost", Request{Limit: Limit{Key: "k", Rate: 1}, Cost: -1}},
		{"burst overflows", Request{Limit: Limit{Key: "k", Rate: 1, Period: time.Hour, Burst: 1 << 50}, Cost: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Reserve(context.Background(), []Request{{Limit: rpm("ok", 1), Cost: 1}, tt.req})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if r, _ := s.Reserve(context.Background(), []Request{{Limit: rpm("ok", 1), Cost: 1}}); !r.Allowed {
				t.Error("invalid request charged the valid limit before it")
			}
			s = NewMemory(MemoryConfig{})
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Reserve(ctx, []Request{{Limit: rpm("k", 1), Cost: 1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
}

func TestMemoryEviction(t *testing.T) {
	t.Run("idle buckets are swept on insert", func(t *testing.T) {
		s := NewMemory(MemoryConfig{Shards: 1})
		for i := range 3000 {
			mustReserve(t, s, t0, []Request{{Limit: rpm(fmt.Sprint("old", i), 60), Cost: 1}})
		}
		if n := s.Len(); n != 3000 {
			t.Fatalf("Len %d after 3000 live keys", n)
		}
		// One second later every old bucket is full again, so the next
		// sweep (due when the shard reaches twice its last live size)
		// drops them all.
		later := t0.Add(time.Second)
		for i := range 3000 {
			mustReserve(t, s, later, []Request{{Limit: rpm(fmt.Sprint("new", i), 60), Cost: 1}})
		}
		if n := s.Len(); n >= 6000 || n < 3000 {
			t.Fatalf("Len %d, want old keys swept", n)
		}
	})
	t.Run("a bucket in debt is not idle", func(t *testing.T) {
		s := NewMemory(MemoryConfig{Shards: 1})
		mustReserve(t, s, t0, []Request{{Limit: rpm("debtor", 1), Cost: 1}})
		later := t0.Add(30 * time.Second)
		for i := range 5000 {
			mustReserve(t, s, later, []Request{{Limit: rpm(fmt.Sprint("k", i), 60), Cost: 1}})
		}
		if r := mustReserve(t, s, later, []Request{{Limit: rpm("debtor", 1), Cost: 1}}); r.Allowed {
			t.Fatal("sweep forgot a bucket that had not refilled")
		}
	})
	t.Run("MaxKeys bounds live buckets", func(t *testing.T) {
		s := NewMemory(MemoryConfig{Shards: 4, MaxKeys: 100})
		for i := range 1000 {
			mustReserve(t, s, t0, []Request{{Limit: rpm(fmt.Sprint("k", i), 60), Cost: 1}})
		}
		if n := s.Len(); n > 100 {
			t.Fatalf("Len %d > MaxKeys 100", n)
		}
	})
}

func TestMemoryAdjustEdges(t *testing.T) {
	s := NewMemory(MemoryConfig{Clock: newFakeClock()})
	// A refund to a bucket that already refilled is dropped, not banked.
	if err := s.AdjustAt(t0, []Adjustment{{Limit: tpm("k", 100), Delta: -50}}); err != nil {
		t.Fatal(err)
	}
	r := mustReserve(t, s, t0, []Request{{Limit: tpm("k", 100), Cost: 0}})
	if got := r.Results()[0].Remaining; got != 100 {
		t.Errorf("refund beyond full: Remaining %d, want 100", got)
	}
	// A charge to a fresh bucket starts from full.
	if err := s.AdjustAt(t0, []Adjustment{{Limit: tpm("k", 100), Delta: 30}}); err != nil {
		t.Fatal(err)
	}
	r = mustReserve(t, s, t0, []Request{{Limit: tpm("k", 100), Cost: 0}})
	if got := r.Results()[0].Remaining; got != 70 {
		t.Errorf("charge: Remaining %d, want 70", got)
	}
	if err := s.AdjustAt(t0, []Adjustment{{Limit: Limit{Key: "k"}, Delta: 1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid limit: %v", err)
	}
}

// TestMemoryMillionKeys measures the heap held by one million live
// buckets: the bound is 256 MB.
func TestMemoryMillionKeys(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a single-goroutine heap measurement: run without -race and -short")
	}
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%07d", i)
	}
	before := heapInUse()
	s := NewMemory(MemoryConfig{Clock: newFakeClock()})
	req := []Request{{Limit: rpm("", 60), Cost: 1}}
	for i := range keys {
		req[0].Limit.Key = keys[i]
		mustReserve(t, s, t0, req)
	}
	after := heapInUse()
	runtime.KeepAlive(keys)
	if s.Len() != n {
		t.Fatalf("Len %d, want %d", s.Len(), n)
	}
	used := int64(after) - int64(before)
	t.Logf("1M live keys: %.1f MB heap (%.1f bytes/key)", float64(used)/(1<<20), float64(used)/n)
	if used > 256<<20 {
		t.Errorf("1M keys use %d MB, want ≤ 256 MB", used>>20)
	}
}

// TestMemoryRetryAfterIsEnough: a client that waits the advertised
// retry-after-ms (rounded up to the millisecond) gets through, also when
// the emission interval is not a whole number of milliseconds.
func TestMemoryRetryAfterIsEnough(t *testing.T) {
	tests := []struct {
		limit Limit
		cost  int
	}{
		{Limit{Key: "k", Rate: 7}, 1},
		{Limit{Key: "k", Rate: 600, Burst: 3}, 1},
		{Limit{Key: "k", Kind: Tokens, Rate: 40000}, 777},
		{Limit{Key: "k", Kind: Tokens, Rate: 333, Period: time.Second}, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v_%d_per_%v", tt.limit.Kind, tt.limit.Rate, tt.limit.Period), func(t *testing.T) {
			s := NewMemory(MemoryConfig{Clock: newFakeClock()})
			now := t0
			req := []Request{{Limit: tt.limit, Cost: tt.cost}}
			for range 20 {
				r := mustReserve(t, s, now, req)
				for r.Allowed { // drain
					r = mustReserve(t, s, now, req)
				}
				_, ms := RetryAfter(r.RetryAfter)
				wait, err := time.ParseDuration(ms + "ms")
				if err != nil {
					t.Fatal(err)
				}
				if wait < r.RetryAfter {
					t.Fatalf("retry-after-ms %s is shorter than RetryAfter %v", ms, r.RetryAfter)
				}
				now = now.Add(wait)
				if again := mustReserve(t, s, now, req); !again.Allowed {
					t.Fatalf("waited retry-after-ms %s and was denied again (RetryAfter %v)", ms, again.RetryAfter)
				}
			}
		})
	}
}

// TestMemoryReserveAllocs pins the hot path at zero allocations for up to
// four limits.
func TestMemoryReserveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := NewMemory(MemoryConfig{})
	reqs := []Request{
		{Limit: rpm("key:k1", 600), Cost: 1}, {Limit: tpm("key:k1", 1e6), Cost: 10},
		{Limit: tpm("user:u", 1e6), Cost: 10}, {Limit: tpm("org:o", 1e6), Cost: 10},
	}
	for n := 1; n <= inline; n++ {
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			i++
			if _, err := s.ReserveAt(t0.Add(time.Duration(i)*time.Second), reqs[:n]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d limits: %v allocations per decision, want 0", n, allocs)
		}
	}
}

// TestMemorySettleAllocs pins Settle and Cancel on a MemoryStore
// reservation at zero allocations.
func TestMemorySettleAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := NewMemory(MemoryConfig{})
	ctx := context.Background()
	reqs := []Request{{Limit: rpm("key:k1", 600), Cost: 1}, {Limit: tpm("key:k1", 1e9), Cost: 100}}
	allocs := testing.AllocsPerRun(1000, func() {
		r, err := s.Reserve(ctx, reqs)
		if err != nil || !r.Allowed {
			t.Fatalf("reserve: %v, allowed %v", err, r.Allowed)
		}
		if err := r.Settle(ctx, 40); err != nil {
			t.Fatal(err)
		}
		if err := r.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Reserve+Settle+Cancel: %v allocations, want 0", allocs)
	}
}
