package llmtest

import (
	"math/rand/v2"
	"regexp/syntax"
	"strings"
	"unicode"

	"github.com/llmgate/llmgate/wire"
)

// customInput generates the input of a call of a custom tool: a string
// that a regex grammar matches, or, for text and lark grammars (which the
// model does not parse), a few of its words.
func customInput(f *wire.CustomFormat, rng *rand.Rand, words []string) string {
	if f != nil && f.Type == wire.CustomFormatGrammar && f.Grammar != nil && f.Grammar.Syntax == "regex" {
		if re, err := syntax.Parse(f.Grammar.Definition, syntax.Perl); err == nil {
			var b strings.Builder
			if matchOf(&b, re.Simplify(), rng, 0) {
				return b.String()
			}
		}
	}
	g := schemaGen{rng: rng, words: words}
	w := make([]string, 3+rng.IntN(6))
	for i := range w {
		w[i] = g.word()
	}
	return strings.Join(w, " ")
}

// matchOf writes to b a string that re matches, choosing among
// alternatives and repeat counts with rng (a repeat at most three times
// over its minimum). It reports false for what it cannot write (word
// boundaries, a nesting deeper than 100).
func matchOf(b *strings.Builder, re *syntax.Regexp, rng *rand.Rand, depth int) bool {
	if depth > 100 {
		return false
	}
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		return true
	case syntax.OpCharClass:
		if len(re.Rune) < 2 {
			return false // an empty class matches nothing
		}
		i := 2 * rng.IntN(len(re.Rune)/2)
		lo, hi := re.Rune[i], re.Rune[i+1]
		switch { // printable when the range allows: [^"] is mostly control bytes at its start
		case lo <= 'a' && 'a' <= hi:
			lo = 'a'
		case lo < '!' && '!' <= hi:
			lo = '!'
		}
		b.WriteRune(lo + rune(rng.IntN(int(min(hi-lo, 25))+1)))
		return true
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteByte('a' + byte(rng.IntN(26)))
		return true
	case syntax.OpCapture:
		return matchOf(b, re.Sub[0], rng, depth+1)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !matchOf(b, sub, rng, depth+1) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return matchOf(b, re.Sub[rng.IntN(len(re.Sub))], rng, depth+1)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			lo, hi = 0, -1
		case syntax.OpPlus:
			lo, hi = 1, -1
		case syntax.OpQuest:
			lo, hi = 0, 1
		}
		if hi < 0 || hi > lo+3 {
			hi = lo + 3
		}
		for range lo + rng.IntN(hi-lo+1) {
			if !matchOf(b, re.Sub[0], rng, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}
