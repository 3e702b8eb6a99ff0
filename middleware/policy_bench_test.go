package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
)

// policyBenchBody is a typical small chat request: a pro-tier model, with
// max_tokens under the library's cap, so that no body patch is needed.
const policyBenchBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"What is the capital of France? Answer in one word."}],"max_tokens":256,"temperature":0.2,"user":"u-42"}`

// policyBenchCall returns the Call that Decode and Count make of body for
// principal p, to copy per iteration.
func policyBenchCall(b *testing.B, p *Principal, body string) *Call {
	b.Helper()
	var tmpl *Call
	h := Chain(budgetTestPrincipal(p), Decode(DecodeConfig{}), Count(CountConfig{}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tmpl = CallFrom(r.Context())
	}))
	postJSON(h, "/v1/chat/completions", body)
	if tmpl == nil || tmpl.PromptTokens == 0 {
		b.Fatal("no Call")
	}
	return tmpl
}

// policyBenchServe serves one request per iteration through layer, on a
// fresh copy of tmpl, as the chain would hand it over after Count.
func policyBenchServe(b *testing.B, tmpl *Call, layer Middleware, next http.Handler) {
	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(""))
	ctx := req.Context()
	w := &discardWriter{h: http.Header{}}
	h := layer(next)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		c := *tmpl
		chat := *tmpl.Chat
		c.Chat, c.observers = &chat, nil
		h.ServeHTTP(w, req.WithContext(WithCall(ctx, &c)))
		if c.Decision == nil && c.RequestID == "deny" {
			b.Fatal("unreachable")
		}
	}
	cpu.report(b)
}

// BenchmarkPolicyLayer measures the Policy layer per request: building the
// input from the Call, one evaluation, applying the decision. layer=none is
// the baseline (the same request copy and context, no layer);
// engine=library is Decide alone on the same input.
func BenchmarkPolicyLayer(b *testing.B) {
	p := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "pro"}
	tmpl := policyBenchCall(b, p, policyBenchBody)
	allowed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := CallFrom(r.Context()).Decision; d == nil || !d.Allow {
			b.Fatalf("decision %+v", d)
		}
	})
	quiet := slog.New(slog.DiscardHandler)
	library, err := policy.New(context.Background(), policy.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer library.Close()
	trivial := policyTestEngine(b, `decision := {"allow": true}`)
	budgets, _ := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"pro": {USDPerMonth: 100}}, Orgs: map[string]BudgetLimit{"acme": {USDPerMonth: 1000}}})
	newLayer := func(cfg PolicyConfig) Middleware {
		cfg.Logger = quiet
		pol, err := NewPolicy(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return pol.Handler
	}

	b.Run("layer=none", func(b *testing.B) {
		policyBenchServe(b, tmpl, func(h http.Handler) http.Handler { return h }, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	})
	b.Run("layer=policy/trivial", func(b *testing.B) {
		policyBenchServe(b, tmpl, newLayer(PolicyConfig{Engine: trivial}), allowed)
	})
	b.Run("layer=policy/library", func(b *testing.B) {
		policyBenchServe(b, tmpl, newLayer(PolicyConfig{Engine: library}), allowed)
	})
	b.Run("layer=policy/library+budgets", func(b *testing.B) {
		policyBenchServe(b, tmpl, newLayer(PolicyConfig{Engine: library, Budgets: budgets}), allowed)
	})
	b.Run("engine=library", func(b *testing.B) {
		pol, _ := NewPolicy(PolicyConfig{Engine: library, Catalog: models.Builtin(), Logger: quiet})
		var in policy.Input
		req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		pol.buildInput(req, tmpl, &in)
		ctx := context.Background()
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			if d, err := library.Decide(ctx, &in); err != nil || !d.Allow {
				b.Fatalf("Decide = %+v, %v", d, err)
			}
		}
		cpu.report(b)
	})
}
