package limiter

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"time"
)

// MemoryConfig configures a MemoryStore. The zero value is ready to use.
type MemoryConfig struct {
	// Clock tells the time. Default: the real clock.
	Clock Clock
	// Shards is how many independently locked tables hold the buckets,
	// rounded up to a power of two. Default: 64.
	Shards int
	// MaxKeys bounds how many buckets are kept. Idle buckets (full again)
	// are dropped first, at no cost to accuracy; when MaxKeys live buckets
	// are not enough, arbitrary live ones are forgotten, which lets those
	// keys start again from a full bucket. The bound is enforced per
	// shard (MaxKeys/Shards each). Default: 1<<22 (about 4M keys, 128 MB
	// of tables at most; see the package documentation).
	MaxKeys int
}

// MemoryStore is a Store in process memory: exact GCRA buckets, one int64
// per bucket, in sharded open-addressing hash tables with a mutex per
// shard. Idle buckets are swept during insertions (amortised, no
// goroutine), so memory follows the number of keys active within their
// refill time.
//
// Buckets are identified by a 64-bit keyed hash of (Key, Kind, Period); two
// distinct buckets share state only if their hashes collide (probability
// about n²/2⁶⁵ for n live buckets). All the buckets of one Key live in the
// same shard.
//
// A MemoryStore is safe for concurrent use. Use NewMemory; the zero value
// is not usable.
type MemoryStore struct {
	clock   Clock
	epoch   time.Time
	seed    maphash.Seed
	shards  []shard
	shift   uint
	perCap  int
	nshards uint64
}

var _ Store = (*MemoryStore)(nil)

// maxPerShard bounds a shard's buckets so that its table's slot indices
// fit an int32 (the table holds at most 8/3 as many slots).
const maxPerShard = 1 << 29

// NewMemory returns an empty MemoryStore.
func NewMemory(cfg MemoryConfig) *MemoryStore {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 64
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1 << 22
	}
	lg := bits.Len(uint(cfg.Shards - 1))
	n := 1 << lg
	s := &MemoryStore{
		clock:   cfg.Clock,
		epoch:   cfg.Clock.Now(),
		seed:    maphash.MakeSeed(),
		shards:  make([]shard, n),
		shift:   uint(64 - lg),
		perCap:  min(max(1, (cfg.MaxKeys+n-1)/n), maxPerShard),
		nshards: uint64(n),
	}
	return s
}

// Len returns how many buckets the store holds (live or not yet swept).
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// keyHash is the seeded hash of a limit's Key alone. Every bucket of one
// key derives its hash from it (bucketHash) and lives in the shard it
// picks (shardOf), so a request that names several limits of one key
// hashes the string once and takes one lock.
func (s *MemoryStore) keyHash(key string) uint64 { return maphash.String(s.seed, key) }

// bucketHash is a bucket's identity: the key hash xor a tag of (Period,
// Kind). The tag is injective (a Period is below 2⁶³, so Period·2+Kind
// loses nothing, and the odd multiplier is a bijection), so two distinct
// buckets share a hash only when kh₁⊕tag₁ = kh₂⊕tag₂ — one 64-bit
// equation on seeded hashes, the same odds as hashing (Key, Kind, Period)
// directly: about n²/2⁶⁵ for n live buckets. Every bit of the result is as
// uniform as the key hash's, so the tables use its low bits as the home
// slot. The result is never 0 (see nonzero), the tables' mark of an empty
// slot.
func bucketHash(kh uint64, period time.Duration, kind Kind) uint64 {
	return nonzero(kh ^ (uint64(period)<<1|uint64(kind))*0x9e3779b97f4a7c15)
}

// shardOf picks a shard from a key hash (not a bucket hash): all the
// buckets of one key share a shard. The table inside is keyed by the full
// bucket hash, so this changes no bucket's identity.
func (s *MemoryStore) shardOf(kh uint64) int {
	if s.nshards == 1 {
		return 0
	}
	return int(kh >> s.shift)
}

// ns converts a time to nanoseconds since the store's epoch, using the
// monotonic clock when both readings carry it.
func (s *MemoryStore) ns(now time.Time) int64 { return int64(now.Sub(s.epoch)) }

// slot is the working state of one request inside ReserveAt.
type slot struct {
	h         uint64
	interval  int64
	span      int64
	before    int64 // the bucket's stored TAT, at least now
	after     int64 // the bucket's TAT after this request (unchanged if denied)
	shard     int32
	idx       int32 // the bucket's slot in its shard's table, when exists
	duplicate int32 // index of an earlier request on the same bucket, or -1
	exists    bool  // the bucket was in the table
	ok        bool  // the bucket admits this request's cost
}

