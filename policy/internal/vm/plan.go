package vm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// targetName is the rego target under which Plan registers its capturing
// plugin. It is unlikely to clash with a real target.
const targetName = "llmgate-vm-plan"

var registerOnce sync.Once

// planKey is the context key under which Plan passes the slot the plugin
// stores the plan in.
type planKey struct{}

// capture is a rego.TargetPlugin that keeps the plan it is given. It never
// evaluates anything: Plan only prepares.
type capture struct{}

var _ rego.TargetPlugin = capture{}

func (capture) IsTarget(t string) bool { return t == targetName }

func (capture) PrepareForEval(ctx context.Context, p *ir.Policy, _ ...rego.PrepareOption) (rego.TargetPluginEval, error) {
	slot, ok := ctx.Value(planKey{}).(**ir.Policy)
	if !ok {
		return nil, errors.New("vm: the plan-capturing target is only usable through vm.Plan")
	}
	*slot = p
	return noEval{}, nil
}

type noEval struct{}

func (noEval) Eval(context.Context, *rego.EvalContext, ast.Value) (ast.Value, error) {
	return nil, errors.New("vm: the plan-capturing target does not evaluate")
}

// Plan returns the IR of query planned against the compiled modules of c,
// with OPA's planner. The query may be a plain reference (data.x.y) or bind
// variables (x = data.x.y); each result of the plan's evaluation binds the
// query's variables. It may be parsed or already compiled by c's query
// compiler; compiling renames variables declared with := (x := data.x.y
// binds __localq0__), so pass such a query parsed to keep its names.
// c must have compiled without errors; it is not modified.
func Plan(ctx context.Context, c *ast.Compiler, query ast.Body) (*ir.Policy, error) {
	if c == nil || c.Failed() {
		return nil, errors.New("vm: Plan needs a compiler that compiled without errors")
	}
	registerOnce.Do(func() { rego.RegisterPlugin(targetName, capture{}) })
	var p *ir.Policy
	ctx = context.WithValue(ctx, planKey{}, &p)
	r := rego.New(
		rego.Compiler(c),
		rego.ParsedQuery(query),
		rego.Store(inmem.New()),
		rego.Target(targetName),
	)
	if _, err := r.PrepareForEval(ctx); err != nil {
		return nil, fmt.Errorf("vm: planning %v: %w", query, err)
	}
	if p == nil {
		return nil, errors.New("vm: the planner produced no plan")
	}
	return p, nil
}
