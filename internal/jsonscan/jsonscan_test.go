package jsonscan

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

func special(ch byte) bool { return ch < 0x20 || ch == '"' || ch == '\\' || ch >= utf8.RuneSelf }

// TestSpecialMask checks that the lowest byte SpecialMask flags is the
// first byte a string scanner must look at, for words mixing bytes at the
// edges of each class.
func TestSpecialMask(t *testing.T) {
	alphabet := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa0, 0xa2, 0xdc, 0xc3, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(1, 2))
	var w [8]byte
	for n := 0; n < 200000; n++ {
		for i := range w {
			w[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) == 0 {
				w[i] = 'a' // long plain runs too
			}
		}
		want := 8
		for i, ch := range w {
			if special(ch) {
				want = i
				break
			}
		}
		got := bits.TrailingZeros64(SpecialMask(binary.LittleEndian.Uint64(w[:]))) >> 3
		if got != want {
			t.Fatalf("% x: first special byte at %d, mask says %d", w, want, got)
		}
	}
}

// TestPlainRun checks PlainRun against a byte-by-byte scan: it stops at the
// first special byte, or where fewer than eight bytes are left.
func TestPlainRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 20000; n++ {
		s := make([]byte, rng.IntN(40))
		for i := range s {
			s[i] = 'a' + byte(rng.IntN(26))
			if rng.IntN(12) == 0 {
				s[i] = byte(rng.IntN(256))
			}
		}
		i := 0
		if len(s) > 0 {
			i = rng.IntN(len(s))
		}
		got := PlainRun(s, i)
		for j := i; j < got; j++ {
			if special(s[j]) {
				t.Fatalf("%q from %d: PlainRun = %d passes special byte %d", s, i, got, j)
			}
		}
		if got < len(s) && !special(s[got]) && got+8 <= len(s) {
			t.Fatalf("%q from %d: PlainRun = %d stops at a plain byte with a word left", s, i, got)
		}
	}
}

func ExamplePlainRun() {
	s := []byte(`"a plain run, then an \"escape\""`)
	i := PlainRun(s, 1)
	fmt.Printf("%d %q\n", i, s[i])
	// Output: 22 '\\'
}
