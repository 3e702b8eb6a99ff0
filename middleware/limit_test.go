package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
)

// limitClock is a settable clock for the limiter.
type limitClock struct {
	mu  sync.Mutex
	now time.Time
}

func newLimitClock() *limitClock {
	return &limitClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *limitClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *limitClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// limitKeys are the API keys of the test chain: "sk-<id>" belongs to the
// principal with KeyID id.
var limitKeys = []KeyEntry{
	{ID: "a", SHA256: HashKey("sk-a"), Tier: "free"},
	{ID: "b", SHA256: HashKey("sk-b"), Tier: "free", User: "bob", Org: "acme"},
	{ID: "c", SHA256: HashKey("sk-c"), Tier: "free", User: "carol", Org: "acme"},
	{ID: "d", SHA256: HashKey("sk-d"), Tier: "free", User: "bob"},
	{ID: "x", SHA256: HashKey("sk-x"), Tier: "no-such-tier"},
}

// limitEnv is a chain Auth → Decode → Count → (test hooks) → Limit →
// (fake cache) → a fake upstream, on a fake clock.
type limitEnv struct {
	t     *testing.T
	clock *limitClock
	store *limiter.MemoryStore
	h     http.Handler
	mu    sync.Mutex
	last  *Call
}

// limitTestChain builds a limitEnv. cfg.Store defaults to a MemoryStore
// on the env's clock; cfg.Tokens to a fixed 110 when tokens is true.
func limitTestChain(t *testing.T, cfg LimitConfig) *limitEnv {
	t.Helper()
	env := &limitEnv{t: t, clock: newLimitClock()}
	env.store = limiter.NewMemory(limiter.MemoryConfig{Clock: env.clock})
	if cfg.Store == nil {
		cfg.Store = env.store
	}
	lim, err := NewLimit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewStaticKeyStore(limitKeys)
	if err != nil {
		t.Fatal(err)
	}
	env.h = Chain(
		Auth(AuthConfig{Store: keys}),
		Decode(DecodeConfig{}),
		Count(CountConfig{}),
		env.hooks,
		lim.Handler,
		limitTestCache,
	)(http.HandlerFunc(limitTestUpstream))
	return env
}

// hooks records the Call and sets the policy decision of X-Test-Limits
// (a JSON policy.Limits).
func (env *limitEnv) hooks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		env.mu.Lock()
		env.last = c
		env.mu.Unlock()
		if s := r.Header.Get("X-Test-Limits"); s != "" && c != nil {
			d := &policy.Decision{Allow: true}
			if err := json.Unmarshal([]byte(s), &d.Limits); err != nil {
				env.t.Errorf("X-Test-Limits: %v", err)
			}
			c.Decision = d
		}
		next.ServeHTTP(w, r)
	})
}

// limitTestCache answers from "the cache" when the request says
// X-Test-Cache: HIT, with usage X-Test-Total.
func limitTestCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		if r.Header.Get("X-Test-Cache") != "HIT" || c == nil {
			next.ServeHTTP(w, r)
			return
		}
		c.CacheStatus = "HIT"
		w.Header().Set("X-Cache", "HIT")
		limitTestUpstream(w, r)
	})
}

