// Package vm evaluates Rego policies fast by running the query plans of
// OPA's planner (package github.com/open-policy-agent/opa/v1/ir), as OPA's
// Wasm target does, with a small interpreter in Go instead of OPA's topdown
// evaluator.
//
// Prepare once, evaluate per request:
//
//	plan, err := vm.Plan(ctx, compiler, query) // OPA's planner, for a compiled policy
//	prog, err := vm.Compile(plan)              // errors.Is(err, vm.ErrUnsupported): keep using topdown
//	rs, err := prog.Eval(ctx, &vm.Env{Input: input, Data: data, Time: now})
//
// Each result binds the query's variables, as rego's ResultSet does. Builtins
// are OPA's own implementations (a few hot ones have exact native twins),
// by default in topdown's non-strict mode: a builtin error makes its
// expression undefined; with [Env].StrictBuiltinErrors it aborts the
// evaluation, as topdown's strict mode does. Conflicting values of a rule
// are a *topdown.Error with code topdown.ConflictErr, as under topdown.
//
// The input may be (or contain) a [Lazy] object, whose members are built
// only when the policy reads them; a [LazyKeys] object is also scanned
// member by member.
//
// What is supported: every statement of the IR, every builtin topdown
// implements (relations such as walk included), with, and OPA's compliance
// suite passes except where the planner itself differs from topdown (see
// compliance_test.go). Not supported: custom builtins registered on rego,
// plans with more than one entry point.
//
// A Program is immutable and safe for concurrent use; each Eval takes a
// pooled machine state.
package vm
