package middleware

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/llmgate/llmgate/limiter"
)

// limitDiscard is a ResponseWriter that keeps only its header map.
type limitDiscard struct{ h http.Header }

func (w *limitDiscard) Header() http.Header         { return w.h }
func (w *limitDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (w *limitDiscard) WriteHeader(int)             {}

// limitBenchBody is the upstream's answer: a small completion with usage.
var limitBenchBody = []byte(`{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":21,"total_tokens":30}}`)

// BenchmarkLimit measures the Limit layer per request on a MemoryStore on
// the real clock — reserve, headers, the observer, settle — against the
// same chain with a no-op layer in its place. Each request gets a fresh
// Call (as Decode would make, with Count's fields set) and the response
// tap; the upstream writes a small JSON body with usage.
func BenchmarkLimit(b *testing.B) {
	store := limiter.NewMemory(limiter.MemoryConfig{})
	huge := LimitRates{RPM: 1_000_000_000, TPM: 1_000_000_000}
	// The baseline subscribes an observer, as any real chain does (Count),
	// so that the tap does the same work in both.
	noop := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			CallFrom(r.Context()).Observe(Observer{OnEnd: func(*Response) {}})
			next.ServeHTTP(w, r)
		})
	}
	newLayer := func(t LimitTier) Middleware {
		l, err := NewLimit(LimitConfig{Store: store, Tiers: map[string]LimitTier{"default": {}, "free": t}})
		if err != nil {
			b.Fatal(err)
		}
		return l.Handler
	}
	cases := []struct {
		name  string
		layer Middleware
		p     *Principal
	}{
		{"noop", noop, &Principal{KeyID: "k_123", Tier: "free", User: "alice", Org: "acme"}},
		{"key", newLayer(LimitTier{Key: huge}), &Principal{KeyID: "k_123", Tier: "free"}},
		{"key+org", newLayer(LimitTier{Key: huge, Org: huge}), &Principal{KeyID: "k_123", Tier: "free", Org: "acme"}},
		{"key+user+org", newLayer(LimitTier{Key: huge, User: huge, Org: huge}),
			&Principal{KeyID: "k_123", Tier: "free", User: "alice", Org: "acme"}},
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(limitBenchBody)
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.layer(upstream)
			w := &limitDiscard{h: http.Header{}}
			req, _ := http.NewRequest("POST", "/v1/chat/completions", nil)
			ctx := req.Context()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c := &Call{Endpoint: EndpointChatCompletions, Principal: tc.p, PromptTokens: 9, MaxCompletionTokens: 100}
				r := req.WithContext(WithCall(ctx, c))
				serveTapped(h, w, r, c)
			}
			if tc.name != "noop" && w.h.Get("X-Ratelimit-Remaining-Requests") == "" {
				b.Fatal("no rate-limit headers")
			}
		})
	}
}

// BenchmarkLimitStore is the limiter's part of BenchmarkLimit/key: one
// reservation of a requests and a tokens limit and its settle, on the
// same MemoryStore, at a fixed time (ReserveAt) and on the real clock
// (Reserve).
func BenchmarkLimitStore(b *testing.B) {
	store := limiter.NewMemory(limiter.MemoryConfig{})
	reqs := []limiter.Request{
		{Limit: limiter.Limit{Key: "key:k_123", Kind: limiter.Requests, Rate: 1_000_000_000}, Cost: 1},
		{Limit: limiter.Limit{Key: "key:k_123", Kind: limiter.Tokens, Rate: 1_000_000_000}, Cost: 109},
	}
	ctx := context.Background()
	b.Run("ReserveAt", func(b *testing.B) {
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			r, err := store.ReserveAt(now, reqs)
			if err != nil || !r.Allowed {
				b.Fatal(err, r.Allowed)
			}
			now = now.Add(time.Microsecond)
		}
	})
	b.Run("Reserve+Settle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := store.Reserve(ctx, reqs)
			if err != nil || !r.Allowed {
				b.Fatal(err, r.Allowed)
			}
			if err := r.Settle(ctx, 30); err != nil {
				b.Fatal(err)
			}
		}
	})
}
