package vm

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// fastFunc is a native implementation of a builtin that gives exactly
// topdown's answer; ok false means undefined (topdown's builtin would
// return an error, which non-strict evaluation drops; strict evaluation
// calls topdown's builtin for it). A nil res with ok true hands the call
// to topdown's builtin.
type fastFunc func(ops []*ast.Term) (res *ast.Term, ok bool)

// fastBuiltins are the hot builtins the VM runs without building a
// topdown.BuiltinContext. Each does what topdown's own implementation does
// (v1/topdown/comparison.go, aggregates.go), tested against it.
var fastBuiltins = map[string]fastFunc{
	ast.GreaterThan.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(o[0].Value.Compare(o[1].Value) > 0), true
	},
	ast.GreaterThanEq.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(o[0].Value.Compare(o[1].Value) >= 0), true
	},
	ast.LessThan.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(o[0].Value.Compare(o[1].Value) < 0), true
	},
	ast.LessThanEq.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(o[0].Value.Compare(o[1].Value) <= 0), true
	},
	ast.Equal.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(o[0].Equal(o[1])), true
	},
	ast.NotEqual.Name: func(o []*ast.Term) (*ast.Term, bool) {
		return ast.InternedTerm(!o[0].Equal(o[1])), true
	},
	ast.Count.Name: func(o []*ast.Term) (*ast.Term, bool) {
		switch o[0].Value.(type) {
		case *ast.Array, ast.Object, ast.Set, ast.String:
			n, _ := length(o[0])
			return ast.InternedTerm(n), true
		}
		return nil, false
	},
	ast.ObjectGet.Name: func(o []*ast.Term) (*ast.Term, bool) {
		obj, ok := o[0].Value.(ast.Object)
		if !ok {
			return nil, false
		}
		path, ok := o[1].Value.(*ast.Array)
		if !ok {
			if v := obj.Get(o[1]); v != nil {
				return v, true
			}
			return o[2], true
		}
		// A path, walked as topdown's builtin walks it.
		cur := o[0]
		for i := range path.Len() {
			if cur = cur.Get(path.Elem(i)); cur == nil {
				return o[2], true
			}
		}
		return cur, true
	},
	ast.Member.Name: func(o []*ast.Term) (*ast.Term, bool) {
		switch c := o[1].Value.(type) {
		case ast.Set:
			return ast.InternedTerm(c.Contains(o[0])), true
		case *ast.Array:
			return ast.InternedTerm(c.Until(o[0].Equal)), true
		case ast.Object:
			return ast.InternedTerm(c.Until(func(_, v *ast.Term) bool { return o[0].Equal(v) })), true
		}
		return termFalse, true
	},
}

var (
	capsOnce sync.Once
	caps     *ast.Capabilities
)

func capabilities() *ast.Capabilities {
	capsOnce.Do(func() { caps = ast.CapabilitiesForThisVersion() })
	return caps
}

// builtinContext returns the evaluation's topdown.BuiltinContext, built on
// first use as topdown builds it.
func (s *state) builtinContext() *topdown.BuiltinContext {
	if !s.bctxOK {
		now := s.env.Time
		if now.IsZero() {
			now = time.Now()
		}
		// The time term is immutable: a state keeps the last one it made.
		if ns := now.UnixNano(); s.timeTerm == nil || s.timeNS != ns {
			s.timeTerm, s.timeNS = ast.NumberTerm(int64Number(ns)), ns
		}
		s.cancel = ctxCancel{s.ctx}
		if s.cache == nil {
			s.cache = builtins.Cache{}
		}
		seed := s.env.Seed
		if seed == nil {
			seed = rand.Reader
		}
		s.bctx = topdown.BuiltinContext{
			Context:      s.ctx,
			Seed:         seed,
			Time:         s.timeTerm,
			Cancel:       &s.cancel,
			Cache:        s.cache,
			PrintHook:    s.env.PrintHook,
			Capabilities: capabilities(),
		}
		s.bctxOK = true
	}
	return &s.bctx
}

