package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
)

// ScopeKind says whose requests may share cache entries.
type ScopeKind uint8

// Scope kinds. The zero value, ScopeKey, is the default.
const (
	// ScopeKey shares entries only between requests made with the same
	// API key.
	ScopeKey ScopeKind = iota
	// ScopeOrg shares entries between the keys of one org.
	ScopeOrg
	// ScopeGlobal shares entries between everyone.
	ScopeGlobal
)

// String returns "key", "org" or "global".
func (k ScopeKind) String() string {
	switch k {
	case ScopeKey:
		return "key"
	case ScopeOrg:
		return "org"
	case ScopeGlobal:
		return "global"
	}
	return "scope(" + strconv.Itoa(int(k)) + ")"
}

// ParseScopeKind parses "key", "org" or "global" (the config's cache.scope);
// "" is ScopeKey.
func ParseScopeKind(s string) (ScopeKind, error) {
	switch s {
	case "", "key":
		return ScopeKey, nil
	case "org":
		return ScopeOrg, nil
	case "global":
		return ScopeGlobal, nil
	}
	return 0, fmt.Errorf("cache: unknown scope %q (want key, org or global)", s)
}

// Scope is the tenant a cache entry belongs to: only requests of the same
// scope can read it. The zero value is the scope of requests made without
// an API key (no Auth in the chain).
type Scope struct {
	Kind ScopeKind
	// ID is the key id (ScopeKey) or the org (ScopeOrg); empty for
	// ScopeGlobal.
	ID string
}

// NewScope returns the scope of a request made with key keyID, whose key
// belongs to org, when entries are shared per kind. A request whose key
// has no org falls back to the narrower key scope under ScopeOrg, never to
// a wider one.
func NewScope(kind ScopeKind, keyID, org string) Scope {
	switch kind {
	case ScopeGlobal:
		return Scope{Kind: ScopeGlobal}
	case ScopeOrg:
		if org != "" {
			return Scope{Kind: ScopeOrg, ID: org}
		}
	}
	return Scope{Kind: ScopeKey, ID: keyID}
}

// Key identifies a cached response. Two requests get equal keys exactly
// when they have the same scope and (up to a SHA-256 collision) the same
// endpoint, model and answer-changing request fields. The scope is part of
// the Key itself, not only of the hash, so entries of different scopes
// cannot be confused even by a hash collision.
//
// Key is a comparable value: use it as a map key.
type Key struct {
	Scope Scope
	// Sum is the SHA-256 of the endpoint, the model and the canonical body
	// (and of the scope too).
	Sum [sha256.Size]byte
}

// String encodes the key as "<kind>:<len(id)>:<id>:<hex sum>", e.g.
// "key:5:alice:9f86…". The length prefix makes the encoding injective
// whatever the id holds, so it is safe as a Redis key.
func (k Key) String() string {
	return string(k.AppendText(nil))
}

// AppendText appends the String form of k to b.
func (k Key) AppendText(b []byte) []byte {
	b = append(b, k.Scope.Kind.String()...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(len(k.Scope.ID)), 10)
	b = append(b, ':')
	b = append(b, k.Scope.ID...)
	b = append(b, ':')
	return hex.AppendEncode(b, k.Sum[:])
}

// DefaultIgnoredFields are the top-level request fields left out of keys
// because they do not change the answer:
//
//   - stream, stream_options: a stored answer is served streamed or not, with
//     or without a usage chunk, by conversion.
//   - user, safety_identifier: end-user ids for the provider's abuse
//     monitoring. (Tenancy is the Scope's job, not theirs.)
//   - metadata, store: tags for stored completions.
//   - service_tier: processing priority, same model and output.
//   - prompt_cache_key, prompt_cache_retention: hints for the provider's
//     prompt cache; they change cost and latency, not output.
//
// Everything else is kept, including fields that only shape the output
// (logprobs, top_logprobs, n, parallel_tool_calls, response_format) and
// fields llmgate does not know. Defaults are not filled in: a request that
// spells temperature 1 and one that omits it get different keys, a
// harmless miss.
var DefaultIgnoredFields = []string{
	"stream", "stream_options", "user", "safety_identifier", "metadata", "store",
	"service_tier", "prompt_cache_key", "prompt_cache_retention",
}

