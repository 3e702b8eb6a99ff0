package vm_test

import (
	"context"
	"fmt"

	"github.com/llmgate/llmgate/policy/internal/vm"
	"github.com/open-policy-agent/opa/v1/ast"
)

func Example() {
	ctx := context.Background()
	module := ast.MustParseModule(`package example

allow if input.user in data.admins
`)
	c := ast.NewCompiler()
	if c.Compile(map[string]*ast.Module{"example.rego": module}); c.Failed() {
		panic(c.Errors)
	}
	plan, err := vm.Plan(ctx, c, ast.MustParseBody("allowed = data.example.allow"))
	if err != nil {
		panic(err)
	}
	prog, err := vm.Compile(plan)
	if err != nil {
		panic(err) // errors.Is(err, vm.ErrUnsupported): evaluate with topdown instead
	}
	data := ast.MustParseTerm(`{"admins": ["alice"]}`).Value
	for _, user := range []string{"alice", "bob"} {
		rs, err := prog.Eval(ctx, &vm.Env{Input: ast.NewObject(ast.Item(ast.StringTerm("user"), ast.StringTerm(user))), Data: data})
		if err != nil {
			panic(err)
		}
		fmt.Println(user, rs)
	}
	// Output:
	// alice [{"allowed": true}]
	// bob []
}
