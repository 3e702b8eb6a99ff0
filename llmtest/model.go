package llmtest

import (
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/tokens"
)

// The model's hyper-parameters. They are part of the system fingerprint.
const (
	// order is n of the n-gram model: a token is predicted from the two
	// before it.
	order = 3
	// discount is the absolute discount D of the interpolated model.
	discount = 0.75
	// alpha is the add-alpha smoothing of the unigram level over the whole
	// vocabulary, so that every token has a non-zero probability.
	alpha = 0.01
	// topK bounds the trigram and the bigram continuations that enter a
	// context's candidate set.
	topK = 32
	// topUnigram is the number of most frequent tokens every candidate set
	// includes.
	topUnigram = 8
	// eot is o200k_base's <|endoftext|>: the model emits it at the end of
	// a document, which ends a choice with finish_reason "stop".
	eot = 199999
	// vocabSize is the number of token ids the model knows: o200k_base's
	// ordinary ids and <|endoftext|>.
	vocabSize = eot + 1
)

//go:embed corpus/*.txt
var corpusFS embed.FS

// cand is one candidate next token with its log-probability under the
// interpolated model.
type cand struct {
	id   int32
	logp float64
}

// ctxStat is what the model knows about a context: how many times it was
// followed by a token, and by how many distinct tokens.
type ctxStat struct{ total, distinct int32 }

// model is an interpolated trigram model over o200k_base tokens with
// absolute discounting:
//
//	P1(w)     = (c(w) + α) / (N + α·V)
//	P2(w|v)   = max(c(v,w) − D, 0)/c(v·) + D·T(v·)/c(v·) · P1(w)
//	P3(w|u,v) = max(c(u,v,w) − D, 0)/c(u,v·) + D·T(u,v·)/c(u,v·) · P2(w|v)
//
// where c(x·) is how often context x was followed by anything, T(x·) by how
// many distinct tokens, V = 200,000 and an unseen context backs off to the
// level below. It is built once and read-only afterwards.
type model struct {
	enc   *tokens.Encoding
	total int32           // N: tokens predicted in training
	uni   map[int32]int32 // c(w)
	bi    map[uint64]int32
	tri   map[uint64]int32
	biCtx map[int32]ctxStat
	trCtx map[uint64]ctxStat

	// Candidate sets, sorted by logp descending (ties by id).
	uniCands []cand
	biCands  map[int32][]cand
	triCands map[uint64][]cand

	text        map[int32]string // the bytes of every token of the corpus
	words       []string         // distinct lower-case words of the corpus, sorted
	fingerprint string
	corpusBytes int
	trainTime   time.Duration
}

var (
	modelOnce sync.Once
	theModel  *model
	modelErr  error
)

// getModel trains the model on the embedded corpus once per process.
func getModel() (*model, error) {
	modelOnce.Do(func() {
		docs, raw, err := embeddedDocs()
		if err == nil {
			theModel, err = train(docs, raw)
		}
		modelErr = err
	})
	return theModel, modelErr
}