// limitTestUpstream answers a chat completion as the request's test
// headers say: X-Test-Status (default 200), X-Test-Total (reported usage;
// none when absent), X-Test-Panic, X-Test-Upstream-Headers.
func limitTestUpstream(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test-Panic") != "" {
		panic("upstream exploded")
	}
	if r.Header.Get("X-Test-Upstream-Headers") != "" {
		w.Header().Add("X-Ratelimit-Remaining-Requests", "999")
		w.Header().Set("Ratelimit", `"upstream";r=1;t=1`)
	}
	status := 200
	if s := r.Header.Get("X-Test-Status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	if status >= 300 {
		wire.WriteError(w, wire.Errorf(status, wire.TypeServer, "", "", "upstream says %d", status))
		return
	}
	resp := wire.ChatCompletion{ID: "chatcmpl-1", Object: wire.ObjectChatCompletion, Model: "gpt-4o-mini"}
	if s := r.Header.Get("X-Test-Total"); s != "" {
		total, _ := strconv.Atoi(s)
		resp.Usage = &wire.Usage{PromptTokens: 0, CompletionTokens: total, TotalTokens: total}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

const limitTestBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there"}],"max_tokens":100}`

// do sends limitTestBody (or body) with key and extra headers
// ("Name: value" strings).
func (env *limitEnv) do(key string, headers ...string) *httptest.ResponseRecorder {
	return env.doBody(key, limitTestBody, headers...)
}

func (env *limitEnv) doBody(key, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	return rec
}

// limitHeader returns the response's rate-limit headers as a compact map
// keyed by OpenAI's suffixes ("limit-requests", …) and "policy", "ratelimit".
func limitHeader(rec *httptest.ResponseRecorder) map[string]string {
	m := map[string]string{}
	for i, name := range limitHeaderNames {
		if vs := rec.Header().Values(name); len(vs) > 0 {
			key := strings.ToLower(strings.TrimPrefix(name, "X-Ratelimit-"))
			if i == 6 {
				key = "policy"
			} else if i == 7 {
				key = "ratelimit"
			}
			m[key] = strings.Join(vs, " | ")
		}
	}
	return m
}

// limitEnvelope decodes an error envelope, failing the test if it is not one.
func limitEnvelope(t *testing.T, rec *httptest.ResponseRecorder) *wire.Error {
	t.Helper()
	e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
	if !ok {
		t.Fatalf("status %d, body %q: not an error envelope", rec.Code, rec.Body)
	}
	return e
}

func limitFixedTokens(n int) func(*Call) int { return func(*Call) int { return n } }

func freeTier(t LimitTier) map[string]LimitTier {
	return map[string]LimitTier{"free": t, "default": {}}
}

func TestLimitBurstAndRefill(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 3}})})
	type step struct {
		advance   time.Duration
		code      int
		remaining string
		reset     string
		retryMs   string
	}
	steps := []step{
		{0, 200, "2", "20s", ""},
		{0, 200, "1", "40s", ""},
		{0, 200, "0", "1m0s", ""},
		{0, 429, "0", "1m0s", "20000"},
		{19*time.Second + 999*time.Millisecond, 429, "0", "40.001s", "1"},
		{time.Millisecond, 200, "0", "1m0s", ""},   // exactly when retry-after-ms said
		{time.Minute, 200, "2", "20s", ""},         // a full bucket again
		{20 * time.Second, 200, "2", "20s", ""},    // one refilled
		{10 * time.Second, 200, "1", "30s", ""},    // half of one: not yet
		{5 * time.Second, 200, "0", "45s", ""},     // 1.25 refilled by now
		{0, 429, "0", "45s", "5000"},               // the next one at 5s
		{4 * time.Second, 429, "0", "41s", "1000"}, // still not
	}
	for i, s := range steps {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			env.clock.Advance(s.advance)
			rec := env.do("sk-a")
			h := limitHeader(rec)
			if rec.Code != s.code || h["remaining-requests"] != s.remaining || h["reset-requests"] != s.reset ||
				rec.Header().Get("Retry-After-Ms") != s.retryMs {
				t.Fatalf("got %d remaining %s reset %s retry-after-ms %q, want %d %s %s %q; body %s",
					rec.Code, h["remaining-requests"], h["reset-requests"], rec.Header().Get("Retry-After-Ms"),
					s.code, s.remaining, s.reset, s.retryMs, rec.Body)
			}
			if h["limit-requests"] != "3" {
				t.Errorf("limit %q, want 3", h["limit-requests"])
			}
			if rec.Code == 429 {
				ms, _ := strconv.Atoi(s.retryMs)
				if want := strconv.Itoa((ms + 999) / 1000); rec.Header().Get("Retry-After") != want {
					t.Errorf("retry-after %q, want %s (whole seconds, rounded up)", rec.Header().Get("Retry-After"), want)
				}
				e := limitEnvelope(t, rec)
				if e.Type != "requests" || e.Code != "rate_limit_exceeded" ||
					!strings.HasPrefix(e.Message, "Rate limit reached for requests per min (RPM) on key a: Limit 3, Used 3, Requested 1. Please try again in ") {
					t.Errorf("envelope %+v", e)
				}
			}
		})
	}
}

