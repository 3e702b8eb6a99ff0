package llmtest

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func testModel(t testing.TB) *model {
	t.Helper()
	m, err := getModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var testPrompts = []string{"", "Hello!", "Tell me a story.", "What is the weather like in Paris?", "How do I bake bread?", "func add(a, b int) int {", "zzzz qqqq"}

func TestAdjust(t *testing.T) {
	for _, tc := range []struct {
		name             string
		logits           []float64
		bias             map[int32]float64
		counts           map[int32]int32
		freq, pres, want []float64
	}{
		{name: "nothing", logits: []float64{-1, -2, -3}, want: []float64{-1, -2, -3}},
		{name: "bias", logits: []float64{-1, -2, -3}, bias: map[int32]float64{11: 5, 12: -100}, want: []float64{-1, 3, -103}},
		{name: "frequency", logits: []float64{-1, -2, -3}, counts: map[int32]int32{10: 3, 12: 1}, freq: []float64{0.5}, want: []float64{-2.5, -2, -3.5}},
		{name: "presence", logits: []float64{-1, -2, -3}, counts: map[int32]int32{10: 3, 12: 1}, pres: []float64{0.7}, want: []float64{-1.7, -2, -3.7}},
		{name: "both and negative", logits: []float64{-1, -2, -3}, counts: map[int32]int32{11: 2}, freq: []float64{-1}, pres: []float64{2}, bias: map[int32]float64{11: 1}, want: []float64{-1, -2 + 1 - (2*-1 + 2), -3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var freq, pres float64
			if tc.freq != nil {
				freq = tc.freq[0]
			}
			if tc.pres != nil {
				pres = tc.pres[0]
			}
			got := slices.Clone(tc.logits)
			adjust([]int32{10, 11, 12}, got, tc.bias, tc.counts, freq, pres)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Fatalf("adjust = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// reference computes the final distribution of a step independently of
// the sampler: candidates, adjusted logits, softmax(l/T), nucleus.
func reference(m *model, u, v int32, p *params, counts map[int32]int32, started bool) map[int32]float64 {
	logit := map[int32]float64{}
	for _, c := range m.candidates(u, v) {
		logit[c.id] = c.logp
	}
	for id := range p.bias {
		if _, ok := logit[id]; !ok {
			logit[id] = m.logp(u, v, id)
		}
	}
	if !started {
		delete(logit, eot)
	}
	t := p.temperature
	if t == 0 {
		t = 1
	}
	sum := 0.0
	for id := range logit {
		l := logit[id] + p.bias[id]
		if c := counts[id]; c > 0 {
			l -= float64(c)*p.freq + p.pres
		}
		logit[id] = l / t
		sum += math.Exp(l / t)
	}
	type kv struct {
		id int32
		p  float64
	}
	var all []kv
	for id, l := range logit {
		all = append(all, kv{id, math.Exp(l) / sum})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.p != b.p {
			if a.p > b.p {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	out := map[int32]float64{}
	cum := 0.0
	for _, e := range all {
		out[e.id] = e.p
		cum += e.p
		if p.topP < 1 && cum >= p.topP {
			break
		}
	}
	for id := range out {
		out[id] = math.Log(out[id] / min(cum, 1))
	}
	return out
}

// replay walks a generated choice and checks every step against the
// reference distribution: the sampled token's logprob, the alternatives
// (sorted, consistent), and for temperature 0 that the token is the
// argmax.
func replay(t *testing.T, m *model, prompt string, p *params, ch choice) {
	t.Helper()
	ctx := m.contextOf(prompt)
	u, v := ctx[0], ctx[1]
	counts := map[int32]int32{}
	for k, pc := range ch.pieces {
		ref := reference(m, u, v, p, counts, k > 0)
		want, ok := ref[pc.id]
		if !ok {
			t.Fatalf("step %d: token %d is not in the final distribution", k, pc.id)
		}
		if math.Abs(pc.logp-want) > 1e-9 {
			t.Fatalf("step %d: logprob %v, reference %v", k, pc.logp, want)
		}
		best := math.Inf(-1)
		for _, lp := range ref {
			best = max(best, lp)
		}
		if p.temperature == 0 && pc.logp < best-1e-12 {
			t.Fatalf("step %d: temperature 0 picked logprob %v, the argmax has %v", k, pc.logp, best)
		}
		if p.topN > 0 {
			if len(pc.alts) != min(p.topN, len(ref)) {
				t.Fatalf("step %d: %d alternatives, want %d", k, len(pc.alts), min(p.topN, len(ref)))
			}
			if !slices.IsSortedFunc(pc.alts, func(a, b alt) int { return -cmpF(a.logp, b.logp) }) {
				t.Fatalf("step %d: alternatives not sorted: %v", k, pc.alts)
			}
			in := false
			for _, a := range pc.alts {
				if math.Abs(a.logp-ref[a.id]) > 1e-9 {
					t.Fatalf("step %d: alternative %d logprob %v, reference %v", k, a.id, a.logp, ref[a.id])
				}
				in = in || a.id == pc.id
			}
			if last := pc.alts[len(pc.alts)-1].logp; !in && pc.logp > last+1e-12 {
				t.Fatalf("step %d: sampled token (%v) missing from alternatives down to %v", k, pc.logp, last)
			}
		}
		counts[pc.id]++
		u, v = v, pc.id
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func seeded(seed int64, material string) seeder { return newSeeder(&seed, []byte(material)) }

func TestGenerateMatchesReference(t *testing.T) {
	m := testModel(t)
	for _, tc := range []struct {
		name string
		p    params
	}{
		{"greedy", params{temperature: 0, topP: 1, topN: 5}},
		{"default", params{temperature: 1, topP: 1, topN: 20}},
		{"hot", params{temperature: 1.8, topP: 1, topN: 3}},
		{"cold nucleus", params{temperature: 0.5, topP: 0.7, topN: 20}},
		{"penalties", params{temperature: 1, topP: 1, freq: 1.5, pres: 0.8, topN: 10}},
		{"negative penalties", params{temperature: 0.7, topP: 0.95, freq: -0.5, pres: -1, topN: 4}},
		{"bias", params{temperature: 1, topP: 1, bias: map[int32]float64{13: 2, 290: -3, 11: 1.5, 199999: 0.5}, topN: 6}},
		{"greedy with penalties", params{temperature: 0, topP: 1, freq: 2, pres: 2, topN: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, prompt := range testPrompts {
				for seed := range int64(3) {
					ch := m.generate(m.contextOf(prompt), &tc.p, seeded(seed, prompt).rng(0), 40, nil)
					replay(t, m, prompt, &tc.p, ch)
				}
			}
		})
	}
}

func TestGreedyIsArgmaxEveryStep(t *testing.T) {
	m := testModel(t)
	p := params{temperature: 0, topP: 1, topN: -1}
	for _, prompt := range testPrompts {
		ch := m.generate(m.contextOf(prompt), &p, nil, 60, nil)
		ctx := m.contextOf(prompt)
		u, v := ctx[0], ctx[1]
		for k, pc := range ch.pieces {
			best, bestL := int32(-1), math.Inf(-1)
			for _, c := range m.candidates(u, v) {
				if (c.id != eot || k > 0) && c.logp > bestL {
					best, bestL = c.id, c.logp
				}
			}
			if pc.id != best {
				t.Fatalf("%q step %d: got token %d, argmax is %d", prompt, k, pc.id, best)
			}
			u, v = v, pc.id
		}
		// Greedy does not depend on the PRNG at all.
		again := m.generate(ctx, &p, seeded(99, "x").rng(3), 60, nil)
		if again.text != ch.text {
			t.Fatalf("greedy depends on the seed: %q vs %q", again.text, ch.text)
		}
	}
}

func TestTinyTopPGivesArgmax(t *testing.T) {
	m := testModel(t)
	greedy := params{temperature: 0, topP: 1, topN: -1}
	for _, topP := range []float64{0, 1e-9, 0.01} {
		tiny := params{temperature: 1.5, topP: topP, topN: 3}
		for _, prompt := range testPrompts {
			want := m.generate(m.contextOf(prompt), &greedy, nil, 50, nil)
			for seed := range int64(5) {
				got := m.generate(m.contextOf(prompt), &tiny, seeded(seed, prompt).rng(0), 50, nil)
				if got.text != want.text {
					t.Fatalf("top_p=%g %q seed %d: %q, greedy %q", topP, prompt, seed, got.text, want.text)
				}
				for _, pc := range got.pieces {
					if pc.logp != 0 || len(pc.alts) != 1 {
						t.Fatalf("top_p=%g: nucleus is not one token with probability 1: %v %v", topP, pc.logp, pc.alts)
					}
				}
			}
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	m := testModel(t)
	p := params{temperature: 1, topP: 0.9, freq: 0.3, topN: 2}
	distinct := map[string]bool{}
	for _, prompt := range testPrompts {
		for seed := range int64(4) {
			a := m.generate(m.contextOf(prompt), &p, seeded(seed, prompt).rng(0), 40, nil)
			b := m.generate(m.contextOf(prompt), &p, seeded(seed, prompt).rng(0), 40, nil)
			if a.text != b.text || a.tokens != b.tokens || !slices.EqualFunc(a.pieces, b.pieces, func(x, y piece) bool {
				return x.id == y.id && x.logp == y.logp && slices.Equal(x.alts, y.alts)
			}) {
				t.Fatalf("seed %d %q: two runs differ: %q / %q", seed, prompt, a.text, b.text)
			}
			distinct[a.text] = true
			// Another choice index is another stream.
			c := m.generate(m.contextOf(prompt), &p, seeded(seed, prompt).rng(1), 40, nil)
			distinct[c.text] = true
		}
	}
	if len(distinct) < len(testPrompts)*6 {
		t.Fatalf("only %d distinct outputs from %d prompts × 4 seeds × 2 choices: seeds barely matter", len(distinct), len(testPrompts))
	}
}

func TestPenaltiesMoveProbabilities(t *testing.T) {
	m := testModel(t)
	ctx := m.contextOf("Once upon a time, the")
	cs := m.candidates(ctx[0], ctx[1])
	a, b := cs[0].id, cs[1].id
	for _, tc := range []struct {
		name       string
		freq, pres float64
		temp       float64
		count      int32
	}{
		{"frequency", 0.5, 0, 1, 3},
		{"presence", 0, 0.9, 1, 2},
		{"both, hot", 0.4, 0.6, 1.7, 2},
		{"negative", -0.8, -0.5, 0.6, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reference(m, ctx[0], ctx[1], &params{temperature: tc.temp, topP: 1}, nil, true)
			p := params{temperature: tc.temp, topP: 1, freq: tc.freq, pres: tc.pres, topN: 50}
			s := newSampler(m, &p, seeded(1, "").rng(0))
			s.started = true
			s.counts[a] = tc.count
			s.prepare(ctx[0], ctx[1])
			s.distribution(true)
			after := map[int32]float64{}
			for i, id := range s.ids {
				after[id] = s.logp[i]
			}
			// The log-odds of a against an unpenalised token move by
			// exactly −(count·freq + presence)/T.
			shift := (after[a] - after[b]) - (before[a] - before[b])
			want := -(float64(tc.count)*tc.freq + tc.pres) / tc.temp
			if math.Abs(shift-want) > 1e-9 {
				t.Fatalf("log-odds moved by %v, want %v", shift, want)
			}
		})
	}
}

func TestStopAndMaxTokens(t *testing.T) {
	m := testModel(t)
	p := params{temperature: 0, topP: 1, topN: -1}
	for _, prompt := range testPrompts {
		full := m.generate(m.contextOf(prompt), &p, nil, 80, nil)
		if len(full.text) < 20 {
			continue
		}
		t.Run(prompt, func(t *testing.T) {
			for _, stop := range []string{full.text[10:13], full.text[len(full.text)/2 : len(full.text)/2+1], "never-in-output"} {
				got := m.generate(m.contextOf(prompt), &p, nil, 80, []string{"zzzz-no", stop})
				i := strings.Index(full.text, stop)
				if i < 0 {
					if got.text != full.text || got.finish != full.finish {
						t.Fatalf("absent stop %q changed the output", stop)
					}
					continue
				}
				if got.text != full.text[:i] || got.finish != wire.FinishStop || strings.Contains(got.text, stop) {
					t.Fatalf("stop %q: got %q (%s), want %q", stop, got.text, got.finish, full.text[:i])
				}
				var sb strings.Builder
				for _, pc := range got.pieces {
					sb.WriteString(pc.delta)
				}
				if sb.String() != got.text {
					t.Fatalf("deltas %q do not add up to %q", sb.String(), got.text)
				}
			}
			for _, n := range []int{1, 2, 7} {
				got := m.generate(m.contextOf(prompt), &p, nil, n, nil)
				if got.tokens != n || got.finish != wire.FinishLength || !strings.HasPrefix(full.text, got.text) {
					t.Fatalf("max %d: %d tokens, %s, %q", n, got.tokens, got.finish, got.text)
				}
			}
		})
	}
}

func TestLogitBiasForcesAndBans(t *testing.T) {
	m := testModel(t)
	ids := m.enc.Encode(" zebra")
	if len(ids) != 1 {
		t.Fatalf("' zebra' is %d tokens", len(ids))
	}
	zebra := int32(ids[0])
	force := params{temperature: 1, topP: 1, topN: 1, bias: map[int32]float64{zebra: 100}}
	ch := m.generate(m.contextOf("Hello!"), &force, seeded(1, "").rng(0), 5, nil)
	if ch.text != strings.Repeat(" zebra", 5) {
		t.Fatalf("+100 did not force: %q", ch.text)
	}
	greedy := params{temperature: 0, topP: 1, topN: -1}
	first := m.generate(m.contextOf("Hello!"), &greedy, nil, 1, nil).pieces[0].id
	ban := params{temperature: 0, topP: 1, topN: -1, bias: map[int32]float64{first: -100}}
	if got := m.generate(m.contextOf("Hello!"), &ban, nil, 1, nil).pieces[0].id; got == first {
		t.Fatalf("-100 did not ban token %d", first)
	}
}
