package llmtest

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// params are a request's sampling parameters, validated.
type params struct {
	temperature float64 // 0 = greedy
	topP        float64 // (0, 1]
	freq, pres  float64
	bias        map[int32]float64
	topN        int // alternatives to report per token; -1 = no logprobs
}

// defaultParams are OpenAI's defaults: temperature 1, top_p 1, no
// penalties, no bias, no logprobs.
func defaultParams() params { return params{temperature: 1, topP: 1, topN: -1} }

// alt is one token of a final distribution with its log-probability.
type alt struct {
	id   int32
	logp float64
}

// sampler draws the tokens of one choice. It owns scratch buffers and is
// not safe for concurrent use.
type sampler struct {
	m      *model
	p      *params
	rng    *rand.Rand // nil when temperature is 0
	counts map[int32]int32
	// started is set once the choice has a token: before that,
	// <|endoftext|> is not a candidate, so no choice is empty.
	started bool

	ids    []int32
	logits []float64
	logp   []float64
	order  []int
}

func newSampler(m *model, p *params, rng *rand.Rand) *sampler {
	s := &sampler{m: m, p: p, rng: rng}
	if p.freq != 0 || p.pres != 0 {
		s.counts = map[int32]int32{}
	}
	return s
}

// adjust is the logit transform: base logits (log P3 of the model), plus
// logit_bias, minus the penalties OpenAI documents:
//
//	logit[j] += bias[j] − c[j]·frequency_penalty − [c[j] > 0]·presence_penalty
//
// where c[j] is how often token j was generated so far in this choice.
func adjust(ids []int32, logits []float64, bias map[int32]float64, counts map[int32]int32, freq, pres float64) {
	for i, id := range ids {
		if b, ok := bias[id]; ok {
			logits[i] += b
		}
		if c := counts[id]; c > 0 {
			logits[i] -= float64(c)*freq + pres
		}
	}
}

// prepare fills s.ids and s.logits with the candidates of (u, v): the
// model's candidate set plus every logit_bias token, with the adjusted
// logits.
func (s *sampler) prepare(u, v int32) {
	cs := s.m.candidates(u, v)
	s.ids, s.logits = s.ids[:0], s.logits[:0]
	for _, c := range cs {
		if c.id != eot || s.started {
			s.ids = append(s.ids, c.id)
			s.logits = append(s.logits, c.logp)
		}
	}
	base := len(s.ids)
	for id := range s.p.bias {
		if (id != eot || s.started) && !slices.Contains(s.ids, id) {
			s.ids = append(s.ids, id)
			s.logits = append(s.logits, s.m.logp(u, v, id))
		}
	}
	if len(s.ids)-base > 1 { // map order: keep the candidate order deterministic
		sortTail(s.ids[base:], s.logits[base:])
	}
	adjust(s.ids, s.logits, s.p.bias, s.counts, s.p.freq, s.p.pres)
}

// sortTail sorts bias-only candidates by id so that map iteration order
// never changes a result.
func sortTail(ids []int32, logits []float64) {
	type pair struct {
		id int32
		l  float64
	}
	ps := make([]pair, len(ids))
	for i := range ids {
		ps[i] = pair{ids[i], logits[i]}
	}
	slices.SortFunc(ps, func(a, b pair) int { return cmp.Compare(a.id, b.id) })
	for i, p := range ps {
		ids[i], logits[i] = p.id, p.l
	}
}

// distribution turns the adjusted logits into the final distribution:
// softmax(logits / T) (T = 1 when temperature is 0, so that greedy
// decoding still reports meaningful logprobs), then, when top_p < 1, the
// nucleus: the smallest prefix of the tokens by probability descending
// whose cumulative probability reaches top_p, renormalised. It fills s.logp
// (−Inf outside the nucleus) and, when sorted is set or top_p < 1, s.order
// with the candidate indices by probability descending (ties: candidate
// order). It returns how many of them are in the nucleus.
func (s *sampler) distribution(sorted bool) int {
	t := s.p.temperature
	if t == 0 {
		t = 1
	}
	n := len(s.logits)
	s.logp = slices.Grow(s.logp[:0], n)[:n]
	hi := math.Inf(-1)
	for _, l := range s.logits {
		hi = max(hi, l/t)
	}
	sum := 0.0
	for i, l := range s.logits {
		s.logp[i] = l/t - hi
		sum += math.Exp(s.logp[i])
	}
	lse := math.Log(sum)
	for i := range s.logp {
		s.logp[i] -= lse
	}
	keep := n
	if !sorted && s.p.topP >= 1 {
		return keep
	}
	s.order = s.order[:0]
	for i := range n {
		s.order = append(s.order, i)
	}
	slices.SortStableFunc(s.order, func(a, b int) int { return cmp.Compare(s.logp[b], s.logp[a]) })
	if s.p.topP < 1 {
		cum := 0.0
		for k, i := range s.order {
			cum += math.Exp(s.logp[i])
			if cum >= s.p.topP {
				keep = k + 1
				break
			}
		}
		norm := math.Log(min(cum, 1))
		for k, i := range s.order {
			switch {
			case keep == 1 && k == 0:
				s.logp[i] = 0 // exactly: log(p/p) may round to ±1e-17
			case k < keep:
				s.logp[i] -= norm
			default:
				s.logp[i] = math.Inf(-1)
			}
		}
	}
	return keep
}

// argmax returns the index of the largest adjusted logit (the first on a
// tie).
func argmax(logits []float64) int {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	return best
}

// next draws the token that follows (u, v) and records it for the
// penalties. It returns the token, its log-probability in the final
// distribution, and the topN most likely tokens of that distribution
// (appended to alts, descending) when logprobs were asked for.
func (s *sampler) next(u, v int32, alts []alt) (int32, float64, []alt) {
	s.prepare(u, v)
	wantAlts := s.p.topN > 0
	keep := s.distribution(wantAlts)
	var pick int
	switch {
	case s.p.temperature == 0:
		pick = argmax(s.logits)
	case s.p.topP < 1 || wantAlts:
		pick = s.draw(s.order[:keep])
	default:
		pick = s.drawAll()
	}
	id := s.ids[pick]
	s.started = true
	if s.counts != nil {
		s.counts[id]++
	}
	if wantAlts {
		for _, i := range s.order[:min(keep, s.p.topN)] {
			alts = append(alts, alt{s.ids[i], s.logp[i]})
		}
	}
	return id, s.logp[pick], alts
}

// draw samples one index of idx by the probabilities in s.logp.
func (s *sampler) draw(idx []int) int {
	r := s.rng.Float64()
	for _, i := range idx {
		if r -= math.Exp(s.logp[i]); r < 0 {
			return i
		}
	}
	return idx[len(idx)-1] // rounding left a sliver: the least likely kept token
}

// drawAll samples one candidate index by the probabilities in s.logp.
func (s *sampler) drawAll() int {
	r := s.rng.Float64()
	for i, lp := range s.logp {
		if r -= math.Exp(lp); r < 0 {
			return i
		}
	}
	return len(s.logp) - 1
}