func TestLimitHeaderValues(t *testing.T) {
	cases := []struct {
		name   string
		tier   LimitRates
		tokens int
		want   map[string]string
	}{
		{"rpm and tpm", LimitRates{RPM: 60, TPM: 1000}, 110, map[string]string{
			"limit-requests": "60", "remaining-requests": "59", "reset-requests": "1s",
			"limit-tokens": "1000", "remaining-tokens": "890", "reset-tokens": "6.6s",
			"policy":    `"rpm";q=60;w=60, "tpm";q=1000;w=60;qu="tokens"`,
			"ratelimit": `"rpm";r=59;t=1, "tpm";r=890;t=7`,
		}},
		{"20ms", LimitRates{RPM: 3000}, 0, map[string]string{
			"limit-requests": "3000", "remaining-requests": "2999", "reset-requests": "20ms",
			"policy": `"rpm";q=3000;w=60`, "ratelimit": `"rpm";r=2999;t=1`,
		}},
		{"6m0s", LimitRates{TPM: 1000, TokenBurst: 6000}, 6000, map[string]string{
			"limit-tokens": "1000", "remaining-tokens": "0", "reset-tokens": "6m0s",
			"policy": `"tpm";q=1000;w=60;qu="tokens"`, "ratelimit": `"tpm";r=0;t=360`,
		}},
		{"rounded up to the millisecond", LimitRates{TPM: 7}, 1, map[string]string{
			"limit-tokens": "7", "remaining-tokens": "6", "reset-tokens": "8.572s",
			"policy": `"tpm";q=7;w=60;qu="tokens"`, "ratelimit": `"tpm";r=6;t=9`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: tc.tier}), Tokens: limitFixedTokens(tc.tokens)})
			rec := env.do("sk-a")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := limitHeader(rec)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("headers\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestLimitReservesCountedTokens(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{TPM: 10000}})})
	rec := env.do("sk-a", "X-Test-Total: 10")
	c := env.last
	if rec.Code != 200 || c.PromptTokens == 0 || c.MaxCompletionTokens != 100 {
		t.Fatalf("status %d, prompt %d, max completion %d", rec.Code, c.PromptTokens, c.MaxCompletionTokens)
	}
	if got, want := limitHeader(rec)["remaining-tokens"], strconv.Itoa(10000-c.PromptTokens-100); got != want {
		t.Errorf("remaining tokens %s, want %s (prompt + max_tokens reserved)", got, want)
	}
	// Settled to the 10 reported: the next request sees the refund.
	rec = env.do("sk-a")
	if got, want := limitHeader(rec)["remaining-tokens"], strconv.Itoa(10000-10-c.PromptTokens-100); got != want {
		t.Errorf("after settle: remaining tokens %s, want %s", got, want)
	}
}

