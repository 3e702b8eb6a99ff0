package vm

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// compileModules compiles rego v1 modules, failing the test on errors.
func compileModules(t testing.TB, modules map[string]string) *ast.Compiler {
	t.Helper()
	parsed := map[string]*ast.Module{}
	for name, src := range modules {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = m
	}
	c := ast.NewCompiler().WithEnablePrintStatements(true)
	if c.Compile(parsed); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c
}

// compileQuery compiles query as the engine does (strict off).
func compileQuery(t testing.TB, c *ast.Compiler, query string) ast.Body {
	t.Helper()
	body, err := c.QueryCompiler().WithEnablePrintStatements(true).WithStrict(false).Compile(ast.MustParseBody(query))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// program plans and compiles query against c.
func program(t testing.TB, c *ast.Compiler, query ast.Body) *Program {
	t.Helper()
	pl, err := Plan(context.Background(), c, query)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(pl)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// topdownEval evaluates query with rego (topdown) and returns the result
// bindings as objects, as Eval returns them.
func topdownEval(t testing.TB, c *ast.Compiler, query ast.Body, input, data ast.Value, now time.Time) ([]ast.Object, error) {
	t.Helper()
	doc := map[string]any{}
	if data != nil {
		v, err := ast.JSON(data)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ = v.(map[string]any)
	}
	opts := []func(*rego.Rego){
		rego.Compiler(c), rego.ParsedQuery(query),
		rego.Store(inmem.NewFromObject(doc)), rego.StrictBuiltinErrors(false),
	}
	if !now.IsZero() {
		opts = append(opts, rego.Time(now))
	}
	if input != nil {
		opts = append(opts, rego.ParsedInput(input))
	}
	rs, err := rego.New(opts...).Eval(context.Background())
	if err != nil {
		return nil, err
	}
	out := []ast.Object{}
	for _, r := range rs {
		v, err := ast.InterfaceToValue(map[string]any(r.Bindings))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v.(ast.Object))
	}
	return out, nil
}

// library returns the shipped library's source and data document.
func library(t testing.TB) (string, ast.Value) {
	t.Helper()
	src, err := os.ReadFile("../../library/llmgate.rego")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../library/data.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := util.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	data, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(src), data
}
