package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// inputUse is the part of the input document a policy can read, found by
// walking its compiled modules and query: a member the policy never names
// can never be observed, so the engine does not build it.
//
// A node with all set stands for the whole member (the policy names it
// without going further, iterates it, or indexes it with a computed key);
// otherwise members lists the sub-members named. A nil *inputUse is a
// member the policy does not read at all. Once built an inputUse is never
// modified, so concurrent evaluations share it.
type inputUse struct {
	all     bool
	members map[string]*inputUse
}

// wholeInput is the use of a policy that reads everything.
var wholeInput = &inputUse{all: true}

// get returns the use of member k: the whole member when u is whole, nil
// when the policy does not read it.
func (u *inputUse) get(k string) *inputUse {
	if u == nil || u.all {
		return u
	}
	return u.members[k]
}

// has reports whether the policy reads member k.
func (u *inputUse) has(k string) bool { return u.get(k) != nil }

// mark records the ref input.<path...>: every constant string segment
// narrows the use; the ref's end, or a segment that is not a constant
// string, takes the whole member there.
func (u *inputUse) mark(path ast.Ref) {
	for _, t := range path {
		if u.all {
			return
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		next := u.members[string(s)]
		if next == nil {
			next = &inputUse{}
			if u.members == nil {
				u.members = map[string]*inputUse{}
			}
			u.members[string(s)] = next
		}
		u = next
	}
	u.all, u.members = true, nil
}

// inputUses returns what the compiled modules and query of a policy read
// of the input document. Refs rooted at input (input.a.b, imports of
// input.a, `with input.a as ...` targets) are recorded by their constant
// prefix; `input` used any other way (as a value, a function argument, a
// `with input as` target) means the whole document.
func inputUses(modules map[string]*ast.Module, query ast.Body) *inputUse {
	root := &inputUse{}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if root.all {
			return true // nothing left to learn
		}
		switch x := x.(type) {
		case ast.Ref:
			if !x.HasPrefix(ast.InputRootRef) {
				return false
			}
			root.mark(x[1:])
			for _, t := range x[1:] {
				vis.Walk(t) // refs inside keys: input.a[input.b]
			}
			return true
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				root.all = true
			}
		}
		return false
	})
	for _, m := range modules {
		vis.Walk(m)
	}
	vis.Walk(query)
	if root.all {
		return wholeInput
	}
	return root
}
