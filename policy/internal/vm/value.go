package vm

import (
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// built returns t with a Lazy value replaced by its whole object.
func built(t *ast.Term) *ast.Term {
	switch t.Value.(type) {
	case ast.String, ast.Number, ast.Boolean, ast.Null, *ast.Array:
		return t
	}
	// One assertion to an interface (cached by the runtime) rather than a
	// switch on ast.Object and ast.Set first: neither can be a Lazy.
	if l, ok := t.Value.(Lazy); ok {
		return ast.NewTerm(l.Object())
	}
	return t
}

func isLazy(v ast.Value) bool {
	_, ok := v.(Lazy)
	return ok
}

func isObject(v ast.Value) bool {
	switch v.(type) {
	case ast.Object, Lazy:
		return true
	}
	return false
}

// dot looks key up in src as opa_value_get does: an object's member, an
// array's element at an integer index, a set's element; nil when absent or
// when src is a scalar.
func dot(src, key *ast.Term) *ast.Term {
	switch x := src.Value.(type) {
	case ast.Object:
		return x.Get(built(key))
	case *ast.Array:
		return x.Get(key)
	case ast.Set:
		if k := built(key); x.Contains(k) {
			return k
		}
	case Lazy:
		if k, ok := key.Value.(ast.String); ok {
			if v, ok := x.Member(string(k)); ok {
				return v
			}
			return nil
		}
		return x.Object().Get(built(key))
	}
	return nil
}

// length is the number of elements of a composite or of characters of a
// string, as count() counts them; ok is false for other values.
func length(t *ast.Term) (n int, ok bool) {
	switch x := t.Value.(type) {
	case *ast.Array:
		return x.Len(), true
	case ast.Object:
		return x.Len(), true
	case ast.Set:
		return x.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(x)), true
	case Lazy:
		return x.Object().Len(), true
	}
	return 0, false
}

// equal compares as the IR's Equal does: by value (1 equals 1.0).
func equal(a, b *ast.Term) bool {
	if a == b {
		return true
	}
	switch x := a.Value.(type) {
	case ast.String:
		y, ok := b.Value.(ast.String)
		return ok && x == y
	case ast.Boolean:
		y, ok := b.Value.(ast.Boolean)
		return ok && x == y
	}
	// a is no string or boolean: one only equals its own type (the plan
	// compares many values with false).
	switch b.Value.(type) {
	case ast.String, ast.Boolean:
		return false
	}
	// An object never equals a value of another type: a Lazy need not be
	// built to tell (input.x used as a condition is compared with false).
	if !isObject(a.Value) && isLazy(b.Value) || isLazy(a.Value) && !isObject(b.Value) {
		return false
	}
	return ast.Compare(built(a).Value, built(b).Value) == 0
}

// upsert returns a copy of doc (an empty object when doc is undefined or
// not an object) with val at path, copying the objects along the path and
// replacing what is not an object by one.
func upsert(doc *ast.Term, path []*ast.Term, val *ast.Term) *ast.Term {
	root := copyObject(doc)
	cur := root
	for _, k := range path[:len(path)-1] {
		next := copyObject(cur.Get(k))
		cur.Insert(k, ast.NewTerm(next))
		cur = next
	}
	cur.Insert(path[len(path)-1], val)
	return ast.NewTerm(root)
}

// copyObject returns a shallow copy of t's object, or an empty object when t
// is undefined or not an object.
func copyObject(t *ast.Term) ast.Object {
	if t == nil {
		return ast.NewObject()
	}
	obj, ok := built(t).Value.(ast.Object)
	if !ok {
		return ast.NewObject()
	}
	cpy := ast.NewObjectWithCapacity(obj.Len())
	obj.Foreach(func(k, v *ast.Term) { cpy.Insert(k, v) })
	return cpy
}

// merge merges the base document a with the virtual document b as the
// planner's ObjectMerge expects: objects merge key by key, recursively; where
// either is not an object, a wins; an undefined a gives b.
func merge(a, b *ast.Term) *ast.Term {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	oa, ok1 := built(a).Value.(ast.Object)
	ob, ok2 := built(b).Value.(ast.Object)
	if !ok1 || !ok2 {
		return a
	}
	out := ast.NewObjectWithCapacity(oa.Len() + ob.Len())
	oa.Foreach(func(k, v *ast.Term) {
		if other := ob.Get(k); other != nil {
			out.Insert(k, merge(v, other))
		} else {
			out.Insert(k, v)
		}
	})
	ob.Foreach(func(k, v *ast.Term) {
		if oa.Get(k) == nil {
			out.Insert(k, v)
		}
	})
	return ast.NewTerm(out)
}
