package middleware

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// embedTestUpstream answers an embeddings request with one vector per
// input and, when usage >= 0, usage {prompt_tokens, total_tokens} = usage.
// It counts its calls in *calls.
func embedTestUpstream(usage int, calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		resp := map[string]any{
			"object": "list", "model": CallFrom(r.Context()).Model,
			"data": []any{map[string]any{"object": "embedding", "index": 0, "embedding": []float64{0.1, -0.2}}},
		}
		if usage >= 0 {
			resp["usage"] = map[string]any{"prompt_tokens": usage, "total_tokens": usage}
		}
		writeJSON(w, resp)
	}
}

// TestDecodeEmbeddingInput: the input of /v1/embeddings is read in its
// four forms; what OpenAI refuses is a 400 at the exact param, and the
// other members pass untouched.
func TestDecodeEmbeddingInput(t *testing.T) {
	const (
		typ = wire.CodeInvalidType
		inv = wire.CodeInvalidValue
	)
	for _, tc := range []struct {
		name, body  string
		param, code string // for a refusal
		want        wire.Prompt
	}{
		{name: "string", body: `{"model":"e","input":"hello"}`, want: wire.Prompt{Texts: []string{"hello"}}},
		{name: "strings", body: `{"model":"e","input":["a","b"],"encoding_format":"base64"}`, want: wire.Prompt{Texts: []string{"a", "b"}}},
		{name: "token ids", body: `{"input":[1,0,3],"model":"e","dimensions":"not checked"}`, want: wire.Prompt{Tokens: [][]int{{1, 0, 3}}}},
		{name: "token arrays", body: `{"model":"e","input":[[1],[2,3]]}`, want: wire.Prompt{Tokens: [][]int{{1}, {2, 3}}, Nested: true}},
		{name: "one token array", body: `{"model":"e","input":[[4,5]]}`, want: wire.Prompt{Tokens: [][]int{{4, 5}}, Nested: true}},
		{name: "absent (vLLM messages)", body: `{"model":"e","messages":[{"role":"user","content":"x"}]}`},
		{name: "null", body: `{"model":"e","input":null}`},

		{name: "number", body: `{"model":"e","input":5}`, param: "input", code: typ},
		{name: "object", body: `{"model":"e","input":{"text":"a"}}`, param: "input", code: typ},
		{name: "empty string", body: `{"model":"e","input":""}`, param: "input", code: inv},
		{name: "empty array", body: `{"model":"e","input":[]}`, param: "input", code: inv},
		{name: "empty string in array", body: `{"model":"e","input":["a","b","c",""]}`, param: "input[3]", code: inv},
		{name: "number after strings", body: `{"model":"e","input":["a","b","c",4]}`, param: "input[3]", code: typ},
		{name: "string after ids", body: `{"model":"e","input":[1,"a"]}`, param: "input[1]", code: typ},
		{name: "negative id", body: `{"model":"e","input":[1,2,-3]}`, param: "input[2]", code: inv},
		{name: "negative id in arrays", body: `{"model":"e","input":[[1],[2],[3,4,5,6,7,-1]]}`, param: "input[2][5]", code: inv},
		{name: "negative id in first array", body: `{"model":"e","input":[[-1]]}`, param: "input[0][0]", code: inv},
		{name: "empty token array", body: `{"model":"e","input":[[1],[]]}`, param: "input[1]", code: inv},
		{name: "id after arrays", body: `{"model":"e","input":[[1],2]}`, param: "input[1]", code: typ},
		{name: "string in token array", body: `{"model":"e","input":[[1,"a"]]}`, param: "input[0][1]", code: typ},
		{name: "fraction", body: `{"model":"e","input":[1.5]}`, param: "input[0]", code: typ},
		{name: "bool", body: `{"model":"e","input":[true]}`, param: "input[0]", code: typ},
		{name: "null element", body: `{"model":"e","input":["a",null]}`, param: "input[1]", code: typ},
		{name: "id out of range", body: `{"model":"e","input":[1,99999999999999999999]}`, param: "input[1]", code: inv},
		{name: "syntax error wins", body: `{"model":"e","input":"",`, param: "", code: wire.CodeInvalidJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(embPath, tc.body))
			if tc.code != "" {
				if res.reached || res.rec.Code != http.StatusBadRequest {
					t.Fatalf("status %d (reached %v): %s", res.rec.Code, res.reached, res.rec.Body)
				}
				e := res.envelope(t)
				if e.Type != wire.TypeInvalidRequest || e.Param != tc.param || e.Code != tc.code {
					t.Errorf("type %q param %q code %q, want param %q code %q; message %s", e.Type, e.Param, e.Code, tc.param, tc.code, e.Message)
				}
				if tc.param != "" && !strings.Contains(e.Message, "'"+tc.param+"'") {
					t.Errorf("message %q does not name %s", e.Message, tc.param)
				}
				return
			}
			if !res.reached {
				t.Fatalf("status %d: %s", res.rec.Code, res.rec.Body)
			}
			c := res.call
			if c.Endpoint != EndpointEmbeddings || c.Embedding == nil || c.Model != "e" || c.Embedding.Model != "e" {
				t.Fatalf("call %+v", c)
			}
			if !reflect.DeepEqual(c.Embedding.Input, tc.want) {
				t.Errorf("input %#v, want %#v", c.Embedding.Input, tc.want)
			}
			if string(res.body) != tc.body || string(c.Raw) != tc.body {
				t.Errorf("handler got %q, want the body as sent", res.body)
			}
		})
	}
}

