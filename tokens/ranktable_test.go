package tokens

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestPackBytes checks packBytes against a byte-at-a-time packing for
// every length from 1 to 8, with bytes that are all distinct and non-zero, so
// a byte in the wrong place or lost shows.
func TestPackBytes(t *testing.T) {
	src := "\x01\x82\x23\xc4\x45\xe6\x67\xf8"
	for n := 1; n <= maxPacked; n++ {
		t.Run(strings.Repeat("x", n), func(t *testing.T) {
			var want uint64
			for i := n - 1; i >= 0; i-- {
				want = want<<8 | uint64(src[i])
			}
			if got := packBytes(src[:n]); got != want {
				t.Errorf("packBytes(%q) = %#x, want %#x", src[:n], got, want)
			}
		})
	}
}

// TestRankTable checks, for every encoding, that rank (the packed table
// for short tokens, the map for long ones) returns the rank of every
// token, and noRank for strings that are not tokens: each token with a
// byte added before or after (a zero byte, whose packing is ambiguous
// without the length, included), with its last byte changed, and random
// strings of 1 to 12 bytes.
func TestRankTable(t *testing.T) {
	for _, name := range []string{"cl100k_base", "o200k_base", "p50k_base", "r50k_base"} {
		t.Run(name, func(t *testing.T) {
			enc := mustGet(t, name)
			want := make(map[string]uint32, len(enc.tokens))
			for rank, tok := range enc.tokens {
				if tok != "" {
					want[tok] = uint32(rank)
				}
			}
			check := func(s string) {
				t.Helper()
				r, ok := want[s]
				if !ok {
					r = noRank
				}
				if got := enc.rank(s); got != r {
					t.Fatalf("rank(%q) = %d, want %d", s, got, r)
				}
			}
			short := 0
			for tok := range want {
				check(tok)
				if len(tok) <= maxPacked {
					short++
				}
				for _, c := range []string{"\x00", "\x01", "a", " ", "\xff"} {
					check(tok + c)
					check(c + tok)
				}
				check(tok[:len(tok)-1] + string(tok[len(tok)-1]^0x80))
				if len(tok) > 1 {
					check(tok[:len(tok)-1])
				}
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(want))))
			var b []byte
			for range 200_000 {
				b = b[:0]
				for range 1 + rng.IntN(12) {
					b = append(b, " etaoinTE\x00\xe4\x80\xff"[rng.IntN(13)])
				}
				check(string(b))
			}
			hits, misses := enc.ranks.meanProbes(want)
			t.Logf("%d short tokens in %d slots (load %.2f); mean slots probed: hit %.2f, miss %.2f",
				short, len(enc.ranks.slots), float64(short)/float64(len(enc.ranks.slots)), hits, misses)
			if len(enc.ranks.long)+short != len(want) {
				t.Errorf("%d long + %d short tokens, want %d", len(enc.ranks.long), short, len(want))
			}
		})
	}
}

// meanProbes returns the mean number of slots a lookup visits for every
// short token of want (hits) and for each of them with its first byte
// changed when that is not a token (misses).
func (t *rankTable) meanProbes(want map[string]uint32) (hit, miss float64) {
	probes := func(b string) int {
		key, mask := packBytes(b), uint64(len(t.slots)-1)
		n := 1
		for i := t.hash(key); t.slots[i].val != 0 && (t.slots[i].key != key || int(t.slots[i].val&slotLenMask) != len(b)); i = (i + 1) & mask {
			n++
		}
		return n
	}
	var nh, nm, sh, sm int
	for tok := range want {
		if len(tok) > maxPacked {
			continue
		}
		sh += probes(tok)
		nh++
		if other := string(tok[0]^0x55) + tok[1:]; len(other) <= maxPacked {
			if _, ok := want[other]; !ok {
				sm += probes(other)
				nm++
			}
		}
	}
	return float64(sh) / float64(nh), float64(sm) / float64(nm)
}

// BenchmarkLoad measures loading an encoding from its BPE file, rank
// tables included (it happens once per encoding and process).
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"cl100k_base", "o200k_base"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := load(name, specs[name]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewRankTable measures building the token → rank table alone.
func BenchmarkNewRankTable(b *testing.B) {
	for _, name := range []string{"cl100k_base", "o200k_base"} {
		enc := mustGet(b, name)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := newRankTable(enc.tokens); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