// callBuiltin calls the builtin of in. ok false means the call is
// undefined; v is nil for a builtin without a result.
func (s *state) callBuiltin(in *instr, fr []*ast.Term) (v *ast.Term, ok bool, err error) {
	b := &s.p.builtins[in.n]
	if cap(s.ops) < len(in.args) {
		s.ops = make([]*ast.Term, len(in.args), max(len(in.args), 8))
	}
	ops := s.ops[:len(in.args)]
	for i := range in.args {
		a := &in.args[i]
		if a.c != nil { // a constant: built
			ops[i] = a.c
			continue
		}
		t := fr[a.l]
		if t == nil {
			return nil, false, nil
		}
		ops[i] = built(t)
	}
	if b.fast != nil {
		v, ok := b.fast(ops)
		if v != nil || (!ok && !s.env.StrictBuiltinErrors) {
			return v, ok, nil
		}
		// Handed over, or strict and failing: topdown's builtin runs (and
		// gives its error).
	}
	var gkey globKey
	cacheable := false
	if in.glob != nil {
		p, ok1 := ops[0].Value.(ast.String)
		m, ok2 := ops[2].Value.(ast.String)
		if ok1 && ok2 {
			gkey, cacheable = globKey{string(p), string(m)}, true
			if g := s.globs[in.glob]; g != nil && g.match == gkey.match {
				if v, ok := g.byPattern[gkey.pattern]; ok {
					return ast.InternedTerm(v), true, nil
				}
			}
			if v, ok := in.glob.m.Load(gkey); ok {
				s.keepGlob(in.glob, gkey, v.(bool))
				return ast.InternedTerm(v.(bool)), true, nil
			}
		}
	}
	bctx := s.builtinContext()
	bctx.Location = in.loc
	s.res = nil
	iter := s.onResult
	if b.rel {
		s.outs = s.outs[:0]
		iter = s.onOutput
	}
	if err := safeCall(b, bctx, ops, iter); err != nil {
		if h, ok := err.(topdown.Halt); ok {
			return nil, false, h.Err
		}
		if ctxErr := s.ctx.Err(); ctxErr != nil {
			return nil, false, ctxErr
		}
		if s.env.StrictBuiltinErrors {
			return nil, false, err
		}
		return nil, false, nil // non-strict: the call is undefined
	}
	if b.void {
		return nil, true, nil
	}
	if b.rel {
		return ast.NewTerm(ast.NewArray(slices.Clone(s.outs)...)), true, nil
	}
	if cacheable && s.res != nil {
		if v, ok := s.res.Value.(ast.Boolean); ok && in.glob.n.Add(1) <= globCacheSize {
			in.glob.m.Store(gkey, bool(v))
			s.keepGlob(in.glob, gkey, bool(v))
		}
	}
	return s.res, s.res != nil, nil
}

// objectGetPath runs object.get(x, [e...], d) without making the path's
// array (the statement making it only checked its elements are defined),
// as the fast builtin does; a value that is no object gets the array and
// the builtin's own call, for its error.
func (s *state) objectGetPath(in *instr, fr []*ast.Term) (*ast.Term, bool, error) {
	x, d := get(in.args[0], fr), get(in.args[2], fr)
	if x == nil || d == nil {
		return nil, false, nil
	}
	x = built(x)
	if _, ok := x.Value.(ast.Object); !ok {
		elems := make([]*ast.Term, len(in.pathOf))
		for i, a := range in.pathOf {
			elems[i] = built(get(a, fr))
		}
		fr[in.args[1].l] = s.term(ast.NewArray(elems...))
		return s.callBuiltin(in, fr)
	}
	for _, a := range in.pathOf {
		if x = x.Get(built(get(a, fr))); x == nil {
			return built(d), true, nil
		}
	}
	return x, true, nil
}

// safeCall calls b, turning a panic into an error that aborts evaluation.
func safeCall(b *builtin, bctx *topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = topdown.Halt{Err: fmt.Errorf("vm: builtin %s panicked: %v", b.name, r)}
		}
	}()
	return b.f(*bctx, ops, iter)
}

// globCacheSize bounds the results a glob.match call keeps.
const globCacheSize = 4096

// globCache keeps the results of one glob.match call (its delimiters
// constant) by pattern and string: topdown's answers, cached because
// topdown compiles or looks up the glob under a lock on every call.
type globCache struct {
	m sync.Map // globKey -> bool
	n atomic.Int64
}

type globKey struct{ pattern, match string }

// stateGlobs is a state's own copy of the results of one glob.match call
// for one string (the name a policy matches against its patterns): looking
// up Go maps the state owns costs less than the shared sync.Map.
type stateGlobs struct {
	match     string
	byPattern map[string]bool
}

// keepGlob keeps a glob.match result the shared cache holds in the
// state's copy, which keeps one string per call and up to globCacheSize
// patterns.
func (s *state) keepGlob(c *globCache, k globKey, v bool) {
	if s.globs == nil {
		s.globs = make(map[*globCache]*stateGlobs)
	}
	g := s.globs[c]
	if g == nil {
		if len(s.globs) >= globCacheSize {
			clear(s.globs)
		}
		g = &stateGlobs{}
		s.globs[c] = g
	}
	if g.byPattern == nil || g.match != k.match || len(g.byPattern) >= globCacheSize {
		g.match, g.byPattern = k.match, make(map[string]bool)
	}
	g.byPattern[k.pattern] = v
}

func int64Number(i int64) json.Number { return json.Number(strconv.FormatInt(i, 10)) }