// TestCountEmbeddings: Count counts an embeddings input exactly with the
// model's encoding (texts) or by length (token ids), reserves no
// completion, and sets the usage: the upstream's, else the counted input.
func TestCountEmbeddings(t *testing.T) {
	enc, err := tokens.Get("cl100k_base")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"hello world", "The quick brown fox jumps over the lazy dog.", "naïve café — 東京 🚀"}
	sum := 0
	for _, s := range texts {
		sum += enc.Count(s)
	}
	if n := enc.Count("hello world"); n != 2 {
		t.Fatalf("cl100k_base counts 'hello world' as %d tokens, tiktoken as 2", n)
	}
	arr, _ := json.Marshal(texts)
	for _, tc := range []struct {
		name, input string
		prompt      int
	}{
		{"string", `"hello world"`, 2},
		{"strings", string(arr), sum},
		{"token ids", `[1,2,3,4,5]`, 5},
		{"token arrays", `[[1,2],[3],[4,5,6]]`, 6},
		{"absent", ``, 20}, // estimated: a token per four bytes of the 77-byte body
	} {
		for _, usage := range []int{-1, 42} {
			t.Run(tc.name+"/usage "+strconv.Itoa(usage), func(t *testing.T) {
				var calls atomic.Int32
				var seen *Call
				h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					seen = CallFrom(r.Context())
					embedTestUpstream(usage, &calls)(w, r)
				}))
				body := `{"model":"text-embedding-3-small","input":` + tc.input + `}`
				if tc.input == "" {
					body = `{"model":"text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`
				}
				rec := postJSON(h, embPath, body)
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				c := seen
				if c.PromptTokens != tc.prompt || c.MaxCompletionTokens != 0 {
					t.Errorf("prompt %d, max completion %d; want %d and 0", c.PromptTokens, c.MaxCompletionTokens, tc.prompt)
				}
				if c.ModelInfo.Name != "text-embedding-3-small" || c.Encoding == nil || c.Encoding.Name() != "cl100k_base" {
					t.Errorf("model %q encoding %v", c.ModelInfo.Name, c.Encoding)
				}
				want := wire.Usage{PromptTokens: tc.prompt, TotalTokens: tc.prompt}
				if usage >= 0 {
					want = wire.Usage{PromptTokens: usage, TotalTokens: usage}
				}
				if c.Usage == nil || *c.Usage != want || c.UsageCounted != (usage < 0) {
					t.Errorf("usage %+v (counted %v), want %+v", c.Usage, c.UsageCounted, want)
				}
			})
		}
	}
}

// embedPolicyChain is policyTestChain for embeddings: a builtin catalog and
// an upstream that counts its calls.
func embedPolicyChain(t *testing.T, cfg PolicyConfig, p *Principal) (http.Handler, *atomic.Int32, *policyTestSeen) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pol, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := new(atomic.Int32)
	seen := &policyTestSeen{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.call = CallFrom(r.Context())
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &seen.body); err != nil {
			t.Errorf("handler got a bad body %q: %v", raw, err)
		}
		embedTestUpstream(-1, calls)(w, r)
	})
	return Chain(RequestID, budgetTestPrincipal(p), Decode(DecodeConfig{}), Count(CountConfig{}), pol.Handler)(h), calls, seen
}

