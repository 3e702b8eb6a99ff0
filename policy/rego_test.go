package policy

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs the Rego tests (*_test.rego) of the shipped library and
// of examples/policies through OPA's test runner, as `opa test DIR` does.
func TestRego(t *testing.T) {
	for _, dir := range []string{"library", "../examples/policies"} {
		t.Run(dir, func(t *testing.T) {
			runRegoTests(t, dir)
		})
	}
}

func runRegoTests(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	modules, store, err := tester.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).RaiseBuiltinErrors(true).RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("run %s: %v", dir, err)
	}
	n := 0
	for r := range ch {
		n++
		name := r.Package + "." + r.Name
		switch {
		case r.Error != nil:
			t.Errorf("%s: error: %v", name, r.Error)
		case r.Fail:
			t.Errorf("%s (%s): FAIL", name, r.Location)
		case r.Skip:
			t.Logf("%s: skipped", name)
		}
	}
	if n == 0 {
		t.Fatalf("%s: no Rego tests found", dir)
	}
}

// TestExamplesShipLibrary keeps the examples' copy of the library, which
// `opa test examples/policies` needs, identical to the embedded one.
func TestExamplesShipLibrary(t *testing.T) {
	lib, err := Library.ReadFile("library/llmgate.rego")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile("../examples/policies/llmgate.rego")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lib, ex) {
		t.Fatal("examples/policies/llmgate.rego differs from policy/library/llmgate.rego: copy the library over")
	}
}

// TestExamplesEngine loads examples/policies as an operator would.
func TestExamplesEngine(t *testing.T) {
	e := newEngine(t, Config{Dir: "../examples/policies", PollInterval: -1})
	in := sampleInput()
	d, err := e.Decide(context.Background(), in)
	if err != nil || !d.Allow || d.MaxTokens != 512 || d.Cache != CacheForce || d.Limits.Key.RPM != 20 {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
	in.Principal.Labels = map[string]string{"suspended": "true"}
	d, err = e.Decide(context.Background(), in)
	if env := Deny(d, err, ""); env == nil || env.Status != 403 || env.Code != "key_suspended" {
		t.Fatalf("suspended key: %+v", env)
	}
}
