package vm

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// Env is what one evaluation reads besides the plan. The zero Env evaluates
// with input undefined, an empty data document and the current time.
type Env struct {
	// Input is the input document. Default: nil, input is undefined.
	Input ast.Value
	// Data is the data document (base documents). Default: nil, an empty
	// object. Eval never modifies it, and it must not be modified once
	// given to an evaluation: a Program keeps lookups into the data
	// documents it evaluated with, by object (a new document is fine).
	Data ast.Value
	// Time is the time of time.now_ns() and of builtins that read the
	// clock. Default: zero, the time Eval starts.
	Time time.Time
	// PrintHook receives print() output. Default: nil, output is dropped.
	PrintHook print.Hook
	// Seed is the source of randomness of builtins such as rand.intn and
	// uuid.rfc4122. Default: nil, crypto/rand.
	Seed io.Reader
	// StrictBuiltinErrors makes a builtin's error abort the evaluation
	// with that error, as topdown's strict mode does, instead of making
	// its expression undefined. Default: false.
	StrictBuiltinErrors bool
}

// Lazy is an object value whose members are built when first read. The
// VM reads a Lazy's members with Member for lookups (input.a.b), definedness
// and type checks, and calls Object whenever it needs the whole value: as a
// builtin's argument, in a comparison, a Scan, a result or a composite the
// plan builds. Object must return the fully built object (with no Lazy
// inside it); a value Member returns may itself be Lazy. Both methods must
// be safe for concurrent use when one value is evaluated concurrently.
type Lazy interface {
	ast.Value
	Member(key string) (*ast.Term, bool) // a member, built on demand; false when absent
	Object() ast.Object                  // the whole object, built
}

// LazyKeys is a Lazy that can list its members' names without building
// them. A Scan over it reads each member with Member instead of building
// the whole object. Keys must return the names of the members present,
// sorted (bytewise, the order a built object is iterated in).
type LazyKeys interface {
	Lazy
	Keys() []string
}

// rReturn is what running a block returns after a ReturnLocal statement;
// other results: -1, the block ran to its end; n >= 0, leave n more
// enclosing blocks (0: only this one, as an undefined statement does).
const rReturn = 1 << 30

type memoEntry struct {
	val  *ast.Term
	done bool
}

// state is one evaluation's machine: its frame stack, memo table and
// builtin context. States are pooled per Program.
type state struct {
	p       *Program
	ctx     context.Context
	done    <-chan struct{}
	env     *Env
	stack   []*ast.Term
	sp      int
	high    int        // highest sp of this evaluation
	terms   []ast.Term // see term
	depth   int        // nested plan-function calls
	memo    []memoEntry
	results []ast.Object
	ret     *ast.Term
	ticks   uint32

	ops         []*ast.Term
	res         *ast.Term
	onResult    func(*ast.Term) error
	onOutput    func(*ast.Term) error
	outs        []*ast.Term // outputs of a relation
	scans       []scanCtx
	objStep     func(k, v *ast.Term) bool
	setStep     func(e *ast.Term) bool
	bctx        topdown.BuiltinContext
	bctxOK      bool
	cancel      ctxCancel
	cache       builtins.Cache
	timeTerm    *ast.Term
	timeNS      int64
	keyTerms    map[string]*ast.Term       // see keyTerm
	elems       []*ast.Term                // see elemSlice
	pairs       [][2]*ast.Term             // MakeObjectOf's scratch
	resultChunk []ast.Object               // see opResultSetAdd
	globs       map[*globCache]*stateGlobs // see keepGlob
}

// ctxCancel is the topdown.Cancel of an evaluation: its context's.
type ctxCancel struct{ ctx context.Context }

func (c *ctxCancel) Cancel()         {}
func (c *ctxCancel) Cancelled() bool { return c.ctx.Err() != nil }

var _ topdown.Cancel = (*ctxCancel)(nil)

var statePool sync.Pool

func (p *Program) getState() *state {
	s, _ := statePool.Get().(*state)
	if s == nil {
		s = &state{}
		s.onResult = s.setResult
		s.objStep, s.setStep = s.scanObject, s.scanSet
		s.onOutput = func(t *ast.Term) error {
			s.outs = append(s.outs, t)
			return nil
		}
	}
	s.p = p
	if cap(s.memo) < len(p.funcs) {
		s.memo = make([]memoEntry, len(p.funcs))
	}
	s.memo = s.memo[:len(p.funcs)]
	return s
}