// TestPolicyEmbeddings: embeddings requests are decided by the policy
// like chat: a denial stops them before the upstream, and the input
// document describes them.
func TestPolicyEmbeddings(t *testing.T) {
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free", Labels: map[string]string{"suspended": "true"}}
	const body = `{"model":"text-embedding-3-large","input":["hello world","hello world"],"dimensions":256}`
	for _, tc := range []struct {
		name, rego string
		status     int
		code       string
	}{
		{"deny all", `decision := {"allow": false, "reasons": ["no"]}`, 403, ""},
		{"suspended key", `decision := {"allow": false, "status": 403, "code": "key_suspended"} if input.principal.labels.suspended == "true"`, 403, "key_suspended"},
		{"model allow-list", `
allowed := {"text-embedding-3-small"}
default decision := {"allow": true}
decision := {"allow": false, "status": 404} if not allowed[input.model.name]`, 404, wire.CodeModelNotFound},
		{"budget in the policy", `decision := {"allow": false, "status": 429} if input.cost.estimate_usd > 0`, 429, wire.CodeInsufficientQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, calls, _ := embedPolicyChain(t, PolicyConfig{Engine: policyTestEngine(t, tc.rego)}, alice)
			rec := postJSON(h, embPath, body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if e := budgetTestEnvelope(t, rec); e.Code != tc.code {
				t.Errorf("envelope %+v, want code %q", e, tc.code)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("upstream called %d times for a denied request", n)
			}
		})
	}

	t.Run("input and rewrite", func(t *testing.T) {
		var in policy.Input
		h, calls, seen := embedPolicyChain(t, PolicyConfig{
			Engine: policyTestEngine(t, `decision := {"allow": true, "model": "text-embedding-3-small", "max_tokens": 5}`),
			Input:  func(_ *Call, i *policy.Input) { in = *i },
		}, alice)
		rec := postJSON(h, embPath, body)
		if rec.Code != 200 || calls.Load() != 1 {
			t.Fatalf("status %d, %d calls: %s", rec.Code, calls.Load(), rec.Body)
		}
		if in.Request.Endpoint != "/v1/embeddings" || in.Request.Model != "text-embedding-3-large" ||
			in.Model.Name != "text-embedding-3-large" || in.Tokens.Prompt != 4 || in.Tokens.MaxCompletion != 0 {
			t.Errorf("input request %+v model %+v tokens %+v", in.Request, in.Model, in.Tokens)
		}
		m, _ := models.Builtin().Resolve("text-embedding-3-large")
		if want := billing.WorstCase(m.Prices, 4, 0).USD(); in.Cost.EstimateUSD == nil || *in.Cost.EstimateUSD != want || want == 0 {
			t.Errorf("estimate %v, want %v", in.Cost.EstimateUSD, want)
		}
		// The rewrite patches the body's model; the max_tokens cap is not
		// sent to an endpoint that has no such parameter.
		want := map[string]any{"model": "text-embedding-3-small", "input": []any{"hello world", "hello world"}, "dimensions": float64(256)}
		if !reflect.DeepEqual(seen.body, want) {
			t.Errorf("upstream got %v, want %v", seen.body, want)
		}
		c := seen.call
		if c.Model != "text-embedding-3-small" || c.Embedding.Model != "text-embedding-3-small" || c.MaxCompletionTokens != 0 || c.PromptTokens != 4 {
			t.Errorf("call model %q/%q, max completion %d, prompt %d", c.Model, c.Embedding.Model, c.MaxCompletionTokens, c.PromptTokens)
		}
	})
}

// TestPolicyLibraryEmbeddings: the shipped library applies its tiers'
// model lists and the budgets to embeddings.
func TestPolicyLibraryEmbeddings(t *testing.T) {
	e, err := policy.New(context.Background(), policy.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b, _ := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}, "pro": {USDPerMonth: 0.0000001}}})
	for _, tc := range []struct {
		name, tier, model string
		status            int
		code              string
	}{
		{"free tier, small model", "free", "text-embedding-3-small", 200, ""},
		{"free tier, large model not allowed", "free", "text-embedding-3-large", 404, wire.CodeModelNotFound},
		{"pro tier, budget exhausted", "pro", "text-embedding-3-large", 429, wire.CodeInsufficientQuota},
		{"unknown tier", "gold", "text-embedding-3-small", 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, calls, seen := embedPolicyChain(t, PolicyConfig{Engine: e, Budgets: b}, &Principal{KeyID: "k-" + tc.tier, Tier: tc.tier})
			rec := postJSON(h, embPath, `{"model":"`+tc.model+`","input":"The quick brown fox jumps over the lazy dog."}`)
			if rec.Code != tc.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tc.status == 200 {
				if _, capped := seen.body["max_completion_tokens"]; capped || calls.Load() != 1 {
					t.Errorf("body %v (%d calls): a max_tokens cap reached an embeddings request", seen.body, calls.Load())
				}
				return
			}
			if e := budgetTestEnvelope(t, rec); e.Code != tc.code || calls.Load() != 0 {
				t.Errorf("envelope %+v (%d upstream calls), want code %q", e, calls.Load(), tc.code)
			}
		})
	}
}

