package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/middleware"
)

// limitExampleClock stands still, so that the example's output does not
// depend on how fast it runs. Leave MemoryConfig.Clock nil in real code.
type limitExampleClock struct{}

func (limitExampleClock) Now() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// Limit reserves each request's prompt and max_tokens against the key's
// TPM and one request against its RPM, reports both in OpenAI's and the
// IETF headers, and refuses what the bucket does not hold with 429 and an
// accurate retry-after-ms. Here the prompt is 8 tokens: each request
// reserves 108 and settles to the 10 it used.
func ExampleNewLimit() {
	lim, err := middleware.NewLimit(middleware.LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: limitExampleClock{}}),
		Tiers: map[string]middleware.LimitTier{
			"default": {Key: middleware.LimitRates{RPM: 2, TPM: 40000}},
		},
	})
	if err != nil {
		panic(err)
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	})
	h := middleware.Chain(
		middleware.Decode(middleware.DecodeConfig{}),
		middleware.Count(middleware.CountConfig{}),
		lim.Handler,
	)(upstream)

	for range 3 {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":100}`))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code,
			"requests:", rec.Header().Get("X-Ratelimit-Remaining-Requests"), rec.Header().Get("X-Ratelimit-Reset-Requests"),
			"tokens:", rec.Header().Get("X-Ratelimit-Remaining-Tokens"), rec.Header().Get("X-Ratelimit-Reset-Tokens"))
		if rec.Code != http.StatusOK {
			fmt.Println("retry-after-ms:", rec.Header().Get("Retry-After-Ms"))
			fmt.Println("RateLimit:", rec.Header().Get("RateLimit"))
			fmt.Print(rec.Body)
		}
	}
	// Output:
	// 200 requests: 1 30s tokens: 39892 162ms
	// 200 requests: 0 1m0s tokens: 39882 177ms
	// 429 requests: 0 1m0s tokens: 39980 30ms
	// retry-after-ms: 30000
	// RateLimit: "rpm";r=0;t=60, "tpm";r=39980;t=1
	// {"error":{"message":"Rate limit reached for requests per min (RPM) on key anonymous: Limit 2, Used 2, Requested 1. Please try again in 30s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}
}