// Reserve implements Store at the clock's current time. ctx is only
// checked: the in-memory decision never blocks on anything but a shard
// mutex.
func (s *MemoryStore) Reserve(ctx context.Context, reqs []Request) (r Reservation, err error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, fmt.Errorf("limiter: reserve: %w", err)
	}
	// Filling the named result through a pointer builds the reservation
	// where the caller receives it: no copy of its ~0.5 kB.
	err = s.reserveInto(&r, s.clock.Now(), reqs)
	return
}

// ReserveAt is Reserve at the time now. It does not allocate for up to
// four requests.
func (s *MemoryStore) ReserveAt(now time.Time, reqs []Request) (r Reservation, err error) {
	err = s.reserveInto(&r, now, reqs)
	return
}

// reserveInto is ReserveAt writing into a zero *r.
func (s *MemoryStore) reserveInto(r *Reservation, now time.Time, reqs []Request) error {
	res := r.init(len(reqs))
	// Working state on the stack, zeroed only as far as needed: most
	// requests carry one or two limits (RPM, TPM).
	var sl []slot
	switch n := len(reqs); {
	case n <= 2:
		var buf [2]slot
		sl = buf[:n]
	case n <= inline:
		var buf [inline]slot
		sl = buf[:n]
	default:
		sl = make([]slot, n)
	}
	t := s.ns(now)
	// First the keys: each distinct one hashed once (consecutive requests
	// usually share it), its hash parked in the slot. This loop holds the
	// calls, so that the next one keeps its values in registers.
	oneShard := true
	for i := range reqs {
		x := &sl[i]
		if key := reqs[i].Limit.Key; i == 0 || key != reqs[i-1].Limit.Key {
			x.h = s.keyHash(key)
			x.shard = int32(s.shardOf(x.h))
			oneShard = oneShard && x.shard == sl[0].shard
		} else {
			x.h, x.shard = sl[i-1].h, sl[i-1].shard
		}
	}
	for i := range reqs {
		// Normalise straight into the result: one copy of the Limit, and
		// the rest of *r is already zero.
		y := &res[i]
		y.Limit = reqs[i].Limit
		y.Cost = reqs[i].Cost
		l := &y.Limit
		iv, span, ok := l.shape()
		if !ok || y.Cost < 0 {
			*r = Reservation{}
			return invalidRequest(l, y.Cost)
		}
		x := &sl[i]
		h := bucketHash(x.h, l.Period, l.Kind)
		x.h, x.interval, x.span, x.duplicate = h, iv, span, -1
		for j := range i {
			if sl[j].h == h {
				x.duplicate = int32(j)
			}
		}
	}
	if len(sl) == 0 {
		r.finish(s)
		return nil
	}

	// Under the lock: find each bucket, decide, write back. The results
	// are filled after unlocking.
	var lockBuf [inline]int
	var locks []int
	if oneShard {
		s.shards[sl[0].shard].mu.Lock()
	} else {
		locks = s.lockAll(sl, lockBuf[:0])
	}
	allowed := true
	for i := range sl {
		x := &sl[i]
		var tat int64
		if x.duplicate < 0 {
			sh := &s.shards[x.shard]
			idx, exists := sh.find(x.h)
			tat = t
			if exists {
				tat = max(sh.tab[idx].tat, t)
			}
			x.before, x.idx, x.exists = tat, int32(idx), exists
		} else {
			d := &sl[x.duplicate]
			tat = d.after
			x.before, x.idx, x.exists = d.before, d.idx, d.exists
		}
		// GCRA: admitted when the TAT after the charge is at most a burst
		// span ahead of now. Cost ≤ Burst keeps Cost·interval ≤ span.
		cost := res[i].Cost
		next := tat + int64(cost)*x.interval
		x.ok = cost <= res[i].Limit.Burst && next-x.span <= t
		x.after = tat
		if x.ok {
			x.after = next
		}
		allowed = allowed && x.ok
	}
	if allowed {
		// Buckets found in place first: an insertion may sweep and move
		// the entries of its shard.
		inserts := false
		if oneShard {
			tab := s.shards[sl[0].shard].tab
			for i := range sl {
				if x := &sl[i]; x.exists {
					tab[x.idx].tat = x.after
				} else {
					inserts = true
				}
			}
		} else {
			for i := range sl {
				if x := &sl[i]; x.exists {
					s.shards[x.shard].tab[x.idx].tat = x.after
				} else {
					inserts = true
				}
			}
		}
		if inserts {
			for i := range sl {
				// A new bucket that stays full (cost 0) is not stored.
				if x := &sl[i]; !x.exists && x.after > t {
					s.shards[x.shard].put(x.h, x.after, t, s.perCap)
				}
			}
		}
	}
	if oneShard {
		s.shards[sl[0].shard].mu.Unlock()
	} else {
		for _, k := range locks {
			s.shards[k].mu.Unlock()
		}
	}

	if allowed {
		for i := range sl {
			x, y := &sl[i], &res[i]
			y.Allowed = true
			y.Remaining = saturate((t + x.span - x.after) / x.interval)
			y.ResetAfter = time.Duration(x.after - t)
		}
		// What finish would find: every result allowed, none too large.
		r.Allowed, r.store = true, s
		return nil
	}
	s.denied(r, res, sl, t)
	return nil
}

