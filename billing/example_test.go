package billing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
	"github.com/redis/go-redis/v9"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func ExampleCost() {
	m, _ := models.Builtin().Resolve("o4-mini")
	usage := wire.Usage{
		PromptTokens:            2000,
		CompletionTokens:        800, // 640 of them reasoning: billed once, as output
		PromptTokensDetails:     &wire.PromptTokensDetails{CachedTokens: 1024},
		CompletionTokensDetails: &wire.CompletionTokensDetails{ReasoningTokens: 640},
	}
	fmt.Println(billing.Cost(m.Prices, usage))
	fmt.Println(billing.WorstCase(m.Prices, 2000, 4096))
	// Output:
	// $0.0048752
	// $0.0202224
}

func ExampleMemoryLedger_Reserve() {
	ctx := context.Background()
	ledger := billing.NewMemory(billing.MemoryConfig{
		Clock: fixedClock{time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)},
	})
	charges := []billing.Charge{
		{Scope: "key:k_1", Window: billing.Monthly, Budget: billing.Dollar, Amount: 40 * billing.Cent},
		{Scope: "org:acme", Window: billing.LastDays(7), Budget: 100 * billing.Dollar, Amount: 40 * billing.Cent},
	}
	for i := range 3 {
		res, err := ledger.Reserve(ctx, charges)
		if err != nil {
			panic(err)
		}
		if !res.Allowed {
			b, _ := res.Denied()
			fmt.Printf("call %d: insufficient_quota on %s (%v left this %v)\n", i, b.Scope, b.Remaining(), b.Window)
			continue
		}
		fmt.Printf("call %d: allowed\n", i)
		_ = res.Settle(ctx, 35*billing.Cent) // the real cost, from usage
	}
	bal, _ := ledger.Balances(ctx, charges)
	for _, b := range bal {
		fmt.Printf("%s %v: spent %v of %v, resets %s\n", b.Scope, b.Window, b.Spent, b.Budget, b.End().Format(time.DateOnly))
	}
	// Output:
	// call 0: allowed
	// call 1: allowed
	// call 2: insufficient_quota on key:k_1 ($0.30 left this month)
	// key:k_1 month: spent $0.70 of $1.00, resets 2026-04-01
	// org:acme 7d: spent $0.70 of $100.00, resets 2026-03-15
}

// A stream that outgrows its reservation asks Continue as tokens arrive;
// false means the budget ran out: end the stream with insufficient_quota
// and settle what was generated. The spend passes the budget only by what
// was generated before the check that said no (here, the last 100 tokens).
func ExampleReservation_Continue() {
	ctx := context.Background()
	ledger := billing.NewMemory(billing.MemoryConfig{})
	m, _ := models.Builtin().Resolve("gpt-4o")
	budget := billing.Charge{Scope: "key:k_2", Budget: billing.Cent, Amount: billing.WorstCase(m.Prices, 1000, 200)}
	res, _ := ledger.Reserve(ctx, []billing.Charge{budget})

	generated := 0
	for ; ; generated += 100 {
		soFar := billing.Cost(m.Prices, wire.Usage{PromptTokens: 1000, CompletionTokens: generated})
		ok, err := res.Continue(ctx, soFar, billing.WorstCase(m.Prices, 0, 100))
		if err != nil || !ok {
			break
		}
	}
	cost := billing.Cost(m.Prices, wire.Usage{PromptTokens: 1000, CompletionTokens: generated})
	_ = res.Settle(ctx, cost)
	fmt.Printf("stopped after %d tokens; billed %v of a %v budget\n", generated, cost, budget.Budget)
	// Output:
	// stopped after 800 tokens; billed $0.0105 of a $0.01 budget
}

// Several proxy replicas share one ledger through Redis. (Not run: it
// needs a Redis.)
func ExampleNewRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	ledger, err := billing.NewRedis(billing.RedisConfig{
		Client:  client,
		Prefix:  "{llmgate:billing}:", // one hash tag: every key in one Cluster slot
		Timeout: 100 * time.Millisecond,
		Fail:    billing.FailClosed, // Redis down → error → 503 envelope
	})
	if err != nil {
		panic(err)
	}
	res, err := ledger.Reserve(context.Background(), []billing.Charge{
		{Scope: "org:acme", Window: billing.Monthly, Budget: 100 * billing.Dollar, Amount: 5 * billing.Cent},
	})
	fmt.Println(res.Allowed, err)
}
