// Statements with their own control flow or bookkeeping: Scan, With,
// CallDynamic, conflicts and results.

package vm

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// lookup finds the function a CallDynamic statement names.
func (s *state) lookup(in *instr, fr []*ast.Term) (int32, bool) {
	var b strings.Builder
	for i, o := range in.dynPath {
		t := get(o, fr)
		if t == nil {
			return 0, false
		}
		str, ok := t.Value.(ast.String)
		if !ok {
			return 0, false
		}
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(string(str))
	}
	fi, ok := s.p.dynamic[b.String()]
	if !ok || len(s.p.funcs[fi].params) != len(in.args) {
		return 0, false
	}
	return fi, true
}

// visible returns a result without the bindings rego leaves out.
func (p *Program) visible(obj ast.Object) ast.Object {
	hide := false
	for _, k := range p.hidden {
		if obj.Get(k) != nil {
			hide = true
			break
		}
	}
	if !hide {
		return obj
	}
	out := ast.NewObjectWithCapacity(obj.Len())
	obj.Foreach(func(k, v *ast.Term) {
		if s, ok := k.Value.(ast.String); !ok || !hiddenVar(string(s)) {
			out.Insert(k, v)
		}
	})
	return out
}

// scanCtx is a Scan in progress, for the callbacks of object and set
// iteration (methods bound once per state, so a Scan does not allocate).
type scanCtx struct {
	in  *instr
	fr  []*ast.Term
	out int
	err error
}

// scan runs a Scan statement. Like run it returns -1 to go on with the
// statement after it, or a number of blocks to leave.
func (s *state) scan(in *instr, fr []*ast.Term) (int, error) {
	src := fr[in.a.l]
	if src == nil {
		return -1, nil
	}
	if lz, ok := src.Value.(LazyKeys); ok {
		return s.scanLazy(in, fr, lz)
	}
	switch x := built(src).Value.(type) {
	case *ast.Array:
		for i := 0; i < x.Len(); i++ {
			out, stop, err := s.step(in, fr, ast.InternedTerm(i), x.Elem(i))
			if stop {
				return out, err
			}
		}
	case ast.Object:
		s.pushScan(in, fr)
		x.Until(s.objStep)
		return s.popScan()
	case ast.Set:
		s.pushScan(in, fr)
		x.Until(s.setStep)
		return s.popScan()
	}
	return -1, nil
}

// pushScan opens the context objStep and setStep run a Scan's body in.
func (s *state) pushScan(in *instr, fr []*ast.Term) {
	s.scans = append(s.scans, scanCtx{in: in, fr: fr, out: -1})
}

// popScan closes the innermost scan context and returns its outcome.
func (s *state) popScan() (int, error) {
	sc := s.scans[len(s.scans)-1]
	s.scans[len(s.scans)-1] = scanCtx{}
	s.scans = s.scans[:len(s.scans)-1]
	return sc.out, sc.err
}

// scanLazy scans a LazyKeys object member by member, building each one
// only as far as the Scan's body reads it.
func (s *state) scanLazy(in *instr, fr []*ast.Term, lz LazyKeys) (int, error) {
	for _, k := range lz.Keys() {
		v, ok := lz.Member(k)
		if !ok {
			continue
		}
		if out, stop, err := s.step(in, fr, s.keyTerm(k), v); stop {
			return out, err
		}
	}
	return -1, nil
}

// maxKeyTerms bounds the key terms a state keeps for scans of Lazy
// objects.
const maxKeyTerms = 256

// keyTerm returns a string term of k, a key of a scanned Lazy object. The
// terms are immutable and kept by the (pooled) state, so scanning the same
// keys evaluation after evaluation does not allocate them again.
func (s *state) keyTerm(k string) *ast.Term {
	if t, ok := s.keyTerms[k]; ok {
		return t
	}
	t := ast.StringTerm(k)
	if s.keyTerms == nil {
		s.keyTerms = make(map[string]*ast.Term)
	}
	if len(s.keyTerms) < maxKeyTerms {
		s.keyTerms[k] = t
	}
	return t
}

func (s *state) scanObject(k, v *ast.Term) bool {
	sc := s.scans[len(s.scans)-1]
	out, stop, err := s.step(sc.in, sc.fr, k, v)
	s.scans[len(s.scans)-1].out, s.scans[len(s.scans)-1].err = out, err
	return stop
}

func (s *state) scanSet(e *ast.Term) bool { return s.scanObject(e, e) }

// step runs a Scan's body for one key and value: stop reports the scan is
// over, with out the result of the Scan statement.
func (s *state) step(in *instr, fr []*ast.Term, k, v *ast.Term) (out int, stop bool, err error) {
	if err := s.tick(); err != nil {
		return 0, true, err
	}
	fr[in.dst], fr[in.dst2] = k, v
	r, err := s.run(in.blocks[0], fr)
	switch {
	case err != nil:
		return 0, true, err
	case r == rReturn:
		return r, true, nil
	case r <= 0:
		return -1, false, nil
	case r == 1:
		return -1, true, nil
	}
	return r - 2, true, nil
}

// with runs a With statement: the local replaced (or a path inside it
// upserted) while its block runs, with memoised rules forgotten.
func (s *state) with(in *instr, fr []*ast.Term) (int, error) {
	v := get(in.a, fr)
	if v != nil {
		v = built(v)
	} else if len(in.path) > 0 {
		return 0, nil
	}
	// An undefined value (the plan restoring an undefined input) leaves
	// the local undefined while the block runs.
	saved := fr[in.dst]
	if len(in.path) == 0 {
		fr[in.dst] = v
	} else {
		fr[in.dst] = upsert(saved, in.path, v)
	}
	memo := s.memo
	s.memo = make([]memoEntry, len(s.p.funcs))
	r, err := s.run(in.blocks[0], fr)
	fr[in.dst], s.memo = saved, memo
	switch {
	case err != nil || r == rReturn:
		return r, err
	case r < 0:
		return -1, nil
	case r == 0:
		return 0, nil
	}
	return r - 1, nil
}

func conflict(in *instr) error {
	msg := "rule produced conflicting values"
	if in.fn != nil {
		if in.fn.isFunc {
			msg = "function " + in.fn.name + " produced conflicting values for the same inputs"
		} else {
			msg = "rule " + in.fn.name + " produced conflicting values"
		}
	}
	return &topdown.Error{Code: topdown.ConflictErr, Location: in.loc, Message: msg}
}
