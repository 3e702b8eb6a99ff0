package tokens

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/llmgate/llmgate/models"
	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// ErrUnknownEncoding is returned by [Get] for an encoding name it does not
// know.
var ErrUnknownEncoding = errors.New("tokens: unknown encoding")

// Encoding is one loaded tokenizer (cl100k_base, o200k_base, p50k_base or
// r50k_base). Get one with [Get] or [ForModel]; there is no useful zero
// value. An Encoding is immutable apart from an internal bounded cache and
// is safe for concurrent use.
//
// All methods use encode_ordinary semantics: text that looks like a
// special token ("<|endoftext|>") is tokenized as ordinary text. Invalid
// UTF-8 never panics: each byte that is not part of a valid sequence is
// tokenized as U+FFFD, as tiktoken-go does (its regexp engine decodes the
// text to runes, turning each invalid byte into U+FFFD, and encodes the
// runes back).
type Encoding struct {
	name    string
	split   splitter
	ranks   rankTable      // token bytes → rank
	tokens  []string       // rank → token bytes; "" for unused ranks
	special map[int]string // special token id → text, for Decode
	cache   *pieceCache
	memory  int // approximate bytes held by ranks and tokens
}

type spec struct {
	file    string
	split   splitter
	special map[int]string
}

var specs = map[string]spec{
	models.Cl100kBase: {"cl100k_base.tiktoken", splitCl100k, map[int]string{
		100257: "<|endoftext|>", 100258: "<|fim_prefix|>", 100259: "<|fim_middle|>",
		100260: "<|fim_suffix|>", 100276: "<|endofprompt|>"}},
	models.O200kBase: {"o200k_base.tiktoken", splitO200k, map[int]string{
		199999: "<|endoftext|>", 200018: "<|endofprompt|>"}},
	models.P50kBase: {"p50k_base.tiktoken", splitR50k, map[int]string{50256: "<|endoftext|>"}},
	models.R50kBase: {"r50k_base.tiktoken", splitR50k, map[int]string{50256: "<|endoftext|>"}},
}

type loaded struct {
	once sync.Once
	enc  *Encoding
	err  error
}

var registry = func() map[string]*loaded {
	m := make(map[string]*loaded, len(specs))
	for name := range specs {
		m[name] = new(loaded)
	}
	return m
}()

// Get returns the named encoding ("cl100k_base", "o200k_base", "p50k_base",
// "r50k_base"), loading it from the BPE files compiled into the binary on
// first use (never from the network). Later calls return the same
// *Encoding. Safe for concurrent use.
func Get(name string) (*Encoding, error) {
	l, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEncoding, name)
	}
	l.once.Do(func() { l.enc, l.err = load(name, specs[name]) })
	return l.enc, l.err
}

// ForModel returns the encoding of model as [models.EncodingFor] resolves
// it: unknown models get [models.DefaultEncoding] (o200k_base).
func ForModel(model string) (*Encoding, error) {
	return Get(models.EncodingFor(model))
}

func load(name string, sp spec) (*Encoding, error) {
	data, err := assets.Assets.ReadFile(sp.file)
	if err != nil {
		return nil, fmt.Errorf("tokens: load %s: %w", name, err)
	}
	lines := bytes.Count(data, []byte{'\n'}) + 1
	// One arena holds the bytes of every token; map keys and the rank →
	// token table are views into it, so loading makes a handful of
	// allocations.
	arena := make([]byte, 0, len(data)*3/4)
	type entry struct{ off, n, rank int }
	entries := make([]entry, 0, lines)
	maxRank := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		b64, num, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return nil, fmt.Errorf("tokens: load %s: malformed line %q", name, line)
		}
		rank, err := strconv.Atoi(string(num))
		if err != nil || rank < 0 {
			return nil, fmt.Errorf("tokens: load %s: bad rank %q", name, num)
		}
		off := len(arena)
		arena, err = base64.StdEncoding.AppendDecode(arena, b64)
		if err != nil || len(arena) == off {
			return nil, fmt.Errorf("tokens: load %s: bad token %q", name, b64)
		}
		entries = append(entries, entry{off, len(arena) - off, rank})
		maxRank = max(maxRank, rank)
	}
	if cap(arena) != len(arena) {
		arena = append(make([]byte, 0, len(arena)), arena...)
	}
	e := &Encoding{
		name:    name,
		split:   sp.split,
		tokens:  make([]string, maxRank+1),
		special: sp.special,
		cache:   newPieceCache(),
	}
	for _, en := range entries {
		if e.tokens[en.rank] != "" {
			return nil, fmt.Errorf("tokens: load %s: duplicate rank %d", name, en.rank)
		}
		e.tokens[en.rank] = unsafe.String(&arena[en.off], en.n)
	}
	if e.ranks, err = newRankTable(e.tokens); err != nil {
		return nil, fmt.Errorf("tokens: load %s: %w", name, err)
	}
	// Rough accounting: arena, rank → token table and token → rank table.
	e.memory = len(arena) + len(e.tokens)*int(unsafe.Sizeof("")) + e.ranks.memory()
	return e, nil
}

// Name returns the encoding's name, e.g. "o200k_base".
func (e *Encoding) Name() string { return e.name }

// Vocab returns the number of ordinary token ids (the largest rank + 1).
func (e *Encoding) Vocab() int { return len(e.tokens) }

// MemoryBytes estimates the memory the loaded encoding holds (token bytes,
// rank table and lookup map), not counting the bounded piece cache.
func (e *Encoding) MemoryBytes() int { return e.memory }

// Count returns the number of tokens of text, with encode_ordinary
// semantics. It does not allocate except to cache new pieces.
func (e *Encoding) Count(text string) int {
	if !utf8.ValidString(text) {
		text = sanitize(text)
	}
	n := 0
	for i := 0; i < len(text); {
		j := e.split(text, i)
		n += e.countPiece(text[i:j])
		i = j
	}
	return n
}

// MaxTokens returns an upper bound of Count(text) under every encoding of
// this package, without tokenising: len(text) for valid UTF-8 (every byte
// is a token of a byte-level BPE vocabulary, and merges only lower the
// count), 3*len(text) otherwise (each invalid byte is counted as the three
// bytes of U+FFFD). The bound also holds for the concatenation of texts:
// the sum of their bounds bounds the count of the whole.
func MaxTokens(text string) int {
	if utf8.ValidString(text) {
		return len(text)
	}
	return 3 * len(text)
}

// Encode returns the token ids of text, with encode_ordinary semantics.
func (e *Encoding) Encode(text string) []int {
	if !utf8.ValidString(text) {
		text = sanitize(text)
	}
	ids := make([]int, 0, len(text)/3+1)
	for i := 0; i < len(text); {
		j := e.split(text, i)
		ids = e.appendPiece(ids, text[i:j])
		i = j
	}
	return ids
}

// Decode returns the text of ids: the concatenated bytes of the tokens
// (special token ids decode to their text, e.g. "<|endoftext|>"). The
// result may be invalid UTF-8 when ids cut a character. An id the
// encoding does not have is an error.
func (e *Encoding) Decode(ids []int) (string, error) {
	var b strings.Builder
	for _, id := range ids {
		if id >= 0 && id < len(e.tokens) && e.tokens[id] != "" {
			b.WriteString(e.tokens[id])
			continue
		}
		if s, ok := e.special[id]; ok {
			b.WriteString(s)
			continue
		}
		return "", fmt.Errorf("tokens: decode %s: unknown token id %d", e.name, id)
	}
	return b.String(), nil
}
