package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// evalCaches are the two caches OPA's evaluator keeps during one
// evaluation: the values of rules already evaluated (topdown.VirtualCache)
// and the data documents already read from the store (topdown.BaseCache).
// OPA's own build a trie of hash maps for every evaluation; a decision
// evaluates a few dozen rules, so these keep flat lists instead, with the
// same answers, and are reused through a pool: once warm, an evaluation
// allocates nothing for its caches.
//
// Nothing outlives an evaluation: reset empties both caches before they go
// back to the pool, so no value is ever carried from one request to the
// next. An evalCaches is used by one evaluation at a time.
type evalCaches struct {
	virtual virtualCache
	base    baseCache
	terms   []*ast.Term // the keys' terms, copied: the evaluator reuses its ref slices
}

var evalCachePool = sync.Pool{New: func() any {
	c := &evalCaches{}
	c.virtual.c, c.base.c = c, c
	return c
}}

// getEvalCaches returns empty caches for one evaluation.
func getEvalCaches() *evalCaches {
	c := evalCachePool.Get().(*evalCaches)
	c.virtual.frames = append(c.virtual.frames, 0) // the evaluation's frame
	return c
}

// maxPooledTerms bounds what a pooled evalCaches keeps: an evaluation that
// cached more than this does not return its (large) caches to the pool.
const maxPooledTerms = 4096

// release empties c and returns it to the pool.
func (c *evalCaches) release() {
	if cap(c.terms) > maxPooledTerms {
		return
	}
	clear(c.terms)
	clear(c.virtual.entries)
	clear(c.base.entries)
	c.terms = c.terms[:0]
	c.virtual.entries, c.virtual.frames = c.virtual.entries[:0], c.virtual.frames[:0]
	c.base.entries = c.base.entries[:0]
	evalCachePool.Put(c)
}

// key copies ref's terms into c.terms and returns the copy.
func (c *evalCaches) key(ref ast.Ref) ast.Ref {
	start := len(c.terms)
	c.terms = append(c.terms, ref...)
	return ast.Ref(c.terms[start:len(c.terms):len(c.terms)])
}

// refHash hashes a ref by its terms' values, as OPA's caches key them.
func refHash(ref ast.Ref) int {
	h := len(ref)
	for _, t := range ref {
		h = h*31 + t.Value.Hash()
	}
	return h
}

// virtualCache is a topdown.VirtualCache: a stack of frames (a `with`
// statement evaluates in a frame of its own) of ref → value entries.
type virtualCache struct {
	c       *evalCaches
	frames  []int // index in entries where each frame starts
	entries []virtualEntry
}

type virtualEntry struct {
	ref       ast.Ref
	hash      int
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*virtualCache)(nil)

func (v *virtualCache) Push() { v.frames = append(v.frames, len(v.entries)) }

func (v *virtualCache) Pop() {
	top := v.frames[len(v.frames)-1]
	clear(v.entries[top:])
	v.entries = v.entries[:top]
	v.frames = v.frames[:len(v.frames)-1]
}

// find returns the entry of ref in the top frame, or nil.
func (v *virtualCache) find(ref ast.Ref, hash int) *virtualEntry {
	for i := v.frames[len(v.frames)-1]; i < len(v.entries); i++ {
		if e := &v.entries[i]; e.hash == hash && e.ref.Equal(ref) {
			return e
		}
	}
	return nil
}

// Get returns the value cached for ref: (value, false) when defined, (nil,
// true) when cached as undefined, (nil, false) when not cached.
func (v *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	e := v.find(ref, refHash(ref))
	switch {
	case e == nil:
		return nil, false
	case e.undefined:
		return nil, true
	}
	return e.value, false
}

// Put caches value for ref; a nil value marks ref undefined. As in OPA's
// cache, an entry once marked undefined stays undefined.
func (v *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	h := refHash(ref)
	e := v.find(ref, h)
	if e == nil {
		v.entries = append(v.entries, virtualEntry{ref: v.c.key(ref), hash: h})
		e = &v.entries[len(v.entries)-1]
	}
	if value == nil {
		e.undefined = true
	} else {
		e.value = value
	}
}

// Keys returns the refs with a value in the top frame.
func (v *virtualCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range v.entries[v.frames[len(v.frames)-1]:] {
		if e.value != nil {
			keys = append(keys, e.ref.Copy())
		}
	}
	return keys
}

// baseCache is a topdown.BaseCache: data documents read from the store, by
// ref. As in OPA's trie, a read under a cached document is answered from
// that document, and caching a document drops the cached documents under
// it. Ref terms match as Go map keys match in OPA's trie.
type baseCache struct {
	c       *evalCaches
	entries []baseEntry
}

type baseEntry struct {
	ref   ast.Ref
	value ast.Value
}

var _ topdown.BaseCache = (*baseCache)(nil)

// prefixOf reports whether p is a prefix of ref, comparing values as OPA's
// trie compares its map keys.
func prefixOf(p, ref ast.Ref) bool {
	if len(p) > len(ref) {
		return false
	}
	for i := range p {
		if p[i].Value != ref[i].Value {
			return false
		}
	}
	return true
}

// Get returns the value at ref, found in the shortest cached document that
// is ref or contains it, or nil.
func (b *baseCache) Get(ref ast.Ref) ast.Value {
	var best *baseEntry
	for i := range b.entries {
		if e := &b.entries[i]; prefixOf(e.ref, ref) && (best == nil || len(e.ref) < len(best.ref)) {
			best = e
		}
	}
	switch {
	case best == nil:
		return nil
	case len(best.ref) == len(ref):
		return best.value
	}
	v, err := best.value.Find(ref[len(best.ref):])
	if err != nil {
		return nil
	}
	return v
}

// Put caches value at ref and drops the documents cached under ref.
func (b *baseCache) Put(ref ast.Ref, value ast.Value) {
	kept := b.entries[:0]
	for _, e := range b.entries {
		if !prefixOf(ref, e.ref) {
			kept = append(kept, e)
		}
	}
	clear(b.entries[len(kept):])
	b.entries = append(kept, baseEntry{ref: b.c.key(ref), value: value})
}
