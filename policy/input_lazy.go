package policy

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// lazyObject is an object of the input document whose members are built
// when the evaluator first reads them: a policy that reads
// input.principal.tier costs one string, not the whole document. It
// satisfies the evaluator's vm.Lazy interface (Member, Object); every
// other use of the value builds the whole object once and works on that.
// A lazyObject belongs to one evaluation: Object is not safe for
// concurrent use.
type lazyObject struct {
	src   memberSource // its members, some lazy
	eager memberSource // its members, built; Object's source
	names []string
	keys  []*ast.Term
	whole ast.Object
}

// Member returns member k, built now; false when the object has none.
func (o *lazyObject) Member(k string) (ast.Value, bool) { return o.src.member(k) }

// Object returns the whole object, built on the first call.
func (o *lazyObject) Object() ast.Object {
	if o.whole == nil {
		o.whole = objectTerm(newBuilder(), o.eager, o.names, o.keys, wholeInput).Value.(ast.Object)
	}
	return o.whole
}

func (o *lazyObject) Compare(other ast.Value) int          { return o.Object().Compare(other) }
func (o *lazyObject) Find(path ast.Ref) (ast.Value, error) { return o.Object().Find(path) }
func (o *lazyObject) Hash() int                            { return o.Object().Hash() }
func (o *lazyObject) IsGround() bool                       { return true }
func (o *lazyObject) String() string                       { return o.Object().String() }
func (o *lazyObject) StringLength() int                    { return o.Object().StringLength() }

// lazyInput is the whole input document as a lazyObject, with request,
// principal and model lazy in turn. One allocation holds all four.
type lazyInput struct {
	root                      lazyObject
	eager                     eagerInput
	request, principal, model lazyObject
}

// lazy returns the input document, with `time` taken from now, as a value
// whose members are built when read.
func (in *Input) lazy(now time.Time) *lazyObject {
	l := &lazyInput{eager: eagerInput{in, now}}
	l.root = lazyObject{src: l, eager: &l.eager, names: rootNames[:], keys: rootKeys}
	l.request = lazyObject{src: &in.Request, eager: &in.Request, names: requestNames[:], keys: requestKeys}
	l.principal = lazyObject{src: &in.Principal, eager: &in.Principal, names: principalNames[:], keys: principalKeys}
	l.model = lazyObject{src: &in.Model, eager: &in.Model, names: modelNames[:], keys: modelKeys}
	return &l.root
}

func (l *lazyInput) member(k string) (ast.Value, bool) {
	switch k {
	case "request":
		return &l.request, true
	case "principal":
		return &l.principal, true
	case "model":
		return &l.model, true
	}
	return l.eager.member(k)
}

// eagerInput builds the input document's members whole.
type eagerInput struct {
	in  *Input
	now time.Time
}

func (e *eagerInput) member(k string) (ast.Value, bool) {
	var b builder // no slab: a member or two are built, one term at a time
	if t := e.in.member(&b, e.now, k, wholeInput); t != nil {
		return t.Value, true
	}
	return nil, false
}
