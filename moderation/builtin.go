package moderation

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/llmgate/llmgate/wire"
)

// DefaultThreshold is the score at or above which a category is flagged
// unless Config.Thresholds says otherwise.
const DefaultThreshold = 0.5

// BuiltinModel is the model name the built-in moderator reports.
const BuiltinModel = "llmgate-builtin-1"

// Word is a term added to the built-in lexicon.
type Word struct {
	// Category is the wire name of the category the term scores, such as
	// "harassment" or "prompt_injection".
	Category string
	// Term uses the lexicon syntax: plain lower-case words, {a|b|}
	// alternatives, a trailing * for "any ending". Leetspeak, homoglyph and
	// spacing variants are matched automatically.
	Term string
	// Weight is the term's contribution in (0, 1]. Default: 1, so one
	// match flags the category at the default threshold.
	Weight float64
}

// Config configures a Builtin. The zero value is the default: the built-in
// lexicon, every detector, DefaultThreshold everywhere.
type Config struct {
	// Thresholds maps a category's wire name to the score, in (0, 1], at or
	// above which it is flagged. Default: DefaultThreshold for each category.
	Thresholds map[string]float64
	// Words are added to the lexicon. Default: none.
	Words []Word
	// Allow lists terms that never match, removing built-in or user terms
	// whose normalised spelling equals one of them (e.g. "kill" keeps
	// "kill them" but drops the single word). Default: none.
	Allow []string
	// Disable lists categories (wire names) that are never scored, such as
	// "pii/ip_address". Default: none.
	Disable []string
	// NoLexicon drops the built-in lexicon; Words and the detectors remain.
	NoLexicon bool
}

// Builtin is the built-in moderator: a weighted lexicon read through a
// normaliser that undoes common evasions, plus deterministic detectors for
// personal data, secrets and prompt injection. It needs no network and
// takes microseconds, and it is a fast baseline, not a model: it knows the
// phrases it was given, does not understand context, negation or irony,
// and misses paraphrases. Pair it with a Remote model (Combine) where
// recall matters.
//
// A Builtin is safe for concurrent use. Create one with NewBuiltin or use
// Default; the zero value is not usable.
type Builtin struct {
	lex        *lexicon
	thresholds Scores
	enabled    [NumCategories]bool
	// someDisabled is true when some category is not enabled.
	someDisabled bool
	anyLex       bool
	pool         sync.Pool
}

var _ Moderator = (*Builtin)(nil)

// NewBuiltin compiles cfg. It fails on unknown category names, weights or
// thresholds outside (0, 1], and malformed terms.
func NewBuiltin(cfg Config) (*Builtin, error) {
	b := &Builtin{}
	for c := range NumCategories {
		b.thresholds[c] = DefaultThreshold
		b.enabled[c] = true
	}
	for name, t := range cfg.Thresholds {
		c, ok := ParseCategory(name)
		if !ok {
			return nil, fmt.Errorf("moderation: threshold for unknown category %q", name)
		}
		if !(t > 0 && t <= 1) {
			return nil, fmt.Errorf("moderation: threshold %v for %q is not in (0, 1]", t, name)
		}
		b.thresholds[c] = t
	}
	for _, name := range cfg.Disable {
		c, ok := ParseCategory(name)
		if !ok {
			return nil, fmt.Errorf("moderation: cannot disable unknown category %q", name)
		}
		b.enabled[c] = false
		b.someDisabled = true
	}
	var err error
	if len(cfg.Words) == 0 && len(cfg.Allow) == 0 && !cfg.NoLexicon {
		b.lex, err = builtinCompiled()
	} else {
		var entries []lexEntry
		if !cfg.NoLexicon {
			base, err := builtinEntries()
			if err != nil {
				return nil, err
			}
			entries = slices.Clone(base)
		}
		for _, w := range cfg.Words {
			c, ok := ParseCategory(w.Category)
			if !ok {
				return nil, fmt.Errorf("moderation: word %q: unknown category %q", w.Term, w.Category)
			}
			wt := w.Weight
			if wt == 0 {
				wt = 1
			}
			if !(wt > 0 && wt <= 1) {
				return nil, fmt.Errorf("moderation: word %q: weight %v is not in (0, 1]", w.Term, w.Weight)
			}
			entries = append(entries, lexEntry{cat: c, weight: wt, term: w.Term, cue: -1, def: -1})
		}
		b.lex, err = compileLexicon(entries, cfg.Allow)
	}
	if err != nil {
		return nil, err
	}
	for c := range NumCategories {
		if b.enabled[c] && b.lex.cats[c] {
			b.anyLex = true
		}
	}
	b.pool.New = func() any { return new(scratch) }
	return b, nil
}

var defaultBuiltin = sync.OnceValue(func() *Builtin {
	b, err := NewBuiltin(Config{})
	if err != nil {
		panic(err) // the built-in lexicon is a constant; tests compile it
	}
	return b
})

// Default returns the shared Builtin with the zero Config.
func Default() *Builtin { return defaultBuiltin() }

// Finding is one match in a text: the category, the byte span
// text[Start:End] of the original text, and the evidence's weight.
type Finding struct {
	Category Category
	Start    int
	End      int
	Score    float64
}

// scratch is per-call working memory, pooled.
type scratch struct {
	sk       skeleton
	seen     []uint64
	findings []Finding
	scores   Scores
	pos      []int32
	cueEnd   [maxCues]int32 // skeleton index where each cue last ended
	cueStart [maxCues]int32 // and where it started
}