func (s *state) release() {
	clear(s.stack[:min(s.high, len(s.stack))])
	clear(s.memo)
	clear(s.ops[:cap(s.ops)])
	clear(s.outs[:cap(s.outs)])
	clear(s.scans[:cap(s.scans)])
	s.outs, s.scans = s.outs[:0], s.scans[:0]
	s.p, s.ctx, s.done, s.env, s.ret, s.res = nil, nil, nil, nil, nil, nil
	s.results, s.sp, s.high, s.ticks, s.depth = nil, 0, 0, 0, 0
	if s.bctxOK {
		s.bctx, s.bctxOK, s.cancel = topdown.BuiltinContext{}, false, ctxCancel{}
		clear(s.cache)
	}
	statePool.Put(s)
}

func (s *state) setResult(t *ast.Term) error {
	s.res = t
	return nil
}

var emptyObject = ast.NewObject()

// emptySet is the value of a set MakeSet makes: never mutated, SetAdd
// replaces it by a new set.
var emptySet = ast.NewSet()

// Eval runs the plan once and returns its result set: one ast.Object per
// result, binding the query's variables (as rego's ResultSet bindings do).
// No result (an undefined query) is an empty slice and no error.
//
// Errors: a complete rule or function producing two different values is a
// *topdown.Error with Code topdown.ConflictErr; a builtin error makes its
// expression undefined, as topdown's non-strict mode does, except a
// topdown.Halt error, which aborts the evaluation with its error; ctx's
// error when it is cancelled. Eval is safe for concurrent use.
func (p *Program) Eval(ctx context.Context, env *Env) ([]ast.Object, error) {
	if env == nil {
		env = &Env{}
	}
	s := p.getState()
	defer s.release()
	s.ctx, s.done, s.env = ctx, ctx.Done(), env
	fr := s.alloc(p.planSize)
	if env.Input != nil {
		fr[0] = s.term(env.Input)
	}
	if env.Data != nil {
		fr[1] = s.term(env.Data)
	} else {
		fr[1] = s.term(emptyObject)
	}
	for _, b := range p.plan {
		if _, err := s.run(b, fr); err != nil {
			return nil, err
		}
	}
	out := s.results
	if out == nil {
		out = []ast.Object{}
	}
	return out, nil
}

// term returns a new term of v, from a chunk of terms allocated at once. A
// chunk is never reused: its terms may outlive the evaluation in results.
func (s *state) term(v ast.Value) *ast.Term {
	if len(s.terms) == 0 {
		s.terms = make([]ast.Term, 16)
	}
	t := &s.terms[0]
	s.terms = s.terms[1:]
	t.Value = v
	return t
}

// elemSlice returns a slice of n elements for an array the plan builds,
// from a chunk allocated at once (never reused, as term's). Its capacity
// is n: appending to the array copies it.
func (s *state) elemSlice(n int) []*ast.Term {
	if n > 16 {
		return make([]*ast.Term, n)
	}
	if len(s.elems) < n {
		s.elems = make([]*ast.Term, 64)
	}
	e := s.elems[:n:n]
	s.elems = s.elems[n:]
	return e
}

// alloc returns a cleared frame of n locals on the stack.
func (s *state) alloc(n int) []*ast.Term {
	if s.sp+n > len(s.stack) {
		// Frames already handed out keep the old array; positions stay.
		s.stack = make([]*ast.Term, max(2*len(s.stack), s.sp+n, 256))
	}
	fr := s.stack[s.sp : s.sp+n : s.sp+n]
	clear(fr)
	s.sp += n
	s.high = max(s.high, s.sp)
	return fr
}

func (s *state) tick() error {
	s.ticks++
	if s.ticks&15 == 0 && s.done != nil {
		select {
		case <-s.done:
			return s.ctx.Err()
		default:
		}
	}
	return nil
}

func get(o operand, fr []*ast.Term) *ast.Term {
	if o.c != nil {
		return o.c
	}
	return fr[o.l]
}

// maxCallDepth bounds nested plan-function calls (Rego has no recursion;
// the bound only guards against a malformed plan).
const maxCallDepth = 10000