func TestLimitWithoutCount(t *testing.T) {
	lim, err := NewLimit(LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: newLimitClock()}),
		Tiers: map[string]LimitTier{"default": {Key: LimitRates{RPM: 10, TPM: 100000}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := Chain(Decode(DecodeConfig{}), lim.Handler)(http.HandlerFunc(limitTestUpstream))
	cases := []struct{ body string }{
		{`{"model":"m","messages":[{"role":"user","content":"Hello there"}],"max_tokens":100,"n":2}`},
		{`{"model":"m","messages":[{"role":"user","content":"Hello there"}]}`},
		{`{"model":"m","prompt":"Hello there","max_tokens":7}`},
	}
	wants := []int{(len(cases[0].body)+3)/4 + 200, (len(cases[1].body)+3)/4 + 4096, (len(cases[2].body)+3)/4 + 7}
	total := 0 // none reports usage, so every estimate stays charged
	for i, tc := range cases {
		path := "/v1/chat/completions"
		if strings.Contains(tc.body, "prompt") {
			path = "/v1/completions"
		}
		rec := postJSON(h, path, tc.body)
		total += wants[i]
		if rec.Code != 200 {
			t.Fatalf("%d: status %d: %s", i, rec.Code, rec.Body)
		}
		if got := limitHeader(rec)["remaining-tokens"]; got != strconv.Itoa(100000-total) {
			t.Errorf("%d: remaining tokens %s, want %d (estimate %d; a 2xx without usage keeps its reservation)",
				i, got, 100000-total, wants[i])
		}
		if got := limitHeader(rec)["remaining-requests"]; got != strconv.Itoa(9-i) {
			t.Errorf("%d: anonymous requests share a bucket: remaining %s, want %d", i, got, 9-i)
		}
	}
}

func TestLimitSettle(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		// what the first request ends up costing
		requests, tokens int
	}{
		{"refund", []string{"X-Test-Total: 30"}, 1, 30},
		{"overage", []string{"X-Test-Total: 500"}, 1, 500},
		{"exact", []string{"X-Test-Total: 110"}, 1, 110},
		// Count counts the (empty) completion: only the prompt is charged.
		{"no reported usage: counted", nil, 1, -1},
		{"cancel on 502", []string{"X-Test-Status: 502"}, 0, 0},
		{"cancel on 503", []string{"X-Test-Status: 503"}, 0, 0},
		{"a 4xx counts the request, no tokens", []string{"X-Test-Status: 400"}, 1, 0},
		{"cache hit: request only", []string{"X-Test-Cache: HIT", "X-Test-Total: 80"}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := limitTestChain(t, LimitConfig{
				Tiers:  freeTier(LimitTier{Key: LimitRates{RPM: 10, TPM: 1000}}),
				Tokens: limitFixedTokens(110),
			})
			first := env.do("sk-a", tc.headers...)
			if h := limitHeader(first); h["remaining-tokens"] != "890" || h["remaining-requests"] != "9" {
				t.Fatalf("first response headers %v (status %d)", h, first.Code)
			}
			if tc.tokens < 0 {
				if tc.tokens = env.last.PromptTokens; tc.tokens == 0 {
					t.Fatal("Count did not run")
				}
			}
			next := limitHeader(env.do("sk-a"))
			if want := strconv.Itoa(1000 - tc.tokens - 110); next["remaining-tokens"] != want {
				t.Errorf("next request's remaining tokens %s, want %s", next["remaining-tokens"], want)
			}
			if want := strconv.Itoa(10 - tc.requests - 1); next["remaining-requests"] != want {
				t.Errorf("next request's remaining requests %s, want %s", next["remaining-requests"], want)
			}
		})
	}
}

func TestLimitCacheHitModes(t *testing.T) {
	cases := []struct {
		mode             LimitCacheHit
		requests, tokens int
	}{
		{LimitCacheHitRequest, 1, 0},
		{LimitCacheHitCharge, 1, 80},
		{LimitCacheHitFree, 0, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.mode), func(t *testing.T) {
			env := limitTestChain(t, LimitConfig{
				Tiers:    freeTier(LimitTier{Key: LimitRates{RPM: 10, TPM: 1000}}),
				Tokens:   limitFixedTokens(110),
				CacheHit: tc.mode,
			})
			hit := env.do("sk-a", "X-Test-Cache: HIT", "X-Test-Total: 80")
			if hit.Code != 200 || hit.Header().Get("X-Cache") != "HIT" || limitHeader(hit)["remaining-tokens"] != "890" {
				t.Fatalf("hit: status %d, headers %v", hit.Code, hit.Header())
			}
			next := limitHeader(env.do("sk-a"))
			if want := strconv.Itoa(1000 - tc.tokens - 110); next["remaining-tokens"] != want {
				t.Errorf("remaining tokens %s, want %s", next["remaining-tokens"], want)
			}
			if want := strconv.Itoa(10 - tc.requests - 1); next["remaining-requests"] != want {
				t.Errorf("remaining requests %s, want %s", next["remaining-requests"], want)
			}
		})
	}
}

func TestLimitCancelOnPanic(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 2}})})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the upstream's panic did not reach the test")
			}
		}()
		env.do("sk-a", "X-Test-Panic: 1")
	}()
	if got := limitHeader(env.do("sk-a"))["remaining-requests"]; got != "1" {
		t.Errorf("after a panic before any output the reservation should be cancelled: remaining %s, want 1", got)
	}
}

