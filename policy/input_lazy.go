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
// A lazyObject belongs to one evaluation: Member and Object memoise what
// they build and are not safe for concurrent use.
type lazyObject struct {
	src   memberSource // its members, some lazy
	eager memberSource // its members, built; Object's source
	names []string
	keys  []*ast.Term
	whole ast.Object
	memo  []*ast.Term // by index in names: the member read, absent, or nil
}

// absent marks a member read and found missing in a lazyObject's memo.
var absent = new(ast.Term)

// Member returns member k, built on the first read and the same term on
// every read after; false when the object has none.
func (o *lazyObject) Member(k string) (*ast.Term, bool) {
	i := slices.Index(o.names, k)
	if i < 0 {
		return nil, false
	}
	if t := o.memo[i]; t != nil {
		return t, t != absent
	}
	t := absent
	if v, ok := o.src.member(k); ok {
		t = ast.NewTerm(v)
	}
	o.memo[i] = t
	return t, t != absent
}

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
// members lazy in turn. One allocation holds them all, and their memos.
type lazyInput struct {
	root                      lazyObject
	eager                     eagerInput
	now                       inputTime
	request, principal, model lazyObject
	tokens, cost, time        lazyObject
	budgets                   lazyObject
	budget                    [len(budgetsNames)]lazyObject
	memo                      [memoSize]*ast.Term
	used                      int // of memo
}

// memoSize is the number of members of all a lazyInput's objects.
const memoSize = len(rootNames) + len(requestNames) + len(principalNames) + len(modelNames) +
	len(tokensNames) + len(costNames) + len(timeNames) + len(budgetsNames) + len(budgetsNames)*len(budgetNames)

// object returns a lazyObject of src with its memo in l.
func (l *lazyInput) object(src, eager memberSource, names []string, keys []*ast.Term) lazyObject {
	memo := l.memo[l.used : l.used+len(names) : l.used+len(names)]
	l.used += len(names)
	return lazyObject{src: src, eager: eager, names: names, keys: keys, memo: memo}
}

// lazy returns the input document, with `time` taken from now, as a value
// whose members are built when read.
func (in *Input) lazy(now time.Time) *lazyObject {
	l := &lazyInput{eager: eagerInput{in, now}, now: inputTime(now)}
	l.root = l.object(l, &l.eager, rootNames[:], rootKeys)
	l.request = l.object(&in.Request, &in.Request, requestNames[:], requestKeys)
	l.principal = l.object(&in.Principal, &in.Principal, principalNames[:], principalKeys)
	l.model = l.object(&in.Model, &in.Model, modelNames[:], modelKeys)
	l.tokens = l.object(&in.Tokens, &in.Tokens, tokensNames[:], tokensKeys)
	l.cost = l.object(&in.Cost, &in.Cost, costNames[:], costKeys)
	l.time = l.object(&l.now, &l.now, timeNames[:], timeKeys)
	l.budgets = l.object((*lazyBudgets)(l), &in.Budgets, budgetsNames[:], budgetsKeys)
	for i, name := range budgetsNames {
		if b := in.Budgets.scope(name); b != nil {
			l.budget[i] = l.object(b, b, budgetNames[:], budgetKeys)
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
