package billing

import (
	"context"
	"fmt"
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
	mu     sync.Mutex
	series map[seriesKey]*series
	swept  int64 // the last day this shard was swept
	_      [40]byte
}

// seriesKey names one scope's window; its buckets are a series.
type seriesKey struct {
	scope  string
	window Window
}

// series holds a window's buckets in index order (a unix day, or a month
// index for Month windows): one for a day or month window in steady
// state, up to Days+2 for a rolling one.
type series struct {
	buckets []bucket
}

type bucket struct {
	idx             int64
	spent, reserved Money
}

// sum adds up the buckets in [first, last].
func (s *series) sum(first, last int64) (spent, reserved Money) {
	if s == nil {
		return 0, 0
	}
	for i := len(s.buckets) - 1; i >= 0 && s.buckets[i].idx >= first; i-- {
		if b := &s.buckets[i]; b.idx <= last {
			spent += b.spent
			reserved += b.reserved
		}
	}
	return spent, reserved
}

// at returns bucket idx, inserting it in order when missing.
func (s *series) at(idx int64) *bucket {
	i := len(s.buckets)
	for i > 0 && s.buckets[i-1].idx >= idx {
		if s.buckets[i-1].idx == idx {
			return &s.buckets[i-1]
		}
		i--
	}
	s.buckets = append(s.buckets, bucket{})
	copy(s.buckets[i+1:], s.buckets[i:])
	s.buckets[i] = bucket{idx: idx}
	return &s.buckets[i]
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
		l.shards[i].series = make(map[seriesKey]*series)
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
	a := Applied{Balances: make([]Balance, len(ops))}
	var err error
	a.OK, a.Day, err = l.apply(ctx, ops, a.Balances)
	if err != nil {
		return Applied{}, err
	}
	return a, nil
}

// apply is Apply writing balances into dst, or none when dst is nil.
func (l *MemoryLedger) apply(ctx context.Context, ops []Op, dst []Balance) (ok bool, today int64, err error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("billing: %w", err)
	}
	if err := validateOps(ops); err != nil {
		return false, 0, err
	}
	today = dayOf(l.clock.Now())

	// Lock the shards of every scope, each once, in index order.
	var ibuf, lbuf [inline]int
	idx := ibuf[:0]
	for _, op := range ops {
		idx = append(idx, l.shardOf(op.Charge.Scope))
	}
	locks := append(lbuf[:0], idx...)
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

	var sbuf [inline]*series
	found := sbuf[:0]
	ok = true
	for i, op := range ops {
		day := op.Day
		if day == Today {
			day = today
		}
		sr := l.shards[idx[i]].series[seriesKey{op.Charge.Scope, op.Charge.Window}]
		found = append(found, sr)
		spent, reserved := sr.sum(op.Charge.Window.span(day))
		fit := !op.Check || fits(op.Charge.Budget, spent+op.Spent, reserved+op.Reserved)
		ok = ok && fit
		if dst != nil {
			dst[i] = balance(op.Charge, day, spent, reserved, fit)
		}
	}
	if !ok {
		return false, today, nil
	}
	for i, op := range ops {
		if op.Reserved == 0 && op.Spent == 0 {
			continue
		}
		sr := found[i]
		if sr == nil {
			sr = &series{}
			l.shards[idx[i]].series[seriesKey{op.Charge.Scope, op.Charge.Window}] = sr
		}
		day := op.Day
		if day == Today {
			day = today
		}
		_, last := op.Charge.Window.span(day)
		bk := sr.at(last)
		// The reserved total never goes negative (a release after the
		// bucket was swept, say): clamp this bucket and the sum alike.
		r := max(bk.reserved+op.Reserved, 0)
		if dst != nil {
			dst[i].Reserved += r - bk.reserved
			dst[i].Spent += op.Spent
		}
		bk.reserved = r
		bk.spent += op.Spent
	}
	return true, today, nil
}

func (l *MemoryLedger) shardOf(scope string) int {
	return int(maphash.String(l.seed, scope) % uint64(len(l.shards)))
}

// sweep drops the buckets no window reads any more (with a day's grace
// for late settles) and nothing holds, and series left empty.
func (s *memShard) sweep(today int64) {
	thisMonth, lastMonth := monthOf(today), monthOf(today-1)
	for k, sr := range s.series {
		keep := sr.buckets[:0]
		for _, b := range sr.buckets {
			var stale bool
			switch k.window.Period {
			case Day:
				stale = b.idx < today-1
			case Rolling:
				stale = b.idx < today-int64(k.window.Days)-1
			default:
				stale = b.idx < thisMonth && b.idx != lastMonth
			}
			if !stale || b.reserved != 0 {
				keep = append(keep, b)
			}
		}
		clear(sr.buckets[len(keep):])
		sr.buckets = keep
		if len(keep) == 0 {
			delete(s.series, k)
		}
	}
	s.swept = today
}
