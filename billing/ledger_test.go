package billing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBudgetRace is the acceptance test: budget $1.00, 50
// concurrent reservations of a $0.10 worst case → at most 10 admitted and
// settled spend ≤ $1.00. On Redis the 50 are spread over two ledger
// instances (two clients) sharing one Redis.
func TestBudgetRace(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		tests := []struct {
			name   string
			actual func(i int) Money
			exact  bool // settling at the worst case admits exactly 10
		}{
			{"settle worst case", func(int) Money { return 10 * Cent }, true},
			{"settle less", func(i int) Money { return Money(i%10+1) * Cent }, false},
		}
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				key := Charge{Scope: "key:race-" + tt.name, Window: Monthly, Budget: Dollar, Amount: 10 * Cent}
				org := Charge{Scope: "org:race-" + tt.name, Window: LastDays(30), Budget: 100 * Dollar, Amount: 10 * Cent}
				var admitted atomic.Int64
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range 50 {
					wg.Go(func() {
						<-start
						l := b.instance(i)
						r, err := l.Reserve(ctx, []Charge{key, org})
						if err != nil {
							t.Error(err)
							return
						}
						if !r.Allowed {
							return
						}
						admitted.Add(1)
						if err := r.Settle(ctx, tt.actual(i)); err != nil {
							t.Error(err)
						}
					})
				}
				close(start)
				wg.Wait()
				bal, err := b.instance(0).Balances(ctx, []Charge{key, org})
				if err != nil {
					t.Fatal(err)
				}
				n := admitted.Load()
				if tt.exact && n != 10 || !tt.exact && n < 10 {
					t.Errorf("admitted %d of 50", n)
				}
				if bal[0].Spent > Dollar || bal[0].Reserved != 0 {
					t.Errorf("key balance after settle: spent %v reserved %v; want ≤ $1.00 and 0", bal[0].Spent, bal[0].Reserved)
				}
				if bal[1].Spent != bal[0].Spent {
					t.Errorf("org spent %v, key spent %v: every scope is charged the same", bal[1].Spent, bal[0].Spent)
				}
				t.Logf("admitted %d, spent %v", n, bal[0].Spent)
			})
		}
	}
}

func TestReserveAllOrNothing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			key := Charge{Scope: "key:k1", Window: Monthly, Budget: Dollar, Amount: 60 * Cent}
			org := Charge{Scope: "org:o1", Window: Daily, Budget: 50 * Cent, Amount: 60 * Cent}
			r, err := l.Reserve(ctx, []Charge{key, org})
			if err != nil {
				t.Fatal(err)
			}
			d, ok := r.Denied()
			if r.Allowed || !ok || d.Scope != "org:o1" || !r.Balances[0].Allowed || r.Balances[1].Allowed {
				t.Fatalf("Reserve = %+v; want denied by org:o1 only", r)
			}
			if r.Balances[1].Remaining() != 50*Cent {
				t.Errorf("org remaining %v, want $0.50", r.Balances[1].Remaining())
			}
			bal, _ := l.Balances(ctx, []Charge{key})
			if bal[0].Reserved != 0 || bal[0].Spent != 0 {
				t.Fatalf("denied reservation held %v on the key", bal[0].Reserved)
			}
			if err := r.Settle(ctx, Dollar); err != nil {
				t.Errorf("Settle on denied: %v", err)
			}
			org.Budget = Dollar
			r, err = l.Reserve(ctx, []Charge{key, org})
			if err != nil || !r.Allowed {
				t.Fatalf("Reserve = %+v, %v; want allowed", r, err)
			}
			for i, b := range r.Balances {
				if !b.Allowed || b.Reserved != 60*Cent || b.Remaining() != 40*Cent {
					t.Errorf("balance %d = %+v; want reserved $0.60, remaining $0.40", i, b)
				}
			}
		})
	}
}