// KeyInput is what a key is computed from.
type KeyInput struct {
	// Endpoint is the path of the endpoint, e.g. "/v1/chat/completions".
	Endpoint string
	// Model is the resolved model (after aliases and pinning). When set,
	// the body's "model" member is left out and Model is used instead, so
	// an alias and its target share entries. When empty, the body's
	// "model" is part of the key.
	Model string
	// Scope is the tenant the entry belongs to.
	Scope Scope
	// Body is the JSON request body as sent upstream.
	Body []byte
}

// Keyer computes cache keys. The zero value ignores DefaultIgnoredFields.
// A Keyer is safe for concurrent use once created; do not change it then.
type Keyer struct {
	ignore ignoreSet
}

// ignoreSet is a set of top-level field names with a one-word filter in
// front of the map: most names a request holds miss the filter and never
// hash into the map.
type ignoreSet struct {
	names map[string]struct{}
	// filter has the bit ignoreBit(name) set for every name in names.
	filter uint64
}

// ignoreBit returns the filter bit of a field name.
func ignoreBit(name []byte) uint64 {
	n := len(name)
	if n == 0 {
		return 1
	}
	return 1 << ((uint(n)*7 + uint(name[0]) + uint(name[n-1])*3) & 63)
}

// has reports whether name is in the set.
func (s *ignoreSet) has(name []byte) bool {
	if s.filter&ignoreBit(name) == 0 {
		return false
	}
	_, ok := s.names[string(name)]
	return ok
}

// NewKeyer returns a Keyer that leaves the named top-level fields out of
// keys. Nil means DefaultIgnoredFields; an empty non-nil slice ignores
// nothing.
func NewKeyer(ignored []string) *Keyer {
	if ignored == nil {
		ignored = DefaultIgnoredFields
	}
	k := &Keyer{ignore: ignoreSet{names: make(map[string]struct{}, len(ignored))}}
	for _, f := range ignored {
		k.ignore.names[f] = struct{}{}
		k.ignore.filter |= ignoreBit([]byte(f))
	}
	return k
}

var defaultIgnore = NewKeyer(nil).ignore

// keyVersion changes whenever the canonical encoding changes, so that
// entries written by an older llmgate are never read as current.
const keyVersion = 3

var canonPool = sync.Pool{New: func() any { return new(canon) }}

// Key computes the key of in. The body must be valid JSON (the error wraps
// ErrInvalidJSON otherwise). Object members are sorted by their names
// (as decoded, then written in the canonical escaping of
// appendCanonString), whitespace is dropped, strings are compared after unescaping and
// numbers by exact decimal value; array order is kept. Of duplicate
// members the last wins. Ignored fields are dropped at the top level only.
//
// Key does not allocate once its pooled buffers have grown.
func (k *Keyer) Key(in KeyInput) (Key, error) {
	ignore := &defaultIgnore
	if k != nil && k.ignore.names != nil {
		ignore = &k.ignore
	}
	c := canonPool.Get().(*canon)
	defer canonPool.Put(c)

	b := append(c.buf[:0], keyVersion)
	b = appendField(b, in.Endpoint)
	b = append(b, byte(in.Scope.Kind))
	b = appendField(b, in.Scope.ID)
	if in.Model != "" {
		b = append(b, 1)
		b = appendField(b, in.Model)
	} else {
		b = append(b, 0)
	}
	c.buf = b
	c.reset(in.Body, ignore, in.Model != "")
	err := c.document()
	var sum [sha256.Size]byte
	if err == nil {
		sum = c.sum()
	}
	c.src, c.ignore = nil, nil
	if cap(c.buf) > 1<<20 { // do not keep huge buffers in the pool
		c.buf, c.aux, c.scratch = nil, nil, nil
		c.events, c.mem, c.kept = nil, nil, nil
	}
	if err != nil {
		return Key{}, err
	}
	return Key{Scope: in.Scope, Sum: sum}, nil
}

// ComputeKey is Keyer{}.Key(in): a key with DefaultIgnoredFields.
func ComputeKey(in KeyInput) (Key, error) { return (*Keyer)(nil).Key(in) }

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
