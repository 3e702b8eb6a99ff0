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
}

// parseLexicon reads the format described at builtinLexicon.
func parseLexicon(text string) ([]lexEntry, error) {
	var out []lexEntry
	macros := map[string]string{}
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
			macros[strings.TrimSpace(name)] = strings.TrimSpace(def)
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
		out = append(out, lexEntry{cat, w, expandMacros(term, macros)})
	}
	return out, nil
}

func expandMacros(term string, macros map[string]string) string {
	if !strings.Contains(term, "@") {
		return term
	}
	f := strings.Fields(term)
	for i, w := range f {
		if d, ok := macros[w]; ok {
			f[i] = d
		}
	}
	return strings.Join(f, " ")
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
		key string
		cat Category
	}
	lx := &lexicon{nterms: len(entries)}
	var bkeys, jkeys [][]byte
	bseen, jseen := map[dedup]int{}, map[dedup]int{}
	add := func(keys *[][]byte, pats *[]pattern, seen map[dedup]int, key []byte, p pattern) {
		d := dedup{string(key), p.cat}
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
			p := pattern{cat: e.cat, weight: e.weight, n: int32(len(key)), lead: true, trail: !stem, term: int32(id)}
			add(&bkeys, &lx.bpats, bseen, key, p)
			lx.cats[e.cat] = true
			if j := strings.ReplaceAll(word, " ", ""); len(j) >= 5 {
				jp := pattern{cat: e.cat, weight: e.weight, n: int32(len(j)), term: int32(id)}
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
