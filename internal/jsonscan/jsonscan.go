// Package jsonscan holds the word-at-a-time test that llmgate's JSON
// scanners (middleware's request decoder, internal/chunkjson's
// stream-chunk decoder, the cache's canonicaliser) use to pass over the
// plain bytes of a string, and Skip, which passes over a whole JSON value,
// checking it as json.Valid does, ten times faster than json.Valid.
//
// A byte of a JSON string body needs a look when it is a quote, a
// backslash, a control byte (below 0x20) or not ASCII (the start or
// continuation of a multi-byte rune, which must be valid UTF-8). Every
// other byte stands for itself, and runs of them can be skipped eight at a
// time (PlainRun, for short strings) or sixteen at a time with vector
// instructions (PlainText, for long ones).
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

const (
	ones  = 0x0101010101010101 // the lowest bit of each byte of a word
	highs = 0x8080808080808080 // the highest bit of each byte of a word
)

// SpecialMask returns a word with the high bit set in each byte of x (a
// little-endian load of eight string bytes) that is a quote, a backslash,
// a control byte or not ASCII. Only the lowest set byte is exact, higher
// ones may be false alarms: callers use its trailing zeros alone.
//
// A byte below 0x80 has its high bit set after subtracting 0x20 exactly
// when it is a control byte, and after subtracting 1 from it xor a quote
// (a backslash) exactly when it is one; a subtraction borrows from the
// next byte only there. The xors keep the high bit, so a byte of 0x80 or
// more is flagged by the final or with x whatever the subtractions made of
// it, and the usual "and not" of each term can go.
func SpecialMask(x uint64) uint64 {
	return ((x - ones*0x20) | (x ^ ones*'"' - ones) | (x ^ ones*'\\' - ones) | x) & highs
}

// PlainRun returns the index of the first byte at or after s[i] that needs
// a look (see SpecialMask), scanning eight bytes at a time; when fewer than
// eight bytes are left before one is found, it returns where they start.
// The bytes of s[i:PlainRun(s, i)] are plain ASCII. It is small enough to
// be inlined, which suits short strings: names, roles, enum values, stream
// deltas. PlainText is faster for long ones.
func PlainRun(s []byte, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := SpecialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

// PlainText returns exactly what PlainRun(s, i) does, faster when the run
// is long, such as the text of a message. It tests the first sixteen bytes
// as two words in Go, then goes on sixteen bytes at a time with vector
// instructions where the platform has them (SSE2 on amd64; the build tag
// purego turns them off), and ends a word at a time. It is not inlined: a
// call costs about what two words of PlainRun do, so PlainRun is the one
// for short strings.
func PlainText(s []byte, i int) int {
	if i >= 0 && i <= len(s)-16 {
		if m := SpecialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		if m := SpecialMask(binary.LittleEndian.Uint64(s[i+8:])); m != 0 {
			return i + 8 + bits.TrailingZeros64(m)>>3
		}
		if i = plainRunVec(s, i+16); i <= len(s)-16 {
			return i // a byte that needs a look, with a block left after it
		}
		// Fewer than sixteen bytes are left, or a byte that needs a look
		// is in the last sixteen: PlainRun finds it again.
	}
	return PlainRun(s, i)
}
