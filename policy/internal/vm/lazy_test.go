package vm

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// lazyWrap presents a built object as a Lazy, its members Lazy in turn, to
// run tests through the VM's Lazy paths. Its ast.Value methods are those of
// a nil interface: a Lazy leaking into code that expects a plain value
// panics instead of passing unnoticed.
type lazyWrap struct {
	ast.Value
	obj ast.Object
}

var _ Lazy = lazyWrap{}

func (l lazyWrap) Member(key string) (*ast.Term, bool) {
	v := l.obj.Get(ast.StringTerm(key))
	if v == nil {
		return nil, false
	}
	return ast.NewTerm(lazyOf(v.Value)), true
}

func (l lazyWrap) Object() ast.Object { return l.obj }

// lazyKeysWrap is a lazyWrap whose object's keys are all strings: it
// lists them, so Scans read it member by member.
type lazyKeysWrap struct{ lazyWrap }

var _ LazyKeys = lazyKeysWrap{}

func (l lazyKeysWrap) Keys() []string {
	var keys []string
	for _, k := range l.obj.Keys() {
		keys = append(keys, string(k.Value.(ast.String)))
	}
	return keys
}

// lazyOf returns v with its objects (at any depth reachable through
// objects) presented as Lazy, and as LazyKeys when all their keys are
// strings.
func lazyOf(v ast.Value) ast.Value {
	if v == nil {
		return nil
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return v
	}
	strs := obj.Until(func(k, _ *ast.Term) bool {
		_, isStr := k.Value.(ast.String)
		return !isStr
	}) == false
	if strs {
		return lazyKeysWrap{lazyWrap{obj: obj}}
	}
	return lazyWrap{obj: obj}
}
