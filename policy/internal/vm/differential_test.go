package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// decider evaluates one policy's decision by the VM and by topdown.
type decider struct {
	c *ast.Compiler
	q ast.Body
	p *Program
}

func newDecider(t testing.TB, modules map[string]string) *decider {
	t.Helper()
	c := compileModules(t, modules)
	q := compileQuery(t, c, "__llmgate_decision__ = data.llmgate.decision")
	return &decider{c: c, q: q, p: program(t, c, q)}
}

func libraryDecider(t testing.TB) (*decider, ast.Value) {
	t.Helper()
	src, data := library(t)
	return newDecider(t, map[string]string{"llmgate.rego": src}), data
}

// agree fails the test unless the VM and topdown give the same results, or
// errors with the same code, for input and data at now.
func (d *decider) agree(t testing.TB, name string, input, data ast.Value, now time.Time) []ast.Object {
	t.Helper()
	got, gotErr := d.p.Eval(context.Background(), &Env{Input: input, Data: data, Time: now})
	want, wantErr := topdownEval(t, d.c, d.q, input, data, now)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: vm error %v, topdown error %v\ninput: %v\ndata: %v", name, gotErr, wantErr, input, data)
	}
	if gotErr != nil {
		if code(gotErr) != code(wantErr) {
			t.Fatalf("%s: vm error %v, topdown error %v", name, gotErr, wantErr)
		}
		return nil
	}
	if !sameResults(got, want) {
		t.Fatalf("%s: vm %v\ntopdown %v\ninput: %v\ndata: %v", name, got, want, input, data)
	}
	if input == nil {
		return got
	}
	lazy, err := d.p.Eval(context.Background(), &Env{Input: lazyOf(input), Data: data, Time: now})
	if err != nil || !sameResults(lazy, want) {
		t.Fatalf("%s: with a Lazy input: vm %v, %v\ntopdown %v", name, lazy, err, want)
	}
	return got
}

func code(err error) string {
	if te, ok := err.(*topdown.Error); ok {
		return te.Code
	}
	return "other"
}

func sameResults(a, b []ast.Object) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := ast.NewSet(), ast.NewSet()
	for i := range a {
		sa.Add(ast.NewTerm(a[i]))
		sb.Add(ast.NewTerm(b[i]))
	}
	return sa.Compare(sb) == 0
}

// union merges JSON documents as object.union does: objects key by key,
// recursively; otherwise the later document wins.
func union(docs ...string) ast.Value {
	var out any
	for _, d := range docs {
		var v any
		if err := util.UnmarshalJSON([]byte(d), &v); err != nil {
			panic(fmt.Sprintf("%v: %s", err, d))
		}
		out = unionAny(out, v)
	}
	return ast.MustInterfaceToValue(out)
}

func unionAny(a, b any) any {
	ma, ok1 := a.(map[string]any)
	mb, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return b
	}
	out := map[string]any{}
	for k, v := range ma {
		out[k] = v
	}
	for k, v := range mb {
		out[k] = unionAny(out[k], v)
	}
	return out
}

func jsonOf(v ast.Value) string {
	j, err := ast.JSON(v)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(j)
	return string(b)
}

// baseInput is the base input of policy/library/llmgate_test.rego: a
// free-tier chat request for gpt-4o-mini with budget left.
const baseInput = `{
	"request": {"id": "r1", "endpoint": "/v1/chat/completions", "model": "gpt-4o-mini", "stream": false, "n": 1, "max_tokens": 256, "messages": 2, "tools": []},
	"principal": {"key_id": "k1", "user": "alice", "org": "acme", "tier": "free"},
	"model": {"name": "gpt-4o-mini", "known": true, "encoding": "o200k_base", "deprecated": false},
	"tokens": {"prompt": 1200, "max_completion": 256},
	"cost": {"estimate_usd": 0.001},
	"budgets": {"key": {"window": "month", "spent_usd": 2, "budget_usd": 10, "remaining_usd": 8}},
	"time": {"rfc3339": "2025-06-02T10:00:00Z", "unix_ns": 1748858400000000000}
}`

var libraryNow = time.Unix(0, 1748858400000000000)

