package vm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"github.com/open-policy-agent/opa/v1/types"
)

// evalPolicy compiles one rego v1 module, plans query and evaluates it by
// the VM with env.
func evalPolicy(t *testing.T, module, query string, env *Env) ([]ast.Object, error) {
	t.Helper()
	c := compileModules(t, map[string]string{"test.rego": module})
	p := program(t, c, compileQuery(t, c, query))
	return p.Eval(context.Background(), env)
}

func TestConflicts(t *testing.T) {
	for _, tc := range []struct{ name, module, want string }{
		{"complete rule", "package t\np := x if { some x in [1, 2] }", "rule data.t.p produced conflicting values"},
		{"function", "package t\nf(_) := 1\nf(_) := 2\np := f(0)", "function data.t.f produced conflicting values for the same inputs"},
		{"object key", "package t\np[k] := v if { some k, v in {\"a\": 1, \"b\": 2}; k = \"a\" }\np[\"a\"] := 3", "object keys must be unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalPolicy(t, tc.module, "x = data.t.p", nil)
			var te *topdown.Error
			if !errors.As(err, &te) || te.Code != topdown.ConflictErr {
				t.Fatalf("want a conflict error, got %v", err)
			}
			if !strings.Contains(te.Message, tc.want) {
				t.Fatalf("want message %q, got %q", tc.want, te.Message)
			}
		})
	}
}

func TestUndefined(t *testing.T) {
	rs, err := evalPolicy(t, "package t\np if input.x == 1", "x = data.t.p", &Env{Input: ast.MustParseTerm(`{"x": 2}`).Value})
	if err != nil || rs == nil || len(rs) != 0 {
		t.Fatalf("want an empty result set, got %v, %v", rs, err)
	}
	// A builtin error (division by zero) makes its expression undefined, as
	// topdown's non-strict mode does; evaluation goes on.
	rs, err = evalPolicy(t, "package t\ndefault p := \"fallback\"\np := x if x := 1 / input.zero", "x = data.t.p", &Env{Input: ast.MustParseTerm(`{"zero": 0}`).Value})
	if err != nil || len(rs) != 1 || rs[0].Get(ast.StringTerm("x")).Value.Compare(ast.String("fallback")) != 0 {
		t.Fatalf("want the default, got %v, %v", rs, err)
	}
}

var registerHalt sync.Once

func TestHalt(t *testing.T) {
	registerHalt.Do(func() {
		ast.RegisterBuiltin(&ast.Builtin{Name: "vmtest.halt", Decl: types.NewFunction(types.Args(types.A), types.B)})
		topdown.RegisterBuiltinFunc("vmtest.halt", func(_ topdown.BuiltinContext, _ []*ast.Term, _ func(*ast.Term) error) error {
			return topdown.Halt{Err: &topdown.Error{Code: "vmtest_halted", Message: "stop"}}
		})
	})
	_, err := evalPolicy(t, "package t\np if vmtest.halt(1)", "x = data.t.p", nil)
	var te *topdown.Error
	if !errors.As(err, &te) || te.Code != "vmtest_halted" {
		t.Fatalf("want the halt error, got %v", err)
	}
}

func TestCancellation(t *testing.T) {
	c := compileModules(t, map[string]string{"t.rego": "package t\np if { some x in input.xs; x < 0 }\nq := count([x | some x in input.xs; f(x)])\nf(x) if x > 0"})
	xs := make([]*ast.Term, 100000)
	for i := range xs {
		xs[i] = ast.IntNumberTerm(i)
	}
	env := &Env{Input: ast.NewObject(ast.Item(ast.StringTerm("xs"), ast.ArrayTerm(xs...)))}
	for _, q := range []string{"x = data.t.p", "x = data.t.q"} {
		p := program(t, c, compileQuery(t, c, q))
		if _, err := p.Eval(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Eval(ctx, env); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: want context.Canceled, got %v", q, err)
		}
	}
}

// lazyObj is a Lazy whose members are built (counted) on first read.
type lazyObj struct {
	ast.Value // the object it stands for; its methods serve what the VM may call
	members   map[string]func() ast.Value
	built     map[string]ast.Value
	reads     *atomic.Int64 // members built
	wholes    *atomic.Int64 // Object calls
	mu        sync.Mutex
}

func newLazy(members map[string]func() ast.Value, reads, wholes *atomic.Int64) *lazyObj {
	return &lazyObj{members: members, built: map[string]ast.Value{}, reads: reads, wholes: wholes}
}

