package jsonscan

import (
	"bytes"
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
		checkPlainRun(t, s, i, PlainRun(s, i))
	}
}

// checkPlainRun fails t unless got is what PlainRun(s, i) must be: no
// special byte before it, and a special byte at it unless fewer than eight
// bytes are left there.
func checkPlainRun(t *testing.T, s []byte, i, got int) {
	t.Helper()
	for j := i; j < got; j++ {
		if special(s[j]) {
			t.Fatalf("%q from %d: PlainRun = %d passes special byte %d", s, i, got, j)
		}
	}
	if got < len(s) && !special(s[got]) && got+8 <= len(s) {
		t.Fatalf("%q from %d: PlainRun = %d stops at a plain byte with a word left", s, i, got)
	}
}

// TestPlainText checks PlainText, and on amd64 its vector loop, against
// PlainRun for every start and length up to 80 bytes with a special byte
// (of each class) at every place after the start, or none, and a second
// one up to sixteen bytes after the first: the two must agree exactly, as
// both test the bytes in whole words from the start.
func TestPlainText(t *testing.T) {
	specials := []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff}
	plain := []byte("az AZ09 !#[]~\x7f")
	buf := make([]byte, 80)
	for n := 0; n <= len(buf); n++ {
		s := buf[:n]
		for i := range s {
			s[i] = plain[i%len(plain)]
		}
		for i := 0; i <= n; i++ {
			for p := i - 1; p < n; p++ { // p = i-1: no special byte
				q := p + 1 + (n+i+p)%16 // a second one, when q < n
				if p >= i {
					s[p] = specials[(n+i+p+1)%len(specials)]
					if q < n {
						s[q] = specials[(n+i+q)%len(specials)]
					}
				}
				want := PlainRun(s, i)
				if got := PlainText(s, i); got != want {
					t.Fatalf("%q from %d: PlainText = %d, PlainRun = %d", s, i, got, want)
				}
				if got, want := plainRunVec(s, i), vecRef(s, i); got != want && vectorLoop {
					t.Fatalf("%q from %d: plainRunVec = %d, want %d", s, i, got, want)
				}
				if p >= i {
					s[p] = plain[p%len(plain)]
					if q < n {
						s[q] = plain[q%len(plain)]
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("PlainText from -1 did not panic, as PlainRun does")
		}
	}()
	PlainText([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), -1)
}

// vecRef is what the vector loop returns: the first special byte at or
// after s[i] in whole sixteen-byte blocks from i, else where fewer than
// sixteen bytes are left.
func vecRef(s []byte, i int) int {
	for ; i+16 <= len(s); i += 16 {
		for k := i; k < i+16; k++ {
			if special(s[k]) {
				return k
			}
		}
	}
	return i
}

func ExamplePlainRun() {
	s := []byte(`"a plain run, then an \"escape\""`)
	i := PlainRun(s, 1)
	fmt.Printf("%d %q\n", i, s[i])
	// Output: 22 '\\'
}

func ExamplePlainText() {
	s := []byte(`"The quick brown fox jumps over the lazy dog, then naps."`)
	fmt.Println(PlainText(s, 1) == len(s)-1)
	// Output: true
}

// FuzzPlainText holds PlainText to PlainRun, and PlainRun to a byte-by-byte
// scan, on any bytes from any start.
func FuzzPlainText(f *testing.F) {
	f.Add([]byte(`"a plain run, then an \"escape\""`), 1)
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789\x00"), 3)
	f.Add([]byte("caf\xc3\xa9 au lait, sixteen bytes and more"), 0)
	f.Fuzz(func(t *testing.T, s []byte, i int) {
		if i < 0 {
			i = 0
		}
		got := PlainRun(s, i)
		if pt := PlainText(s, i); pt != got {
			t.Fatalf("%q from %d: PlainText = %d, PlainRun = %d", s, i, pt, got)
		}
		checkPlainRun(t, s, i, got)
	})
}

// BenchmarkPlainText scans plain runs of several lengths ending in a quote,
// against PlainRun on the same bytes.
func BenchmarkPlainText(b *testing.B) {
	for _, n := range []int{8, 24, 40, 100, 1000} {
		s := append(bytes.Repeat([]byte("lorem ipsum "), n/12+1)[:n], `","next":"member"}`...)
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if PlainText(s, 0) != n {
					b.Fatal("wrong end")
				}
			}
		})
		b.Run(fmt.Sprintf("%d/baseline=PlainRun", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if PlainRun(s, 0) != n {
					b.Fatal("wrong end")
				}
			}
		})
	}
}
