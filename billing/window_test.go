package billing

import (
	"context"
	"testing"
	"time"
)

// TestRolloverClock walks the memory ledger's injected clock across a day
// and a month end: t0 is 2026-03-31 23:00 UTC.
func TestRolloverClock(t *testing.T) {
	ctx := context.Background()
	day := Charge{Scope: "key:k", Window: Daily, Budget: 50 * Cent, Amount: 40 * Cent}
	month := Charge{Scope: "key:k", Window: Monthly, Budget: Dollar, Amount: 40 * Cent}
	roll := Charge{Scope: "key:k", Window: LastDays(3), Budget: Dollar, Amount: 40 * Cent}
	type step struct {
		at      time.Time
		charges []Charge
		allowed bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"day", []step{
			{t0, []Charge{day}, true},
			{t0.Add(59 * time.Minute), []Charge{day}, false}, // 23:59: $0.80 > $0.50
			{t0.Add(time.Hour), []Charge{day}, true},         // 00:00 the next day
			{t0.Add(25 * time.Hour), []Charge{day}, true},
		}},
		{"month", []step{
			{t0.Add(-30 * 24 * time.Hour), []Charge{month}, true}, // March 1st
			{t0, []Charge{month}, true},                           // $0.80 in March
			{t0.Add(30 * time.Minute), []Charge{month}, false},    // $1.20 > $1.00
			{t0.Add(time.Hour), []Charge{month}, true},            // April 1st
			{t0.Add(29 * 24 * time.Hour), []Charge{month}, true},  // April 30th: $0.80
			{t0.Add(30*24*time.Hour - time.Second), []Charge{month}, false},
			{t0.Add(30*24*time.Hour + time.Hour), []Charge{month}, true}, // May 1st
		}},
		{"rolling", []step{
			{t0.Add(-24 * time.Hour), []Charge{roll}, true}, // Mar 30
			{t0, []Charge{roll}, true},                      // Mar 31: $0.80 in the window
			{t0.Add(time.Hour - time.Second), []Charge{roll}, false},
			{t0.Add(time.Hour), []Charge{roll}, false},       // Apr 1: Mar 30-Apr 1 holds $0.80
			{t0.Add(25 * time.Hour), []Charge{roll}, true},   // Apr 2: Mar 30 left
			{t0.Add(26 * time.Hour), []Charge{roll}, false},  // Mar 31 + Apr 2 = $0.80
			{t0.Add(49 * time.Hour), []Charge{roll}, true},   // Apr 3: Mar 31 left
			{t0.Add(121 * time.Hour), []Charge{roll}, true},  // Apr 6: only Apr 6
			{t0.Add(121 * time.Hour), []Charge{roll}, true},  // $0.80
			{t0.Add(121 * time.Hour), []Charge{roll}, false}, // $1.20
		}},
		{"all or nothing across windows", []step{
			{t0, []Charge{day, month}, true},
			{t0, []Charge{day, month}, false},                    // the day denies; the month is untouched
			{t0.Add(time.Hour), []Charge{day, month}, true},      // April 1st
			{t0.Add(25 * time.Hour), []Charge{day, month}, true}, // April 2nd; April: $0.80
			{t0.Add(26 * time.Hour), []Charge{month}, false},     // April: $1.20
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock(t0)
			l := NewMemory(MemoryConfig{Clock: clock, Shards: 4})
			for i, s := range tt.steps {
				clock.Set(s.at)
				r, err := l.Reserve(ctx, s.charges)
				if err != nil || r.Allowed != s.allowed {
					t.Fatalf("step %d at %v: Reserve = %v, %v; want %v (balances %+v)", i, s.at, r.Allowed, err, s.allowed, r.Balances)
				}
				if err := r.Settle(ctx, 40*Cent); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestWindowBounds checks Balance.Start and End for each window.
func TestWindowBounds(t *testing.T) {
	ctx := context.Background()
	l := NewMemory(MemoryConfig{Clock: newClock(t0)})
	tests := []struct {
		window     Window
		start, end time.Time
	}{
		{Daily, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{Monthly, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{LastDays(7), time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{LastDays(1), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.window.String(), func(t *testing.T) {
			b, err := l.Balances(ctx, []Charge{{Scope: "s", Window: tt.window, Budget: Unlimited}})
			if err != nil {
				t.Fatal(err)
			}
			if !b[0].Start().Equal(tt.start) || !b[0].End().Equal(tt.end) {
				t.Errorf("bounds [%v, %v); want [%v, %v)", b[0].Start(), b[0].End(), tt.start, tt.end)
			}
		})
	}
}

// TestSettleAfterMidnight: a reservation made before midnight settles into
// the day it was made on, not the new day.
func TestSettleAfterMidnight(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0.Add(59 * time.Minute))
	l := NewMemory(MemoryConfig{Clock: clock})
	c := Charge{Scope: "key:late", Window: Daily, Budget: Dollar, Amount: 50 * Cent}
	r, _ := l.Reserve(ctx, []Charge{c})
	clock.Set(t0.Add(61 * time.Minute))
	if err := r.Settle(ctx, 30*Cent); err != nil {
		t.Fatal(err)
	}
	today, _ := l.Balances(ctx, []Charge{c})
	if today[0].Spent != 0 || today[0].Reserved != 0 {
		t.Errorf("new day balance %+v; want empty", today[0])
	}
	a, _ := l.Apply(ctx, []Op{{Charge: c, Day: dayOf(t0)}})
	if a.Balances[0].Spent != 30*Cent || a.Balances[0].Reserved != 0 {
		t.Errorf("reservation day balance %+v; want spent $0.30", a.Balances[0])
	}
}

// TestExplicitDays runs the same ops with explicit days on every backend
// (on Redis, whose clock cannot be injected, this is how rollover is
// tested) and compares the balances with the expected sums.
func TestExplicitDays(t *testing.T) {
	ctx := context.Background()
	mar30, mar31, apr1, apr2, apr3 := dayOf(t0)-1, dayOf(t0), dayOf(t0)+1, dayOf(t0)+2, dayOf(t0)+3
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			spend := func(w Window, day int64, m Money) {
				t.Helper()
				if _, err := l.Apply(ctx, []Op{{Charge: Charge{Scope: "key:days", Window: w, Budget: Unlimited}, Day: day, Spent: m}}); err != nil {
					t.Fatal(err)
				}
			}
			read := func(w Window, day int64) Money {
				t.Helper()
				a, err := l.Apply(ctx, []Op{{Charge: Charge{Scope: "key:days", Window: w, Budget: Unlimited}, Day: day}})
				if err != nil {
					t.Fatal(err)
				}
				return a.Balances[0].Spent
			}
			for _, w := range []Window{Daily, Monthly, LastDays(2)} {
				spend(w, mar30, 1)
				spend(w, mar31, 10)
				spend(w, apr1, 100)
				spend(w, apr2, 1000)
			}
			tests := []struct {
				window Window
				day    int64
				want   Money
			}{
				{Daily, mar30, 1}, {Daily, mar31, 10}, {Daily, apr1, 100}, {Daily, apr3, 0},
				{Monthly, mar30, 11}, {Monthly, mar31, 11}, {Monthly, apr1, 1100}, {Monthly, apr3, 1100},
				{LastDays(2), mar30, 1}, {LastDays(2), mar31, 11}, {LastDays(2), apr1, 110},
				{LastDays(2), apr2, 1100}, {LastDays(2), apr3, 1000},
			}
			for _, tt := range tests {
				if got := read(tt.window, tt.day); got != tt.want {
					t.Errorf("%v on day %d: spent %d, want %d", tt.window, tt.day-mar31, got, tt.want)
				}
			}
		})
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0)
	l := NewMemory(MemoryConfig{Clock: clock, Shards: 1})
	charges := []Charge{
		{Scope: "a", Window: Daily, Budget: Unlimited, Amount: 1},
		{Scope: "a", Window: Monthly, Budget: Unlimited, Amount: 1},
		{Scope: "a", Window: LastDays(7), Budget: Unlimited, Amount: 1},
	}
	r, _ := l.Reserve(ctx, charges) // left open: its buckets must survive
	r2, _ := l.Reserve(ctx, charges)
	_ = r2.Settle(ctx, 1)
	_ = r
	count := func() int {
		s := &l.shards[0]
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, sr := range s.series {
			n += len(sr.buckets)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d buckets, want 3", n)
	}
	clock.Set(t0.Add(60 * 24 * time.Hour))
	_, _ = l.Balances(ctx, charges[:1])
	if n := count(); n != 3 {
		t.Errorf("%d buckets with an open reservation, want 3", n)
	}
	_ = r.Settle(ctx, 1)
	clock.Set(t0.Add(61 * 24 * time.Hour))
	_, _ = l.Balances(ctx, charges[:1])
	if n := count(); n != 0 {
		t.Errorf("%d buckets after the sweep, want 0", n)
	}
}

// TestMonthOf checks the integer civil-from-days month against the time
// package, over every day from 1900 to 2200.
func TestMonthOf(t *testing.T) {
	from := dayOf(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
	to := dayOf(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	for d := from; d < to; d++ {
		y, m, _ := dayStart(d).Date()
		if want := int64(y)*12 + int64(m) - 1; monthOf(d) != want {
			t.Fatalf("monthOf(%d = %v) = %d, want %d", d, dayStart(d), monthOf(d), want)
		}
	}
}
