package middleware

import (
	"math"
	"net/http"
	"testing"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/wire"
)

// The largest max_tokens Decode accepts, and n at its largest: the
// request asks for 2^31-1 × 128 completion tokens, which must be reserved
// in full (and so refused), not wrapped around to a count that reserves
// nothing. llmtest has no context window and no output limit in the
// catalog, so nothing else bounds it.
const hugeOutputRequest = `{"model":"llmtest","messages":[{"role":"user","content":"Hello there"}],"max_tokens":2147483647,"n":128}`

func TestMaxTokensBeyondInt32Refused(t *testing.T) {
	h := Decode(DecodeConfig{})(http.HandlerFunc(limitTestUpstream))
	for _, param := range []string{"max_tokens", "max_completion_tokens"} {
		body := `{"model":"llmtest","messages":[{"role":"user","content":"hi"}],"` + param + `":4611686018427387904,"n":2}`
		rec := postJSON(h, "/v1/chat/completions", body)
		if e := limitEnvelope(t, rec); rec.Code != 400 || e.Param != param || e.Code != wire.CodeInvalidValue {
			t.Errorf("%s 2^62: status %d, %s", param, rec.Code, rec.Body)
		}
	}
	rec := postJSON(h, "/v1/completions", `{"model":"llmtest","prompt":"hi","max_tokens":2147483648}`)
	if e := limitEnvelope(t, rec); rec.Code != 400 || e.Param != "max_tokens" {
		t.Errorf("completions max_tokens 2^31: status %d, %s", rec.Code, rec.Body)
	}
}

func TestHugeOutputRequestReservesInFull(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{TPM: 1000}})})
		rec := env.doBody("sk-a", hugeOutputRequest)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, MaxCompletionTokens %d: want 429", rec.Code, env.last.MaxCompletionTokens)
		}
		if want := 2147483647 * 128; env.last.MaxCompletionTokens != want {
			t.Errorf("MaxCompletionTokens %d, want %d", env.last.MaxCompletionTokens, want)
		}
	})
	t.Run("without-count", func(t *testing.T) {
		lim, err := NewLimit(LimitConfig{
			Store: limiter.NewMemory(limiter.MemoryConfig{Clock: newLimitClock()}),
			Tiers: map[string]LimitTier{"default": {Key: LimitRates{TPM: 1000}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		h := Chain(Decode(DecodeConfig{}), lim.Handler)(http.HandlerFunc(limitTestUpstream))
		if rec := postJSON(h, "/v1/chat/completions", hugeOutputRequest); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d: want 429", rec.Code)
		}
	})
	t.Run("budget", func(t *testing.T) {
		ledger := billing.NewMemory(billing.MemoryConfig{})
		b, err := NewBudgets(BudgetConfig{Ledger: ledger, Keys: map[string]BudgetLimit{"k1": {USDPerMonth: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		called := false
		h := budgetTestChain(nil, &Principal{KeyID: "k1"}, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			budgetTestUsage(10, 1_000_000)(w, r)
		}))
		if rec := postJSON(h, "/v1/chat/completions", hugeOutputRequest); rec.Code != http.StatusTooManyRequests || called {
			t.Fatalf("status %d, upstream called %v: want 429 before the upstream", rec.Code, called)
		}
	})
}

func TestTokenArithmeticSaturates(t *testing.T) {
	for _, tc := range []struct{ a, b, mul, add int }{
		{0, math.MaxInt, 0, math.MaxInt},
		{3, 4, 12, 7},
		{1 << 62, 2, math.MaxInt, 1<<62 + 2},
		{math.MaxInt - 1, 5, math.MaxInt, math.MaxInt},
		{math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt},
		{math.MaxInt32, 128, math.MaxInt32 * 128, math.MaxInt32 + 128},
	} {
		if got := mulTokens(tc.a, tc.b); got != tc.mul {
			t.Errorf("mulTokens(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.mul)
		}
		if got := addTokens(tc.a, tc.b); got != tc.add {
			t.Errorf("addTokens(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.add)
		}
	}
}