// denied fills the results of a denied reservation, which charged
// nothing: each bucket is reported as it stands.
func (s *MemoryStore) denied(r *Reservation, res []Result, sl []slot, t int64) {
	for i := range sl {
		x, y := &sl[i], &res[i]
		// The TAT this request was decided on: an earlier request on the
		// same bucket may have charged it first.
		tat := x.before
		if x.duplicate >= 0 {
			tat = sl[x.duplicate].after
		}
		switch {
		case x.ok:
			y.Allowed = true
		case y.Cost > y.Limit.Burst:
			y.TooLarge = true
		default:
			y.RetryAfter = time.Duration(tat + int64(y.Cost)*x.interval - x.span - t)
		}
		y.Remaining = saturate(max(0, t+x.span-x.before) / x.interval)
		y.ResetAfter = time.Duration(x.before - t)
	}
	r.finish(s)
}

// invalidRequest is the error for a request that shape rejects or whose
// cost is negative.
//
//go:noinline
func invalidRequest(l *Limit, cost int) error {
	if _, _, err := l.normalize(); err != nil {
		return err
	}
	return fmt.Errorf("%w: key %q: negative cost %d", ErrInvalid, l.Key, cost)
}

// lockAll locks the distinct shards of sl in ascending order (so that
// concurrent multi-limit reservations cannot deadlock) and returns them.
func (s *MemoryStore) lockAll(sl []slot, locks []int) []int {
	for i := range sl {
		k := int(sl[i].shard)
		j := len(locks)
		dup := false
		for _, have := range locks {
			if have == k {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		locks = append(locks, k)
		for j > 0 && locks[j-1] > k {
			locks[j] = locks[j-1]
			j--
		}
		locks[j] = k
	}
	for _, k := range locks {
		s.shards[k].mu.Lock()
	}
	return locks
}

// Adjust implements Store at the clock's current time.
func (s *MemoryStore) Adjust(ctx context.Context, adj []Adjustment) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limiter: adjust: %w", err)
	}
	return s.AdjustAt(s.clock.Now(), adj)
}

// AdjustAt is Adjust at the time now: a positive Delta charges the bucket
// (into debt if need be), a negative one refunds it, never beyond full.
func (s *MemoryStore) AdjustAt(now time.Time, adj []Adjustment) error {
	t := s.ns(now)
	for i := range adj {
		l := adj[i].Limit
		iv, _, err := l.normalize()
		if err != nil {
			return err
		}
		d := clampDelta(adj[i].Delta, iv)
		if d == 0 {
			continue
		}
		kh := s.keyHash(l.Key)
		h := bucketHash(kh, l.Period, l.Kind)
		sh := &s.shards[s.shardOf(kh)]
		sh.mu.Lock()
		i, ok := sh.find(h)
		tat := t
		if ok {
			tat = max(sh.tab[i].tat, t)
		}
		switch {
		case d < 0 && ok:
			// A TAT at or before t is a full bucket: the refund is
			// never banked beyond full.
			sh.tab[i].tat = max(tat+d*iv, t)
		case d > 0 && ok:
			// Debt is kept to maxSpan ahead of now (73 years at 1 ns a
			// token), so that settles of absurd usage cannot overflow
			// the TAT into a full bucket.
			sh.tab[i].tat = min(tat+d*iv, t+maxSpan)
		case d > 0:
			sh.put(h, tat+d*iv, t, s.perCap)
		}
		sh.mu.Unlock()
	}
	return nil
}
