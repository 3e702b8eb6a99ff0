package tokens

import (
	"errors"
	"fmt"
	"math/bits"
	"unsafe"
)

// maxPacked is the longest token a rankTable holds: its bytes fit in one
// uint64. Most tokens (80 % of cl100k_base, 74 % of o200k_base) and almost
// every lookup of the byte-pair merge are this short.
const maxPacked = 8

// rankTable maps token bytes to ranks. Tokens of 1 to maxPacked bytes
// live in an open-addressing hash table with linear probing whose keys
// are the token bytes packed into a uint64, so a lookup hashes with one
// multiplication and compares in registers, instead of hashing a string
// and comparing bytes through a pointer as a map[string]uint32 does.
// Longer tokens live in a map. It is built once by newRankTable and
// read-only afterwards, so safe for concurrent use.
type rankTable struct {
	slots []rankSlot        // len is a power of two, at most 5/8 full
	shift uint              // 64 - log2(len(slots)): hash(k) >> shift is a slot
	long  map[string]uint32 // tokens longer than maxPacked bytes
}

// rankSlot is one slot: key holds the token bytes (packBytes), val the rank
// shifted left by 4 and the token length in the low 4 bits, which tells
// an 8-byte token from a shorter one with the same packed bytes. val 0
// (length 0) marks an empty slot.
type rankSlot struct {
	key uint64
	val uint32
}

const (
	slotLenBits = 4
	slotLenMask = 1<<slotLenBits - 1
	// maxTableRank is the largest rank a slot can hold.
	maxTableRank = 1<<(32-slotLenBits) - 1
)

// newRankTable returns the table of tokens (rank → token bytes, "" for
// unused ranks). The table keeps the strings of long tokens as map keys.
func newRankTable(tokens []string) (rankTable, error) {
	n, long := 0, 0
	for _, tok := range tokens {
		if len(tok) > maxPacked {
			long++
		} else if tok != "" {
			n++
		}
	}
	size := 1 << bits.Len(uint(n*8/5)) // load factor at most 5/8
	t := rankTable{
		slots: make([]rankSlot, size),
		shift: uint(64 - bits.TrailingZeros(uint(size))),
		long:  make(map[string]uint32, long),
	}
	if len(tokens)-1 > maxTableRank {
		return rankTable{}, fmt.Errorf("tokens: rank table: rank %d does not fit", len(tokens)-1)
	}
	mask := uint64(size - 1)
	for rank, tok := range tokens {
		if len(tok) > maxPacked {
			t.long[tok] = uint32(rank)
			continue
		}
		if tok == "" {
			continue
		}
		key, val := packBytes(tok), uint32(rank)<<slotLenBits|uint32(len(tok))
		i := t.hash(key)
		for t.slots[i].val != 0 {
			if s := t.slots[i]; s.key == key && s.val&slotLenMask == uint32(len(tok)) {
				return rankTable{}, fmt.Errorf("tokens: rank table: duplicate token %q", tok)
			}
			i = (i + 1) & mask
		}
		t.slots[i] = rankSlot{key, val}
	}
	if len(t.long) != long {
		return rankTable{}, errors.New("tokens: rank table: duplicate tokens")
	}
	return t, nil
}

// hash returns the home slot of key: Fibonacci hashing, the top bits of
// key times 2^64/φ, which every bit of key influences.
func (t *rankTable) hash(key uint64) uint64 {
	return (key * 0x9E3779B97F4A7C15) >> t.shift
}

// get returns the rank of the token whose bytes are b (not empty), or
// noRank.
func (t *rankTable) get(b string) uint32 {
	n := len(b)
	if n > maxPacked {
		return t.getLong(b)
	}
	// packBytes, written out: it is too big for the compiler to inline.
	var key uint64
	if n >= 4 {
		key = load32(b, 0) | load32(b, n-4)<<(8*(n-4))
	} else if n >= 2 {
		key = load16(b, 0) | load16(b, n-2)<<(8*(n-2))
	} else {
		key = uint64(b[0])
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key && s.val&slotLenMask == uint32(n) {
			return s.val >> slotLenBits
		}
		if s.val == 0 {
			return noRank
		}
	}
}

// getLong is get for tokens longer than maxPacked bytes. Kept out of
// line so that get's common path stays short.
//
//go:noinline
func (t *rankTable) getLong(b string) uint32 {
	if r, ok := t.long[b]; ok {
		return r
	}
	return noRank
}

// packBytes returns the bytes of b (1 to 8 of them) as a little-endian
// uint64, zero above len(b): two overlapping loads cover the lengths that
// are not a power of two.
func packBytes(b string) uint64 {
	if n := len(b); n >= 4 {
		return load32(b, 0) | load32(b, n-4)<<(8*(n-4))
	} else if n >= 2 {
		return load16(b, 0) | load16(b, n-2)<<(8*(n-2))
	}
	return uint64(b[0])
}

func load32(b string, i int) uint64 {
	b = b[i : i+4]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
}

func load16(b string, i int) uint64 {
	b = b[i : i+2]
	return uint64(b[0]) | uint64(b[1])<<8
}

// memory estimates the bytes the table holds: slots, and map buckets
// (key header, value, and Go's per-slot overhead at ~7/8 load), not the
// bytes of the keys.
func (t *rankTable) memory() int {
	return len(t.slots)*int(unsafe.Sizeof(rankSlot{})) + len(t.long)*(16+4+1)*8/7
}
