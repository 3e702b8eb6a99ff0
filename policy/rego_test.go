package policy

import (
	"context"
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
	ch, err := tester.NewRunner().SetStore(store).RaiseBuiltinErrors(true).Run(ctx, modules)
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
