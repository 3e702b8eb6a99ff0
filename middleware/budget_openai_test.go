package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/llmtest"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestPolicyBudgetOpenAIClient runs Decode, Count, Policy (the shipped
// library) and Budget in front of llmtest, with the official client: a
// streamed call is billed exactly its usage at llmtest's prices, and once
// the budget is spent the client gets a 429 insufficient_quota it does not
// retry.
func TestPolicyBudgetOpenAIClient(t *testing.T) {
	engine, err := policy.New(context.Background(), policy.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	// Room for the first call's worst case (prompt + 64 tokens at $4/1M)
	// but not for a second one.
	b, err := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 0.0003}}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := NewPolicy(PolicyConfig{Engine: engine, Budgets: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain(RequestID, budgetTestPrincipal(&Principal{KeyID: "k1", Tier: "free"}), Decode(DecodeConfig{}),
		Count(CountConfig{}), pol.Handler, Budget(b))
	served := make(chan struct{}, 4) // a call settles after its handler returned, after the client read the end
	inner := chain(llmtest.Handler(llmtest.Config{}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { served <- struct{}{} }()
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(2))

	params := openai.ChatCompletionNewParams{
		Model: llmtest.DefaultModel, Seed: openai.Int(7), Temperature: openai.Float(0), MaxCompletionTokens: openai.Int(64),
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story about a lighthouse.")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	var usage *openai.CompletionUsage
	for stream.Next() {
		if ch := stream.Current(); ch.Usage.TotalTokens > 0 {
			u := ch.Usage
			usage = &u
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	<-served
	if usage == nil || usage.CompletionTokens == 0 {
		t.Fatalf("no usage in the stream: %+v", usage)
	}
	m, _ := models.Builtin().Resolve(llmtest.DefaultModel)
	want := billing.Cost(m.Prices, wire.Usage{PromptTokens: int(usage.PromptTokens), CompletionTokens: int(usage.CompletionTokens)})
	if bal := budgetTestSpent(t, b.Ledger(), "key:k1"); bal.Spent != want || bal.Reserved != 0 {
		t.Errorf("spent %v reserved %v, want %v (usage %d+%d)", bal.Spent, bal.Reserved, want, usage.PromptTokens, usage.CompletionTokens)
	}

	var calls int
	counting := option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		calls++
		return next(r)
	})
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	_, err = client.Chat.Completions.New(context.Background(), params, counting)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != wire.CodeInsufficientQuota || apiErr.Type != wire.TypeInsufficientQuota {
		t.Fatalf("second call: %v, want 429 insufficient_quota", err)
	}
	if calls != 1 {
		t.Errorf("client sent %d requests, want 1 (x-should-retry: false)", calls)
	}
}