func TestLimitChargesClientThatWentAway(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{TPM: 100000}}), Tokens: limitFixedTokens(5000)})
	lim, err := NewLimit(LimitConfig{Store: env.store, Tiers: map[string]LimitTier{"default": {Key: LimitRates{TPM: 100000}}},
		Anonymous: func(*http.Request) string { return "a" }, Tokens: limitFixedTokens(5000)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	words := strings.Fields("the tokens of this stream were generated and must be paid for even though nobody read them")
	h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}), env.hooks, lim.Handler)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i, word := range words {
				if i == 3 {
					cancel() // the client goes away; the upstream goes on
				}
				fmt.Fprintf(w, "data: %s\n\n", chatChunkJSON("c1", word+" "))
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
		}))
	req := httptest.NewRequest("POST", "/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Go"}]}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
	c := env.last
	if c.Usage == nil || !c.UsageCounted || c.Usage.CompletionTokens < len(words) {
		t.Fatalf("usage %+v, want the counted usage of the whole stream", c.Usage)
	}
	// Key "a" of the auth chain and the anonymous "a" above share a bucket.
	next := limitHeader(env.do("sk-a"))
	if want := strconv.Itoa(100000 - c.Usage.TotalTokens - 5000); next["remaining-tokens"] != want {
		t.Errorf("remaining tokens %s, want %s: the gone client is charged its %d tokens",
			next["remaining-tokens"], want, c.Usage.TotalTokens)
	}
}

func TestLimitTooLarge(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 10, TPM: 1000}}), Tokens: limitFixedTokens(1001)})
	rec := env.do("sk-a")
	e := limitEnvelope(t, rec)
	if rec.Code != 429 || e.Type != "tokens" || e.Code != "rate_limit_exceeded" ||
		e.Message != "Request too large for tokens per min (TPM) on key a: Limit 1000, Requested 1001. The input or output tokens must be reduced in order to run successfully." {
		t.Errorf("status %d, envelope %+v", rec.Code, e)
	}
	if rec.Header().Get("X-Should-Retry") != "false" || rec.Header().Get("Retry-After") != "" || rec.Header().Get("Retry-After-Ms") != "" {
		t.Errorf("too large: headers %v, want x-should-retry false and no retry-after", rec.Header())
	}
	if h := limitHeader(rec); h["remaining-requests"] != "10" || h["remaining-tokens"] != "1000" {
		t.Errorf("a refused request charged something: %v", h)
	}
}

