package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

// budgetTestCatalog has "race": free prompts, $100 per 1M output tokens,
// so 1,000 completion tokens cost exactly $0.10; and "metered": $1 and
// $4 per 1M, with an output cap of 100 tokens.
func budgetTestCatalog(t testing.TB) *models.Catalog {
	t.Helper()
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	cat, err := models.New(models.Config{Models: map[string]models.Override{
		"race":    {Input: f(0), CachedInput: f(0), Output: f(100), ContextWindow: n(100_000), MaxOutput: n(10_000), Encoding: "o200k_base"},
		"metered": {Input: f(1), CachedInput: f(0.5), Output: f(4), ContextWindow: n(100_000), MaxOutput: n(100), Encoding: "o200k_base"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// budgetTestPrincipal is a layer that acts as Auth for p.
func budgetTestPrincipal(p *Principal) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p != nil {
				c, r2 := ensureCall(r)
				pc := *p
				c.Principal = &pc
				r = r2
			}
			next.ServeHTTP(w, r)
		})
	}
}

func budgetTestChain(cat *models.Catalog, p *Principal, b *Budgets, h http.Handler) http.Handler {
	return Chain(budgetTestPrincipal(p), Decode(DecodeConfig{}), Count(CountConfig{Catalog: cat}), Budget(b))(h)
}

// budgetTestUsage answers a chat completion with the given usage.
func budgetTestUsage(prompt, completion int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": CallFrom(r.Context()).Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "hi"}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	}
}

func budgetTestBody(model string, maxTokens int, stream bool) string {
	mt := ""
	if maxTokens > 0 {
		mt = fmt.Sprintf(`,"max_tokens":%d`, maxTokens)
	}
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Say hi."}]%s,"stream":%t}`, model, mt, stream)
}

// budgetTestSpent reads a scope's monthly balance.
func budgetTestSpent(t testing.TB, l billing.Ledger, scope string) billing.Balance {
	t.Helper()
	bals, err := l.Balances(context.Background(), []billing.Charge{{Scope: scope, Window: billing.Monthly, Budget: billing.Unlimited}})
	if err != nil {
		t.Fatal(err)
	}
	return bals[0]
}

func budgetTestEnvelope(t testing.TB, rec *httptest.ResponseRecorder) *wire.Error {
	t.Helper()
	e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
	if !ok {
		t.Fatalf("not an envelope: %d %s", rec.Code, rec.Body)
	}
	return e
}

func TestNewBudgetsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  BudgetConfig
	}{
		{"negative", BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: -1}}}},
		{"too large", BudgetConfig{Orgs: map[string]BudgetLimit{"acme": {USDPerDay: 1e12}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewBudgets(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), "middleware: ") {
				t.Fatalf("NewBudgets = %v, want a middleware error", err)
			}
		})
	}
}

func TestBudgetSettles(t *testing.T) {
	cat := budgetTestCatalog(t)
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free"}
	prices, _ := cat.Resolve("metered")
	// "Say hi." as one user message is 10 prompt tokens in o200k_base.
	cost := func(prompt, completion int) billing.Money {
		return billing.Cost(prices.Prices, wire.Usage{PromptTokens: prompt, CompletionTokens: completion})
	}
	for _, tc := range []struct {
		name      string
		p         *Principal
		cfg       BudgetConfig
		handler   http.HandlerFunc
		status    int
		wantCode  string
		wantSpent billing.Money // of key:k1
		wantCost  billing.Money
	}{
		{name: "settles to reported usage", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}},
			handler: budgetTestUsage(11, 7), status: 200, wantSpent: cost(11, 7), wantCost: cost(11, 7)},
		{name: "counts usage the handler did not report", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}},
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"id": "x", "object": "chat.completion", "choices": []any{
					map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "hello there"}}}})
			}, status: 200, wantSpent: cost(10, 2), wantCost: cost(10, 2)},
		{name: "upstream error cancels", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}},
			handler: func(w http.ResponseWriter, r *http.Request) {
				wire.WriteError(w, &wire.Error{Status: 502, Type: wire.TypeServer, Message: "upstream"})
			}, status: 502, wantCode: "", wantSpent: 0, wantCost: 0},
		{name: "cache hit is free", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}},
			handler: func(w http.ResponseWriter, r *http.Request) {
				CallFrom(r.Context()).CacheStatus = "HIT"
				budgetTestUsage(11, 7)(w, r)
			}, status: 200, wantSpent: 0, wantCost: 0},
		{name: "cache hit charged when configured", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}, ChargeCacheHits: true},
			handler: func(w http.ResponseWriter, r *http.Request) {
				CallFrom(r.Context()).CacheStatus = "HIT"
				budgetTestUsage(11, 7)(w, r)
			}, status: 200, wantSpent: cost(11, 7), wantCost: cost(11, 7)},
		{name: "key budget exhausted", p: alice, cfg: BudgetConfig{Keys: map[string]BudgetLimit{"k1": {USDPerMonth: 0.0001}}},
			handler: budgetTestUsage(11, 7), status: 429, wantCode: wire.CodeInsufficientQuota},
		{name: "org budget exhausted", p: alice, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}, Orgs: map[string]BudgetLimit{"acme": {USDPerDay: 0.0001}}},
			handler: budgetTestUsage(11, 7), status: 429, wantCode: wire.CodeInsufficientQuota},
		{name: "no principal: no budget, cost still set", p: nil, cfg: BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 0.0001}}},
			handler: budgetTestUsage(11, 7), status: 200, wantSpent: 0, wantCost: cost(11, 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBudgets(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var seen *Call
			h := budgetTestChain(cat, tc.p, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = CallFrom(r.Context())
				tc.handler(w, r)
			}))
			rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 50, false))
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.wantCode != "" {
				e := budgetTestEnvelope(t, rec)
				if e.Type != wire.TypeInsufficientQuota || e.Code != tc.wantCode || rec.Header().Get("x-should-retry") != "false" {
					t.Fatalf("envelope %+v, x-should-retry %q", e, rec.Header().Get("x-should-retry"))
				}
				if seen != nil {
					t.Fatal("handler ran for a denied request")
				}
				return
			}
			bal := budgetTestSpent(t, b.Ledger(), "key:k1")
			if bal.Spent != tc.wantSpent || bal.Reserved != 0 {
				t.Errorf("key:k1 spent %v reserved %v, want %v and 0", bal.Spent, bal.Reserved, tc.wantSpent)
			}
			if seen.Cost != tc.wantCost || seen.PromptTokens != 10 || seen.CostEstimate != cost(10, 50) {
				t.Errorf("Call.Cost %v, CostEstimate %v (prompt %d); want %v and %v", seen.Cost, seen.CostEstimate, seen.PromptTokens, tc.wantCost, cost(10, 50))
			}
		})
	}
}

