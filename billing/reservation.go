package billing

import (
	"context"
	"fmt"
)

// Reservation is the outcome of Ledger.Reserve: the decision, a Balance per
// charge, and the holds it made, which Settle, Cancel and Continue adjust.
//
// A Reservation is a value; keep one copy and settle through it. It is not
// safe for concurrent use. The zero Reservation is denied and holds
// nothing.
type Reservation struct {
	// Allowed reports whether every charge fit its budget; only then was
	// anything held.
	Allowed bool
	// FailedOpen reports that the ledger was unavailable and its FailMode
	// is FailOpen: the call is admitted, nothing is held, no budget was
	// checked. Settle still tries to record the spend.
	FailedOpen bool
	// Balances has one Balance per charge, in order, as the decision left
	// them (including this reservation's holds when Allowed).
	Balances []Balance

	ledger   Ledger
	day      int64
	canceled bool
	n        int
	inline   [inline]hold
	more     []hold // instead of inline, for more than inline charges
}

// holds returns the reservation's holds, one per charge.
func (r *Reservation) holds() []hold {
	if r.more != nil {
		return r.more
	}
	return r.inline[:r.n]
}

// setHolds records a hold per charge, of its Amount when reserved.
func (r *Reservation) setHolds(charges []Charge, reserved bool) {
	r.n = len(charges)
	if r.n > inline {
		r.more = make([]hold, r.n)
	}
	hs := r.holds()
	for i, c := range charges {
		hs[i] = hold{charge: c}
		if reserved {
			hs[i].reserved = c.Amount
		}
	}
}

type hold struct {
	charge   Charge
	reserved Money // still held
	spent    Money // settled so far
}

// Denied returns the first Balance whose charge did not fit, and whether
// there is one: the scope to name in an insufficient_quota error.
func (r *Reservation) Denied() (Balance, bool) {
	if r.Allowed {
		return Balance{}, false
	}
	for _, b := range r.Balances {
		if !b.Allowed {
			return b, true
		}
	}
	return Balance{}, false
}

// Covers reports whether a call that has cost soFar is still within what
// the reservation holds for every charge (held plus already settled). A
// denied or failed-open reservation covers nothing but zero.
func (r *Reservation) Covers(soFar Money) bool {
	if r.n == 0 || r.FailedOpen {
		return soFar <= 0
	}
	for _, h := range r.holds() {
		if soFar > h.reserved+h.spent {
			return false
		}
	}
	return true
}

// Settle charges every scope actual instead of what it held: the hold is
// released and actual is spent, in the windows of the day the reservation
// was made. Less than the hold is a refund; more (a response that
// outgrew its reservation) is spent even past the budget, since it was
// generated — Continue is how a stream stops before that grows large.
//
// Settle may be called again (e.g. as a stream progresses); each call sets
// the spend to actual. It is a no-op on a denied reservation and fails with
// ErrClosed after Cancel.
func (r *Reservation) Settle(ctx context.Context, actual Money) error {
	if r.canceled {
		return ErrClosed
	}
	if r.ledger == nil {
		return nil
	}
	if actual < 0 || actual > MaxAmount {
		return fmt.Errorf("%w: settle amount %v out of range", ErrInvalid, actual)
	}
	if err := r.apply(ctx, func(h hold) Op { return Op{Reserved: -h.reserved, Spent: actual - h.spent} }); err != nil {
		return err
	}
	hs := r.holds()
	for i := range hs {
		hs[i].reserved, hs[i].spent = 0, actual
	}
	return nil
}

// Cancel releases the holds and refunds anything settled: use it when the
// upstream failed before producing output. Cancel on a denied or canceled
// reservation is a no-op.
func (r *Reservation) Cancel(ctx context.Context) error {
	if r.canceled || r.ledger == nil {
		return nil
	}
	if err := r.apply(ctx, func(h hold) Op { return Op{Reserved: -h.reserved, Spent: -h.spent} }); err != nil {
		return err
	}
	r.canceled = true
	return nil
}

// Continue decides whether a response that has cost soFar may keep going:
// the question a streaming middleware asks as tokens arrive, when a stream
// may outgrow its reservation (no max_tokens, or an upstream that ignores
// it).
//
// While soFar is covered (see Covers) it answers true with no I/O. Beyond
// that it tries to hold the overage plus step more under every charge, all
// or nothing and within the budgets; if that does not fit and step > 0, it
// tries the bare overage. False means the budget ran out: end the stream
// with an insufficient_quota event and Settle to what was generated. A
// larger step means fewer ledger round trips per stream.
//
// A failed-open reservation always continues; a denied one never does.
func (r *Reservation) Continue(ctx context.Context, soFar, step Money) (bool, error) {
	switch {
	case r.canceled:
		return false, ErrClosed
	case r.FailedOpen:
		return true, nil
	case r.ledger == nil:
		return false, nil
	case r.Covers(soFar):
		return true, nil
	case soFar > MaxAmount || step < 0 || step > MaxAmount:
		return false, fmt.Errorf("%w: continue at %v with step %v", ErrInvalid, soFar, step)
	}
	for _, s := range []Money{step, 0} {
		more := func(h hold) Money { return min(max(soFar-h.reserved-h.spent, 0)+s, MaxAmount) }
		ok, err := r.applyChecked(ctx, func(h hold) Op { return Op{Reserved: more(h), Check: true} })
		if err != nil {
			return false, err
		}
		if ok {
			hs := r.holds()
			for i, h := range hs {
				hs[i].reserved += more(h)
			}
			return true, nil
		}
		if step == 0 {
			break
		}
	}
	return false, nil
}

func (r *Reservation) apply(ctx context.Context, op func(hold) Op) error {
	_, err := r.applyChecked(ctx, op)
	return err
}

func (r *Reservation) applyChecked(ctx context.Context, op func(hold) Op) (bool, error) {
	var buf [inline]Op
	ops := buf[:0]
	for _, h := range r.holds() {
		o := op(h)
		if o.Reserved == 0 && o.Spent == 0 && !o.Check {
			continue
		}
		o.Charge, o.Day = h.charge, r.day
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return true, nil
	}
	ok, _, err := apply(ctx, r.ledger, ops, nil)
	return ok, err
}
