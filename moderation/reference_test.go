package moderation

// This file keeps the implementation of the built-in moderator's scan as it
// was before the instruction-count work (normaliser, lexicon walk, detector
// scan), unchanged but for names, as the reference that the differential
// tests and FuzzDifferential hold the current code to: same scores, same
// findings in the same order, same skeleton.

import (
	"slices"
	"unicode/utf8"
)

// refScratch is the reference's per-call working memory.
type refScratch struct {
	sk       refSkeleton
	seen     []uint64
	findings []Finding
	scores   Scores
	pos      []int32
	cueEnd   [maxCues]int32
	cueStart [maxCues]int32
}

func (sc *refScratch) detect(c Category, start, end int, score float64) {
	sc.findings = append(sc.findings, Finding{c, start, end, score})
	if score > sc.scores[c] {
		sc.scores[c] = score
	}
}

// refRun is the previous Builtin.run, kept as the reference: it scores text into sc.scores and sc.findings. When final is false the
// text is a stream window that may continue.
func refRun(b *Builtin, sc *refScratch, text string, final bool) {
	sc.scores = Scores{}
	sc.findings = sc.findings[:0]
	if b.anyLex {
		refRunLexicon(b, sc, text, final)
	}
	refDetectAll(sc, text)
	for c := range NumCategories {
		if !b.enabled[c] {
			sc.scores[c] = 0
			continue
		}
		sc.scores[c] = clamp01(sc.scores[c])
		if p := parent(c); p != NumCategories && sc.scores[c] > sc.scores[p] {
			sc.scores[p] = sc.scores[c]
		}
	}
	if !refAllEnabled(&b.enabled) {
		sc.findings = slices.DeleteFunc(sc.findings, func(f Finding) bool { return !b.enabled[f.Category] })
	}
}

func refAllEnabled(e *[NumCategories]bool) bool {
	for _, v := range e {
		if !v {
			return false
		}
	}
	return true
}

func refRunLexicon(b *Builtin, sc *refScratch, text string, final bool) {
	lx := b.lex
	sc.sk.build(text, final)
	if n := (lx.nterms + 63) / 64; len(sc.seen) < n {
		sc.seen = make([]uint64, n)
	} else {
		clear(sc.seen)
	}
	skel, off := sc.sk.b, sc.sk.off
	for k := range sc.cueEnd {
		sc.cueEnd[k] = -1 << 30
	}
	hit := func(p *pattern, end int) { // end: index of the last byte of the match
		start := end - int(p.n) + 1
		if p.def >= 0 {
			sc.cueEnd[p.def], sc.cueStart[p.def] = int32(end), int32(start)
			return
		}
		if !b.enabled[p.cat] {
			return
		}
		if p.cue >= 0 {
			if gap := int32(start) - sc.cueEnd[p.cue]; gap < 0 || gap > cueGap {
				return
			}
			start = int(sc.cueStart[p.cue]) // the finding spans the cue too
		}
		if p.lead {
			start++
		}
		last := end
		if p.trail {
			last--
		}
		if start > last || start < 0 {
			return
		}
		os, oe := int(off[start]), runeEnd(text, int(off[last]))
		// Outputs at one position come longest first: skip the shorter
		// matches of the same category inside the one just reported.
		if n := len(sc.findings); n == 0 || sc.findings[n-1].Category != p.cat ||
			sc.findings[n-1].End != oe || sc.findings[n-1].Start > os {
			sc.findings = append(sc.findings, Finding{p.cat, os, oe, p.weight})
		}
		bit := uint64(1) << (p.term % 64)
		if sc.seen[p.term/64]&bit == 0 {
			sc.seen[p.term/64] |= bit
			sc.scores[p.cat] = noisyOr(sc.scores[p.cat], p.weight)
		}
	}
	a := lx.bounded
	st, next, firstOut, skip := uint32(start), a.next, a.firstOut, a.wordsFromSpace
	for i := 0; i < len(skel); i++ {
		st = next[st+uint32(symOf[skel[i]])]
		if st >= firstOut {
			for _, id := range a.outputs(st) {
				hit(&lx.bpats[id], i)
			}
		} else if st == start && skip {
			// No term continues this word: move to its last letter.
			for i+1 < len(skel) && skel[i+1] != ' ' {
				i++
			}
		}
	}
	if len(sc.sk.joined) > 0 {
		refRunJoined(b, sc, hit)
	}
}

// runJoined reads the skeleton without its spaces, so that letters spelled
// out one by one join the words around them ("i will k i l l y o u"), and
// keeps the matches that touch a joined run.
func refRunJoined(b *Builtin, sc *refScratch, hit func(p *pattern, end int)) {
	lx, skel := b.lex, sc.sk.b
	pos := sc.pos[:0]
	a := lx.joined
	st := uint32(start)
	for i, c := range skel {
		if c == ' ' {
			continue
		}
		pos = append(pos, int32(i))
		st = a.step(st, c)
		if st >= a.firstOut {
			for _, id := range a.outputs(st) {
				p := &lx.jpats[id]
				start := pos[len(pos)-int(p.n)]
				for _, r := range sc.sk.joined {
					if start < r[1] && int32(i) >= r[0] {
						// Report the span from the first letter: hit counts back p.n bytes.
						q := *p
						q.n = int32(i) - start + 1
						hit(&q, i)
						break
					}
				}
			}
		}
	}
	sc.pos = pos
}

