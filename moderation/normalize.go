package moderation

import (
	"unicode"
	"unicode/utf8"
)

// The normaliser turns text into a "skeleton" that the lexicon automaton
// reads: a space, then words of the alphabet [a-z#] separated by single
// spaces, then (for complete text) a space. It defeats the usual evasions:
//
//   - case: everything is lower case;
//   - leetspeak: 0→o 1→i 3→e 4→a 5→s 7→t 8→b, and @ $ ! | + inside a word;
//   - look-alikes: l and i are one letter (l, 1, |, ! and i all become i),
//     Cyrillic and Greek homoglyphs, accented Latin letters, fullwidth forms,
//     mathematical alphanumerics and circled letters map to ASCII;
//   - invisible characters: zero-width, bidi controls, soft hyphens,
//     variation selectors and combining marks are dropped;
//   - spacing: three or more single letters in a row ("k i l l",
//     "k.i.l.l", "k-i-l-l") are joined into one word;
//   - filler words (a, an, the, all, any, your, …) are dropped so that
//     "ignore all of the previous instructions" reads like
//     "ignore previous instructions".
//
// off[i] is the byte offset in the original text of the character that
// produced skel[i], so matches map back to spans of the original.

// wordSym is the skeleton byte for a letter or digit outside [a-z].
const wordSym = '#'

// asciiFold maps an ASCII byte to its skeleton byte: a letter, wordSym, or
// 0 for a separator. Leet symbols (@ $ ! | +) are separators here and
// handled in context. Bytes from 0x80 up map to 0, so a run of letters can
// be read without testing for multi-byte runes first.
var asciiFold = func() (t [256]byte) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c)
		t[c-'a'+'A'] = byte(c)
	}
	t['l'], t['L'] = 'i', 'i'
	digits := "oi#eas#tb#" // 0..9
	for i := range 10 {
		t['0'+i] = digits[i]
	}
	return t
}()

// leetSym maps the symbols that stand for a letter inside a word.
var leetSym = [128]byte{'@': 'a', '$': 's', '!': 'i', '|': 'i', '+': 't'}

// sepASCII marks the ASCII bytes that only separate words: neither
// letters (asciiFold) nor leet symbols.
var sepASCII = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = asciiFold[c] == 0 && leetSym[c] == 0
	}
	return t
}()

// latinExtA folds U+0100..U+017F to ASCII letters.
const latinExtA = "aaaaaacccccccc" + "dddd" + "eeeeeeeeee" + "gggggggg" + "hhhh" + "iiiiiiiiii" +
	"ii" + "jj" + "kkk" + "iiiiiiiiii" + "nnnnnnnnn" + "oooooo" + "oo" + "rrrrrr" +
	"ssssssss" + "tttttt" + "uuuuuuuuuuuu" + "ww" + "yyy" + "zzzzzz" + "s"

// latin1 folds U+00C0..U+00FF (0 = not a letter to fold).
const latin1 = "aaaaaaaceeeeiiii" + "dnooooo\x00ouuuuyps" + "aaaaaaaceeeeiiii" + "dnooooo\x00ouuuuypy"