func TestLimitDeniedTypes(t *testing.T) {
	cases := []struct {
		name      string
		tier      LimitRates
		warmup    int // requests before the checked one, at the same instant
		wantType  string
		wantRetry string
		wantMsg   string
	}{
		{"requests", LimitRates{RPM: 1, TPM: 1000}, 1, "requests", "60000",
			"Rate limit reached for requests per min (RPM) on key a: Limit 1, Used 1, Requested 1. Please try again in 1m0s."},
		{"tokens", LimitRates{RPM: 100, TPM: 300}, 2, "tokens", "6000",
			"Rate limit reached for tokens per min (TPM) on key a: Limit 300, Used 220, Requested 110. Please try again in 6s."},
		// Both deny: the requests limit is reported, and the wait covers
		// both (110 tokens at 60s/220 each, rounded up per token: 30s + 30ns).
		{"requests first when both deny", LimitRates{RPM: 2, TPM: 220}, 2, "requests", "30001",
			"Rate limit reached for requests per min (RPM) on key a: Limit 2, Used 2, Requested 1. Please try again in 30.001s."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: tc.tier}), Tokens: limitFixedTokens(110)})
			for range tc.warmup {
				if rec := env.do("sk-a", "X-Test-Total: 110"); rec.Code != 200 {
					t.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
				}
			}
			rec := env.do("sk-a")
			e := limitEnvelope(t, rec)
			if rec.Code != 429 || e.Type != tc.wantType || e.Code != "rate_limit_exceeded" || e.Message != tc.wantMsg ||
				rec.Header().Get("Retry-After-Ms") != tc.wantRetry {
				t.Fatalf("status %d type %q retry-after-ms %q message %q\nwant 429 %q %s %q",
					rec.Code, e.Type, rec.Header().Get("Retry-After-Ms"), e.Message, tc.wantType, tc.wantRetry, tc.wantMsg)
			}
			ms, _ := strconv.Atoi(tc.wantRetry)
			env.clock.Advance(time.Duration(ms-1) * time.Millisecond)
			if rec := env.do("sk-a"); rec.Code != 429 {
				t.Errorf("1ms before retry-after-ms: status %d, want 429", rec.Code)
			}
			env.clock.Advance(time.Millisecond)
			if rec := env.do("sk-a"); rec.Code != 200 {
				t.Errorf("after retry-after-ms: status %d, want 200: %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestLimitPassThrough(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: map[string]LimitTier{
		"free":    {Key: LimitRates{RPM: 1}},
		"default": {},
	}})
	// Unknown tier → the default tier, which limits nothing: no headers.
	for range 3 {
		if rec := env.do("sk-x"); rec.Code != 200 || len(limitHeader(rec)) != 0 {
			t.Fatalf("unlimited default tier: status %d headers %v", rec.Code, limitHeader(rec))
		}
	}
	// /v1/models is not limited.
	req := httptest.NewRequest("GET", "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sk-a")
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	if len(limitHeader(rec)) != 0 {
		t.Errorf("/v1/models got rate-limit headers %v", limitHeader(rec))
	}
	// Without Decode there is no Call: nothing to limit.
	lim, err := NewLimit(LimitConfig{Tiers: map[string]LimitTier{"default": {Key: LimitRates{RPM: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	bare := lim.Handler(http.HandlerFunc(limitTestUpstream))
	for range 2 {
		if rec := postJSON(bare, "/v1/chat/completions", limitTestBody); rec.Code != 200 || len(limitHeader(rec)) != 0 {
			t.Fatalf("no Call: status %d headers %v", rec.Code, limitHeader(rec))
		}
	}
	// A chain without Auth: the default tier, one anonymous bucket.
	anon := Chain(Decode(DecodeConfig{}), lim.Handler)(http.HandlerFunc(limitTestUpstream))
	if rec := postJSON(anon, "/v1/chat/completions", limitTestBody); rec.Code != 200 || limitHeader(rec)["remaining-requests"] != "0" {
		t.Fatalf("anonymous: status %d headers %v", rec.Code, limitHeader(rec))
	}
	if rec := postJSON(anon, "/v1/chat/completions", limitTestBody); rec.Code != 429 {
		t.Fatalf("second anonymous request: status %d", rec.Code)
	}
}

func TestLimitHeadersWinOverUpstream(t *testing.T) {
	env := limitTestChain(t, LimitConfig{Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 10}})})
	rec := env.do("sk-a", "X-Test-Upstream-Headers: 1")
	h := limitHeader(rec)
	if h["remaining-requests"] != "9" || h["ratelimit"] != `"rpm";r=9;t=6` {
		t.Errorf("headers %v: ours must replace the upstream's", h)
	}
}

// TestLimitSettlesUsageWithoutTotal: usage with prompt_tokens and
// completion_tokens but no total_tokens (as some OpenAI-compatible servers
// send it) settles TPM to their sum, as Budget prices it, not to 0.
func TestLimitSettlesUsageWithoutTotal(t *testing.T) {
	lim, err := NewLimit(LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: newLimitClock()}),
		Tiers: map[string]LimitTier{"default": {Key: LimitRates{TPM: 10000}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}), lim.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "hi"}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 500},
		})
	}))
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there"}],"max_tokens":1000}`
	first := postJSON(h, "/v1/chat/completions", body)
	if first.Code != 200 {
		t.Fatalf("status %d", first.Code)
	}
	reserved := 10000 - limitAtoi(t, limitHeader(first)["remaining-tokens"])
	next := postJSON(h, "/v1/chat/completions", body)
	used := 10000 - reserved - limitAtoi(t, limitHeader(next)["remaining-tokens"])
	if used != 600 {
		t.Fatalf("TPM charged %d tokens for a response whose usage was 100 prompt + 500 completion tokens, want 600", used)
	}
}

func limitAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
