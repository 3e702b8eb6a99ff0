//go:build !amd64 || purego

package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// plainRunVec is PlainRun a word at a time on platforms without the
// vector version.
func plainRunVec(s []byte, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := SpecialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}