func (l *lazyObj) Member(key string) (*ast.Term, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.built[key]; ok {
		return ast.NewTerm(v), true
	}
	f, ok := l.members[key]
	if !ok {
		return nil, false
	}
	l.reads.Add(1)
	v := f()
	l.built[key] = v
	return ast.NewTerm(v), true
}

func (l *lazyObj) Object() ast.Object {
	l.wholes.Add(1)
	obj := ast.NewObject()
	for k := range l.members {
		t, _ := l.Member(k)
		v := t.Value
		if inner, ok := v.(*lazyObj); ok {
			v = inner.Object()
		}
		obj.Insert(ast.StringTerm(k), ast.NewTerm(v))
	}
	return obj
}

var _ Lazy = (*lazyObj)(nil)

func TestLazyInput(t *testing.T) {
	var reads, wholes atomic.Int64
	mk := func() *lazyObj {
		inner := func() ast.Value {
			return newLazy(map[string]func() ast.Value{
				"b": func() ast.Value { return ast.String("deep") },
				"c": func() ast.Value { return ast.Number("1") },
			}, &reads, &wholes)
		}
		return newLazy(map[string]func() ast.Value{
			"a":     inner,
			"other": func() ast.Value { return ast.String("never read") },
			"list":  func() ast.Value { return ast.NewArray(ast.IntNumberTerm(1), ast.IntNumberTerm(2)) },
		}, &reads, &wholes)
	}
	module := `package t
p := input.a.b
defined if input.a
obj if is_object(input.a)
n := count(input.a)
whole := input
`
	for _, tc := range []struct {
		query         string
		want          string
		reads, wholes int64
	}{
		{"x = data.t.p", `"deep"`, 2, 0},     // a, then a.b
		{"x = data.t.defined", `true`, 1, 0}, // a only
		{"x = data.t.obj", `true`, 3, 1},     // is_object is a builtin: it gets a built (a, a.b, a.c)
		{"x = data.t.n", `2`, 3, 1},          // so does count
		{"x = data.t.whole", `{"a": {"b": "deep", "c": 1}, "list": [1, 2], "other": "never read"}`, 5, 2},
	} {
		t.Run(tc.query, func(t *testing.T) {
			reads.Store(0)
			wholes.Store(0)
			rs, err := evalPolicy(t, module, tc.query, &Env{Input: mk()})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0].Get(ast.StringTerm("x")).Value.Compare(ast.MustParseTerm(tc.want).Value) != 0 {
				t.Fatalf("want %s, got %v", tc.want, rs)
			}
			if reads.Load() != tc.reads || wholes.Load() != tc.wholes {
				t.Fatalf("want %d members built and %d whole objects, got %d and %d", tc.reads, tc.wholes, reads.Load(), wholes.Load())
			}
		})
	}
}

// lazyKeysObj is a lazyObj that lists its members' names.
type lazyKeysObj struct{ *lazyObj }

func (l lazyKeysObj) Keys() []string { return slices.Sorted(maps.Keys(l.members)) }

var _ LazyKeys = lazyKeysObj{}

// A Scan over a LazyKeys object reads its members one by one, in the order
// a built object is iterated in, and builds none of them whole; a Scan
// over a plain Lazy builds it.
func TestLazyScan(t *testing.T) {
	var reads, wholes atomic.Int64
	mk := func(keys bool) ast.Value {
		budget := func(left string) func() ast.Value {
			return func() ast.Value {
				return newLazy(map[string]func() ast.Value{
					"left":   func() ast.Value { return ast.Number(left) },
					"window": func() ast.Value { return ast.String("month") },
				}, &reads, &wholes)
			}
		}
		o := newLazy(map[string]func() ast.Value{"org": budget("5"), "key": budget("0"), "user": budget("2")}, &reads, &wholes)
		if keys {
			return lazyKeysObj{o}
		}
		return o
	}
	module := `package t
scopes := [s | some s, _ in input]
empty contains s if { some s, b in input; b.left == 0 }
`
	for _, tc := range []struct {
		name          string
		keys          bool
		query, want   string
		reads, wholes int64
	}{
		{"keys/order", true, "x = data.t.scopes", `["key", "org", "user"]`, 3, 0},
		{"keys/one member each", true, "x = data.t.empty", `{"key"}`, 6, 0},
		{"no keys/order", false, "x = data.t.scopes", `["key", "org", "user"]`, 9, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads.Store(0)
			wholes.Store(0)
			rs, err := evalPolicy(t, module, tc.query, &Env{Input: mk(tc.keys)})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0].Get(ast.StringTerm("x")).Value.Compare(ast.MustParseTerm(tc.want).Value) != 0 {
				t.Fatalf("want %s, got %v", tc.want, rs)
			}
			if reads.Load() != tc.reads || wholes.Load() != tc.wholes {
				t.Fatalf("want %d members built and %d whole objects, got %d and %d", tc.reads, tc.wholes, reads.Load(), wholes.Load())
			}
		})
	}
}

