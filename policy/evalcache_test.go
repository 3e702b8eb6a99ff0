package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// TestVirtualCacheMatchesOPA plays one sequence of operations on the
// engine's virtual cache and on OPA's and compares every answer.
func TestVirtualCacheMatchesOPA(t *testing.T) {
	c := getEvalCaches()
	defer c.release()
	mine, theirs := topdown.VirtualCache(&c.virtual), topdown.NewVirtualCache()
	a, ab, b := ast.MustParseRef("data.a"), ast.MustParseRef("data.a.b"), ast.MustParseRef(`data.b["x"]`)
	one, two := ast.IntNumberTerm(1), ast.IntNumberTerm(2)
	ops := []struct {
		put   bool
		ref   ast.Ref
		value *ast.Term
	}{
		{ref: a}, {put: true, ref: ab, value: one}, {ref: a}, {ref: ab},
		{put: true, ref: b}, {ref: b}, {put: true, ref: b, value: two}, {ref: b}, // undefined stays undefined
		{put: true, ref: a, value: two}, {ref: a}, {ref: ab},
		{put: true, ref: ast.MustParseRef("data.c")}, // push below
	}
	check := func(i int, ref ast.Ref) {
		t.Helper()
		v1, u1 := mine.Get(ref)
		v2, u2 := theirs.Get(ref)
		if !v1.Equal(v2) || u1 != u2 {
			t.Fatalf("op %d: Get(%v) = %v, %v; OPA: %v, %v", i, ref, v1, u1, v2, u2)
		}
	}
	for i, op := range ops {
		if op.put {
			// the evaluator reuses its ref slices: the caches must copy keys
			ref := op.ref.Copy()
			mine.Put(ref, op.value)
			theirs.Put(ref, op.value)
			ref[len(ref)-1] = ast.StringTerm("clobbered")
			continue
		}
		check(i, op.ref)
	}
	for _, c := range []topdown.VirtualCache{mine, theirs} {
		c.Push()
		c.Put(a, one)
	}
	check(100, a)
	check(101, ab) // a frame starts empty
	for _, c := range []topdown.VirtualCache{mine, theirs} {
		c.Pop()
	}
	check(102, a)
	check(103, ab)
	if len(mine.Keys()) != len(theirs.Keys()) {
		t.Fatalf("Keys = %v; OPA: %v", mine.Keys(), theirs.Keys())
	}
}

// TestBaseCache checks the engine's base cache: a read under a cached
// document is answered from it, and caching a document drops those under it.
func TestBaseCache(t *testing.T) {
	c := getEvalCaches()
	b := &c.base
	doc := ast.MustParseTerm(`{"tiers": {"free": {"max_tokens": 1024}}}`).Value
	cfg, free := ast.MustParseRef("data.cfg"), ast.MustParseRef("data.cfg.tiers.free")
	b.Put(free, ast.MustParseTerm(`{"max_tokens": 1}`).Value)
	if got := b.Get(ast.MustParseRef("data.cfg.tiers.free.max_tokens")); got == nil || got.Compare(ast.Number("1")) != 0 {
		t.Fatalf("under a cached document: %v", got)
	}
	if got := b.Get(cfg); got != nil {
		t.Fatalf("above a cached document: %v", got)
	}
	b.Put(cfg, doc)
	if len(b.entries) != 1 {
		t.Fatalf("caching data.cfg kept the documents under it: %v", b.entries)
	}
	for ref, want := range map[string]string{
		"data.cfg":                         `{"tiers": {"free": {"max_tokens": 1024}}}`,
		"data.cfg.tiers.free.max_tokens":   `1024`,
		"data.cfg.tiers.pro":               ``,
		"data.cfg.tiers.free.max_tokens.x": ``,
		"data.other":                       ``,
	} {
		got := b.Get(ast.MustParseRef(ref))
		if want == "" {
			if got != nil {
				t.Errorf("Get(%s) = %v, want nil", ref, got)
			}
			continue
		}
		if got == nil || got.Compare(ast.MustParseTerm(want).Value) != 0 {
			t.Errorf("Get(%s) = %v, want %s", ref, got, want)
		}
	}
	c.release()
	c = getEvalCaches() // from the pool, perhaps the same one
	defer c.release()
	if got := c.base.Get(cfg); got != nil {
		t.Fatalf("a pooled cache kept %v", got)
	}
	if v, u := c.virtual.Get(cfg); v != nil || u {
		t.Fatalf("a pooled cache kept %v, %v", v, u)
	}
}

