package middleware

import (
	"context"
	"net/http"
	"testing"

	"github.com/llmgate/llmgate/limiter"
)

// State reads the buckets a request drained, and reading charges nothing.
func TestLimitState(t *testing.T) {
	l, err := NewLimit(LimitConfig{Tiers: map[string]LimitTier{
		"default": {},
		"free":    {Key: LimitRates{RPM: 10, TPM: 1000}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{KeyID: "k1", Tier: "free"}
	ctx := context.Background()
	remaining := func() (req, tok int) {
		t.Helper()
		res, err := l.State(ctx, p)
		if err != nil || len(res) != 2 {
			t.Fatalf("state %+v, %v", res, err)
		}
		for _, r := range res {
			if r.Limit.Kind == limiter.Requests {
				req = r.Remaining
			} else {
				tok = r.Remaining
			}
		}
		return req, tok
	}
	if req, tok := remaining(); req != 10 || tok != 1000 {
		t.Fatalf("fresh key: %d requests, %d tokens", req, tok)
	}
	h := Chain(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, r := ensureCall(r)
			c.Principal = p
			next.ServeHTTP(w, r)
		})
	}, Decode(DecodeConfig{}), Count(CountConfig{}), l.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"usage": map[string]int{"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
	}))
	if rec := postJSON(h, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`); rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	// One request and its 10 settled tokens are gone (within a refill).
	req, tok := remaining()
	if req != 9 || tok < 990 || tok > 991 {
		t.Errorf("after one request: %d requests, %d tokens", req, tok)
	}
	if req2, _ := remaining(); req2 != req {
		t.Errorf("reading the state charged a request: %d then %d", req, req2)
	}
	if _, err := l.State(ctx, nil); err == nil {
		t.Error("State(nil) accepted")
	}
	if res, err := l.State(ctx, &Principal{KeyID: "x", Tier: "unknown"}); err != nil || res != nil {
		t.Errorf("unlimited tier: %+v, %v", res, err)
	}
}
