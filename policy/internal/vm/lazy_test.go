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

func (l lazyWrap) Member(key string) (ast.Value, bool) {
	v := l.obj.Get(ast.StringTerm(key))
	if v == nil {
		return nil, false
	}
	return lazyOf(v.Value), true
}

func (l lazyWrap) Object() ast.Object { return l.obj }

// lazyOf returns v with its objects (at any depth reachable through
// objects) presented as Lazy.
func lazyOf(v ast.Value) ast.Value {
	if v == nil {
		return nil
	}
	if obj, ok := v.(ast.Object); ok {
		return lazyWrap{obj: obj}
	}
	return v
}
