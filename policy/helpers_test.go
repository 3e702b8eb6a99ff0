package policy

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func ptr[T any](v T) *T { return &v }

// sampleInput is a free-tier chat request for gpt-4o-mini with budgets
// left and no moderation result.
func sampleInput() *Input {
	return &Input{
		Request: Request{
			ID: "req-1", Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini",
			N: 1, MaxTokens: 256, Messages: 2, Tools: []string{}, Temperature: ptr(0.7),
		},
		Principal: Principal{KeyID: "alice-key", User: "alice", Org: "acme", Tier: "free"},
		Model: Model{
			Name: "gpt-4o-mini", Known: true, Encoding: "o200k_base", ContextWindow: ptr(128000),
			InputPerMTok: ptr(0.15), OutputPerMTok: ptr(0.6), Deprecated: ptr(false),
		},
		Tokens: Tokens{Prompt: 1200, MaxCompletion: 256},
		Cost:   Cost{EstimateUSD: ptr(0.0003336)},
		Budgets: Budgets{
			Key: &Budget{Window: "month", SpentUSD: 2, BudgetUSD: 10, RemainingUSD: 8},
			Org: &Budget{Window: "month", SpentUSD: 40, BudgetUSD: 100, RemainingUSD: 60},
		},
	}
}

// fullInput has every optional member set.
func fullInput() *Input {
	in := sampleInput()
	in.Request.Metadata = map[string]string{"team": "search"}
	in.Request.Prompt = "hello"
	in.Request.TopP = ptr(0.9)
	in.Request.Tools = []string{"a", "b"}
	in.Principal.Labels = map[string]string{"env": "prod"}
	in.Model.CachedInputPerMTok = ptr(0.075)
	in.Model.PricesAsOf = "2025-06-01"
	in.Budgets.User = &Budget{Window: "7d", SpentUSD: 1.25, BudgetUSD: 5, RemainingUSD: 3.75}
	in.Moderation = &Moderation{Flagged: true, Categories: map[string]bool{"hate": true}, Scores: map[string]float64{"hate": 0.8}}
	return in
}

// fullInputUnflagged is fullInput with a moderation category that is
// scored but not flagged.
func fullInputUnflagged() *Input {
	in := fullInput()
	in.Moderation.Categories["pii/email"] = false
	in.Moderation.Scores["pii/email"] = 0.01
	return in
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedClock(t0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// forEachEvaluator runs f as subtest name/<evaluator> (or <evaluator> when
// name is "") once with the IR evaluator, required, and once with topdown,
// checking that the engine uses the one asked for.
func forEachEvaluator(t *testing.T, name string, f func(t *testing.T, ev Evaluator)) {
	t.Helper()
	for _, ev := range []Evaluator{EvaluatorIR, EvaluatorTopdown} {
		sub := ev.String()
		if name != "" {
			sub = name + "/" + sub
		}
		t.Run(sub, func(t *testing.T) { f(t, ev) })
	}
}