// call runs plan function fi with the arguments args of frame fr and
// returns its result, nil when undefined.
func (s *state) call(fi int32, args []operand, fr []*ast.Term) (*ast.Term, error) {
	f := &s.p.funcs[fi]
	if f.memo {
		if m := &s.memo[fi]; m.done {
			return m.val, nil
		}
	}
	if err := s.tick(); err != nil {
		return nil, err
	}
	if s.depth >= maxCallDepth {
		return nil, fmt.Errorf("vm: %s: call stack too deep", f.name)
	}
	s.depth++ // not undone on errors: they end the evaluation
	sp := s.sp
	nf := s.alloc(f.size)
	for i, p := range f.params {
		nf[p] = get(args[i], fr)
	}
	var ret *ast.Term
	returned := false
	for _, b := range f.blocks {
		r, err := s.run(b, nf)
		if err != nil {
			return nil, err
		}
		if r == rReturn {
			ret, returned = s.ret, true
			break
		}
	}
	if !returned {
		ret = nf[f.ret]
	}
	clear(nf)
	s.sp = sp
	s.depth--
	if f.memo {
		s.memo[fi] = memoEntry{val: ret, done: true}
	}
	return ret, nil
}

// run runs block b on frame fr; see rReturn for what it returns.
func (s *state) run(b block, fr []*ast.Term) (int, error) {
	for i := range b {
		in := &b[i]
		switch in.op {
		case opNop:
		case opReturn:
			s.ret = fr[in.a.l]
			return rReturn, nil
		case opCallFunc:
			if m := &s.memo[in.n]; m.done { // only memoised functions are done
				if m.val == nil {
					return 0, nil
				}
				fr[in.dst] = m.val
				continue
			}
			v, err := s.call(in.n, in.args, fr)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			fr[in.dst] = v
		case opCallBuiltin:
			v, ok, err := s.callBuiltin(in, fr)
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, nil
			}
			if v != nil {
				fr[in.dst] = v
			}
		case opCallDynamic:
			fi, ok := s.lookup(in, fr)
			if !ok {
				return 0, nil
			}
			v, err := s.call(fi, in.args, fr)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 3, nil
			}
			fr[in.dst] = v
		case opBlock:
			for _, cb := range in.blocks {
				r, err := s.run(cb, fr)
				if err != nil {
					return 0, err
				}
				if r == rReturn {
					return r, nil
				}
				if r > 0 {
					return r - 1, nil
				}
			}
		case opBreak:
			return int(in.n), nil
		case opWith:
			r, err := s.with(in, fr)
			if err != nil || r == rReturn {
				return r, err
			}
			if r >= 0 {
				return r, nil
			}
		case opAssign:
			fr[in.dst] = get(in.a, fr)
		case opAssignOnce:
			v := get(in.a, fr)
			if cur := fr[in.dst]; cur != nil {
				if v == nil || !equal(cur, v) {
					return 0, conflict(in)
				}
				continue
			}
			fr[in.dst] = v
		case opScan:
			r, err := s.scan(in, fr)
			if err != nil || r == rReturn {
				return r, err
			}
			if r >= 0 {
				return r, nil
			}
		case opNot:
			r, err := s.run(in.blocks[0], fr)
			if err != nil || r == rReturn {
				return r, err
			}
			if r < 0 {
				return 0, nil
			}
			if r > 0 {
				return r - 1, nil
			}
		case opDot:
			src, key := get(in.a, fr), get(in.b, fr)
			if src == nil || key == nil {
				return 0, nil
			}
			var v *ast.Term
			if in.dot != nil {
				v = in.dot.get(src, key)
			} else {
				v = dot(src, key)
			}
			if v == nil {
				return 0, nil
			}
			fr[in.dst] = v
		case opLen:
			src := get(in.a, fr)
			if src == nil {
				return 0, nil
			}
			n, _ := length(src) // 0 for a scalar, as opa_value_length
			fr[in.dst] = ast.InternedTerm(n)
		case opEqual:
			a, b := get(in.a, fr), get(in.b, fr)
			if a == nil || b == nil || !equal(a, b) {
				return 0, nil
			}
		case opNotEqual:
			a, b := get(in.a, fr), get(in.b, fr)
			if a == nil || b == nil || equal(a, b) {
				return 0, nil
			}
		case opMakeArray:
			fr[in.dst] = s.term(ast.NewArrayWithCapacity(int(in.n)))
		case opMakeObject:
			fr[in.dst] = s.term(ast.NewObjectWithCapacity(int(in.n)))
		case opMakeArrayOf:
			elems := s.elemSlice(len(in.args))
			for i, a := range in.args {
				v := get(a, fr)
				if v == nil {
					// As MakeArray then ArrayAppend would leave it.
					fr[in.dst] = s.term(ast.NewArray(elems[:i:i]...))
					return 0, nil
				}
				elems[i] = built(v)
			}
			fr[in.dst] = s.term(ast.NewArray(elems...))
		case opMakeObjectOf:
			pairs := s.pairs[:0]
			for i, a := range in.args {
				v := get(a, fr)
				if v == nil {
					fr[in.dst] = s.term(ast.NewObject(pairs...))
					clear(pairs)
					return 0, nil
				}
				pairs = append(pairs, [2]*ast.Term{in.keys[i], built(v)})
			}
			fr[in.dst] = s.term(ast.NewObject(pairs...))
			clear(pairs)
			s.pairs = pairs
		case opAllDefined:
			for _, a := range in.args {
				if get(a, fr) == nil {
					return 0, nil
				}
			}
		case opObjectGetPath:
			v, ok, err := s.objectGetPath(in, fr)
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, nil
			}
			fr[in.dst] = v
		case opMakeSet:
			// Copied on the first SetAdd: a set the plan builds and leaves
			// empty (a partial set rule without members) costs nothing.
			fr[in.dst] = s.term(emptySet)
		case opIsArray:
			v := get(in.a, fr)
			if v == nil {
				return 0, nil
			}
			if _, ok := v.Value.(*ast.Array); !ok {
				return 0, nil
			}
		case opIsObject:
			v := get(in.a, fr)
			if v == nil || !isObject(v.Value) {
				return 0, nil
			}
		case opIsSet:
			v := get(in.a, fr)
			if v == nil {
				return 0, nil
			}
			if _, ok := v.Value.(ast.Set); !ok {
				return 0, nil
			}
		case opIsUndefined:
			if fr[in.a.l] != nil {
				return 0, nil
			}
		case opIsDefined:
			if fr[in.a.l] == nil {
				return 0, nil
			}
		case opReset:
			fr[in.dst] = nil
		case opArrayAppend:
			t, v := fr[in.dst], get(in.a, fr)
			if t == nil || v == nil {
				return 0, nil
			}
			arr, ok := t.Value.(*ast.Array)
			if !ok {
				return 0, nil
			}
			t.Value = arr.Append(built(v))
		case opObjectInsert, opObjectInsertOnce:
			t, k, v := fr[in.dst], get(in.a, fr), get(in.b, fr)
			if t == nil || k == nil || v == nil {
				return 0, nil
			}
			obj, ok := t.Value.(ast.Object)
			if !ok {
				return 0, nil
			}
			k, v = built(k), built(v)
			if in.op == opObjectInsertOnce {
				if cur := obj.Get(k); cur != nil {
					if !equal(cur, v) {
						return 0, &topdown.Error{Code: topdown.ConflictErr, Location: in.loc, Message: "object keys must be unique"}
					}
					continue
				}
			}
			obj.Insert(k, v)
		case opObjectMerge:
			fr[in.dst] = merge(fr[in.a.l], fr[in.b.l])
		case opSetAdd:
			t, v := fr[in.dst], get(in.a, fr)
			if t == nil || v == nil {
				return 0, nil
			}
			set, ok := t.Value.(ast.Set)
			if !ok {
				return 0, nil
			}
			if set == emptySet {
				set = ast.NewSet()
				t.Value = set
			}
			set.Add(built(v))
		case opResultSetAdd:
			v := fr[in.a.l]
			if v == nil {
				continue
			}
			obj, ok := built(v).Value.(ast.Object)
			if !ok {
				return 0, fmt.Errorf("vm: a result is a %s, not an object", ast.ValueName(v.Value))
			}
			// Like topdown (unlike the Wasm target's result set), equal
			// results are kept: x = [1, 1][_] has two.
			if s.results == nil {
				// The first result's slice from a chunk (never reused):
				// most queries have one.
				if len(s.resultChunk) == 0 {
					s.resultChunk = make([]ast.Object, 16)
				}
				s.results = s.resultChunk[:0:1]
				s.resultChunk = s.resultChunk[1:]
			}
			s.results = append(s.results, s.p.visible(obj))
		default:
			return 0, fmt.Errorf("vm: unknown opcode %d", in.op)
		}
	}
	return -1, nil
}
