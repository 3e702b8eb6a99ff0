package middleware

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/wire"
)

// limitDiscard is a ResponseWriter that keeps only its header map.
type limitDiscard struct{ h http.Header }

func (w *limitDiscard) Header() http.Header         { return w.h }
func (w *limitDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (w *limitDiscard) WriteHeader(int)             {}

// BenchmarkLimit measures the Limit layer per request on a MemoryStore on
// the real clock — build the limits, reserve, headers, subscribe, and the
// settle in OnEnd — against a no-op layer that subscribes an empty
// observer. Each request gets a fresh Call with Count's fields set; the
// upstream writes nothing and the benchmark calls the observers as the tap
// would (with a 200 and usage), so the tap's own work is left out.
func BenchmarkLimit(b *testing.B) {
	huge := LimitRates{RPM: 1_000_000_000, TPM: 1 << 40}
	noop := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			CallFrom(r.Context()).Observe(Observer{OnEnd: func(*Response) {}})
			next.ServeHTTP(w, r)
		})
	}
	newLayer := func(t LimitTier) Middleware {
		return func(next http.Handler) http.Handler {
			l, err := NewLimit(LimitConfig{Tiers: map[string]LimitTier{"default": {}, "free": t}})
			if err != nil {
				b.Fatal(err)
			}
			return l.Handler(next)
		}
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
	upstream := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.layer(upstream) // a new store per run
			w := &limitDiscard{h: http.Header{}}
			req, _ := http.NewRequest("POST", "/v1/chat/completions", nil)
			ctx := req.Context()
			res := &Response{Status: http.StatusOK, Header: w.h}
			usage := &wire.Usage{PromptTokens: 9, CompletionTokens: 21, TotalTokens: 30}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c := &Call{Endpoint: EndpointChatCompletions, Principal: tc.p, PromptTokens: 9, MaxCompletionTokens: 100}
				h.ServeHTTP(w, req.WithContext(WithCall(ctx, c)))
				c.Usage = usage
				for _, o := range c.observers {
					if o.OnHeader != nil {
						o.OnHeader(http.StatusOK, w.h)
					}
					o.OnEnd(res)
				}
			}
			if tc.name != "noop" && w.h.Get("X-Ratelimit-Remaining-Requests") == "" {
				b.Fatal("no rate-limit headers")
			}
		})
	}
}

// BenchmarkLimitStore is the limiter's part of BenchmarkLimit/key: one
// reservation of a requests and a tokens limit, at a fixed time
// (ReserveAt, the in-memory decision), and with its settle on the real
// clock (Reserve+Settle).
func BenchmarkLimitStore(b *testing.B) {
	reqs := []limiter.Request{
		{Limit: limiter.Limit{Key: "key:k_123", Kind: limiter.Requests, Rate: 1_000_000_000}, Cost: 1},
		{Limit: limiter.Limit{Key: "key:k_123", Kind: limiter.Tokens, Rate: 1 << 40}, Cost: 109},
	}
	ctx := context.Background()
	b.Run("ReserveAt", func(b *testing.B) {
		store := limiter.NewMemory(limiter.MemoryConfig{})
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
		store := limiter.NewMemory(limiter.MemoryConfig{})
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
