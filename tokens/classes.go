package tokens

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of the split patterns, as bit flags. The patterns use
// \p{L}, \p{N}, \s, \r\n and, for o200k_base, two case-sensitive letter
// classes:
//
//	U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]   W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]
//
// Classes come from Go's unicode tables, the same tables regexp2 (and so
// tiktoken-go) uses; \s is unicode.IsSpace, the Unicode White_Space
// property, which is what both regexp2's and Rust regex's \s match.
const (
	fL  uint16 = 1 << iota // \p{L}
	fN                     // \p{N}
	fS                     // \s
	fNL                    // \r or \n
	fU                     // Lu Lt Lm Lo M
	fW                     // Ll Lm Lo M
	fLl                    // Ll
)

// bmpClass caches classFlags for the Basic Multilingual Plane, where
// almost all text lives; runes above it are classified on the fly.
var bmpClass = func() *[0x10000]uint16 {
	var t [0x10000]uint16
	for r := range t {
		t[r] = classFlags(rune(r))
	}
	return &t
}()

// classFlags classifies one rune from the unicode tables.
func classFlags(r rune) uint16 {
	var f uint16
	switch {
	case unicode.IsLetter(r):
		f |= fL
		switch {
		case unicode.IsUpper(r), unicode.IsTitle(r):
			f |= fU
		case unicode.IsLower(r):
			f |= fW | fLl
		default: // Lm, Lo
			f |= fU | fW
		}
	case unicode.IsMark(r):
		f |= fU | fW
	case unicode.IsNumber(r):
		f |= fN
	case unicode.IsSpace(r):
		f |= fS
		if r == '\r' || r == '\n' {
			f |= fNL
		}
	}
	return f
}

// at returns the class of the rune starting at s[i] and its width in
// bytes. s must be valid UTF-8 and i < len(s).
func at(s string, i int) (uint16, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return bmpClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r < 0x10000 {
		return bmpClass[r], w
	}
	return classFlags(r), w
}

// scan returns the end of the run of runes from s[i] whose class has a bit
// of mask set.
func scan(s string, i int, mask uint16) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if bmpClass[c]&mask == 0 {
				return i
			}
			i++
			continue
		}
		f, w := at(s, i)
		if f&mask == 0 {
			return i
		}
		i += w
	}
	return i
}

// scanNot returns the end of the run of runes from s[i] whose class has no
// bit of mask set.
func scanNot(s string, i int, mask uint16) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if bmpClass[c]&mask != 0 {
				return i
			}
			i++
			continue
		}
		f, w := at(s, i)
		if f&mask != 0 {
			return i
		}
		i += w
	}
	return i
}

// sanitize replaces every byte of s that is not part of a valid UTF-8
// sequence with U+FFFD, one replacement per byte. This is what Go's
// []rune(s) conversion does, and so what tiktoken-go (whose regexp2 engine
// works on []rune) tokenizes.
func sanitize(s string) string {
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+w]...)
		}
		i += w
	}
	return string(b)
}