// homoglyphs maps Cyrillic and Greek letters that look like Latin ones.
var homoglyphs = map[rune]byte{
	// Cyrillic
	'а': 'a', 'А': 'a', 'в': 'b', 'В': 'b', 'е': 'e', 'Е': 'e', 'ё': 'e', 'Ё': 'e',
	'к': 'k', 'К': 'k', 'м': 'm', 'М': 'm', 'н': 'h', 'Н': 'h', 'о': 'o', 'О': 'o',
	'р': 'p', 'Р': 'p', 'с': 'c', 'С': 'c', 'т': 't', 'Т': 't', 'у': 'y', 'У': 'y',
	'х': 'x', 'Х': 'x', 'і': 'i', 'І': 'i', 'ї': 'i', 'Ї': 'i', 'ј': 'j', 'Ј': 'j',
	'ѕ': 's', 'Ѕ': 's', 'һ': 'h', 'Һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'i',
	'Ӏ': 'i', 'ԍ': 'g', 'ɡ': 'g', 'ɑ': 'a',
	// Greek
	'α': 'a', 'Α': 'a', 'β': 'b', 'Β': 'b', 'ε': 'e', 'Ε': 'e', 'ζ': 'z', 'Ζ': 'z',
	'η': 'n', 'Η': 'h', 'ι': 'i', 'Ι': 'i', 'κ': 'k', 'Κ': 'k', 'μ': 'u', 'Μ': 'm',
	'ν': 'v', 'Ν': 'n', 'ο': 'o', 'Ο': 'o', 'ρ': 'p', 'Ρ': 'p', 'τ': 't', 'Τ': 't',
	'υ': 'u', 'Υ': 'y', 'χ': 'x', 'Χ': 'x', 'γ': 'y', 'ω': 'w', 'ς': 's',
	// Latin extras
	'ı': 'i', 'ł': 'i', 'Ł': 'i', 'ø': 'o', 'Ø': 'o', 'đ': 'd', 'Đ': 'd',
}

// invisible reports whether r is dropped without leaving a word break.
func invisible(r rune) bool {
	switch {
	case r == 0xAD, r == 0x34F, r == 0x180E, r == 0xFEFF:
		return true
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x2064:
		return true
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0x300 && r <= 0x36F:
		return true
	}
	return false
}

// foldRune maps a non-ASCII rune to a skeleton byte: a letter, wordSym, 0
// for a separator, or 1 for "drop".
func foldRune(r rune) byte {
	switch {
	case invisible(r):
		return 1
	case r >= 0xC0 && r <= 0xFF:
		if c := latin1[r-0xC0]; c != 0 {
			return c
		}
		return 0
	case r >= 0x100 && r <= 0x17F:
		return latinExtA[r-0x100]
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return asciiFold[r-0xFEE0]
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical alphanumeric letters
		k := (r - 0x1D400) % 52
		if k >= 26 {
			k -= 26
		}
		return asciiFold['a'+k]
	case r >= 0x1D7CE && r <= 0x1D7FF: // mathematical digits
		return asciiFold['0'+(r-0x1D7CE)%10]
	case r >= 0x24B6 && r <= 0x24E9: // circled letters
		return asciiFold['a'+(r-0x24B6)%26]
	}
	if c, ok := homoglyphs[r]; ok {
		return c
	}
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return wordSym
	}
	return 0
}

// isStopword reports whether a skeleton word is a filler word that is
// dropped: a, an, the, all, any, your, my, of, some, just, please, really,
// very, so, such, these, those (in skeleton spelling, l→i).
func isStopword(w []byte) bool {
	if !maybeStop(w) {
		return false
	}
	// The word's bytes, big-endian, as one number (letters are never 0, so
	// words of different lengths differ), looked up in a perfect hash.
	var k uint64
	for _, c := range w {
		k = k<<8 | uint64(c)
	}
	return stopHash.keys[(k*stopHash.mul)>>(64-stopBits)] == k
}

// stopBits is the size, in bits, of the stopword hash table.
const stopBits = 6

// stopHash is a perfect hash of the packed stopwords: a multiplier that
// sends each to its own slot of keys. Empty slots hold 0, which no word
// packs to.
var stopHash = func() (h struct {
	mul  uint64
	keys [1 << stopBits]uint64
}) {
	// Candidate multipliers come from a 64-bit LCG; a handful of tries
	// finds one.
	for x := uint64(1); ; x = x*6364136223846793005 + 1442695040888963407 {
		mul := x | 1
		h.keys = [1 << stopBits]uint64{}
		ok := true
		for _, w := range stopwords {
			var k uint64
			for _, c := range []byte(w) {
				k = k<<8 | uint64(c)
			}
			slot := (k * mul) >> (64 - stopBits)
			if h.keys[slot] != 0 {
				ok = false
				break
			}
			h.keys[slot] = k
		}
		if ok {
			h.mul = mul
			return h
		}
	}
}()