// TestBudgetEmbeddings: Budget reserves an embeddings call's input cost
// before the upstream and settles to its usage.
func TestBudgetEmbeddings(t *testing.T) {
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free"}
	m, _ := models.Builtin().Resolve("text-embedding-3-small")
	const body = `{"model":"text-embedding-3-small","input":["hello world","The quick brown fox jumps over the lazy dog."]}`
	enc, _ := tokens.Get("cl100k_base")
	prompt := enc.Count("hello world") + enc.Count("The quick brown fox jumps over the lazy dog.")
	cost := func(n int) billing.Money { return billing.Cost(m.Prices, wire.Usage{PromptTokens: n, TotalTokens: n}) }
	for _, tc := range []struct {
		name      string
		budget    float64 // per month, of the key
		usage     int     // reported; -1: none
		status    int
		wantSpent billing.Money
	}{
		{"billed its usage", 1, 7, 200, cost(7)},
		{"billed its counted input without usage", 1, -1, 200, cost(prompt)},
		{"budget cannot cover it", cost(prompt).USD() / 2, 7, 429, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBudgets(BudgetConfig{Keys: map[string]BudgetLimit{"k1": {USDPerMonth: tc.budget}}, Logger: budgetTestLogger()})
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			var seen *Call
			h := budgetTestChain(models.Builtin(), alice, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = CallFrom(r.Context())
				embedTestUpstream(tc.usage, &calls)(w, r)
			}))
			rec := postJSON(h, embPath, body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 429 {
				e := budgetTestEnvelope(t, rec)
				if e.Type != wire.TypeInsufficientQuota || e.Code != wire.CodeInsufficientQuota || rec.Header().Get("x-should-retry") != "false" {
					t.Errorf("envelope %+v, x-should-retry %q", e, rec.Header().Get("x-should-retry"))
				}
				if calls.Load() != 0 {
					t.Error("the upstream was called for a request over budget")
				}
			}
			bal := budgetTestSpent(t, b.Ledger(), "key:k1")
			if bal.Spent != tc.wantSpent || bal.Reserved != 0 {
				t.Errorf("key:k1 spent %v reserved %v, want %v and 0", bal.Spent, bal.Reserved, tc.wantSpent)
			}
			if tc.status == 200 {
				if seen.CostEstimate != cost(prompt) || seen.Cost != tc.wantSpent || tc.wantSpent == 0 {
					t.Errorf("estimate %v cost %v, want %v and %v", seen.CostEstimate, seen.Cost, cost(prompt), tc.wantSpent)
				}
			}
		})
	}
}

// TestLimitEmbeddings: by default Limit limits embeddings: a request
// counts against RPM, reserves its input's tokens against TPM and
// settles to its usage.
func TestLimitEmbeddings(t *testing.T) {
	clock := newLimitClock()
	lim, err := NewLimit(LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: clock}),
		Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 2, TPM: 1000}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h := Chain(budgetTestPrincipal(&Principal{KeyID: "k1", Tier: "free"}), Decode(DecodeConfig{}), Count(CountConfig{}), lim.Handler)(embedTestUpstream(30, &calls))
	const body = `{"model":"text-embedding-3-small","input":[[1,2,3,4,5,6,7,8,9,10]]}` // 10 tokens

	rec := postJSON(h, embPath, body)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	// Reserved the 10 input tokens, no completion.
	if got := limitHeader(rec); got["remaining-requests"] != "1" || got["remaining-tokens"] != "990" {
		t.Errorf("first request headers %v, want 1 request and 990 tokens left", got)
	}
	rec = postJSON(h, embPath, body)
	// Settled to the reported 30: 1000 - 30 - 10 now reserved.
	if got := limitHeader(rec); rec.Code != 200 || got["remaining-requests"] != "0" || got["remaining-tokens"] != "960" {
		t.Errorf("second request: %d, headers %v, want 0 requests and 960 tokens left", rec.Code, got)
	}
	rec = postJSON(h, embPath, body)
	if e := limitEnvelope(t, rec); rec.Code != http.StatusTooManyRequests || e.Code != "rate_limit_exceeded" || e.Type != "requests" {
		t.Errorf("third request: %d %+v, want a requests 429", rec.Code, e)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2", n)
	}
}

