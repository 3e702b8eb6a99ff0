package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Charge asks a Ledger to hold Amount against Scope's Budget for Window.
type Charge struct {
	// Scope names who pays: "key:k_123", "user:alice", "org:acme". It must
	// not be empty or contain "|".
	Scope string
	// Window is the period Budget applies to. Default: the calendar month.
	Window Window
	// Budget is the most the scope may spend in the window. Unlimited
	// records spend without ever denying; zero admits nothing but
	// zero-cost calls. At most MaxAmount unless Unlimited.
	Budget Money
	// Amount is what to reserve: the call's worst-case cost (WorstCase).
	// 0 to MaxAmount.
	Amount Money
}

// Today as an Op's Day means the ledger's current day (its clock's, or
// Redis's TIME).
const Today int64 = -1

// Op is one step of Ledger.Apply: change what Charge's scope holds and
// spent in one day's buckets. Reservation methods build Ops; most callers
// never do.
type Op struct {
	// Charge names the scope, window and budget; its Amount is ignored.
	Charge Charge
	// Day is the unix day (days since 1970-01-01 UTC) whose buckets the op
	// uses, or Today.
	Day int64
	// Reserved and Spent are added to the window's current bucket
	// (negative to refund). A reserved total never goes below zero.
	Reserved, Spent Money
	// Check makes the whole Apply conditional: it applies only when, for
	// every checked op, Spent + Reserved after the op is within Budget.
	Check bool
}

// Applied is the outcome of Ledger.Apply.
type Applied struct {
	// OK reports that the ops were applied: every checked op fit.
	OK bool
	// Day is the unix day the ledger took as Today.
	Day int64
	// Balances has one entry per op, in order: after the ops when OK,
	// unchanged otherwise; Allowed reports whether a checked op fit
	// (always true for unchecked ops).
	Balances []Balance
}

// Ledger records spend per scope and window, with budgets. Implementations
// are safe for concurrent use, and Apply is atomic: concurrent callers,
// and processes sharing a Redis, never see half of it and never both fit
// into the same remaining budget.
type Ledger interface {
	// Reserve holds every charge's Amount if, and only if, every charge
	// fits its budget (Spent + Reserved + Amount ≤ Budget), in one atomic
	// step. A refusal is a Reservation with Allowed false, not an error;
	// errors are for when the ledger could not decide (invalid charges,
	// backend unavailable, ctx done).
	Reserve(ctx context.Context, charges []Charge) (Reservation, error)
	// Balances reads the current spend of each charge's scope and window
	// (Amounts are ignored), for /admin/usage and the policy input.
	Balances(ctx context.Context, charges []Charge) ([]Balance, error)
	// Apply applies ops atomically; see Op. Reservation's Settle, Cancel
	// and Continue use it.
	Apply(ctx context.Context, ops []Op) (Applied, error)
}

// Clock tells the time. A nil Clock in a config means the real clock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// FailMode is what a Redis ledger's Reserve does when Redis cannot answer
// within the timeout.
type FailMode uint8

const (
	// FailClosed returns an error wrapping ErrUnavailable: the middleware
	// answers 503 and nothing is spent unaccounted. The default.
	FailClosed FailMode = iota
	// FailOpen admits the call with a Reservation whose FailedOpen is set
	// and that holds nothing; its Settle still tries to record the spend.
	FailOpen
)

// Errors callers may test with errors.Is.
var (
	// ErrInvalid wraps every error about a malformed charge or op.
	ErrInvalid = errors.New("billing: invalid charge")
	// ErrUnavailable wraps every error meaning the backend could not be
	// reached or did not answer in time.
	ErrUnavailable = errors.New("billing: ledger unavailable")
	// ErrClosed is returned by Settle, Cancel and Continue after Cancel.
	ErrClosed = errors.New("billing: reservation canceled")
)