// stopwords are the filler words isStopword drops, in skeleton spelling.
var stopwords = []string{"a", "an", "the", "aii", "any", "your", "my", "of", "some", "just",
	"piease", "reaiiy", "very", "so", "such", "these", "those"}

// stopFirst and stopLast hold, per word length, the first and last
// letters of the stopwords of that length (bit c&63).
var stopFirst, stopLast = func() (f, l [7]uint64) {
	for _, w := range stopwords {
		f[len(w)] |= 1 << (w[0] & 63)
		l[len(w)] |= 1 << (w[len(w)-1] & 63)
	}
	return f, l
}()

// maybeStop is a quick filter for isStopword: false means w is not a
// stopword.
func maybeStop(w []byte) bool {
	n := len(w)
	return n > 0 && n <= 6 && stopFirst[n]&(1<<(w[0]&63)) != 0 && stopLast[n]&(1<<(w[n-1]&63)) != 0
}

// skeleton is a reusable normalisation buffer.
type skeleton struct {
	src    string  // the text being normalised
	b      []byte  // the skeleton
	off    []int32 // original byte offset per skeleton byte
	joined [][2]int32
	// joined lists [start, end) skeleton ranges of words made by joining
	// spaced single letters; the unbounded automaton also reads them.

	pend  int // skeleton index of the first pending single-letter word
	npend int // how many single-letter words are pending
}

// The builder writes the skeleton in one pass. Each word is judged when
// it ends (endWord): a stopword is dropped by moving the write position
// back, and single-letter words are held as pending until a longer word or
// the end shows whether they make a run of three or more to join (flush).

// putLetter writes letter f, from text offset i, at w. ws is the start of
// the current word; both are returned updated.
func putLetter(b []byte, off []int32, w, ws int, f byte, i int) (int, int) {
	if b[w-1] == ' ' {
		ws = w
	}
	b[w], off[w] = f, int32(i)
	return w + 1, ws
}

// putSpace writes a word break from text offset i at w, unless one is
// already there, and judges the word b[ws:w] that it ends. It returns the
// new write position.
func (s *skeleton) putSpace(b []byte, off []int32, w, ws, i int) int {
	if b[w-1] == ' ' {
		return w
	}
	b[w], off[w] = ' ', int32(i)
	return s.endWord(b, off, ws, w, w+1, true)
}

// endWord judges the word b[ws:we], followed by a space when sp (then
// w == we+1, else w == we), and returns the new write position.
func (s *skeleton) endWord(b []byte, off []int32, ws, we, w int, sp bool) int {
	if we-ws == 1 && !s.fromDigit(off[ws]) {
		if s.npend == 0 {
			s.pend = ws
		}
		s.npend++
		return w
	}
	if s.npend > 0 {
		if nw := s.flush(b, off, ws); nw < ws {
			copy(b[nw:], b[ws:w])
			copy(off[nw:], off[ws:w])
			d := ws - nw
			ws, we, w = ws-d, we-d, w-d
		}
	}
	if sp && we-ws <= 6 && isStopword(b[ws:we]) {
		return ws
	}
	return w
}

// flush settles the pending single-letter words, which occupy
// b[s.pend:end] as letters each followed by a space (the last one
// possibly not, at the end of an open text): three or more are joined into
// one word, fewer stay words of their own (dropped when stopwords). It
// returns the end of what it kept.
func (s *skeleton) flush(b []byte, off []int32, end int) int {
	n, p := s.npend, s.pend
	if n == 0 {
		return end
	}
	s.npend = 0
	w := p
	if n >= 3 {
		for k := range n {
			b[w], off[w] = b[p+2*k], off[p+2*k]
			w++
		}
		s.joined = append(s.joined, [2]int32{int32(p), int32(w)})
		if sp := p + 2*n - 1; sp < end {
			b[w], off[w] = ' ', off[sp]
			w++
		}
		return w
	}
	for k := range n {
		l := p + 2*k
		if l+1 < end && isStopword(b[l:l+1]) {
			continue
		}
		b[w], off[w] = b[l], off[l]
		w++
		if l+1 < end {
			b[w], off[w] = ' ', off[l+1]
			w++
		}
	}
	return w
}