// embeddedDocs reads the corpus files in name order and splits them into
// documents at lines holding only "%%".
func embeddedDocs() (docs []string, raw []byte, err error) {
	names, err := fs.Glob(corpusFS, "corpus/*.txt")
	if err != nil {
		return nil, nil, fmt.Errorf("llmtest: corpus: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := corpusFS.ReadFile(name)
		if err != nil {
			return nil, nil, fmt.Errorf("llmtest: corpus: %w", err)
		}
		raw = append(raw, b...)
		for doc := range strings.SplitSeq(string(b), "\n%%\n") {
			if doc = strings.TrimSpace(doc); doc != "" {
				docs = append(docs, doc)
			}
		}
	}
	return docs, raw, nil
}

func key2(u, v int32) uint64    { return uint64(uint32(u))<<32 | uint64(uint32(v)) }
func key3(u, v, w int32) uint64 { return uint64(u)<<40 | uint64(v)<<20 | uint64(w) }

// train counts the n-grams of docs and precomputes every context's
// candidate set. raw is hashed into the fingerprint.
func train(docs []string, raw []byte) (*model, error) {
	enc, err := tokens.Get(models.O200kBase) // loaded once per process, shared with package tokens
	if err != nil {
		return nil, fmt.Errorf("llmtest: %w", err)
	}
	start := time.Now()
	m := &model{
		enc:   enc,
		uni:   map[int32]int32{},
		bi:    map[uint64]int32{},
		tri:   map[uint64]int32{},
		biCtx: map[int32]ctxStat{},
		trCtx: map[uint64]ctxStat{},
		text:  map[int32]string{},
	}
	words := map[string]bool{}
	for _, doc := range docs {
		for f := range strings.FieldsSeq(doc) {
			w := strings.ToLower(strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) }))
			if len(w) > 1 && strings.IndexFunc(w, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) }) < 0 {
				words[w] = true
			}
		}
		ids := enc.Encode(doc)
		seq := make([]int32, 0, len(ids)+3)
		seq = append(seq, eot, eot)
		for _, id := range ids {
			seq = append(seq, int32(id))
			if _, ok := m.text[int32(id)]; !ok {
				s, err := enc.Decode([]int{id})
				if err != nil {
					return nil, fmt.Errorf("llmtest: %w", err)
				}
				m.text[int32(id)] = s
			}
		}
		seq = append(seq, eot)
		for i := 2; i < len(seq); i++ {
			u, v, w := seq[i-2], seq[i-1], seq[i]
			m.total++
			m.uni[w]++
			if m.bi[key2(v, w)]++; m.bi[key2(v, w)] == 1 {
				s := m.biCtx[v]
				s.distinct++
				m.biCtx[v] = s
			}
			s := m.biCtx[v]
			s.total++
			m.biCtx[v] = s
			if m.tri[key3(u, v, w)]++; m.tri[key3(u, v, w)] == 1 {
				t := m.trCtx[key2(u, v)]
				t.distinct++
				m.trCtx[key2(u, v)] = t
			}
			t := m.trCtx[key2(u, v)]
			t.total++
			m.trCtx[key2(u, v)] = t
		}
	}
	m.words = slices.Sorted(func(yield func(string) bool) {
		for w := range words {
			if !yield(w) {
				return
			}
		}
	})
	m.buildCandidates()
	sum := sha256.New()
	sum.Write(raw)
	fmt.Fprintf(sum, "n=%d K=%d U=%d D=%g alpha=%g", order, topK, topUnigram, discount, alpha)
	m.fingerprint = "fp_" + hex.EncodeToString(sum.Sum(nil))[:10]
	m.corpusBytes = len(raw)
	m.trainTime = time.Since(start)
	return m, nil
}

// p1, p2 and p3 are the three levels of the interpolated model.
func (m *model) p1(w int32) float64 {
	return (float64(m.uni[w]) + alpha) / (float64(m.total) + alpha*vocabSize)
}

func (m *model) p2(v, w int32) float64 {
	s, ok := m.biCtx[v]
	if !ok {
		return m.p1(w)
	}
	c := float64(m.bi[key2(v, w)])
	return max(c-discount, 0)/float64(s.total) + discount*float64(s.distinct)/float64(s.total)*m.p1(w)
}

func (m *model) p3(u, v, w int32) float64 {
	s, ok := m.trCtx[key2(u, v)]
	if !ok {
		return m.p2(v, w)
	}
	c := float64(m.tri[key3(u, v, w)])
	return max(c-discount, 0)/float64(s.total) + discount*float64(s.distinct)/float64(s.total)*m.p2(v, w)
}

// logp returns log P3(w | u, v) for any token w.
func (m *model) logp(u, v, w int32) float64 { return math.Log(m.p3(u, v, w)) }

// topBy returns at most k keys of counts whose context part matches, by
// count descending then id ascending.
type counted struct {
	id int32
	c  int32
}

func topCounted(list []counted, k int) []counted {
	slices.SortFunc(list, func(a, b counted) int {
		return cmp.Or(cmp.Compare(b.c, a.c), cmp.Compare(a.id, b.id))
	})
	return list[:min(k, len(list))]
}