func (c Charge) validate() error {
	if c.Scope == "" || strings.IndexByte(c.Scope, '|') >= 0 {
		return fmt.Errorf("%w: scope %q (must be non-empty, without '|')", ErrInvalid, c.Scope)
	}
	if err := c.Window.validate(); err != nil {
		return err
	}
	if c.Budget < 0 || (c.Budget > MaxAmount && c.Budget != Unlimited) {
		return fmt.Errorf("%w: scope %q: budget %v out of range", ErrInvalid, c.Scope, c.Budget)
	}
	if c.Amount < 0 || c.Amount > MaxAmount {
		return fmt.Errorf("%w: scope %q: amount %v out of range", ErrInvalid, c.Scope, c.Amount)
	}
	return nil
}

// validateOps checks ops and rejects two ops on the same scope and window,
// which would otherwise each be checked without the other.
func validateOps(ops []Op) error {
	for i, op := range ops {
		if err := op.Charge.validate(); err != nil {
			return err
		}
		if op.Reserved < -MaxAmount || op.Reserved > MaxAmount || op.Spent < -MaxAmount || op.Spent > MaxAmount {
			return fmt.Errorf("%w: scope %q: delta out of range", ErrInvalid, op.Charge.Scope)
		}
		if op.Day < Today {
			return fmt.Errorf("%w: scope %q: day %d", ErrInvalid, op.Charge.Scope, op.Day)
		}
		for _, prev := range ops[:i] {
			if prev.Charge.Scope == op.Charge.Scope && prev.Charge.Window == op.Charge.Window {
				return fmt.Errorf("%w: scope %q window %v twice", ErrInvalid, op.Charge.Scope, op.Charge.Window)
			}
		}
	}
	return nil
}

// fits reports whether a window's spend and holds are within budget.
func fits(budget, spent, reserved Money) bool {
	return budget == Unlimited || spent+reserved <= budget
}

// balance builds a Balance from a window's sums on day.
func balance(c Charge, day int64, spent, reserved Money, allowed bool) Balance {
	return Balance{
		Scope: c.Scope, Window: c.Window, Budget: c.Budget,
		Spent: spent, Reserved: reserved, Allowed: allowed, day: day,
	}
}

// inline is how many charges a Reservation holds, and reserve and settle
// handle, without allocating.
const inline = 4

// apply runs ops on l and writes their balances into dst unless dst is
// nil. The memory ledger is called directly, so that ops and dst may live
// on the caller's stack; other ledgers get a copy of ops.
func apply(ctx context.Context, l Ledger, ops []Op, dst []Balance) (ok bool, day int64, err error) {
	if m, isMem := l.(*MemoryLedger); isMem {
		return m.apply(ctx, ops, dst)
	}
	a, err := l.Apply(ctx, slices.Clone(ops))
	if err != nil {
		return false, 0, err
	}
	copy(dst, a.Balances)
	return a.OK, a.Day, nil
}

// reserve implements Ledger.Reserve on top of apply.
func reserve(ctx context.Context, l Ledger, charges []Charge) (Reservation, error) {
	for _, c := range charges {
		if err := c.validate(); err != nil {
			return Reservation{}, err
		}
	}
	var buf [inline]Op
	ops := buf[:0]
	for _, c := range charges {
		ops = append(ops, Op{Charge: c, Day: Today, Reserved: c.Amount, Check: true})
	}
	r := Reservation{Balances: make([]Balance, len(charges))}
	ok, day, err := apply(ctx, l, ops, r.Balances)
	if err != nil {
		return Reservation{}, err
	}
	r.Allowed = ok
	if ok {
		r.ledger, r.day = l, day
		r.setHolds(charges, true)
	}
	return r, nil
}

// balances implements Ledger.Balances on top of Apply.
func balances(ctx context.Context, l Ledger, charges []Charge) ([]Balance, error) {
	ops := make([]Op, len(charges))
	for i, c := range charges {
		c.Amount = 0
		ops[i] = Op{Charge: c, Day: Today}
	}
	a, err := l.Apply(ctx, ops)
	if err != nil {
		return nil, err
	}
	for i := range a.Balances {
		a.Balances[i].Allowed = false
	}
	return a.Balances, nil
}