// build normalises text. When final is false the text may continue (a
// stream window): no closing space follows a last unfinished word, so a
// whole-word term cannot match a word that is still growing.
func (s *skeleton) build(text string, final bool) {
	s.src = text
	// Each input byte yields at most one skeleton byte (ß, two bytes,
	// yields two), plus the leading and closing spaces.
	need := len(text) + 2
	if cap(s.b) < need {
		s.b = make([]byte, 0, need)
		s.off = make([]int32, 0, need)
	}
	b, off := s.b[:need], s.off[:need]
	b[0], off[0] = ' ', 0
	s.joined = s.joined[:0]
	s.npend = 0
	w, ws := 1, 1
	for i := 0; i < len(text); {
		c := text[i]
		if f := asciiFold[c]; f != 0 {
			// A run of letters: one word-start test for the run.
			if b[w-1] == ' ' {
				ws = w
			}
			for {
				b[w], off[w] = f, int32(i)
				w++
				i++
				if i >= len(text) { // not ==: proves text[i] in bounds
					break
				}
				if f = asciiFold[text[i]]; f == 0 {
					break
				}
			}
			continue
		}
		if sepASCII[c] {
			if b[w-1] != ' ' {
				if n := w - ws; s.npend == 0 && (n > 6 || n > 1 &&
					(stopFirst[n]&(1<<(b[ws]&63)) == 0 || stopLast[n]&(1<<(b[w-1]&63)) == 0)) {
					// The common case, a word that is kept as it is
					// (not a single letter, not a possible stopword).
					b[w], off[w] = ' ', int32(i)
					w++
				} else {
					w = s.putSpace(b, off, w, ws, i)
				}
			}
			i++
			continue
		}
		// Leet symbols and multi-byte runes, out of line to keep the
		// common loop's variables in registers.
		w, ws, i = s.rare(b, off, w, ws, i)
	}
	if final {
		w = s.putSpace(b, off, w, ws, len(text))
	}
	if b[w-1] != ' ' {
		w = s.endWord(b, off, ws, w, w, false)
	}
	w = s.flush(b, off, w)
	s.b, s.off = b[:w], off[:w]
}

// rare handles text[i] for build when it is a leet symbol (then the whole
// run of them) or starts a multi-byte rune, and returns the new w, ws and i.
func (s *skeleton) rare(b []byte, off []int32, w, ws, i int) (int, int, int) {
	text := s.src
	if c := text[i]; c < utf8.RuneSelf {
		// A run of leet symbols is letters when a word character follows.
		j := i
		for j < len(text) && text[j] < utf8.RuneSelf && leetSym[text[j]] != 0 {
			j++
		}
		word := j < len(text) && text[j] < utf8.RuneSelf && asciiFold[text[j]] != 0
		for ; i < j; i++ {
			if word {
				w, ws = putLetter(b, off, w, ws, leetSym[text[i]], i)
			} else {
				w = s.putSpace(b, off, w, ws, i)
			}
		}
		return w, ws, i
	}
	r, n := utf8.DecodeRuneInString(text[i:])
	f := foldRune(r)
	switch {
	case f == 1:
	case f == 0:
		w = s.putSpace(b, off, w, ws, i)
	case r == 'ß':
		w, ws = putLetter(b, off, w, ws, 's', i)
		w, ws = putLetter(b, off, w, ws, 's', i)
	default:
		w, ws = putLetter(b, off, w, ws, f, i)
	}
	return w, ws, i + n
}

// fromDigit reports whether the skeleton byte made from text offset o came
// from a digit: spaced digits ("1 2 3") are numbers, not spelled-out words.
func (s *skeleton) fromDigit(o int32) bool {
	c := s.src[o]
	return c >= '0' && c <= '9'
}