// buildCandidates precomputes the candidate set of every seen context:
//
//   - unigram (no context known): the topUnigram most frequent tokens;
//   - bigram context v: the topK most frequent continuations of v, plus
//     the unigram candidates;
//   - trigram context (u, v): the topK most frequent continuations of
//     (u, v), plus the bigram candidates of v.
//
// Each candidate carries log P3 (resp. P2, P1) of the full model; the
// probability of tokens outside the set is dropped when the distribution
// is renormalised.
func (m *model) buildCandidates() {
	var all []counted
	for w, c := range m.uni {
		all = append(all, counted{w, c})
	}
	for _, e := range topCounted(all, topUnigram) {
		m.uniCands = append(m.uniCands, cand{e.id, math.Log(m.p1(e.id))})
	}
	sortCands(m.uniCands)

	byV := map[int32][]counted{}
	for k, c := range m.bi {
		v, w := int32(k>>32), int32(uint32(k))
		byV[v] = append(byV[v], counted{w, c})
	}
	m.biCands = make(map[int32][]cand, len(byV))
	for v, list := range byV {
		ids := idsOf(topCounted(list, topK))
		ids = appendNew(ids, m.uniCands)
		cs := make([]cand, len(ids))
		for i, w := range ids {
			cs[i] = cand{w, math.Log(m.p2(v, w))}
		}
		sortCands(cs)
		m.biCands[v] = cs
	}

	byUV := map[uint64][]counted{}
	for k, c := range m.tri {
		u, v, w := int32(k>>40), int32(k>>20&(1<<20-1)), int32(k&(1<<20-1))
		byUV[key2(u, v)] = append(byUV[key2(u, v)], counted{w, c})
	}
	m.triCands = make(map[uint64][]cand, len(byUV))
	for uv, list := range byUV {
		u, v := int32(uv>>32), int32(uint32(uv))
		ids := idsOf(topCounted(list, topK))
		ids = appendNew(ids, m.biCands[v])
		cs := make([]cand, len(ids))
		for i, w := range ids {
			cs[i] = cand{w, math.Log(m.p3(u, v, w))}
		}
		sortCands(cs)
		m.triCands[uv] = cs
	}
}

func idsOf(list []counted) []int32 {
	ids := make([]int32, len(list), len(list)+topK+topUnigram)
	for i, e := range list {
		ids[i] = e.id
	}
	return ids
}

// appendNew appends the ids of cs that ids does not hold yet.
func appendNew(ids []int32, cs []cand) []int32 {
	for _, c := range cs {
		if !slices.Contains(ids, c.id) {
			ids = append(ids, c.id)
		}
	}
	return ids
}

func sortCands(cs []cand) {
	slices.SortFunc(cs, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.logp, a.logp), cmp.Compare(a.id, b.id))
	})
}

// candidates returns the candidate set of the context (u, v): the trigram
// set when (u, v) was seen, else the bigram set of v, else the unigram set.
// The slice is shared and must not be modified.
func (m *model) candidates(u, v int32) []cand {
	if cs, ok := m.triCands[key2(u, v)]; ok {
		return cs
	}
	if cs, ok := m.biCands[v]; ok {
		return cs
	}
	return m.uniCands
}

// tokenText returns the bytes of token id.
func (m *model) tokenText(id int32) string {
	if s, ok := m.text[id]; ok {
		return s
	}
	if id == eot {
		return ""
	}
	s, err := m.enc.Decode([]int{int(id)})
	if err != nil {
		return ""
	}
	return s
}

// validToken reports whether id is a token the model can emit.
func (m *model) validToken(id int) bool {
	if id == eot {
		return true
	}
	if id < 0 || id >= vocabSize {
		return false
	}
	_, err := m.enc.Decode([]int{id})
	return err == nil
}

// contextOf returns the last two tokens of text, padded with <|endoftext|>
// (the start of a document) when text has fewer.
func (m *model) contextOf(text string) [2]int32 {
	ctx := [2]int32{eot, eot}
	ids := m.enc.Encode(lastRunes(text, 64))
	switch n := len(ids); {
	case n >= 2:
		ctx = [2]int32{int32(ids[n-2]), int32(ids[n-1])}
	case n == 1:
		ctx[1] = int32(ids[0])
	}
	return ctx
}

// lastRunes returns about the last n bytes of s, cut at a rune start.
func lastRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && s[i]&0xC0 == 0x80 {
		i++
	}
	return s[i:]
}
