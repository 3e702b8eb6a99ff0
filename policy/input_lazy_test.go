package policy

import (
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// lazyCases are inputs with every optional member present and absent.
func lazyCases() map[string]*Input {
	return map[string]*Input{"sample": sampleInput(), "denied": deniedInput(), "full": fullInputUnflagged(), "zero": {}}
}

// The lazy document is the document: as a whole, member by member and
// sub-member by sub-member, and absent exactly where Value has nothing.
func TestLazyInputMatchesValue(t *testing.T) {
	for name, in := range lazyCases() {
		want := in.Value(t0).(ast.Object)
		lazy := in.lazy(t0)
		if got := lazy.Object(); got.Compare(want) != 0 {
			t.Errorf("%s: Object() = %v, want %v", name, got, want)
		}
		if lazy.Compare(want) != 0 || lazy.Hash() != want.Hash() || lazy.String() != want.String() {
			t.Errorf("%s: the lazy value does not compare, hash or print as the document", name)
		}
		for _, k := range append(rootNames[:], "nope") {
			checkMember(t, name+"."+k, in.lazy(t0), k, want.Get(ast.StringTerm(k)))
		}
	}
}

// checkMember compares l.Member(k) with want (nil: absent), and, for a
// lazy member, its keys and members in turn, at every depth.
func checkMember(t *testing.T, path string, l *lazyObject, k string, want *ast.Term) {
	t.Helper()
	term, ok := l.Member(k)
	if want == nil {
		if ok {
			t.Errorf("%s = %v, want absent", path, term)
		}
		return
	}
	if !ok || term.Value.Compare(want.Value) != 0 {
		t.Errorf("%s = %v (%v), want %v", path, term, ok, want)
		return
	}
	if again, _ := l.Member(k); again != term {
		t.Errorf("%s: a second read gave another term", path)
	}
	sub, isLazy := term.Value.(*lazyObject)
	if !isLazy {
		return
	}
	obj := want.Value.(ast.Object)
	var keys []string
	for _, key := range obj.Keys() {
		keys = append(keys, string(key.Value.(ast.String)))
	}
	if got := sub.Keys(); !slices.Equal(got, keys) {
		t.Errorf("%s: Keys() = %q, want %q", path, got, keys)
	}
	for _, name := range append(sub.names, "nope") {
		checkMember(t, path+"."+name, sub, name, obj.Get(ast.StringTerm(name)))
	}
}

// Reading one member builds one member: no whole object behind it.
func TestLazyInputBuildsOnlyWhatIsRead(t *testing.T) {
	in := sampleInput()
	l := in.lazy(t0)
	p, _ := l.Member("principal")
	tier, ok := p.Value.(*lazyObject).Member("tier")
	if !ok || tier.Value.Compare(ast.String("free")) != 0 {
		t.Fatalf("tier = %v", tier)
	}
	if l.whole != nil || p.Value.(*lazyObject).whole != nil {
		t.Error("reading a member built a whole object")
	}
	allocs := testing.AllocsPerRun(100, func() {
		l := in.lazy(t0)
		p, _ := l.Member("principal")
		_, _ = p.Value.(*lazyObject).Member("tier")
	})
	if allocs > 4 {
		t.Errorf("input.principal.tier costs %v allocations, want ≤ 4 (the document, two terms, the string)", allocs)
	}
}

// The whole object holds no lazy value, at any depth.
func TestLazyInputObjectIsBuilt(t *testing.T) {
	for name, in := range lazyCases() {
		lazy := in.lazy(t0)
		ast.WalkTerms(lazy.Object(), func(term *ast.Term) bool {
			if _, ok := term.Value.(*lazyObject); ok {
				t.Errorf("%s: Object() holds a lazy value: %v", name, term)
			}
			return false
		})
		p, _ := lazy.Member("principal")
		ast.WalkTerms(p.Value.(*lazyObject).Object(), func(term *ast.Term) bool {
			if _, ok := term.Value.(*lazyObject); ok {
				t.Errorf("%s: principal's Object() holds a lazy value", name)
			}
			return false
		})
	}
}