// cueGap is how many skeleton bytes may separate a cue from its term
// ("how to quickly make" still cues "make").
const cueGap = 14

func (sc *scratch) detect(c Category, start, end int, score float64) {
	sc.findings = append(sc.findings, Finding{c, start, end, score})
	if score > sc.scores[c] {
		sc.scores[c] = score
	}
}

// run scores text into sc.scores and sc.findings. When final is false the
// text is a stream window that may continue.
func (b *Builtin) run(sc *scratch, text string, final bool) {
	sc.scores = Scores{}
	sc.findings = sc.findings[:0]
	if b.anyLex {
		b.runLexicon(sc, text, final)
	}
	detectAll(sc, text)
	for c := range NumCategories {
		if !b.enabled[c] {
			sc.scores[c] = 0
			continue
		}
		v := clamp01(sc.scores[c])
		sc.scores[c] = v
		if p := parents[c]; p != NumCategories && v > sc.scores[p] {
			sc.scores[p] = v
		}
	}
	if b.someDisabled {
		sc.findings = slices.DeleteFunc(sc.findings, func(f Finding) bool { return !b.enabled[f.Category] })
	}
}

// parents holds parent(c) for each category, for run's loop.
var parents = func() (t [NumCategories]Category) {
	for c := range NumCategories {
		t[c] = parent(c)
	}
	return t
}()

func (b *Builtin) runLexicon(sc *scratch, text string, final bool) {
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
	st := uint32(start)
	for i := 0; ; i++ {
		if st, i = a.scan(skel, i, st); i >= len(skel) {
			break
		}
		for _, id := range a.outputs(st) {
			hit(&lx.bpats[id], i)
		}
	}
	if len(sc.sk.joined) > 0 {
		b.runJoined(sc, hit)
	}
}

// runJoined reads the skeleton without its spaces, so that letters spelled
// out one by one join the words around them ("i will k i l l y o u"), and
// keeps the matches that touch a joined run.
func (b *Builtin) runJoined(sc *scratch, hit func(p *pattern, end int)) {
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

// runeEnd returns the offset just past the rune starting at i.
func runeEnd(text string, i int) int {
	if i >= len(text) {
		return len(text)
	}
	if text[i] < 0x80 {
		return i + 1
	}
	j := i + 1
	for j < len(text) && text[j]&0xC0 == 0x80 {
		j++
	}
	return j
}

// Score returns the category scores of text.
func (b *Builtin) Score(text string) Scores {
	sc := b.pool.Get().(*scratch)
	b.run(sc, text, true)
	s := sc.scores
	b.pool.Put(sc)
	return s
}

// Flagged reports whether s reaches a threshold in any category.
func (b *Builtin) Flagged(s *Scores) bool {
	for c := range NumCategories {
		if s[c] > 0 && s[c] >= b.thresholds[c] {
			return true
		}
	}
	return false
}

// Scan returns every finding in text, ordered by start offset.
func (b *Builtin) Scan(text string) []Finding {
	sc := b.pool.Get().(*scratch)
	b.run(sc, text, true)
	out := slices.Clone(sc.findings)
	b.pool.Put(sc)
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(x, y Finding) int {
		if x.Start != y.Start {
			return x.Start - y.Start
		}
		return y.End - x.End
	})
}

// Result returns the OpenAI-shaped result for scores s: every category in
// categories and category_scores, applied input type "text".
func (b *Builtin) Result(s *Scores) wire.ModerationResult {
	// Cloning a filled map copies its table wholesale, which is much
	// cheaper than inserting 23 keys one by one; only the categories that
	// scored are then written.
	r := wire.ModerationResult{
		Categories:                maps.Clone(resultTemplate().categories),
		CategoryScores:            maps.Clone(resultTemplate().scores),
		CategoryAppliedInputTypes: maps.Clone(resultTemplate().types),
	}
	text := []string{"text"}
	for c := range NumCategories {
		name := categoryNames[c]
		r.CategoryAppliedInputTypes[name] = text
		if s[c] == 0 && !math.Signbit(s[c]) {
			continue // as in the template
		}
		f := s[c] > 0 && s[c] >= b.thresholds[c]
		r.Categories[name] = f
		r.CategoryScores[name] = s[c]
		r.Flagged = r.Flagged || f
	}
	return r
}

// resultTemplate holds the maps of an all-zero result, for Result to clone.
var resultTemplate = sync.OnceValue(func() (t struct {
	categories map[string]bool
	scores     map[string]float64
	types      map[string][]string
}) {
	t.categories = make(map[string]bool, NumCategories)
	t.scores = make(map[string]float64, NumCategories)
	t.types = make(map[string][]string, NumCategories)
	for _, name := range categoryNames {
		t.categories[name] = false
		t.scores[name] = 0
		t.types[name] = nil
	}
	return t
})

// Moderate scores each input's text; images are not inspected (their
// categories list only the "text" input type). It fails only when ctx is
// done.
func (b *Builtin) Moderate(ctx context.Context, inputs []Input) ([]wire.ModerationResult, error) {
	out := make([]wire.ModerationResult, len(inputs))
	for i, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("moderation: %w", err)
		}
		s := b.Score(in.Text)
		out[i] = b.Result(&s)
	}
	return out, nil
}
