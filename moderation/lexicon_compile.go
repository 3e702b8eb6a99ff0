package moderation

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// lexicon is a compiled set of weighted terms: one automaton for words at
// word boundaries, and one without boundaries for text that was spelled
// out letter by letter ("k i l l y o u" becomes the single word "kiiiyou").
type lexicon struct {
	bounded *automaton
	bpats   []pattern
	joined  *automaton
	jpats   []pattern
	nterms  int
	cats    [NumCategories]bool // categories with at least one term
}

type lexEntry struct {
	cat    Category
	weight float64
	term   string
	cue    int8 // cue the term requires before it, or -1
	def    int8 // cue this entry defines, or -1
}

// maxCues bounds the number of @@cue definitions.
const maxCues = 16

// parseLexicon reads the format described at builtinLexicon.
func parseLexicon(text string) ([]lexEntry, error) {
	var out []lexEntry
	macros := map[string]string{}
	cues := map[string]int8{}
	cat := Category(NumCategories)
	sc := bufio.NewScanner(strings.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "":
			continue
		case strings.HasPrefix(l, "#"):
			c, ok := ParseCategory(strings.TrimSpace(l[1:]))
			if !ok {
				return nil, fmt.Errorf("moderation: lexicon line %d: unknown category %q", line, l[1:])
			}
			cat = c
			continue
		case strings.HasPrefix(l, "@"):
			name, def, ok := strings.Cut(l, "=")
			if !ok {
				return nil, fmt.Errorf("moderation: lexicon line %d: macro without '='", line)
			}
			name, def = strings.TrimSpace(name), strings.TrimSpace(def)
			if strings.HasPrefix(name, "@@") {
				if len(cues) == maxCues {
					return nil, fmt.Errorf("moderation: lexicon line %d: more than %d cues", line, maxCues)
				}
				id := int8(len(cues))
				cues[name] = id
				def, err := expandMacros(def, macros)
				if err != nil {
					return nil, fmt.Errorf("moderation: lexicon line %d: %w", line, err)
				}
				out = append(out, lexEntry{cat: NumCategories, weight: 1, term: def, cue: -1, def: id})
				continue
			}
			macros[name] = def
			continue
		}
		ws, term, ok := strings.Cut(l, " ")
		w, err := strconv.ParseFloat(ws, 64)
		if !ok || err != nil || w <= 0 || w > 1 {
			return nil, fmt.Errorf("moderation: lexicon line %d: want \"weight term\" with weight in (0,1]", line)
		}
		if cat == NumCategories {
			return nil, fmt.Errorf("moderation: lexicon line %d: term before any # category", line)
		}
		e := lexEntry{cat: cat, weight: w, cue: -1, def: -1}
		if strings.HasPrefix(term, "@@") {
			name, rest, _ := strings.Cut(term, " ")
			id, ok := cues[name]
			if !ok {
				return nil, fmt.Errorf("moderation: lexicon line %d: unknown cue %s", line, name)
			}
			e.cue, term = id, rest
		}
		if e.term, err = expandMacros(term, macros); err != nil {
			return nil, fmt.Errorf("moderation: lexicon line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func expandMacros(term string, macros map[string]string) (string, error) {
	if !strings.Contains(term, "@") {
		return term, nil
	}
	f := strings.Fields(term)
	for i, w := range f {
		if !strings.HasPrefix(w, "@") {
			continue
		}
		d, ok := macros[w]
		if !ok {
			return "", fmt.Errorf("unknown macro %s", w)
		}
		f[i] = d
	}
	return strings.Join(f, " "), nil
}

// termKey returns the skeleton a term matches and whether it is a stem.
func termKey(sk *skeleton, spelling string) (key []byte, stem bool) {
	spelling = strings.TrimSpace(spelling)
	stem = strings.HasSuffix(spelling, "*")
	sk.build(strings.TrimSuffix(spelling, "*"), !stem)
	return append([]byte(nil), sk.b...), stem
}

func compileLexicon(entries []lexEntry, allow []string) (*lexicon, error) {
	var sk skeleton
	allowed := map[string]bool{}
	for _, a := range allow {
		spellings, err := expand(a)
		if err != nil {
			return nil, err
		}
		for _, s := range spellings {
			k, _ := termKey(&sk, s)
			allowed[strings.TrimSpace(string(k))] = true
		}
	}
	type dedup struct {
		key      string
		cat      Category
		cue, def int8
	}
	lx := &lexicon{nterms: len(entries)}
	var bkeys, jkeys [][]byte
	bseen, jseen := map[dedup]int{}, map[dedup]int{}
	add := func(keys *[][]byte, pats *[]pattern, seen map[dedup]int, key []byte, p pattern) {
		d := dedup{string(key), p.cat, p.cue, p.def}
		if i, ok := seen[d]; ok {
			if p.weight > (*pats)[i].weight {
				(*pats)[i] = p
			}
			return
		}
		seen[d] = len(*pats)
		*keys = append(*keys, key)
		*pats = append(*pats, p)
	}
	for id, e := range entries {
		spellings, err := expand(e.term)
		if err != nil {
			return nil, err
		}
		for _, s := range spellings {
			key, stem := termKey(&sk, s)
			word := strings.TrimSpace(string(key))
			if word == "" || allowed[word] {
				continue
			}
			p := pattern{cat: e.cat, weight: e.weight, n: int32(len(key)), lead: true, trail: !stem,
				term: int32(id), cue: e.cue, def: e.def}
			add(&bkeys, &lx.bpats, bseen, key, p)
			if e.def >= 0 {
				continue
			}
			lx.cats[e.cat] = true
			if j := strings.ReplaceAll(word, " ", ""); len(j) >= 5 {
				jp := pattern{cat: e.cat, weight: e.weight, n: int32(len(j)), term: int32(id), cue: -1, def: -1}
				add(&jkeys, &lx.jpats, jseen, []byte(j), jp)
			}
		}
	}
	var err error
	if lx.bounded, err = buildAutomaton(bkeys); err != nil {
		return nil, err
	}
	if lx.joined, err = buildAutomaton(jkeys); err != nil {
		return nil, err
	}
	return lx, nil
}

var builtinEntries = sync.OnceValues(func() ([]lexEntry, error) {
	return parseLexicon(builtinLexicon)
})

var builtinCompiled = sync.OnceValues(func() (*lexicon, error) {
	e, err := builtinEntries()
	if err != nil {
		return nil, err
	}
	return compileLexicon(e, nil)
})
