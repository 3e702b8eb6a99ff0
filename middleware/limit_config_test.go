package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/limiter"
)

// limitStore is a Store that fails or records.
type limitStore struct {
	err      error
	deadline time.Duration // the ctx deadline Reserve saw, from now
}

func (s *limitStore) Reserve(ctx context.Context, _ []limiter.Request) (limiter.Reservation, error) {
	if d, ok := ctx.Deadline(); ok {
		s.deadline = time.Until(d)
	}
	return limiter.Reservation{}, s.err
}

func (s *limitStore) Adjust(context.Context, []limiter.Adjustment) error { return s.err }

var _ limiter.Store = (*limitStore)(nil)

func TestLimitStoreFailure(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		status   int
		typ      string
		mustNot  string
		timeout  time.Duration
		deadline bool
	}{
		{"unavailable", fmt.Errorf("%w: redis: dial tcp 10.0.0.7:6379: connection refused", limiter.ErrUnavailable), 503, "server_error", "10.0.0.7", 0, false},
		{"timeout", fmt.Errorf("limiter: reserve: %w", context.DeadlineExceeded), 503, "server_error", "deadline", 250 * time.Millisecond, true},
		{"invalid", fmt.Errorf("%w: key %q: rate 0", limiter.ErrInvalid, "key:a"), 500, "server_error", "rate", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &limitStore{err: tc.err}
			env := limitTestChain(t, LimitConfig{Store: st, Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 10}}), Timeout: tc.timeout,
				Logger: limitQuietLogger()})
			rec := env.do("sk-a")
			e := limitEnvelope(t, rec)
			if rec.Code != tc.status || e.Type != tc.typ || strings.Contains(e.Message, tc.mustNot) {
				t.Errorf("status %d envelope %+v", rec.Code, e)
			}
			if tc.status == 503 && e.Code != "limiter_unavailable" {
				t.Errorf("code %q", e.Code)
			}
			if got := st.deadline > 0 && st.deadline <= tc.timeout; got != tc.deadline {
				t.Errorf("store saw a deadline %v from now, want one within %v: %v", st.deadline, tc.timeout, tc.deadline)
			}
		})
	}
}

func TestNewLimitRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  LimitConfig
		want string
	}{
		{"no tiers", LimitConfig{}, "no default tier"},
		{"no default tier", LimitConfig{Tiers: map[string]LimitTier{"free": {}}}, `"default"`},
		{"named default missing", LimitConfig{DefaultTier: "basic", Tiers: map[string]LimitTier{"default": {}}}, `"basic"`},
		{"negative rate", LimitConfig{Tiers: map[string]LimitTier{"default": {Org: LimitRates{TPM: -1}}}}, "org scope"},
		{"negative period", LimitConfig{Period: -time.Second, Tiers: map[string]LimitTier{"default": {}}}, "period"},
		{"bad endpoint", LimitConfig{Endpoints: []Endpoint{EndpointUnknown}, Tiers: map[string]LimitTier{"default": {}}}, "endpoint"},
		{"burst overflows", LimitConfig{Period: 24 * time.Hour, Tiers: map[string]LimitTier{"default": {User: LimitRates{RPM: 1, RequestBurst: 1 << 40}}}}, "user scope: limiter: invalid limit"},
		{"bad cache mode", LimitConfig{CacheHit: 9, Tiers: map[string]LimitTier{"default": {}}}, "cache hit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLimit(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "middleware: limit: ") {
				t.Errorf("err = %v, want one mentioning %s", err, tc.want)
			}
		})
	}
}

func TestLimitPerNames(t *testing.T) {
	cases := []struct {
		l    limiter.Limit
		want string
	}{
		{limiter.Limit{Kind: limiter.Requests}, "requests per min (RPM)"},
		{limiter.Limit{Kind: limiter.Tokens, Period: time.Minute}, "tokens per min (TPM)"},
		{limiter.Limit{Kind: limiter.Requests, Period: time.Second}, "requests per sec (RPS)"},
		{limiter.Limit{Kind: limiter.Tokens, Period: 24 * time.Hour}, "tokens per day (TPD)"},
		{limiter.Limit{Kind: limiter.Tokens, Period: 10 * time.Second}, "tokens per 10s"},
	}
	for _, tc := range cases {
		if got := limitPer(tc.l); got != tc.want {
			t.Errorf("limitPer(%v) = %q, want %q", tc.l, got, tc.want)
		}
	}
}

func limitQuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The headers Limit formats itself match the limiter's formatting.
func TestLimitHeaderFormatMatchesLimiter(t *testing.T) {
	results := []limiter.Result{
		{Limit: limiter.Limit{Kind: limiter.Requests, Rate: 60, Name: "rpm"}, Remaining: 59, ResetAfter: time.Second},
		{Limit: limiter.Limit{Kind: limiter.Tokens, Rate: 40000, Period: time.Hour}, Remaining: -3, ResetAfter: 1500 * time.Millisecond},
		{Limit: limiter.Limit{Kind: limiter.Requests, Rate: 7, Period: time.Second, Name: `o"d\d` + "\x01"}, Remaining: 0, ResetAfter: 0},
		{Limit: limiter.Limit{Kind: limiter.Tokens, Rate: 5, Period: 10 * time.Second}, Remaining: 5, ResetAfter: -time.Second},
	}
	for n := 1; n <= len(results); n++ {
		var v limitHeaderValues
		v.compute(results[:n], "")
		if want := limiter.RateLimitHeader(results[:n]); v[7] != want {
			t.Errorf("RateLimit %q, want %q", v[7], want)
		}
		if want := limiter.PolicyHeader(results[:n]); v[6] != want {
			t.Errorf("RateLimit-Policy %q, want %q", v[6], want)
		}
		r, _ := limiter.Tightest(results[:n], limiter.Requests)
		if lim, rem, reset := r.OpenAI(); v[0] != lim || v[1] != rem || v[2] != reset {
			t.Errorf("requests headers %q, want %q %q %q", v[:3], lim, rem, reset)
		}
	}
	// The precomputed policies of a tier are what the limiter would say.
	lim, err := NewLimit(LimitConfig{Tiers: map[string]LimitTier{"default": {
		Key: LimitRates{RPM: 60, TPM: 1000}, User: LimitRates{TPM: 500}, Org: LimitRates{RPM: 600, TPM: 9000},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	env := &limitCall{l: lim, c: &Call{Principal: &Principal{KeyID: "k", User: "u", Org: "o"}, Encoding: nil}}
	env.build()
	if env.n != 5 || env.policy == "" {
		t.Fatalf("%d limits, policy %q", env.n, env.policy)
	}
	res := make([]limiter.Result, env.n)
	for i := range res {
		res[i].Limit = env.reqs[i].Limit
	}
	if want := limiter.PolicyHeader(res); env.policy != want {
		t.Errorf("precomputed policy %q, want %q", env.policy, want)
	}
}
