package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/test/cases"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// complianceExceptions are cases of OPA's compliance suite whose expected
// result the planner (not the VM) cannot produce, with the reason. Each
// must fail without its entry: the test reports entries that pass.
var complianceExceptions = map[string]string{
	// data[2] on a data document with key "2": topdown turns the number into
	// a storage path segment; the plan looks the number up in the object.
	// OPA's Wasm runner lists both (exceptions.yaml, OPA issue 3711).
	"data/toplevel integer": "the plan looks up a number key where topdown reads the data path \"2\"",
	"data/nested integer":   "the plan looks up a number key where topdown reads the data path \"2\"",
}

// opaDir is the module directory of OPA, where its compliance suite lives.
func opaDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/open-policy-agent/opa").Output()
	if err != nil {
		t.Fatalf("finding OPA's module directory: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go list printed no directory for OPA's module")
	}
	return dir
}

// TestCompliance runs OPA's compliance suite through Plan, Compile and
// Eval, comparing results as OPA's own Wasm end-to-end runner does. Cases
// the planner cannot plan or the VM does not support are counted and
// skipped; any other difference fails.
func TestCompliance(t *testing.T) {
	root := filepath.Join(opaDir(t), "v1", "test", "cases", "testdata")
	var passed, unsupported, plannerFailed, compileFailed, excepted int
	reasons := map[string]int{}
	for _, version := range []struct {
		dir string
		v   ast.RegoVersion
	}{{"v0", ast.RegoV0}, {"v1", ast.RegoV1}} {
		set, err := cases.Load(filepath.Join(root, version.dir))
		if err != nil {
			t.Fatalf("loading the compliance suite: %v", err)
		}
		for _, tc := range set.Sorted().Cases {
			name := version.dir + "/" + tc.Note
			outcome := runCase(t, name, tc, version.v)
			switch {
			case outcome == "pass":
				if _, ok := complianceExceptions[tc.Note]; ok {
					t.Errorf("%s: passes but is listed as an exception", name)
				}
				passed++
			case outcome == "compile":
				compileFailed++
			case outcome == "plan":
				plannerFailed++
			case strings.HasPrefix(outcome, "unsupported"):
				unsupported++
				reasons[outcome]++
			case outcome == "excepted":
				excepted++
			}
		}
	}
	var rs []string
	for r, n := range reasons {
		rs = append(rs, fmt.Sprintf("%4d %s", n, r))
	}
	sort.Strings(rs)
	t.Logf("compliance: %d passed, %d unsupported by the VM, %d not plannable, %d not compilable, %d excepted\n%s",
		passed, unsupported, plannerFailed, compileFailed, excepted, strings.Join(rs, "\n"))
}

// runCase runs one case and returns its outcome: "pass", "compile" (the
// modules or query do not compile), "plan" (the planner fails),
// "unsupported: reason", "excepted", or "fail" after reporting the failure.
func runCase(t *testing.T, name string, tc cases.TestCase, v ast.RegoVersion) string {
	t.Helper()
	for k, val := range tc.Env {
		t.Setenv(k, val)
	}
	caps := ast.CapabilitiesForThisVersion(ast.CapabilitiesExperimentalKeywords(tc.ExperimentalKeywords))
	popts := ast.ParserOptions{RegoVersion: v, Capabilities: caps}
	modules := map[string]*ast.Module{}
	for i, src := range tc.Modules {
		m, err := ast.ParseModuleWithOpts(fmt.Sprintf("test-%d.rego", i), src, popts)
		if err != nil {
			return "compile"
		}
		modules[fmt.Sprintf("test-%d.rego", i)] = m
	}
	c := ast.NewCompiler().WithCapabilities(caps).WithDefaultRegoVersion(v)
	if c.Compile(modules); c.Failed() {
		return "compile"
	}
	query, err := ast.ParseBodyWithOpts(tc.Query, popts)
	if err != nil {
		return "compile"
	}
	ctx := context.Background()
	pl, err := Plan(ctx, c, query)
	if err != nil {
		if strings.Contains(err.Error(), "rego_") && (tc.WantErrorCode != nil || tc.WantError != nil) {
			return "compile" // the query does not compile, as the case expects
		}
		return "plan"
	}
	p, err := Compile(pl)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			msg := err.Error()
			if i := strings.Index(msg, "unsupported: "); i >= 0 {
				msg = msg[i+len("unsupported: "):]
			}
			if i := strings.Index(msg, " called with"); i >= 0 {
				msg = msg[:i]
			}
			return "unsupported: " + msg
		}
		t.Errorf("%s: Compile: %v", name, err)
		return "fail"
	}
	env := &Env{Time: time.Now()}
	if tc.InputTerm != nil {
		env.Input = ast.MustParseTerm(*tc.InputTerm).Value
	} else if tc.Input != nil {
		env.Input = ast.MustInterfaceToValue(*tc.Input)
	}
	if tc.Data != nil {
		env.Data = ast.MustInterfaceToValue(*tc.Data)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rs, err := p.Eval(ctx, env)
	msg := checkCase(tc, rs, err)
	if msg == "" && tc.StrictError {
		// Again in strict mode: the builtin's error aborts the evaluation.
		strict := *env
		strict.StrictBuiltinErrors = true
		rs, err := p.Eval(ctx, &strict)
		if tc.WantErrorCode != nil || tc.WantError != nil {
			msg = checkStrictError(tc, err)
		} else {
			msg = checkCase(tc, rs, err)
		}
		if msg != "" {
			msg = "strict: " + msg
		}
	}
	if msg == "" && (env.Input != nil || env.Data != nil) {
		// Again with the input and data as Lazy objects.
		env.Input, env.Data = lazyOf(env.Input), lazyOf(env.Data)
		rs, err = p.Eval(ctx, env)
		if msg = checkCase(tc, rs, err); msg != "" {
			msg = "with a Lazy input: " + msg
		}
	}
	if msg != "" {
		if reason, ok := complianceExceptions[tc.Note]; ok {
			t.Logf("%s: excepted (%s): %s", name, reason, msg)
			return "excepted"
		}
		t.Errorf("%s: %s\nquery: %s\nmodules:\n%s", name, msg, tc.Query, strings.Join(tc.Modules, "\n---\n"))
		return "fail"
	}
	return "pass"
}