// refDetectAll runs every detector over text, adding findings to sc. It tries
// the word-start detectors only at word starts of bytes that can begin a
// match, and skips the rest of each word in a tight loop.
func refDetectAll(sc *refScratch, text string) {
	start := true // whether text[i] starts a word
	for i := 0; i < len(text); {
		c := text[i]
		k := detClass[c]
		if k&clsWord != 0 {
			if start && k&clsStart != 0 && (k&clsLetter == 0 || letterMayStart(text, i)) {
				if cat, e, score := detectAt(text, i); e > 0 {
					sc.detect(cat, i, e, score)
					i, start = e, detClass[text[e-1]]&clsWord == 0
					continue
				}
			}
			// No word starts inside a word, and '@', '<' and '[' are not
			// word bytes.
			for i++; i < len(text) && detClass[text[i]]&clsWord != 0; i++ {
			}
			start = false
			continue
		}
		switch c {
		case '@':
			if s, e := email(text, i); e > 0 {
				sc.detect(PIIEmail, s, e, scoreEmail)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
			i, start = i+1, true
			continue
		case '<', '[':
			if e := injectionMarker(text, i); e > 0 {
				sc.detect(PromptInjection, i, e, scoreInjMarks)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
		}
		if start && k&clsStart != 0 {
			if cat, e, score := detectAt(text, i); e > 0 {
				sc.detect(cat, i, e, score)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
		}
		i, start = i+1, true
	}
}

// refSkeleton is the previous skeleton builder, kept as the reference: a reusable normalisation buffer.
type refSkeleton struct {
	src    string  // the text being normalised
	b      []byte  // the refSkeleton
	off    []int32 // original byte offset per refSkeleton byte
	joined [][2]int32
	// joined lists [start, end) refSkeleton ranges of words made by joining
	// spaced single letters; the unbounded automaton also reads them.

	pend  int // refSkeleton index of the first pending single-letter word
	npend int // how many single-letter words are pending
}

// The builder writes the refSkeleton in one pass. Each word is judged when
// it ends (endWord): a stopword is dropped by moving the write position
// back, and single-letter words are held as pending until a longer word or
// the end shows whether they make a run of three or more to join (flush).

// refPutLetter writes letter f, from text offset i, at w. ws is the start of
// the current word; both are returned updated.
func refPutLetter(b []byte, off []int32, w, ws int, f byte, i int) (int, int) {
	if b[w-1] == ' ' {
		ws = w
	}
	b[w], off[w] = f, int32(i)
	return w + 1, ws
}

// putSpace writes a word break from text offset i at w, unless one is
// already there, and judges the word b[ws:w] that it ends. It returns the
// new write position.
func (s *refSkeleton) putSpace(b []byte, off []int32, w, ws, i int) int {
	if b[w-1] == ' ' {
		return w
	}
	b[w], off[w] = ' ', int32(i)
	return s.endWord(b, off, ws, w, w+1, true)
}

// endWord judges the word b[ws:we], followed by a space when sp (then
// w == we+1, else w == we), and returns the new write position.
func (s *refSkeleton) endWord(b []byte, off []int32, ws, we, w int, sp bool) int {
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
func (s *refSkeleton) flush(b []byte, off []int32, end int) int {
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
func (s *refSkeleton) build(text string, final bool) {
	s.src = text
	// Each input byte yields at most one refSkeleton byte (ß, two bytes,
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
		if c < utf8.RuneSelf {
			if f := asciiFold[c]; f != 0 {
				// A run of letters: one word-start test for the run.
				if b[w-1] == ' ' {
					ws = w
				}
				for {
					b[w], off[w] = f, int32(i)
					w++
					i++
					if i == len(text) {
						break
					}
					if f = asciiFold[text[i]]; f == 0 {
						break
					}
				}
				continue
			}
			if leetSym[c] != 0 {
				// A run of leet symbols is letters when a word character follows.
				j := i
				for j < len(text) && text[j] < utf8.RuneSelf && leetSym[text[j]] != 0 {
					j++
				}
				word := j < len(text) && text[j] < utf8.RuneSelf && asciiFold[text[j]] != 0
				for ; i < j; i++ {
					if word {
						w, ws = refPutLetter(b, off, w, ws, leetSym[text[i]], i)
					} else {
						w = s.putSpace(b, off, w, ws, i)
					}
				}
				continue
			}
			if b[w-1] != ' ' {
				if w-ws > 1 && s.npend == 0 && !maybeStop(b[ws:w]) {
					// The common case, a word that is kept as it is.
					b[w], off[w] = ' ', int32(i)
					w++
				} else {
					w = s.putSpace(b, off, w, ws, i)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		f := foldRune(r)
		switch {
		case f == 1:
		case f == 0:
			w = s.putSpace(b, off, w, ws, i)
		case r == 'ß':
			w, ws = refPutLetter(b, off, w, ws, 's', i)
			w, ws = refPutLetter(b, off, w, ws, 's', i)
		default:
			w, ws = refPutLetter(b, off, w, ws, f, i)
		}
		i += n
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

// fromDigit reports whether the refSkeleton byte made from text offset o came
// from a digit: spaced digits ("1 2 3") are numbers, not spelled-out words.
func (s *refSkeleton) fromDigit(o int32) bool {
	c := s.src[o]
	return c >= '0' && c <= '9'
}