// libraryCases re-create the tests of policy/library/llmgate_test.rego:
// input and data overrides.
var libraryCases = []struct {
	name        string
	input, data string
}{
	{"free tier allowed model", `{}`, `{}`},
	{"free tier glob", `{"request": {"model": "llmtest-small"}, "model": {"name": "llmtest-small"}}`, `{}`},
	{"free tier model not allowed", `{"request": {"model": "gpt-4o"}, "model": {"name": "gpt-4o"}}`, `{}`},
	{"glob does not cross slash", `{"request": {"model": "llmtest-a/b"}, "model": {"name": "llmtest-a/b"}}`, `{}`},
	{"enterprise any model", `{"request": {"model": "o3-pro"}, "model": {"name": "o3-pro"}, "principal": {"tier": "enterprise"}}`, `{}`},
	{"unknown tier", `{"principal": {"tier": "gold"}}`, `{}`},
	{"tools denied on free", `{"request": {"tools": ["get_weather"]}}`, `{}`},
	{"tools allowed on pro", `{"principal": {"tier": "pro"}, "request": {"tools": ["get_weather"]}}`, `{}`},
	{"budget exhausted", `{"cost": {"estimate_usd": 9}}`, `{}`},
	{"budget zero remaining without estimate", `{"cost": {}, "budgets": {"key": {"remaining_usd": 0}}}`, `{}`},
	{"model denial outranks budget", `{"request": {"model": "gpt-4o"}, "model": {"name": "gpt-4o"}, "cost": {"estimate_usd": 9}}`, `{}`},
	{"deprecated allowed by default", `{"model": {"deprecated": true}}`, `{}`},
	{"deprecated denied when configured", `{"model": {"deprecated": true}}`, `{"llmgate_config": {"deny_deprecated": true}}`},
	{"moderation flagged blocks", `{"moderation": {"flagged": true, "categories": {"harassment": true, "hate": false}, "scores": {"harassment": 0.9}}}`, `{}`},
	{"moderation threshold", `{"moderation": {"flagged": false, "categories": {"violence": false}, "scores": {"violence": 0.4}}}`, `{"llmgate_config": {"moderation": {"thresholds": {"violence": 0.3}}}}`},
	{"moderation under threshold", `{"moderation": {"flagged": false, "categories": {"violence": false}, "scores": {"violence": 0.4}}}`, `{}`},
	{"pii redacted not blocked", `{"moderation": {"flagged": true, "categories": {"pii/email": true, "pii/phone": false}, "scores": {}}}`, `{}`},
	{"ignored category", `{"moderation": {"flagged": true, "categories": {"sexual": true}, "scores": {}}}`, `{"llmgate_config": {"moderation": {"ignore": ["sexual"]}}}`},
	{"hours inside", `{}`, `{"llmgate_config": {"tiers": {"free": {"hours": {"from": 9, "to": 17, "tz": "Europe/Paris"}}}}}`},
	{"hours outside", `{"time": {"unix_ns": 1748890800000000000}}`, `{"llmgate_config": {"tiers": {"free": {"hours": {"from": 9, "to": 17, "tz": "Europe/Paris"}}}}}`},
	{"hours wrap midnight", `{"time": {"unix_ns": 1748890800000000000}}`, `{"llmgate_config": {"tiers": {"free": {"hours": {"from": 18, "to": 6}}}}}`},
	{"hours wrap midnight outside", `{}`, `{"llmgate_config": {"tiers": {"free": {"hours": {"from": 18, "to": 6}}}}}`},
	{"rewrite limits cache", `{"request": {"model": "gpt-4o"}, "model": {"name": "gpt-4o"}}`, `{"llmgate_config": {"tiers": {"free": {"models": ["*"], "rewrite": {"gpt-4o": "gpt-4o-mini"}, "limits": {"key": {"rpm": 5}}, "cache": "force"}}}}`},
}

// TestLibraryAgrees: the library's decision by the VM and by topdown agree
// on the inputs of the library's own Rego tests.
func TestLibraryAgrees(t *testing.T) {
	d, data := libraryDecider(t)
	for _, tc := range libraryCases {
		t.Run(tc.name, func(t *testing.T) {
			input := union(baseInput, tc.input)
			if tc.name == "budget zero remaining without estimate" {
				input = union(baseInput)
				input.(ast.Object).Get(ast.StringTerm("cost")).Value = ast.NewObject()
				input = union(jsonOf(input), tc.input)
			}
			res := d.agree(t, tc.name, input, union(jsonOf(data), tc.data), libraryNow)
			if len(res) != 1 {
				t.Fatalf("want one decision, got %v", res)
			}
		})
	}
}

