package policy

import (
	"slices"
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

// Keys returns the names of the object's members, sorted, as iterating
// the whole object would visit them.
func (o *lazyObject) Keys() []string {
	var keys []string
	for _, k := range o.names {
		if _, ok := o.src.member(k); ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

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

// lazyInput is the whole input document as a lazyObject, with its object
// members lazy in turn. One allocation holds them all.
type lazyInput struct {
	root                      lazyObject
	eager                     eagerInput
	now                       inputTime
	request, principal, model lazyObject
	tokens, cost, time        lazyObject
	budgets                   lazyObject
	budget                    [len(budgetsNames)]lazyObject
}

// lazy returns the input document, with `time` taken from now, as a value
// whose members are built when read.
func (in *Input) lazy(now time.Time) *lazyObject {
	l := &lazyInput{eager: eagerInput{in, now}, now: inputTime(now)}
	l.root = lazyObject{src: l, eager: &l.eager, names: rootNames[:], keys: rootKeys}
	l.request = lazyObject{src: &in.Request, eager: &in.Request, names: requestNames[:], keys: requestKeys}
	l.principal = lazyObject{src: &in.Principal, eager: &in.Principal, names: principalNames[:], keys: principalKeys}
	l.model = lazyObject{src: &in.Model, eager: &in.Model, names: modelNames[:], keys: modelKeys}
	l.tokens = lazyObject{src: &in.Tokens, eager: &in.Tokens, names: tokensNames[:], keys: tokensKeys}
	l.cost = lazyObject{src: &in.Cost, eager: &in.Cost, names: costNames[:], keys: costKeys}
	l.time = lazyObject{src: &l.now, eager: &l.now, names: timeNames[:], keys: timeKeys}
	l.budgets = lazyObject{src: (*lazyBudgets)(l), eager: &in.Budgets, names: budgetsNames[:], keys: budgetsKeys}
	for i, name := range budgetsNames {
		if b := in.Budgets.scope(name); b != nil {
			l.budget[i] = lazyObject{src: b, eager: b, names: budgetNames[:], keys: budgetKeys}
		}
	}
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
	case "tokens":
		return &l.tokens, true
	case "cost":
		return &l.cost, true
	case "budgets":
		return &l.budgets, true
	case "time":
		return &l.time, true
	}
	return l.eager.member(k)
}

// lazyBudgets gives input.budgets' members as lazy objects.
type lazyBudgets lazyInput

func (l *lazyBudgets) member(k string) (ast.Value, bool) {
	for i, name := range budgetsNames {
		if name == k && l.budget[i].src != nil {
			return &l.budget[i], true
		}
	}
	return nil, false
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
