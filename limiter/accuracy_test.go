package limiter

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// admission is one admitted request: when (ns on some timeline) and how
// many units.
type admission struct {
	at   int64
	cost int64
}

// checkWindows reports an error if some stretch of time [a, b] between two
// admissions holds more than burst + (b−a)/interval units. It sorts adm.
func checkWindows(adm []admission, burst, interval int64) error {
	slices.SortFunc(adm, func(x, y admission) int { return int(x.at - y.at) })
	// For i ≤ j: W(j) − W(i−1) ≤ burst + (t_j − t_i)/interval, i.e.
	// W(j)·iv − t_j ≤ burst·iv + W(i−1)·iv − t_i; keep the min of the right.
	var w int64 // W(j)
	best := int64(1) << 62
	for j, a := range adm {
		if v := w*interval - a.at; v < best {
			best = v
		}
		w += a.cost
		if w*interval-a.at > burst*interval+best {
			return fmt.Errorf("admission %d at %v: a window ending there holds more than burst %d + its refill", j, time.Duration(a.at), burst)
		}
	}
	return nil
}

// hammer runs workers goroutines, each reserving reqs(worker, attempt)
// through reserve, which returns the decision and its time, until stop is
// closed; it returns every admission and the number of attempts.
func hammer(workers int, stop <-chan struct{}, reserve func(ctx context.Context, w int, reqs []Request) (Reservation, int64, error),
	reqs func(w, i int) []Request) ([]admission, int64, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []admission
		attempts atomic.Int64
		firstErr atomic.Value
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []admission
			defer func() { mu.Lock(); all = append(all, mine...); mu.Unlock() }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := reqs(w, i)
				r, at, err := reserve(context.Background(), w, q)
				attempts.Add(1)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if r.Allowed {
					mine = append(mine, admission{at: at, cost: int64(q[0].Cost)})
				}
				runtime.Gosched() // let the timeline move

			}
		}()
	}
	<-stop
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return all, attempts.Load(), err
	}
	return all, attempts.Load(), nil
}

func sumCost(adm []admission) int64 {
	var n int64
	for _, a := range adm {
		n += a.cost
	}
	return n
}

// TestMemoryAccuracy: 200 goroutines hammer one key on a fake timeline
// that moves in uneven steps; after every step the bucket is drained. The
// total admitted must be burst + rate × elapsed (minus at most one), and
// no stretch of time may hold more than burst + its refill.
func TestMemoryAccuracy(t *testing.T) {
	tests := []struct {
		name     string
		limit    Limit
		cost     func(w, i int) int
		step     time.Duration
		duration time.Duration
	}{
		{"rpm 600", Limit{Key: "hot", Kind: Requests, Rate: 600}, func(int, int) int { return 1 }, 237 * time.Millisecond, 2 * time.Minute},
		{"rpm 600 burst 50", Limit{Key: "hot", Kind: Requests, Rate: 600, Burst: 50}, func(int, int) int { return 1 }, 1130 * time.Millisecond, 2 * time.Minute},
		{"tpm 6000 varied costs", Limit{Key: "hot", Kind: Tokens, Rate: 6000}, func(w, i int) int { return 1 + (w*7+i)%50 }, 353 * time.Millisecond, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s := NewMemory(MemoryConfig{Clock: clk})
			lim := tt.limit
			iv, _, err := lim.normalize()
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			type out struct {
				adm []admission
				err error
			}
			done := make(chan out)
			go func() {
				adm, _, err := hammer(200, stop,
					func(_ context.Context, _ int, q []Request) (Reservation, int64, error) {
						now := clk.Now()
						r, err := s.ReserveAt(now, q)
						return r, int64(now.Sub(t0)), err
					},
					func(w, i int) []Request { return []Request{{Limit: lim, Cost: tt.cost(w, i)}} })
				done <- out{adm, err}
			}()
			probe := []Request{{Limit: lim}}
			drained := func() {
				for {
					r, _ := s.ReserveAt(clk.Now(), probe)
					if r.Results()[0].Remaining == 0 {
						return
					}
					runtime.Gosched()
				}
			}
			for elapsed := time.Duration(0); elapsed < tt.duration; elapsed += tt.step {
				drained()
				clk.Advance(tt.step)
			}
			drained()
			close(stop)
			o := <-done
			if o.err != nil {
				t.Fatal(o.err)
			}
			elapsed := clk.ns.Load()
			bound := int64(lim.Burst) + elapsed/iv
			got := sumCost(o.adm)
			t.Logf("%d requests admitted %d units in %v of fake time; bound %d", len(o.adm), got, time.Duration(elapsed), bound)
			if got > bound || got < bound-1 {
				t.Errorf("admitted %d units, want %d (or one less)", got, bound)
			}
			if err := checkWindows(o.adm, int64(lim.Burst), iv); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCheckWindows(t *testing.T) {
	tests := []struct {
		name string
		adm  []admission
		ok   bool
	}{
		{"burst then one per interval", []admission{{0, 1}, {0, 1}, {100, 1}, {200, 1}}, true},
		{"three at once in a burst of two", []admission{{0, 1}, {1, 1}, {2, 1}}, false},
		{"excess late in the run", []admission{{0, 2}, {100, 1}, {200, 1}, {250, 1}}, false},
		{"weighted fits", []admission{{0, 2}, {200, 2}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkWindows(tt.adm, 2, 100); (err == nil) != tt.ok {
				t.Errorf("checkWindows = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