// TestExamplesAgree runs examples/policies (acme's rules on the library)
// through both evaluators.
func TestExamplesAgree(t *testing.T) {
	dir := "../../../examples/policies/"
	modules := map[string]string{}
	for _, f := range []string{"acme.rego", "llmgate.rego"} {
		b, err := os.ReadFile(dir + f)
		if err != nil {
			t.Fatal(err)
		}
		modules[f] = string(b)
	}
	raw, err := os.ReadFile(dir + "data.json")
	if err != nil {
		t.Fatal(err)
	}
	d := newDecider(t, modules)

	inputs := []string{
		`{}`,
		`{"principal": {"tier": "pro"}, "request": {"model": "gpt-4o-2024-05-13"}, "model": {"name": "gpt-4o-2024-05-13"}}`,
		`{"principal": {"tier": "batch"}, "request": {"stream": true}}`,
		`{"principal": {"labels": {"suspended": "true"}}}`,
		`{"request": {"n": 3, "has_images": true}}`,
		`{"model": {"context_window": 1000}}`,
		`{"model": {"context_window": 100000}}`,
		`{"principal": {"tier": "nope"}, "request": {"n": 2}}`,
	}
	for _, in := range inputs {
		for _, extra := range libraryCases {
			d.agree(t, in+" "+extra.name, union(baseInput, extra.input, in), union(string(raw), extra.data), libraryNow)
		}
	}
}

// TestCompositesAgree: arrays, objects and sets the plan builds (made at
// once by the fused statements, sets copied on their first member) agree
// with topdown, members undefined, duplicated or repeated included. (Sets
// are sorted into arrays: topdown's results give sets as arrays.)
func TestCompositesAgree(t *testing.T) {
	d := newDecider(t, map[string]string{"c.rego": `package llmgate

arr := [input.a, input.b, 1]
obj := {"x": input.a, "y": input.b, "z": 2}
dup := {"x": input.a, "x": input.a}
nested := {"o": {"p": [input.a, {"q": input.b}]}, "e": [], "s": [input.a]}
path := object.get(obj, ["x"], "none")
deep := object.get(nested, ["o", "p", 1, "q"], "none")
nopath := object.get(nested, ["o", "missing", "q"], "none")
root := object.get(nested, [], "none")
default notobj := "undefined"
notobj := object.get(input.a, ["x", input.b], "none")
frominput := object.get(input, ["b", "c"], input)
empty1 contains x if { some x in input.xs; x > 10 }
empty2 contains x if { some x in input.xs; x > 20 }
some_set contains x if { some x in input.xs }
comp := [y | some x in input.xs; y := {"v": x, "w": [x, input.a]}]
count_empty := count(empty1) + count(empty2)

decision := {
	"arr": arr, "obj": obj, "dup": dup, "nested": nested, "path": path, "deep": deep,
	"nopath": nopath, "root": root, "empty1": sort(empty1), "empty2": sort(empty2),
	"some_set": sort(some_set), "has_set": {input.a} == {input.a, input.a}, "comp": comp, "count_empty": count_empty,
	"same": empty1 == empty2, "notobj": notobj, "frominput": frominput,
}
`})
	for _, in := range []string{
		`{}`,
		`{"a": 1}`,
		`{"a": 1, "b": "two"}`,
		`{"a": [1], "b": {"c": null}, "xs": [1, 2, 3]}`,
		`{"a": 1, "b": 2, "xs": [5, 15, 25]}`,
		`{"a": {"x": {"y": 1}}, "b": "y", "xs": []}`,
		`{"a": {"x": [7, 8]}, "b": 1}`,
	} {
		d.agree(t, in, union(in), nil, libraryNow)
	}
}

// TestDotCacheAgrees: lookups into data with constant keys (cached per
// Dot statement by source object) agree with topdown when one Program
// evaluates with many data documents and tiers, more than a cache keeps,
// one after another and again; and a local a loop reassigns from input
// is not taken for data.
func TestDotCacheAgrees(t *testing.T) {
	d := newDecider(t, map[string]string{"c.rego": `package llmgate

tier := data.cfg.tiers[input.t]

names contains n if {
	some m in tier.models
	n := concat("/", [m, tier.name, data.cfg.name])
}

loop contains v if {
	some i, x in input.xs
	y := data.cfg
	z := y.name
	y2 := x
	v := [z, object.get(y2, "name", "none")]
}

decision := {"names": sort(names), "max": object.get(tier, "max", 0), "loop": sort(loop), "n": data.cfg.name}
`})
	docs := []ast.Value{}
	for i := range 6 {
		docs = append(docs, union(fmt.Sprintf(`{"cfg": {"name": "cfg%d", "tiers": {
			"a": {"name": "a%d", "models": ["m%d", "x"], "max": %d},
			"b": {"name": "b%d", "models": ["n%d"]}}}}`, i, i, i, i, i, i)))
	}
	for round := range 2 {
		for i, data := range docs {
			for _, tier := range []string{"a", "b", "c"} {
				in := union(fmt.Sprintf(`{"t": %q, "xs": [{"name": "x%d"}, {"other": 1}, 3]}`, tier, round))
				d.agree(t, fmt.Sprintf("round %d doc %d tier %s", round, i, tier), in, data, libraryNow)
			}
		}
	}
}