func TestSettleRefundOverage(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			c := Charge{Scope: "user:settle", Window: Daily, Budget: Dollar, Amount: 50 * Cent}
			check := func(step string, spent, reserved Money) {
				t.Helper()
				bal, err := l.Balances(ctx, []Charge{c})
				if err != nil {
					t.Fatal(err)
				}
				if bal[0].Spent != spent || bal[0].Reserved != reserved {
					t.Errorf("%s: spent %v reserved %v; want %v %v", step, bal[0].Spent, bal[0].Reserved, spent, reserved)
				}
			}
			r, err := l.Reserve(ctx, []Charge{c})
			if err != nil || !r.Allowed {
				t.Fatalf("Reserve = %+v, %v", r, err)
			}
			check("reserved", 0, 50*Cent)
			if err := r.Settle(ctx, 20*Cent); err != nil {
				t.Fatal(err)
			}
			check("refund", 20*Cent, 0)
			if err := r.Settle(ctx, 30*Cent); err != nil { // a later, larger settle
				t.Fatal(err)
			}
			check("settle again", 30*Cent, 0)

			r2, _ := l.Reserve(ctx, []Charge{c})
			if !r2.Allowed {
				t.Fatal("second reservation denied")
			}
			// The upstream generated more than reserved: spend passes the budget.
			if err := r2.Settle(ctx, 90*Cent); err != nil {
				t.Fatal(err)
			}
			check("overage", 120*Cent, 0)
			c.Amount = 0
			r3, _ := l.Reserve(ctx, []Charge{c})
			if r3.Allowed || r3.Balances[0].Remaining() != 0 {
				t.Errorf("after overage: Reserve(0) = %+v; want denied, nothing remaining", r3)
			}

			c.Amount = 10 * Cent
			c.Budget = 2 * Dollar
			r4, _ := l.Reserve(ctx, []Charge{c})
			if err := r4.Settle(ctx, 5*Cent); err != nil {
				t.Fatal(err)
			}
			if err := r4.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			check("cancel", 120*Cent, 0)
			if err := r4.Settle(ctx, Cent); !errors.Is(err, ErrClosed) {
				t.Errorf("Settle after Cancel = %v, want ErrClosed", err)
			}
			if _, err := r4.Continue(ctx, Cent, 0); !errors.Is(err, ErrClosed) {
				t.Errorf("Continue after Cancel = %v, want ErrClosed", err)
			}
			if err := r4.Cancel(ctx); err != nil {
				t.Errorf("second Cancel = %v", err)
			}
			if err := r.Settle(ctx, -1); !errors.Is(err, ErrInvalid) {
				t.Errorf("Settle(-1) = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestContinue(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			c := Charge{Scope: "key:stream", Window: Monthly, Budget: Dollar, Amount: 30 * Cent}
			reserved := func() Money {
				bal, _ := l.Balances(ctx, []Charge{c})
				return bal[0].Reserved
			}
			r, _ := l.Reserve(ctx, []Charge{c})
			steps := []struct {
				name        string
				soFar, step Money
				want        bool
				reserved    Money
			}{
				{"covered", 20 * Cent, 10 * Cent, true, 30 * Cent},
				{"exactly covered", 30 * Cent, 10 * Cent, true, 30 * Cent},
				{"grow with step", 50 * Cent, 10 * Cent, true, 60 * Cent},
			}
			for _, s := range steps {
				ok, err := r.Continue(ctx, s.soFar, s.step)
				if err != nil || ok != s.want || reserved() != s.reserved {
					t.Fatalf("%s: Continue(%v, %v) = %v, %v, reserved %v; want %v, reserved %v",
						s.name, s.soFar, s.step, ok, err, reserved(), s.want, s.reserved)
				}
			}
			// Another call takes $0.30: $0.10 remains.
			other, _ := l.Reserve(ctx, []Charge{c})
			if !other.Allowed {
				t.Fatal("other reservation denied")
			}
			// Overage $0.15 (+ step) does not fit in $0.10.
			if ok, err := r.Continue(ctx, 75*Cent, 20*Cent); ok || err != nil {
				t.Fatalf("Continue past budget = %v, %v; want false", ok, err)
			}
			// Overage $0.05 + step $0.20 does not fit, the bare $0.05 does.
			if ok, err := r.Continue(ctx, 65*Cent, 20*Cent); !ok || err != nil || reserved() != 95*Cent {
				t.Fatalf("Continue(bare overage) = %v, %v, reserved %v; want true, $0.95", ok, err, reserved())
			}
			if !r.Covers(65*Cent) || r.Covers(66*Cent) {
				t.Error("Covers disagrees with the holds")
			}
			if err := r.Settle(ctx, 65*Cent); err != nil {
				t.Fatal(err)
			}
			if err := other.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			bal, _ := l.Balances(ctx, []Charge{c})
			if bal[0].Spent != 65*Cent || bal[0].Reserved != 0 {
				t.Errorf("final balance %+v; want spent $0.65", bal[0])
			}
			var denied Reservation
			if ok, err := denied.Continue(ctx, 0, 0); ok || err != nil {
				t.Errorf("denied Continue = %v, %v", ok, err)
			}
		})
	}
}

