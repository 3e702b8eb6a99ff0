package moderation

import (
	"errors"
	"fmt"
	"strings"
)

// An automaton is an Aho–Corasick matcher over skeleton bytes with a dense
// transition table, so matching costs one table load per byte. States are
// numbered so that those with outputs come last: a walk tests for a match
// with one comparison instead of a second, dependent load.

const alphabet = 28 // ' ', 'a'..'z', wordSym

var symOf = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = uint8(c - 'a' + 1)
	}
	t[wordSym] = 27
	return t
}()

// pattern is one expanded lexicon term.
type pattern struct {
	cat    Category
	weight float64
	n      int32 // length in skeleton bytes, boundary spaces included
	lead   bool  // starts with a boundary space
	trail  bool  // ends with a boundary space
	term   int32 // index of the source term, for counting a term once
	cue    int8  // cue that must end just before the match, or -1
	def    int8  // cue this pattern is a spelling of, or -1
}

type automaton struct {
	// next holds, at row*alphabet+symbol, the next state's row offset
	// (state*alphabet), so the walk needs no multiplication.
	next []uint32
	// firstOut is the row offset of the first state with outputs; every
	// state at or after it has some.
	firstOut uint32
	outStart []int32 // outputs of state s: outs[outStart[s]:outStart[s+1]]
	outs     []int32
	// wordsFromSpace is true when no key starts with a letter (every key
	// of the bounded automaton starts with a space): then a walk that is
	// back at the start state inside a word stays there until the next
	// space, and may skip to it.
	wordsFromSpace bool
}

// start is the row offset of the initial state.
const start = 0

// step returns the state after reading skeleton byte c in state st (both
// row offsets).
func (a *automaton) step(st uint32, c byte) uint32 {
	return a.next[st+uint32(symOf[c])]
}

// scan walks skel from index i in state st until it enters a state with
// outputs, and returns that state and the index of the byte that entered
// it, or len(skel). It calls nothing, so the walk stays in registers. When
// no key starts with a letter (wordsFromSpace), a walk that falls back to
// the start state inside a word moves to the word's last byte: no key can
// match before the next space.
//
//go:noinline
func (a *automaton) scan(skel []byte, i int, st uint32) (uint32, int) {
	next, sym := a.next, &symOf
	if !a.wordsFromSpace || a.firstOut == start {
		for ; i < len(skel); i++ {
			if st = next[st+uint32(sym[skel[i]])]; st >= a.firstOut {
				return st, i
			}
		}
		return st, i
	}
	// st-1 wraps around for the start state (0), so that one comparison
	// finds both the states with outputs and the start state.
	last := a.firstOut - 1
	for ; i < len(skel); i++ {
		if st = next[st+uint32(sym[skel[i]])]; st-1 >= last {
			if st != start {
				return st, i
			}
			for i+1 < len(skel) && skel[i+1] != ' ' {
				i++
			}
		}
	}
	return st, i
}

// outputs returns the pattern ids that end in state st (a row offset at or
// after firstOut).
func (a *automaton) outputs(st uint32) []int32 {
	s := st / alphabet
	return a.outs[a.outStart[s]:a.outStart[s+1]]
}

// maxStates bounds the automaton (112 bytes of transitions per state).
const maxStates = 1<<16 - 1

var errTooManyTerms = errors.New("moderation: word list too large")

func buildAutomaton(keys [][]byte) (*automaton, error) {
	next := make([]int32, alphabet)
	for i := range next {
		next[i] = -1
	}
	own := [][]int32{nil}
	for id, k := range keys {
		s := int32(0)
		for _, c := range k {
			t := next[int(s)*alphabet+int(symOf[c])]
			if t < 0 {
				t = int32(len(own))
				if t >= maxStates {
					return nil, errTooManyTerms
				}
				next[int(s)*alphabet+int(symOf[c])] = t
				for range alphabet {
					next = append(next, -1)
				}
				own = append(own, nil)
			}
			s = t
		}
		own[s] = append(own[s], int32(id))
	}
	n := len(own)
	fail := make([]int32, n)
	order := make([]int32, 0, n)
	for a := range alphabet {
		if t := next[a]; t >= 0 {
			fail[t] = 0
			order = append(order, t)
		} else {
			next[a] = 0
		}
	}
	for q := 0; q < len(order); q++ {
		s := order[q]
		for a := range alphabet {
			t := next[int(s)*alphabet+a]
			if t >= 0 {
				fail[t] = next[int(fail[s])*alphabet+a]
				order = append(order, t)
			} else {
				next[int(s)*alphabet+a] = next[int(fail[s])*alphabet+a]
			}
		}
	}
	// Outputs of a state include those of its failure chain; BFS order
	// guarantees the failure state is complete first.
	all := make([][]int32, n)
	all[0] = own[0]
	for _, s := range order {
		all[s] = append(append([]int32(nil), own[s]...), all[fail[s]]...)
	}
	// Renumber: the root first, then the states without outputs, then
	// those with outputs. The root has outputs only for an empty key, in
	// which case every state counts as having outputs.
	id := make([]int32, n)
	order = append(order[:0], 0)
	for s := 1; s < n; s++ {
		if len(all[s]) == 0 {
			order = append(order, int32(s))
		}
	}
	firstOut := len(order)
	if len(all[0]) > 0 {
		firstOut = 0
	}
	for s := 1; s < n; s++ {
		if len(all[s]) > 0 {
			order = append(order, int32(s))
		}
	}
	for ns, s := range order {
		id[s] = int32(ns)
	}
	a := &automaton{next: make([]uint32, len(next)), outStart: make([]int32, n+1),
		firstOut: uint32(firstOut) * alphabet}
	for ns, s := range order {
		for c := range alphabet {
			a.next[ns*alphabet+c] = uint32(id[next[int(s)*alphabet+c]]) * alphabet
		}
		a.outStart[ns] = int32(len(a.outs))
		a.outs = append(a.outs, all[s]...)
	}
	a.outStart[n] = int32(len(a.outs))
	a.wordsFromSpace = true
	for sym := 1; sym < alphabet; sym++ { // every symbol but the space
		if a.next[start+sym] != start {
			a.wordsFromSpace = false
		}
	}
	return a, nil
}

// expand returns every spelling of a term written with {a|b|} groups (an
// empty alternative makes the group optional).
func expand(term string) ([]string, error) {
	i := strings.IndexByte(term, '{')
	if i < 0 {
		if strings.ContainsAny(term, "|}") {
			return nil, fmt.Errorf("moderation: term %q: unbalanced braces", term)
		}
		return []string{term}, nil
	}
	j := strings.IndexByte(term[i:], '}')
	if j < 0 {
		return nil, fmt.Errorf("moderation: term %q: unbalanced braces", term)
	}
	j += i
	rest, err := expand(term[j+1:])
	if err != nil {
		return nil, err
	}
	var out []string
	for _, alt := range strings.Split(term[i+1:j], "|") {
		for _, r := range rest {
			out = append(out, term[:i]+alt+r)
		}
	}
	return out, nil
}
