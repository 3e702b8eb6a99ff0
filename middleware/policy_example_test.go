package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/policy"
)

// ExampleNewPolicy puts the shipped policy library and budgets in front of
// a handler: the free tier may not use gpt-4o (404), gets its max_tokens
// capped on gpt-4o-mini, and each call's cost is reserved and settled on
// the key's monthly budget.
func ExampleNewPolicy() {
	engine, err := policy.New(context.Background(), policy.Config{}) // the shipped library
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	budgets, err := middleware.NewBudgets(middleware.BudgetConfig{
		Tiers: map[string]middleware.BudgetLimit{"free": {USDPerMonth: 10}},
	})
	if err != nil {
		panic(err)
	}
	pol, err := middleware.NewPolicy(middleware.PolicyConfig{Engine: engine, Budgets: budgets, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	store, _ := middleware.NewStaticKeyStore([]middleware.KeyEntry{
		{ID: "alice", SHA256: middleware.HashKey("sk-alice"), Tier: "free"},
	})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := middleware.CallFrom(r.Context())
		fmt.Printf("upstream: %s, max_completion_tokens %d, reserved %v\n", c.Model, *c.Chat.MaxCompletionTokens, c.CostEstimate)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"}}],`+
			`"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}`)
	})
	h := middleware.Chain(
		middleware.Auth(middleware.AuthConfig{Store: store}),
		middleware.Decode(middleware.DecodeConfig{}),
		middleware.Count(middleware.CountConfig{}),
		pol.Handler,
		middleware.Budget(budgets),
	)(upstream)

	for _, model := range []string{"gpt-4o", "gpt-4o-mini"} {
		req := httptest.NewRequest("POST", "/v1/chat/completions",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"Hi"}]}`))
		req.Header.Set("Authorization", "Bearer sk-alice")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(model, rec.Code)
	}
	bals, _ := budgets.Balances(context.Background(), &middleware.Principal{KeyID: "alice", Tier: "free"})
	fmt.Println("spent", bals[0].Spent, "of", bals[0].Budget)
	// Output:
	// gpt-4o 404
	// upstream: gpt-4o-mini, max_completion_tokens 1024, reserved $0.0006156
	// gpt-4o-mini 200
	// spent $0.0000024 of $10.00
}