type hook struct {
	mu    sync.Mutex
	lines []string
}

func (h *hook) Print(_ print.Context, s string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, s)
	return nil
}

func TestPrintHook(t *testing.T) {
	h := &hook{}
	module := "package t\np if { print(\"hello\", input.x); true }"
	rs, err := evalPolicy(t, module, "x = data.t.p", &Env{Input: ast.MustParseTerm(`{"x": 42}`).Value, PrintHook: h})
	if err != nil || len(rs) != 1 {
		t.Fatal(rs, err)
	}
	if len(h.lines) != 1 || h.lines[0] != "hello 42" {
		t.Fatalf("want one line \"hello 42\", got %q", h.lines)
	}
	// No hook: the output is dropped.
	if rs, err := evalPolicy(t, module, "x = data.t.p", &Env{Input: ast.MustParseTerm(`{"x": 42}`).Value}); err != nil || len(rs) != 1 {
		t.Fatal(rs, err)
	}
}

func TestWith(t *testing.T) {
	module := `package t
q := input.x
d := data.cfg.v
p := [q, r, s, q2, d, e] if {
	r := q with input.x as 2
	s := q with input as {"x": 3}
	q2 := q
	e := d with data.cfg.v as "over"
}
`
	c := compileModules(t, map[string]string{"t.rego": module})
	d := &decider{c: c, q: compileQuery(t, c, "x = data.t.p")}
	d.p = program(t, c, d.q)
	rs := d.agree(t, "with", ast.MustParseTerm(`{"x": 1}`).Value, ast.MustParseTerm(`{"cfg": {"v": "base"}}`).Value, time.Time{})
	want := ast.MustParseTerm(`[1, 2, 3, 1, "base", "over"]`).Value
	if len(rs) != 1 || rs[0].Get(ast.StringTerm("x")).Value.Compare(want) != 0 {
		t.Fatalf("want %v, got %v", want, rs)
	}
}

// TestConcurrent evaluates one Program from many goroutines (run with
// -race): each decision must equal the one evaluated alone.
func TestConcurrent(t *testing.T) {
	d, data := libraryDecider(t)
	type job struct {
		input ast.Value
		data  ast.Value
		want  []ast.Object
	}
	var jobs []job
	for _, tc := range libraryCases {
		in, dt := union(baseInput, tc.input), union(jsonOf(data), tc.data)
		want, err := d.p.Eval(context.Background(), &Env{Input: in, Data: dt, Time: libraryNow})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{in, dt, want})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				j := jobs[(g+i)%len(jobs)]
				got, err := d.p.Eval(context.Background(), &Env{Input: j.input, Data: j.data, Time: libraryNow})
				if err != nil || !sameResults(got, j.want) {
					errs <- fmt.Errorf("goroutine %d: got %v, %v; want %v", g, got, err, j.want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestResultsLikeTopdown: a query with several results gives them all, equal
// ones included, as topdown does.
func TestResultsLikeTopdown(t *testing.T) {
	c := compileModules(t, map[string]string{"t.rego": "package t\narr := [1, 1, 2]\ns := {\"a\", \"b\"}"})
	for _, q := range []string{"x = data.t.arr[_]", "x = data.t.arr[i]", "data.t.s[x]", "x = data.t.nothing"} {
		d := &decider{c: c, q: compileQuery(t, c, q)}
		d.p = program(t, c, d.q)
		d.agree(t, q, nil, nil, time.Time{})
	}
}

func TestUnsupported(t *testing.T) {
	c := compileModules(t, map[string]string{"t.rego": "package t\np := 1"})
	pl, err := Plan(context.Background(), c, compileQuery(t, c, "x = data.t.p"))
	if err != nil {
		t.Fatal(err)
	}
	pl.Static.BuiltinFuncs = nil
	pl.Plans.Plans = append(pl.Plans.Plans, pl.Plans.Plans[0])
	if _, err := Compile(pl); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("two plans: want ErrUnsupported, got %v", err)
	}
	if _, err := Compile(nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("nil: want ErrUnsupported, got %v", err)
	}
}
