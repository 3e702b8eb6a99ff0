package vm

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// BenchmarkLibrary evaluates the shipped library's decision for a typical
// allowed request (the base input of llmgate_test.rego, free tier) and a
// denied one (a model the tier may not use, over budget), by the VM and, as
// the baseline in the same run, by topdown through a prepared rego query.
// The input is built before the loop.
func BenchmarkLibrary(b *testing.B) {
	d, data := libraryDecider(b)
	inputs := []struct {
		name  string
		input ast.Value
	}{
		{"allowed", union(baseInput)},
		{"denied", union(baseInput, `{"request": {"model": "gpt-4o"}, "model": {"name": "gpt-4o"}, "cost": {"estimate_usd": 9}}`)},
	}
	ctx := context.Background()
	doc, err := ast.JSON(data)
	if err != nil {
		b.Fatal(err)
	}
	pq, err := rego.New(
		rego.Compiler(d.c), rego.ParsedQuery(d.q),
		rego.Store(inmem.NewFromObjectWithOpts(doc.(map[string]any), inmem.OptReturnASTValuesOnRead(true))),
	).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range inputs {
		env := &Env{Input: in.input, Data: data, Time: libraryNow}
		b.Run("vm/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs, err := d.p.Eval(ctx, env)
				if err != nil || len(rs) != 1 {
					b.Fatal(rs, err)
				}
			}
		})
		b.Run("topdown/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs, err := pq.Eval(ctx, rego.EvalParsedInput(in.input), rego.EvalTime(libraryNow))
				if err != nil || len(rs) != 1 {
					b.Fatal(rs, err)
				}
			}
		})
	}
}
