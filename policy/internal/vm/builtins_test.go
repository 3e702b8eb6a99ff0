package vm

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// fastValues mixes every type, numbers of every kind and size, and
// composites that compare in interesting ways.
var fastValues = []string{
	`null`, `true`, `false`,
	`0`, `1`, `1.0`, `-1`, `0.1`, `1e3`, `1000`, `-0`, `3.14159`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775809`,
	`123456789012345678901234567890`, `1e400`, `0.000001`, `1e-7`,
	`""`, `"a"`, `"b"`, `"ab"`, `"é"`, `"日本語"`, `"\u0000"`, `"1"`,
	`[]`, `[1]`, `[1, 2]`, `[1.0, 2]`, `[[1]]`, `["a", null]`,
	`{}`, `{"a": 1}`, `{"a": 1.0}`, `{"a": 1, "b": 2}`, `{"b": 1}`, `{1: "a"}`,
	`set()`, `{1}`, `{1, 2}`, `{"a"}`, `{[1]}`,
}

// TestFastBuiltins: each native fast path gives topdown's answer (or is
// undefined exactly where topdown's builtin fails) on every value and pair
// of values.
func TestFastBuiltins(t *testing.T) {
	var vals []*ast.Term
	for _, v := range fastValues {
		vals = append(vals, ast.MustParseTerm(v))
	}
	for name, fast := range fastBuiltins {
		decl := ast.BuiltinMap[name]
		slow := topdown.GetBuiltin(name)
		n := len(decl.Decl.FuncArgs().Args)
		var calls [][]*ast.Term
		for _, a := range vals {
			if n == 1 {
				calls = append(calls, []*ast.Term{a})
				continue
			}
			for _, b := range vals {
				if n == 3 { // object.get: a default, and paths
					calls = append(calls, []*ast.Term{a, b, ast.StringTerm("default")},
						[]*ast.Term{a, ast.ArrayTerm(b), ast.StringTerm("default")})
					continue
				}
				calls = append(calls, []*ast.Term{a, b})
			}
		}
		for _, ops := range calls {
			var want *ast.Term
			err := slow(topdown.BuiltinContext{}, ops, func(t *ast.Term) error { want = t; return nil })
			got, ok := fast(ops)
			if got == nil && ok { // handed to topdown's builtin
				continue
			}
			switch {
			case err != nil && ok:
				t.Errorf("%s%v: topdown fails (%v), fast path gives %v", name, ops, err, got)
			case err == nil && !ok:
				t.Errorf("%s%v: topdown gives %v, fast path is undefined", name, ops, want)
			case err == nil && !got.Equal(want):
				t.Errorf("%s%v: topdown gives %v, fast path %v", name, ops, want, got)
			}
		}
	}
}