// TestEmbeddingLimits: each input must fit the model's context window
// (text-embedding-3-small: 8,191 tokens), which bounds each input and not
// their sum; at most 2,048 inputs, while one array of token ids may be
// longer than that.
func TestEmbeddingLimits(t *testing.T) {
	h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "list", "data": []any{}})
	}))
	long := strings.Repeat("word ", 9000)
	half := strings.Repeat("word ", 5000)
	ids := func(n int) string { return strings.TrimSuffix(strings.Repeat("7,", n), ",") }
	for _, tc := range []struct {
		name, input string
		status      int
		param       string
	}{
		{"one input over the window", `"` + long + `"`, 400, "input"},
		{"the second of two over the window", `["hi","` + long + `"]`, 400, "input[1]"},
		{"two inputs whose sum is over the window", `["` + half + `","` + half + `"]`, 200, ""},
		{"token ids over the window", `[` + ids(9000) + `]`, 400, "input"},
		{"nested token ids over the window", `[[1],[` + ids(9000) + `]]`, 400, "input[1]"},
		{"one array of 3,000 token ids", `[` + ids(3000) + `]`, 200, ""},
		{"2,048 inputs", `[` + strings.TrimSuffix(strings.Repeat(`"a",`, 2048), ",") + `]`, 200, ""},
		{"2,049 inputs", `[` + strings.TrimSuffix(strings.Repeat(`"a",`, 2049), ",") + `]`, 400, "input"},
		{"2,049 token arrays", `[` + strings.TrimSuffix(strings.Repeat(`[1],`, 2049), ",") + `]`, 400, "input"},
	} {
		rec := postJSON(h, embPath, `{"model":"text-embedding-3-small","input":`+tc.input+`}`)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d: %.200s", tc.name, rec.Code, rec.Body)
			continue
		}
		if tc.status != 200 {
			if e, _ := wire.DecodeError(rec.Code, rec.Body.Bytes()); e == nil || e.Param != tc.param {
				t.Errorf("%s: %.300s, want param %q", tc.name, rec.Body, tc.param)
			}
		}
	}
}

// TestEmbeddingWithoutInputReserves: a request larger than the whole TPM
// bucket is refused when its text is the input, and also when the same
// text comes as vLLM's chat-style messages, which is estimated from its
// size rather than counted as 0 tokens.
func TestEmbeddingWithoutInputReserves(t *testing.T) {
	clock := newLimitClock()
	lim, err := NewLimit(LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: clock}),
		Tiers: freeTier(LimitTier{Key: LimitRates{RPM: 100, TPM: 1000}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h := Chain(budgetTestPrincipal(&Principal{KeyID: "k1", Tier: "free"}), Decode(DecodeConfig{}), Count(CountConfig{}), lim.Handler)(embedTestUpstream(-1, &calls))
	text := strings.Repeat("hello world ", 1500) // ~3000 tokens
	if rec := postJSON(h, embPath, `{"model":"text-embedding-3-small","input":"`+text+`"}`); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("input larger than TPM: %d, want 429", rec.Code)
	}
	rec := postJSON(h, embPath, `{"model":"text-embedding-3-small","messages":[{"role":"user","content":"`+text+`"}]}`)
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("the same text as messages: %d, want 429 (upstream calls %d)", rec.Code, calls.Load())
	}
}

// TestEmbeddingObjectInputs: an input of objects (multimodal inputs some
// servers take) is passed on as sent and estimated from the body's size;
// mixing objects with strings is refused.
func TestEmbeddingObjectInputs(t *testing.T) {
	var seen *Call
	var sent []byte
	h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = CallFrom(r.Context())
		sent, _ = io.ReadAll(r.Body)
		writeJSON(w, map[string]any{"object": "list", "data": []any{}})
	}))
	body := `{"model":"text-embedding-3-small","input":[{"text":"a red car"},{"image":"data:image/png;base64,AAAA"}]}`
	if rec := postJSON(h, embPath, body); rec.Code != 200 || string(sent) != body {
		t.Fatalf("status %d, sent %s: %s", rec.Code, sent, rec.Body)
	}
	if want := (len(body) + 3) / 4; seen.PromptTokens != want {
		t.Errorf("prompt tokens %d, want the estimate %d", seen.PromptTokens, want)
	}
	rec := postJSON(h, embPath, `{"model":"text-embedding-3-small","input":[{"text":"a"},"b"]}`)
	if e, _ := wire.DecodeError(rec.Code, rec.Body.Bytes()); rec.Code != 400 || e == nil || e.Param != "input[1]" {
		t.Errorf("objects and a string: status %d, %s; want 400 naming input[1]", rec.Code, rec.Body)
	}
}