func TestBudgetPassesThrough(t *testing.T) {
	b, _ := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 0.000001}}})
	p := &Principal{KeyID: "k1", Tier: "free"}
	h := budgetTestChain(budgetTestCatalog(t), p, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "list", "data": []any{}})
	}))
	req := httptest.NewRequest("GET", "/v1/models", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("/v1/models: %d %s", rec.Code, rec.Body)
	}
	if got := Budget(nil)(http.NotFoundHandler()); got == nil {
		t.Fatal("Budget(nil) returned nil")
	}
}

// budgetTestDownLedger cannot be reached.
type budgetTestDownLedger struct{ billing.Ledger }

func (budgetTestDownLedger) Reserve(context.Context, []billing.Charge) (billing.Reservation, error) {
	return billing.Reservation{}, fmt.Errorf("%w: connection refused 10.0.0.7:6379", billing.ErrUnavailable)
}

func TestBudgetLedgerUnavailable(t *testing.T) {
	b, _ := NewBudgets(BudgetConfig{Ledger: budgetTestDownLedger{}, Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}},
		Logger: budgetTestLogger()})
	h := budgetTestChain(budgetTestCatalog(t), &Principal{KeyID: "k1", Tier: "free"}, b, budgetTestUsage(1, 1))
	rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 10, false))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "10.0.0.7") {
		t.Fatalf("got %d %s, want a 503 that leaks nothing", rec.Code, rec.Body)
	}
}

// TestBudgetRaceMemory: budget $1.00, 50 concurrent requests of worst case
// $0.10 each: exactly 10 admitted, settled spend ≤ $1.00.
func TestBudgetRaceMemory(t *testing.T) {
	b, err := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	budgetTestRace(t, []*Budgets{b}, b.Ledger())
}

// budgetTestRace sends 50 concurrent requests of worst case $0.10 through
// chains of the given Budgets, round robin, holding the admitted ones in
// the handler until every request was admitted or refused.
func budgetTestRace(t *testing.T, bs []*Budgets, ledger billing.Ledger) {
	t.Helper()
	const n = 50
	cat := budgetTestCatalog(t)
	p := &Principal{KeyID: "race-key", Tier: "free"}
	arrived, refused, release := make(chan struct{}, n), make(chan struct{}, n), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := CallFrom(r.Context()); c.CostEstimate != billing.Dollar/10 {
			t.Errorf("worst case %v, want $0.10", c.CostEstimate)
		}
		arrived <- struct{}{}
		<-release
		budgetTestUsage(12, 1000)(w, r) // the whole reservation: $0.10
	})
	chains := make([]http.Handler, len(bs))
	for i, b := range bs {
		chains[i] = budgetTestChain(cat, p, b, handler)
	}
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			rec := postJSON(chains[i%len(chains)], "/v1/chat/completions", budgetTestBody("race", 1000, false))
			if rec.Code != 200 { // never reached the handler: a 429, or an error the check below reports
				refused <- struct{}{}
			}
			codes <- rec.Code
		})
	}
	admitted := 0
	for range n {
		select {
		case <-arrived:
			admitted++
		case <-refused:
		}
	}
	close(release)
	wg.Wait()
	close(codes)
	ok := 0
	for code := range codes {
		switch code {
		case 200:
			ok++
		case 429:
		default:
			t.Errorf("unexpected status %d", code)
		}
	}
	if admitted != 10 || ok != 10 {
		t.Errorf("admitted %d (200s %d), want 10", admitted, ok)
	}
	bal := budgetTestSpent(t, ledger, "key:race-key")
	if bal.Spent > billing.Dollar || bal.Reserved != 0 {
		t.Errorf("spent %v reserved %v, want ≤ $1.00 and 0", bal.Spent, bal.Reserved)
	}
	if bal.Spent != billing.Dollar {
		t.Errorf("spent %v, want the 10 admitted calls' $1.00", bal.Spent)
	}
}

// budgetTestLogger discards records.
func budgetTestLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestBudgetExhaustedEnvelopeJSON(t *testing.T) {
	e := budgetExhausted(billing.Balance{Scope: "org:acme", Window: billing.Monthly, Budget: 100 * billing.Dollar, Spent: 99 * billing.Dollar}, billing.Dollar*2)
	b, _ := json.Marshal(e)
	want := `{"message":"You exceeded your current quota: the org:acme budget of $100.00 per month has $1.00 left, and this request may cost up to $2.00.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
