package billing

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
)

// MemoryConfig configures a MemoryLedger. The zero value is valid.
type MemoryConfig struct {
	// Clock tells the time. Default: the real clock.
	Clock Clock
	// Shards is the number of independently locked shards scopes are
	// spread over. Default: 64.
	Shards int
}

// MemoryLedger is a Ledger in process memory, for one process (or as a
// fallback). Scopes are spread over shards with their own mutexes; an Apply
// locks the shards of its scopes in a fixed order, so it is atomic and
// deadlock-free. Buckets older than every window that reads them are
// dropped once a day, on the first Apply of the day in each shard.
//
// Create one with NewMemory; it is safe for concurrent use and starts no
// goroutines.
type MemoryLedger struct {
	clock  Clock
	seed   maphash.Seed
	shards []memShard
}

var _ Ledger = (*MemoryLedger)(nil)

type memShard struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	swept   int64 // the last day this shard was swept
	_       [40]byte
}

// bucketKey is one window's bucket: idx is a unix day, or a month index
// for Month windows.
type bucketKey struct {
	scope  string
	window Window
	idx    int64
}

type bucket struct {
	spent, reserved Money
}

// NewMemory returns an empty in-memory ledger.
func NewMemory(cfg MemoryConfig) *MemoryLedger {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 64
	}
	l := &MemoryLedger{clock: cfg.Clock, seed: maphash.MakeSeed(), shards: make([]memShard, cfg.Shards)}
	for i := range l.shards {
		l.shards[i].buckets = make(map[bucketKey]*bucket)
	}
	return l
}

// Reserve implements Ledger.
func (l *MemoryLedger) Reserve(ctx context.Context, charges []Charge) (Reservation, error) {
	return reserve(ctx, l, charges)
}

// Balances implements Ledger.
func (l *MemoryLedger) Balances(ctx context.Context, charges []Charge) ([]Balance, error) {
	return balances(ctx, l, charges)
}

// Apply implements Ledger. It fails only on invalid ops or a done ctx.
func (l *MemoryLedger) Apply(ctx context.Context, ops []Op) (Applied, error) {
	if err := ctx.Err(); err != nil {
		return Applied{}, err
	}
	if err := validateOps(ops); err != nil {
		return Applied{}, err
	}
	today := dayOf(l.clock.Now())

	// Lock the shards of every scope, each once, in index order.
	var buf [8]int
	idx := buf[:0]
	for _, op := range ops {
		idx = append(idx, l.shardOf(op.Charge.Scope))
	}
	locks := slices.Clone(idx)
	slices.Sort(locks)
	locks = slices.Compact(locks)
	for _, i := range locks {
		s := &l.shards[i]
		s.mu.Lock()
		if s.swept < today {
			s.sweep(today)
		}
	}
	defer func() {
		for _, i := range locks {
			l.shards[i].mu.Unlock()
		}
	}()

	a := Applied{OK: true, Day: today, Balances: make([]Balance, len(ops))}
	for i, op := range ops {
		day := op.Day
		if day == Today {
			day = today
		}
		spent, reserved := l.shards[idx[i]].sum(op.Charge, day)
		fit := !op.Check || fits(op.Charge.Budget, spent+op.Spent, reserved+op.Reserved)
		a.OK = a.OK && fit
		a.Balances[i] = balance(op.Charge, day, spent, reserved, fit)
	}
	if !a.OK {
		return a, nil
	}
	for i, op := range ops {
		if op.Reserved == 0 && op.Spent == 0 {
			continue
		}
		b := &a.Balances[i]
		day := op.Day
		if day == Today {
			day = today
		}
		_, last, _, _ := op.Charge.Window.span(day)
		s := &l.shards[idx[i]]
		k := bucketKey{op.Charge.Scope, op.Charge.Window, last}
		bk := s.buckets[k]
		if bk == nil {
			bk = &bucket{}
			s.buckets[k] = bk
		}
		// The reserved total never goes negative (a release after the
		// bucket was swept, say): clamp this bucket and the sum alike.
		r := max(bk.reserved+op.Reserved, 0)
		b.Reserved += r - bk.reserved
		bk.reserved = r
		bk.spent += op.Spent
		b.Spent += op.Spent
	}
	return a, nil
}

func (l *MemoryLedger) shardOf(scope string) int {
	return int(maphash.String(l.seed, scope) % uint64(len(l.shards)))
}

// sum adds up the buckets a window reads on day.
func (s *memShard) sum(c Charge, day int64) (spent, reserved Money) {
	first, last, _, _ := c.Window.span(day)
	for i := first; i <= last; i++ {
		if b := s.buckets[bucketKey{c.Scope, c.Window, i}]; b != nil {
			spent += b.spent
			reserved += b.reserved
		}
	}
	return spent, reserved
}

// sweep drops the buckets no window reads any more (with a day's grace
// for late settles) and nothing holds.
func (s *memShard) sweep(today int64) {
	thisMonth := monthOf(today)
	for k, b := range s.buckets {
		var stale bool
		switch k.window.Period {
		case Day:
			stale = k.idx < today-1
		case Rolling:
			stale = k.idx < today-int64(k.window.Days)-1
		default:
			stale = k.idx < thisMonth && monthOf(today-1) != k.idx
		}
		if stale && b.reserved == 0 {
			delete(s.buckets, k)
		}
	}
	s.swept = today
}
