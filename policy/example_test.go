package policy_test

import (
	"context"
	"fmt"
	"testing/fstest"

	"github.com/llmgate/llmgate/policy"
)

// The shipped library decides for a free-tier key: an allowed model gets
// the tier's max_tokens cap, a model outside the tier is a 404.
func ExampleEngine_Decide() {
	e, err := policy.New(context.Background(), policy.Config{}) // the shipped library
	if err != nil {
		panic(err)
	}
	defer e.Close()

	in := &policy.Input{
		Request:   policy.Request{Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", N: 1},
		Principal: policy.Principal{KeyID: "key-1", Tier: "free"},
		Model:     policy.Model{Name: "gpt-4o-mini", Known: true},
	}
	d, err := e.Decide(context.Background(), in)
	fmt.Println(d.Allow, d.MaxTokens, err)

	in.Request.Model, in.Model.Name = "o3", "o3"
	d, err = e.Decide(context.Background(), in)
	env := policy.Deny(d, err, "req-1")
	fmt.Println(env.Status, env.Code, env.Message)
	// Output:
	// true 1024 <nil>
	// 404 model_not_found The model 'o3' does not exist or you do not have access to it.
}

// A policy of your own: package llmgate, rule decision.
func ExampleNew() {
	fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(`package llmgate

default decision := {"allow": false, "status": 429, "reasons": ["Out of credit."]}

decision := {"allow": true, "max_tokens": 100} if input.budgets.key.remaining_usd > 0
`)}}
	e, err := policy.New(context.Background(), policy.Config{FS: fsys, Root: "policies"})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	d, err := e.Decide(context.Background(), &policy.Input{})
	env := policy.Deny(d, err, "")
	fmt.Println(env.Status, env.Type, env.Message)
	// Output:
	// 429 insufficient_quota Out of credit.
}
