package llmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

// piece is one generated token whose text (or part of it, when a stop
// sequence cut it) is in the choice's text.
type piece struct {
	id     int32
	offset int    // byte offset of the token in the choice's text
	delta  string // the text a stream sends for it: cut at rune starts
	logp   float64
	alts   []alt
}

// choice is one generated text choice.
type choice struct {
	tokens int    // tokens generated, stop sequences included, <|endoftext|> not
	text   string // the text returned: a stop sequence and what follows removed
	pieces []piece
	finish wire.FinishReason
}

// generate continues the context ctx with at most maxTokens tokens. It
// stops early at <|endoftext|> or when the text holds one of stops, which
// is cut off with what follows it (finish_reason "stop"); else the choice
// ends with finish_reason "length".
func (m *model) generate(ctx [2]int32, p *params, rng *rand.Rand, maxTokens int, stops []string) choice {
	s := newSampler(m, p, rng)
	u, v := ctx[0], ctx[1]
	var (
		buf []byte
		ps  []piece
		ch  choice
		cut = -1
	)
	longest := 0
	for _, st := range stops {
		longest = max(longest, len(st))
	}
	for ch.tokens < maxTokens {
		var alts []alt
		if p.topN > 0 {
			alts = make([]alt, 0, p.topN)
		}
		id, lp, alts := s.next(u, v, alts)
		if id == eot {
			ch.finish = wire.FinishStop
			break
		}
		start := len(buf)
		buf = append(buf, m.tokenText(id)...)
		ps = append(ps, piece{id: id, offset: start, logp: lp, alts: alts})
		ch.tokens++
		u, v = v, id
		if longest > 0 {
			if at := findStop(buf, max(0, start-longest+1), stops); at >= 0 {
				cut = at
				ch.finish = wire.FinishStop
				break
			}
		}
	}
	if ch.finish == "" {
		ch.finish = wire.FinishLength
	}
	if cut < 0 {
		cut = len(buf)
	}
	ch.text = string(buf[:cut])
	// Keep the tokens that start inside the text; give each the text
	// between rune-start boundaries so no delta splits a character.
	n := 0
	for n < len(ps) && ps[n].offset < cut {
		n++
	}
	ch.pieces = ps[:n]
	prev := 0
	for k := range ch.pieces {
		end := cut
		if k+1 < n {
			end = ch.pieces[k+1].offset
			for end > prev && end < cut && !utf8.RuneStart(ch.text[end]) {
				end--
			}
		}
		ch.pieces[k].delta = ch.text[prev:end]
		prev = end
	}
	return ch
}

// findStop returns the earliest position at or after from where one of
// stops occurs in buf, or -1.
func findStop(buf []byte, from int, stops []string) int {
	best := -1
	for _, st := range stops {
		if st == "" {
			continue
		}
		if i := bytes.Index(buf[from:], []byte(st)); i >= 0 && (best < 0 || from+i < best) {
			best = from + i
		}
	}
	return best
}

// seeder derives the PRNG of each choice. With a seed, the streams depend
// on the seed and on what was hashed (the prompt), so identical requests
// give identical outputs; without one they are random.
type seeder struct {
	s1, s2 uint64
}

func newSeeder(seed *int64, material []byte) seeder {
	if seed == nil {
		return seeder{rand.Uint64(), rand.Uint64()}
	}
	h := sha256.Sum256(material)
	return seeder{
		binary.LittleEndian.Uint64(h[:8]) ^ uint64(*seed),
		binary.LittleEndian.Uint64(h[8:16]),
	}
}

// rng returns the independent stream of choice i.
func (s seeder) rng(i int) *rand.Rand {
	return rand.New(rand.NewPCG(s.s1, s.s2+uint64(i+1)*0x9E3779B97F4A7C15))
}