func TestBudgetEdges(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			tests := []struct {
				name    string
				charge  Charge
				allowed bool
			}{
				{"zero budget, zero cost", Charge{Scope: "key:zero", Budget: 0, Amount: 0}, true},
				{"zero budget", Charge{Scope: "key:zero", Budget: 0, Amount: 1}, false},
				{"exact fit", Charge{Scope: "key:exact", Budget: 7, Amount: 7}, true},
				{"one over", Charge{Scope: "key:exact", Budget: 7, Amount: 1}, false},
				{"unlimited", Charge{Scope: "key:unl", Budget: Unlimited, Amount: MaxAmount}, true},
				{"unlimited again", Charge{Scope: "key:unl", Budget: Unlimited, Amount: MaxAmount}, true},
				{"max budget", Charge{Scope: "key:max", Budget: MaxAmount, Amount: MaxAmount}, true},
			}
			for _, tt := range tests {
				r, err := l.Reserve(ctx, []Charge{tt.charge})
				if err != nil || r.Allowed != tt.allowed {
					t.Errorf("%s: Reserve = %v, %v; want %v", tt.name, r.Allowed, err, tt.allowed)
				}
			}
			bal, _ := l.Balances(ctx, []Charge{{Scope: "key:unl", Budget: Unlimited}})
			if bal[0].Reserved != 2*MaxAmount || bal[0].Remaining() != Unlimited {
				t.Errorf("unlimited balance %+v", bal[0])
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	ctx := context.Background()
	ok := Charge{Scope: "key:a", Budget: Dollar, Amount: Cent}
	tests := []struct {
		name    string
		charges []Charge
	}{
		{"empty scope", []Charge{{Budget: Dollar}}},
		{"bar in scope", []Charge{{Scope: "key:a|b", Budget: Dollar}}},
		{"rolling 0 days", []Charge{{Scope: "a", Window: LastDays(0)}}},
		{"rolling too long", []Charge{{Scope: "a", Window: LastDays(MaxRollingDays + 1)}}},
		{"days on month", []Charge{{Scope: "a", Window: Window{Days: 3}}}},
		{"bad period", []Charge{{Scope: "a", Window: Window{Period: 9}}}},
		{"negative amount", []Charge{{Scope: "a", Budget: Dollar, Amount: -1}}},
		{"negative budget", []Charge{{Scope: "a", Budget: -1}}},
		{"budget too large", []Charge{{Scope: "a", Budget: MaxAmount + 1}}},
		{"amount too large", []Charge{{Scope: "a", Budget: Unlimited, Amount: MaxAmount + 1}}},
		{"same scope and window twice", []Charge{ok, ok}},
	}
	for _, b := range backends(t) {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				if _, err := b.instance(0).Reserve(ctx, tt.charges); !errors.Is(err, ErrInvalid) {
					t.Errorf("Reserve = %v, want ErrInvalid", err)
				}
			})
		}
	}
	// Same scope, different windows is fine.
	if r, err := NewMemory(MemoryConfig{}).Reserve(ctx, []Charge{ok, {Scope: "key:a", Window: Daily, Budget: Dollar, Amount: Cent}}); err != nil || !r.Allowed {
		t.Errorf("two windows of one scope: %v, %v", r.Allowed, err)
	}
}

func TestMemoryCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewMemory(MemoryConfig{}).Reserve(ctx, []Charge{{Scope: "a", Budget: Dollar}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Reserve = %v, want context.Canceled", err)
	}
}

// TestManyCharges covers reservations with more charges than are held
// inline.
func TestManyCharges(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			l := b.instance(0)
			var charges []Charge
			for _, s := range []string{"a", "b", "c", "d", "e", "f"} {
				charges = append(charges, Charge{Scope: "many:" + s, Window: Daily, Budget: Dollar, Amount: 30 * Cent})
			}
			r, err := l.Reserve(ctx, charges)
			if err != nil || !r.Allowed || len(r.Balances) != 6 {
				t.Fatalf("Reserve = %+v, %v", r, err)
			}
			if ok, err := r.Continue(ctx, 50*Cent, 0); !ok || err != nil {
				t.Fatalf("Continue = %v, %v", ok, err)
			}
			if err := r.Settle(ctx, 40*Cent); err != nil {
				t.Fatal(err)
			}
			bal, err := l.Balances(ctx, charges)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range bal {
				if x.Spent != 40*Cent || x.Reserved != 0 {
					t.Errorf("%s: spent %v reserved %v; want $0.40, 0", x.Scope, x.Spent, x.Reserved)
				}
			}
		})
	}
}