// checkCase compares a result with what the case wants, as OPA's Wasm
// end-to-end runner does; it returns "" when they agree.
func checkCase(tc cases.TestCase, rs []ast.Object, err error) string {
	switch {
	case tc.WantDefined != nil:
		if err != nil {
			return fmt.Sprintf("unexpected error: %v", err)
		}
		if (len(rs) > 0) != *tc.WantDefined {
			return fmt.Sprintf("want defined %v, got %v", *tc.WantDefined, rs)
		}
	case tc.WantResult != nil:
		if err != nil {
			return fmt.Sprintf("unexpected error: %v", err)
		}
		return compareResults(*tc.WantResult, tc.SortBindings, rs)
	case tc.WantErrorCode != nil || tc.WantError != nil:
		if tc.StrictError {
			// Non-strict evaluation: the builtin error makes its expression
			// undefined.
			if err != nil {
				return fmt.Sprintf("unexpected error: %v", err)
			}
			return compareResults(nil, false, rs)
		}
		if err == nil {
			return fmt.Sprintf("want error %v %v, got result %v", str(tc.WantErrorCode), str(tc.WantError), rs)
		}
		var te *topdown.Error
		if tc.WantErrorCode != nil {
			if !errors.As(err, &te) || te.Code != *tc.WantErrorCode {
				return fmt.Sprintf("want error code %s, got %v", *tc.WantErrorCode, err)
			}
		}
	default:
		if err != nil {
			return fmt.Sprintf("unexpected error: %v", err)
		}
	}
	return ""
}

// checkStrictError checks the error of a strict evaluation against what
// the case wants; it returns "" when they agree.
func checkStrictError(tc cases.TestCase, err error) string {
	if err == nil {
		return fmt.Sprintf("want error %v %v, got none", str(tc.WantErrorCode), str(tc.WantError))
	}
	var te *topdown.Error
	if tc.WantErrorCode != nil && (!errors.As(err, &te) || te.Code != *tc.WantErrorCode) {
		return fmt.Sprintf("want error code %s, got %v", *tc.WantErrorCode, err)
	}
	if tc.WantError != nil && !strings.Contains(err.Error(), *tc.WantError) {
		return fmt.Sprintf("want error %q, got %v", *tc.WantError, err)
	}
	return ""
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// compareResults compares result sets as sets of binding objects, values
// round-tripped through JSON (sets become arrays, sorted when sortBindings).
func compareResults(want []map[string]any, sortBindings bool, rs []ast.Object) string {
	exp := ast.NewSet()
	for _, b := range want {
		obj := ast.NewObject()
		for k, v := range b {
			obj.Insert(ast.StringTerm(k), ast.NewTerm(ast.MustInterfaceToValue(v)))
		}
		exp.Add(ast.NewTerm(obj))
	}
	got := ast.NewSet()
	for _, r := range rs {
		j, err := ast.JSONWithOpt(r, ast.JSONOpt{SortSets: sortBindings})
		if err != nil {
			return fmt.Sprintf("result %v is not JSON: %v", r, err)
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(j); err != nil {
			return fmt.Sprintf("result %v: %v", r, err)
		}
		rt := ast.MustParseTerm(buf.String()).Value.(ast.Object)
		obj := ast.NewObject()
		rt.Foreach(func(k, v *ast.Term) {
			val := v.Value
			if a, ok := val.(*ast.Array); ok && sortBindings {
				val = a.Sorted()
			}
			obj.Insert(k, ast.NewTerm(val))
		})
		got.Add(ast.NewTerm(obj))
	}
	if exp.Compare(got) != 0 {
		return fmt.Sprintf("want %v, got %v", exp, got)
	}
	return ""
}
