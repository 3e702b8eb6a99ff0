package limiter

import "sync"

// entry is one bucket in a shard's table.
type entry struct {
	h   uint64 // the bucket hash (see bucketHash); 0 marks an empty slot
	tat int64  // theoretical arrival time, ns since the store's epoch
}

// shard is an open-addressing hash table of buckets with linear probing,
// behind one mutex. A bucket's hash is already uniformly mixed, so its low
// bits are its home slot and the table never hashes again: finding a
// bucket is one probe in the common case, and the index it returns is
// where Reserve later writes the new TAT, with no second lookup.
//
// Deleting uses backward shifting (no tombstones), so a probe stops at the
// first empty slot. The table is kept at most 3/4 full.
type shard struct {
	mu    sync.Mutex
	tab   []entry // len is zero or a power of two
	n     int     // occupied slots
	limit int     // an insertion that finds n ≥ limit sweeps first
	_     [16]byte
}

const (
	// minSweep is how many buckets a shard holds before its first sweep
	// of idle ones; later sweeps come when the live count has doubled.
	minSweep = 1024
	// minTable is the smallest table a shard allocates.
	minTable = 8
)

// nonzero maps a bucket hash to a table key: 0 marks empty slots, so the
// one hash that is 0 shares the key of the hash 1.
func nonzero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// find returns the slot of h and true, or, when h is absent, the empty
// slot where it would go and false. It returns (0, false) on an empty
// table.
func (sh *shard) find(h uint64) (int, bool) {
	tab := sh.tab
	if len(tab) == 0 {
		return 0, false
	}
	mask := len(tab) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch tab[i].h {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

// put sets the TAT of bucket h, inserting it if absent, after a sweep if
// the shard reached its limit. now is the sweep's idea of the present.
func (sh *shard) put(h uint64, tat, now int64, perCap int) {
	i, ok := sh.find(h)
	if ok {
		sh.tab[i].tat = tat
		return
	}
	if sh.n >= sh.limit {
		sh.sweep(now, perCap)
		i, _ = sh.find(h)
	}
	sh.tab[i] = entry{h: h, tat: tat}
	sh.n++
}

// del empties slot i, moving back the entries after it that probed past
// it so that every entry stays reachable from its home slot.
func (sh *shard) del(i int) {
	tab := sh.tab
	mask := len(tab) - 1
	for j := (i + 1) & mask; tab[j].h != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i when its home is not in
		// the cyclic interval (i, j]: its probe from home passes i.
		if home := int(tab[j].h) & mask; (j-home)&mask >= (j-i)&mask {
			tab[i] = tab[j]
			i = j
		}
	}
	tab[i] = entry{}
	sh.n--
}

// sweep drops the idle buckets (a TAT at or before now is a full bucket,
// the same as an absent one), then arbitrary live ones while more than
// perCap-1 remain, and grows the table so that the live ones may double
// before the next sweep (up to perCap). Work is proportional to the table
// size, which the growth rule makes amortised O(1) per insertion.
func (sh *shard) sweep(now int64, perCap int) {
	for i := 0; i < len(sh.tab); {
		// del moves a later entry (or a wrapped-around, already checked
		// live one) into i, so i is checked again.
		if e := sh.tab[i]; e.h != 0 && e.tat <= now {
			sh.del(i)
			continue
		}
		i++
	}
	for i := 0; sh.n >= perCap && i < len(sh.tab); {
		if sh.tab[i].h != 0 {
			sh.del(i)
			continue
		}
		i++
	}
	limit := min(max(2*sh.n, minSweep), perCap)
	need := min(2*sh.n+1, limit) // room for the live ones to double
	size := max(len(sh.tab), minTable)
	for size/4*3 < need {
		size *= 2
	}
	if size != len(sh.tab) {
		sh.resize(size)
	}
	sh.limit = min(limit, size/4*3)
}

// resize moves the entries into a new table of size slots (a power of
// two, larger than n·4/3).
func (sh *shard) resize(size int) {
	old := sh.tab
	sh.tab = make([]entry, size)
	mask := size - 1
	for _, e := range old {
		if e.h == 0 {
			continue
		}
		i := int(e.h) & mask
		for sh.tab[i].h != 0 {
			i = (i + 1) & mask
		}
		sh.tab[i] = e
	}
}