// withPolicy evaluates rules inside `with` frames, before and after the
// same rules outside: a cache that leaked a frame's values would change the
// decision.
const withPolicy = `package llmgate

default free := false

free if input.principal.tier == "free"

tier := data.tiers[input.principal.tier]

as_pro := [free, tier] if true with input.principal.tier as "pro"

decision := {"allow": free, "reasons": [sprintf("%v %v %v", [as_pro, free, object.get(data.tiers, input.principal.tier, 0)])], "status": 403} if {
	as_pro
	tier
}
`

// TestDecideMatchesRego evaluates the shipped library and the examples'
// policies with Engine.Decide and with OPA's rego package (its own caches,
// the whole input as a map) and compares the decisions.
func TestDecideMatchesRego(t *testing.T) {
	inputs := map[string]*Input{"sample": sampleInput(), "denied": deniedInput(), "full": fullInput(), "zero": {}}
	mod := sampleInput()
	mod.Principal.Tier = "batch"
	mod.Request.Stream = true
	mod.Moderation = &Moderation{Flagged: true, Categories: map[string]bool{"pii/email": true, "violence": false, "secret/jwt": true},
		Scores: map[string]float64{"violence": 0.7, "self-harm": 0.3}}
	inputs["batch moderated"] = mod
	ctx := context.Background()
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{
		{"library", Config{}},
		{"examples", Config{Dir: "../examples/policies", PollInterval: -1}},
		{"with", Config{FS: mapFS(map[string]string{"p.rego": withPolicy, "data.json": `{"tiers": {"free": 1, "pro": 2}}`}), PollInterval: -1}},
	} {
		e := newEngine(t, cfg.cfg)
		snap, err := e.src.read()
		if err != nil {
			t.Fatal(err)
		}
		opts := []func(*rego.Rego){rego.Query(DefaultQuery), rego.StrictBuiltinErrors(true)}
		docs := map[string]any{}
		for _, f := range snap.files {
			if f.path[len(f.path)-5:] == ".rego" {
				opts = append(opts, rego.Module(f.path, string(f.data)))
				continue
			}
			var doc any
			if err := util.Unmarshal(f.data, &doc); err != nil {
				t.Fatal(err)
			}
			if err := mergeAt(docs, dataPath(e.src.dir, f.path), doc); err != nil {
				t.Fatal(err)
			}
		}
		pq, err := rego.New(append(opts, rego.Store(inmem.NewFromObject(docs)))...).PrepareForEval(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, in := range inputs {
			t.Run(cfg.name+"/"+name, func(t *testing.T) {
				got, err := e.Decide(ctx, in)
				rs, rerr := pq.Eval(ctx, rego.EvalInput(in.Map(t0)), rego.EvalTime(t0))
				if rerr != nil || len(rs) > 1 {
					t.Fatalf("rego: %v, %v", rs, rerr)
				}
				if len(rs) == 0 || err != nil {
					if len(rs) != 0 || !errors.Is(err, ErrUndefined) {
						t.Fatalf("Decide: %v; rego: %d results", err, len(rs))
					}
					return
				}
				v, err := ast.InterfaceToValue(rs[0].Expressions[0].Value)
				if err != nil {
					t.Fatal(err)
				}
				want, err := decodeDecision(v)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Decide = %+v\nrego   = %+v", got, want)
				}
			})
		}
	}
}

// TestDecideConcurrent runs decisions on several goroutines at once: the
// pooled queries and caches must never mix two evaluations.
func TestDecideConcurrent(t *testing.T) {
	e := newEngine(t, Config{})
	ctx := context.Background()
	ins := []*Input{sampleInput(), deniedInput(), fullInput(), {}}
	want := make([]Decision, len(ins))
	for i, in := range ins {
		want[i], _ = e.Decide(ctx, in)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for n := range 100 {
				i := (g + n) % len(ins)
				if got, _ := e.Decide(ctx, ins[i]); !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Errorf("input %d: %+v, want %+v", i, got, want[i])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
