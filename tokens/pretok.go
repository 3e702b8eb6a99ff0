package tokens

// A splitter returns the end of the pre-tokenizer piece that starts at
// s[i] (i < len(s); s valid UTF-8). The splitters below are hand-written
// equivalents of tiktoken's split regular expressions: they return exactly
// the match a backtracking engine returns at i, alternatives tried in
// order. Matching restarts at the end of each piece; no pattern looks
// behind, so a piece depends only on the text from its start.
type splitter func(s string, i int) int

// contraction returns the length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i],
// or 0. With fold set, the letters match case-insensitively and 's' also
// matches U+017F LATIN SMALL LETTER LONG S, as in the Rust regex engine
// OpenAI's tiktoken uses (Unicode simple case folding; regexp2 lowercases
// instead, which does not map ſ to s).
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	c := s[i+1]
	if fold {
		c |= 0x20 // ASCII lower case; the letters involved are all ASCII
		if s[i+1] == 0xC5 && i+2 < len(s) && s[i+2] == 0xBF {
			return 3 // 'ſ
		}
	}
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if i+2 >= len(s) {
			return 0
		}
		d := s[i+2]
		if fold {
			d |= 0x20
		}
		if (c == 'r' || c == 'v') && d == 'e' || c == 'l' && d == 'l' {
			return 3
		}
	}
	return 0
}

// whitespace matches the trailing alternatives shared by the cl100k_base
// and o200k_base patterns at a rune of class \s:
//
//	\s*[\r\n]+ | \s+(?!\S) | \s+
func whitespace(s string, i int) int {
	lastNL, last, j := -1, i, i
	for j < len(s) {
		f, w := at(s, j)
		if f&fS == 0 {
			break
		}
		if f&fNL != 0 {
			lastNL = j
		}
		last = j
		j += w
	}
	switch {
	case lastNL >= 0:
		return lastNL + 1 // \r and \n are one byte
	case j == len(s) || last == i:
		return j
	}
	return last // leave the last space to prefix the next piece
}

// splitCl100k is the cl100k_base pattern:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitCl100k(s string, i int) int {
	c := s[i]
	if c == '\'' {
		if n := contraction(s, i, true); n > 0 {
			return i + n
		}
	}
	f, w := at(s, i)
	if f&fL != 0 {
		return scan(s, i+w, fL)
	}
	if f&(fN|fNL) == 0 && i+w < len(s) { // c is [^\r\n\p{L}\p{N}]
		if g, w2 := at(s, i+w); g&fL != 0 {
			return scan(s, i+w+w2, fL)
		}
	}
	if f&fN != 0 {
		j := i + w
		for k := 1; k < 3 && j < len(s); k++ {
			g, w2 := at(s, j)
			if g&fN == 0 {
				break
			}
			j += w2
		}
		return j
	}
	if j := punct(s, i, c, f); j > 0 {
		return scan(s, j, fNL)
	}
	return whitespace(s, i)
}

// punct matches " ?[^\s\p{L}\p{N}]+" at s[i] (c = s[i], f its class) and
// returns its end, or 0.
func punct(s string, i int, c byte, f uint16) int {
	const notPunct = fS | fL | fN
	if c == ' ' {
		if i+1 < len(s) {
			if g, w := at(s, i+1); g&notPunct == 0 {
				return scanNot(s, i+1+w, notPunct)
			}
		}
		return 0
	}
	if f&notPunct == 0 {
		return scanNot(s, i, notPunct)
	}
	return 0
}

// splitO200k is the o200k_base pattern:
//
//	[^\r\n\p{L}\p{N}]?U*W+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	[^\r\n\p{L}\p{N}]?U+W*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and W = [\p{Ll}\p{Lm}\p{Lo}\p{M}].
// Note that marks (\p{M}) are not \p{L}: a mark can be the optional prefix
// as well as part of U or W.
func splitO200k(s string, i int) int {
	f, w := at(s, i)
	prefix := f&(fL|fN|fNL) == 0 // s[i] is [^\r\n\p{L}\p{N}]
	if prefix && i+w < len(s) {
		if e := upperLower(s, i+w); e > 0 {
			return e
		}
	}
	if e := upperLower(s, i); e > 0 {
		return e
	}
	if prefix && i+w < len(s) {
		if e := upperThenLower(s, i+w); e > 0 {
			return e
		}
	}
	if e := upperThenLower(s, i); e > 0 {
		return e
	}
	if f&fN != 0 {
		j := i + w
		for k := 1; k < 3 && j < len(s); k++ {
			g, w2 := at(s, j)
			if g&fN == 0 {
				break
			}
			j += w2
		}
		return j
	}
	if j := punct(s, i, s[i], f); j > 0 {
		for j < len(s) && (s[j] == '\r' || s[j] == '\n' || s[j] == '/') {
			j++
		}
		return j
	}
	return whitespace(s, i)
}

// upperLower matches U*W+ and the optional contraction at s[p], returning
// the end or 0. U* is greedy and gives back runes until W+ can start:
// W+ starts either right after the whole U run (at an Ll rune, the only
// W rune that is not U) or at the last W rune inside the run.
func upperLower(s string, p int) int {
	lastW, lastWEnd, q := -1, 0, p
	for q < len(s) {
		f, w := at(s, q)
		if f&fU == 0 {
			break
		}
		if f&fW != 0 {
			lastW, lastWEnd = q, q+w
		}
		q += w
	}
	var e int
	if q < len(s) {
		if f, _ := at(s, q); f&fLl != 0 {
			e = scan(s, q, fW)
		}
	}
	if e == 0 {
		if lastW < 0 {
			return 0
		}
		// W+ from lastW: the runes after it in the run are Lu/Lt, and the
		// rune after the run is neither U nor Ll, so the match is one rune.
		e = lastWEnd
	}
	return e + contraction(s, e, true)
}

// upperThenLower matches U+W* and the optional contraction at s[p],
// returning the end or 0.
func upperThenLower(s string, p int) int {
	q := scan(s, p, fU)
	if q == p {
		return 0
	}
	e := scan(s, q, fW)
	return e + contraction(s, e, true)
}

// splitR50k is the pattern of r50k_base and p50k_base:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitR50k(s string, i int) int {
	c := s[i]
	if c == '\'' {
		if n := contraction(s, i, false); n > 0 {
			return i + n
		}
	}
	j := i
	if c == ' ' && i+1 < len(s) {
		j = i + 1
	}
	f, w := at(s, j)
	if j > i && f&fS != 0 {
		// " " followed by space: no optional-space alternative applies.
		j, f, w = i, bmpClass[' '], 1
	}
	switch {
	case f&fL != 0:
		return scan(s, j+w, fL)
	case f&fN != 0:
		return scan(s, j+w, fN)
	case f&fS == 0:
		return scanNot(s, j+w, fS|fL|fN)
	}
	// Whitespace: \s+(?!\S) | \s+ (no newline special case here).
	last, k := i, i
	for k < len(s) {
		g, w2 := at(s, k)
		if g&fS == 0 {
			break
		}
		last = k
		k += w2
	}
	if k == len(s) || last == i {
		return k
	}
	return last
}
