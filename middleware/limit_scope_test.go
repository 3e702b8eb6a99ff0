package middleware

import (
	"strings"
	"testing"
)

func TestLimitScopes(t *testing.T) {
	env := limitTestChain(t, LimitConfig{
		Tiers: freeTier(LimitTier{
			Key:  LimitRates{RPM: 10, TPM: 10000},
			User: LimitRates{RPM: 5},
			Org:  LimitRates{RPM: 3, TPM: 500},
		}),
		Tokens: limitFixedTokens(100),
	})
	// b (bob@acme) and c (carol@acme) share the org's 3 requests.
	steps := []struct {
		key        string
		code       int
		remaining  string // OpenAI headers: the tightest limit
		remainingT string
		ratelimit  string
	}{
		{"sk-b", 200, "2", "400", `"rpm";r=9;t=6, "tpm";r=9900;t=1, "user-rpm";r=4;t=12, "org-rpm";r=2;t=20, "org-tpm";r=400;t=12`},
		{"sk-c", 200, "1", "300", `"rpm";r=9;t=6, "tpm";r=9900;t=1, "user-rpm";r=4;t=12, "org-rpm";r=1;t=40, "org-tpm";r=300;t=24`},
		{"sk-b", 200, "0", "200", `"rpm";r=8;t=12, "tpm";r=9800;t=2, "user-rpm";r=3;t=24, "org-rpm";r=0;t=60, "org-tpm";r=200;t=36`},
		{"sk-c", 429, "0", "200", `"rpm";r=9;t=6, "tpm";r=9900;t=1, "user-rpm";r=4;t=12, "org-rpm";r=0;t=60, "org-tpm";r=200;t=36`},
		// d is bob without an org: no org limit, its own user bucket.
		{"sk-d", 200, "4", "9900", `"rpm";r=9;t=6, "tpm";r=9900;t=1, "user-rpm";r=4;t=12`},
		// a has neither: only its key's limits.
		{"sk-a", 200, "9", "9900", `"rpm";r=9;t=6, "tpm";r=9900;t=1`},
	}
	for i, s := range steps {
		rec := env.do(s.key, "X-Test-Total: 100")
		h := limitHeader(rec)
		if rec.Code != s.code || h["remaining-requests"] != s.remaining || h["remaining-tokens"] != s.remainingT || h["ratelimit"] != s.ratelimit {
			t.Errorf("%d %s: status %d remaining %s/%s ratelimit %s\nwant %d %s/%s %s",
				i, s.key, rec.Code, h["remaining-requests"], h["remaining-tokens"], h["ratelimit"],
				s.code, s.remaining, s.remainingT, s.ratelimit)
		}
		if rec.Code == 429 {
			if e := limitEnvelope(t, rec); !strings.Contains(e.Message, "on org acme: Limit 3, Used 3") {
				t.Errorf("message %q should name the org's limit", e.Message)
			}
		}
	}
	if h := limitHeader(env.do("sk-a")); h["policy"] != `"rpm";q=10;w=60, "tpm";q=10000;w=60;qu="tokens"` {
		t.Errorf("policy %q", h["policy"])
	}
}

func TestLimitKeys(t *testing.T) {
	cases := []struct{ org, user, kind, id, want string }{
		{"acme", "bob", "key:", "k1", "{org:acme}:key:k1"},
		{"acme", "", "user:", "bob", "{org:acme}:user:bob"},
		{"", "bob", "key:", "k1", "{user:bob}:key:k1"},
		{"", "", "user:", "bob", "user:bob"},
		{"", "", "key:", "k1", "key:k1"},
	}
	for _, tc := range cases {
		if got := limitKey(tc.org, tc.user, tc.kind, tc.id); got != tc.want {
			t.Errorf("limitKey(%q, %q, %q, %q) = %q, want %q", tc.org, tc.user, tc.kind, tc.id, got, tc.want)
		}
	}
}

func TestLimitPolicyOverrides(t *testing.T) {
	cases := []struct {
		limits string
		key    string
		want   map[string]string
		then   int // the status of the same request again
	}{
		{`{"key":{"rpm":2}}`, "sk-a", map[string]string{"limit-requests": "2", "remaining-requests": "1", "limit-tokens": "10000"}, 200},
		{`{"key":{"tpm":200}}`, "sk-a", map[string]string{"limit-requests": "100", "remaining-requests": "49", "limit-tokens": "200", "remaining-tokens": "100"}, 200},
		{`{"key":{"tpm":150}}`, "sk-a", map[string]string{"limit-tokens": "150", "remaining-tokens": "50"}, 429},
		// The policy can add a scope the tier does not limit.
		{`{"org":{"rpm":1}}`, "sk-b", map[string]string{"limit-requests": "1", "remaining-requests": "0"}, 429},
		{`{"user":{"tpm":150}}`, "sk-b", map[string]string{"limit-tokens": "150", "remaining-tokens": "50"}, 429},
		{`{}`, "sk-b", map[string]string{"limit-requests": "100", "remaining-requests": "49"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.limits, func(t *testing.T) {
			env := limitTestChain(t, LimitConfig{
				Tiers:  freeTier(LimitTier{Key: LimitRates{RPM: 100, TPM: 10000, RequestBurst: 50}}),
				Tokens: limitFixedTokens(100),
			})
			rec := env.do(tc.key, "X-Test-Limits: "+tc.limits, "X-Test-Total: 100")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			h := limitHeader(rec)
			for k, v := range tc.want {
				if h[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, h[k], v, h)
				}
			}
			if rec := env.do(tc.key, "X-Test-Limits: "+tc.limits, "X-Test-Total: 100"); rec.Code != tc.then {
				t.Errorf("again: status %d, want %d", rec.Code, tc.then)
			}
		})
	}
}
