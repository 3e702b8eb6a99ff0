package limiter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/llmgate/llmgate/limiter"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func ExampleMemoryStore() {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := limiter.NewMemory(limiter.MemoryConfig{Clock: clock})
	limits := func(tokens int) []limiter.Request {
		return []limiter.Request{
			{Limit: limiter.Limit{Key: "key:k1", Kind: limiter.Requests, Rate: 60}, Cost: 1},
			{Limit: limiter.Limit{Key: "key:k1", Kind: limiter.Tokens, Rate: 1000}, Cost: tokens},
		}
	}

	// Reserve the prompt plus max_tokens, then settle to the real usage.
	res, _ := store.Reserve(ctx, limits(800))
	fmt.Println("allowed:", res.Allowed)
	_ = res.Settle(ctx, 300)

	// 700 tokens are left; asking for 900 must wait for 200 more.
	res, _ = store.Reserve(ctx, limits(900))
	fmt.Println("allowed:", res.Allowed, "retry after:", res.RetryAfter)
	for _, r := range res.Results() {
		limit, remaining, reset := r.OpenAI()
		fmt.Printf("x-ratelimit-*-%s: %s %s %s\n", r.Limit.Kind, limit, remaining, reset)
	}
	fmt.Println("RateLimit:", limiter.RateLimitHeader(res.Results()))
	// Output:
	// allowed: true
	// allowed: false retry after: 12s
	// x-ratelimit-*-requests: 60 59 1s
	// x-ratelimit-*-tokens: 1000 700 18s
	// RateLimit: "rpm";r=59;t=1, "tpm";r=700;t=18
}

func ExampleFormatReset() {
	for _, d := range []time.Duration{
		time.Second, 20 * time.Millisecond, 6 * time.Minute,
		2*time.Minute + 52800*time.Millisecond, 1500 * time.Microsecond,
	} {
		fmt.Println(limiter.FormatReset(d))
	}
	// Output:
	// 1s
	// 20ms
	// 6m0s
	// 2m52.8s
	// 2ms
}

func ExampleResult_PolicyItem() {
	r := limiter.Result{
		Limit:      limiter.Limit{Key: "key:k1", Rate: 600, Period: time.Minute},
		Remaining:  599,
		ResetAfter: 100 * time.Millisecond,
	}
	fmt.Println("RateLimit-Policy:", r.PolicyItem())
	fmt.Println("RateLimit:", r.RateLimitItem())
	sec, ms := limiter.RetryAfter(1234 * time.Millisecond)
	fmt.Println("retry-after:", sec, "retry-after-ms:", ms)
	// Output:
	// RateLimit-Policy: "rpm";q=600;w=60
	// RateLimit: "rpm";r=599;t=1
	// retry-after: 2 retry-after-ms: 1234
}
