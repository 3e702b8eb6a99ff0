package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/billing"
)

// BenchmarkBudgetLayer measures the Budget layer per request — reserve the
// worst case on the key and org budgets of an in-memory ledger before the
// handler, settle to the reported usage in the tap's OnEnd — against
// layer=none, the same tapped request without it.
func BenchmarkBudgetLayer(b *testing.B) {
	p := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "pro"}
	tmpl := policyBenchCall(b, p, policyBenchBody)
	resp := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":2,"total_tokens":33}}`)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(resp)
	})
	budgets, err := NewBudgets(BudgetConfig{
		Ledger: billing.NewMemory(billing.MemoryConfig{}),
		Tiers:  map[string]BudgetLimit{"pro": {USDPerMonth: 1_000_000}}, Orgs: map[string]BudgetLimit{"acme": {USDPerMonth: 1_000_000}},
	})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, h http.Handler, check func(*Call)) {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(""))
		ctx := req.Context()
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			c := *tmpl
			chat := *tmpl.Chat
			c.Chat, c.observers = &chat, nil
			serveTapped(h, w, req.WithContext(WithCall(ctx, &c)), &c)
			check(&c)
		}
		cpu.report(b)
	}
	b.Run("layer=none", func(b *testing.B) { run(b, upstream, func(*Call) {}) })
	b.Run("layer=budget/memory", func(b *testing.B) {
		run(b, Budget(budgets)(upstream), func(c *Call) {
			if c.Cost == 0 || c.CostEstimate == 0 {
				b.Fatalf("not settled: cost %v estimate %v", c.Cost, c.CostEstimate)
			}
		})
	})
}
