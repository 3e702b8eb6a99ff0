package llmtest

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// benchGenerate generates b.N choices of up to 256 tokens from a few
// prompts and reports generated tokens per second.
func benchGenerate(b *testing.B, p params) {
	m := testModel(b)
	ctxs := make([][2]int32, len(testPrompts))
	for i, pr := range testPrompts {
		ctxs[i] = m.contextOf(pr)
	}
	sd := seeded(1, "bench")
	total := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		ch := m.generate(ctxs[i%len(ctxs)], &p, sd.rng(i), 256, nil)
		total += ch.tokens
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "tokens/s")
	b.ReportMetric(float64(total)/float64(b.N), "tokens/op")
}

// BenchmarkGenerate is the model's generation speed with OpenAI's default
// sampling (temperature 1, top_p 1).
func BenchmarkGenerate(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchGenerate(b, defaultParams()) })
	b.Run("greedy", func(b *testing.B) { benchGenerate(b, params{temperature: 0, topP: 1, topN: -1}) })
	b.Run("top_p+penalties+top_logprobs", func(b *testing.B) {
		benchGenerate(b, params{temperature: 0.8, topP: 0.9, freq: 0.5, pres: 0.3, topN: 5})
	})
}

// BenchmarkLookup is the baseline: the raw n-gram step (candidate lookup
// and a greedy pick from the precomputed, sorted list) with no sampling.
func BenchmarkLookup(b *testing.B) {
	m := testModel(b)
	ctx := m.contextOf("Hello!")
	u, v := ctx[0], ctx[1]
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		cs := m.candidates(u, v)
		w := cs[0].id
		if w == eot {
			w = cs[1].id
		}
		u, v = v, w
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "tokens/s")
}

// BenchmarkTrain is the start-up cost: counting the corpus and
// precomputing every candidate set (the o200k_base encoding is loaded
// before the timer).
func BenchmarkTrain(b *testing.B) {
	docs, raw, err := embeddedDocs()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := train(docs, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := train(docs, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChatHTTP is a whole non-streamed request through the handler.
func BenchmarkChatHTTP(b *testing.B) {
	h := Handler(Config{})
	body := `{"model":"llmtest-1","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":64,"seed":1}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Body)
		}
	}
}

func TestTrainTime(t *testing.T) {
	m := testModel(t)
	t.Logf("trained on %d bytes in %v: %d trigram and %d bigram contexts, fingerprint %s",
		m.corpusBytes, m.trainTime, len(m.triCands), len(m.biCands), m.fingerprint)
}
