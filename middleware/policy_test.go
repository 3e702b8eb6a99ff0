package middleware

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// policyTestEngine compiles one Rego module of package llmgate.
func policyTestEngine(t testing.TB, rego string) *policy.Engine {
	t.Helper()
	e, err := policy.New(context.Background(), policy.Config{
		FS: fstest.MapFS{"p/policy.rego": {Data: []byte("package llmgate\n\n" + rego)}}, Root: "p", PollInterval: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// policyTestSeen is what the handler behind Policy received.
type policyTestSeen struct {
	call *Call
	body map[string]any
}

func policyTestChain(t testing.TB, cfg PolicyConfig, p *Principal, cat *models.Catalog) (http.Handler, *policyTestSeen) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Catalog = cat
	pol, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := &policyTestSeen{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.call = CallFrom(r.Context())
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &seen.body); err != nil {
			t.Errorf("handler got a bad body %q: %v", raw, err)
		}
		budgetTestUsage(1, 1)(w, r)
	})
	return Chain(RequestID, budgetTestPrincipal(p), Decode(DecodeConfig{}), Count(CountConfig{Catalog: cat}), pol.Handler)(h), seen
}

func TestNewPolicyRejects(t *testing.T) {
	if _, err := NewPolicy(PolicyConfig{}); err == nil {
		t.Error("NewPolicy without an engine succeeded")
	}
	e := policyTestEngine(t, `decision := {"allow": true}`)
	if _, err := NewPolicy(PolicyConfig{Engine: e, ChatMaxTokensParam: "max_output"}); err == nil {
		t.Error("NewPolicy with a bad ChatMaxTokensParam succeeded")
	}
}

func TestPolicyDecisions(t *testing.T) {
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free"}
	for _, tc := range []struct {
		name       string
		rego       string
		status     int
		typ, code  string
		msg        string
		retryFalse bool
	}{
		{"allow", `decision := {"allow": true}`, 200, "", "", "", false},
		{"deny 403", `decision := {"allow": false, "reasons": ["Tier free may not do that."]}`, 403, wire.TypePermission, "", "Tier free may not do that.", false},
		{"deny 404 model", `decision := {"allow": false, "status": 404, "reasons": ["no such model"]}`, 404, wire.TypeInvalidRequest, wire.CodeModelNotFound, "no such model", false},
		{"deny 429 quota", `decision := {"allow": false, "status": 429, "reasons": ["out of budget"]}`, 429, wire.TypeInsufficientQuota, wire.CodeInsufficientQuota, "out of budget", true},
		{"deny 400 content", `decision := {"allow": false, "status": 400}`, 400, wire.TypeInvalidRequest, wire.CodeContentPolicyViolation, "", false},
		{"undefined is 500", `decision := {"allow": true} if input.request.model == "never"`, 500, wire.TypeServer, "", "", false},
		{"conflict is 500", "decision := {\"allow\": true} if input.tokens.prompt > 0\ndecision := {\"allow\": false} if input.tokens.prompt > 1", 500, wire.TypeServer, "", "", false},
		{"bad shape is 500", `decision := {"allow": "yes", "secret_member": 1}`, 500, wire.TypeServer, "", "", false},
		{"builtin error is 500", `decision := {"allow": to_number("internal-detail-xyz") > 0}`, 500, wire.TypeServer, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, seen := policyTestChain(t, PolicyConfig{Engine: policyTestEngine(t, tc.rego)}, alice, budgetTestCatalog(t))
			rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 20, false))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				if seen.call == nil || seen.call.Decision == nil || !seen.call.Decision.Allow {
					t.Fatalf("handler saw decision %+v", seen.call)
				}
				return
			}
			if seen.call != nil {
				t.Fatal("handler ran for a denied request")
			}
			e := budgetTestEnvelope(t, rec)
			if e.Type != tc.typ || e.Code != tc.code || (tc.msg != "" && e.Message != tc.msg) {
				t.Errorf("envelope %+v, want type %q code %q message %q", e, tc.typ, tc.code, tc.msg)
			}
			if got := rec.Header().Get("x-should-retry"); (got == "false") != tc.retryFalse {
				t.Errorf("x-should-retry = %q", got)
			}
			if tc.status == 500 {
				id := rec.Header().Get("x-request-id")
				body := rec.Body.String()
				for _, leak := range []string{"policy", "rego", "undefined", "conflict", "internal-detail-xyz", "secret_member", "allow"} {
					if strings.Contains(strings.ToLower(body), leak) {
						t.Errorf("500 body leaks %q: %s", leak, body)
					}
				}
				if id == "" || !strings.Contains(body, id) {
					t.Errorf("500 body %s does not name the request id %q", body, id)
				}
			}
		})
	}
}

func TestPolicyModelRewrite(t *testing.T) {
	cat := models.Builtin()
	e := policyTestEngine(t, `decision := {"allow": true, "model": "gpt-4o-mini"}`)
	for _, tc := range []struct {
		name, model string
		recount     bool
	}{
		{"same encoding", "gpt-4o", false},
		{"encoding changes", "gpt-4-0613", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, seen := policyTestChain(t, PolicyConfig{Engine: e}, nil, cat)
			body := `{"model":"` + tc.model + `","messages":[{"role":"user","content":"Summarise the plot of Hamlet in one sentence, please."}],"max_tokens":100,"x_unknown":{"kept":true}}`
			rec := postJSON(h, "/v1/chat/completions", body)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			c := seen.call
			if seen.body["model"] != "gpt-4o-mini" || c.Model != "gpt-4o-mini" || c.Chat.Model != "gpt-4o-mini" || c.ModelInfo.Entry != "gpt-4o-mini" {
				t.Fatalf("body model %v, Call %q/%q, ModelInfo %q", seen.body["model"], c.Model, c.Chat.Model, c.ModelInfo.Entry)
			}
			if !reflect.DeepEqual(seen.body["x_unknown"], map[string]any{"kept": true}) {
				t.Errorf("unknown member lost: %v", seen.body)
			}
			o200k, _ := tokens.Get("o200k_base")
			if want := tokens.CountChat(o200k, c.Chat, nil); c.PromptTokens != want || c.Encoding != o200k {
				t.Errorf("prompt tokens %d with %s, want %d with o200k_base", c.PromptTokens, c.Encoding.Name(), want)
			}
			if c.MaxCompletionTokens != 100 {
				t.Errorf("MaxCompletionTokens %d, want 100", c.MaxCompletionTokens)
			}
		})
	}
}

func TestPolicyMaxTokensCap(t *testing.T) {
	cat := budgetTestCatalog(t)
	e := policyTestEngine(t, `decision := {"allow": true, "max_tokens": 30}`)
	for _, tc := range []struct {
		name, param, extra string
		wantField          string
		wantValue          float64
		wantReserved       int
		absent             string
	}{
		{"above the cap", "", `,"max_tokens":80`, "max_tokens", 30, 30, "max_completion_tokens"},
		{"below the cap", "", `,"max_completion_tokens":20`, "max_completion_tokens", 20, 20, "max_tokens"},
		{"none set", "", ``, "max_completion_tokens", 30, 30, "max_tokens"},
		{"none set, max_tokens param", "max_tokens", ``, "max_tokens", 30, 30, "max_completion_tokens"},
		{"n=2", "", `,"n":2,"max_completion_tokens":90`, "max_completion_tokens", 30, 60, "max_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, seen := policyTestChain(t, PolicyConfig{Engine: e, ChatMaxTokensParam: tc.param}, nil, cat)
			body := `{"model":"metered","messages":[{"role":"user","content":"hi"}]` + tc.extra + `}`
			rec := postJSON(h, "/v1/chat/completions", body)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if got := seen.body[tc.wantField]; got != tc.wantValue {
				t.Errorf("body %s = %v, want %v (body %v)", tc.wantField, got, tc.wantValue, seen.body)
			}
			if _, ok := seen.body[tc.absent]; ok {
				t.Errorf("body has %s: %v", tc.absent, seen.body)
			}
			c := seen.call
			if c.MaxCompletionTokens != tc.wantReserved || c.Chat.MaxOutputTokens() != int(tc.wantValue) {
				t.Errorf("MaxCompletionTokens %d, request max %d; want %d and %v", c.MaxCompletionTokens, c.Chat.MaxOutputTokens(), tc.wantReserved, tc.wantValue)
			}
		})
	}
	t.Run("completions", func(t *testing.T) {
		h, seen := policyTestChain(t, PolicyConfig{Engine: e}, nil, cat)
		rec := postJSON(h, "/v1/completions", `{"model":"metered","prompt":"Once upon","max_tokens":99}`)
		if rec.Code != 200 || seen.body["max_tokens"] != float64(30) || seen.call.MaxCompletionTokens != 30 {
			t.Fatalf("%d %s; body %v", rec.Code, rec.Body, seen.body)
		}
	})
}

// TestPolicyInput checks the input document: whole through the Input
// hook, and as the policy sees it through a policy that echoes it.
func TestPolicyInput(t *testing.T) {
	cat := budgetTestCatalog(t)
	b, err := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 10}}, Orgs: map[string]BudgetLimit{"acme": {USDPerMonth: 100, USDPerDay: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spent, err := b.Ledger().Reserve(ctx, []billing.Charge{{Scope: "org:acme", Window: billing.Daily, Budget: 5 * billing.Dollar, Amount: 4 * billing.Dollar}})
	if err != nil || !spent.Allowed {
		t.Fatal(err)
	}
	if err := spent.Settle(ctx, 4*billing.Dollar); err != nil {
		t.Fatal(err)
	}
	var got policy.Input
	echo := policyTestEngine(t, `decision := {"allow": false, "reasons": [json.marshal(input)]}`)
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free", Labels: map[string]string{"env": "prod"}}
	cfg := PolicyConfig{Engine: echo, Budgets: b, Input: func(c *Call, in *policy.Input) {
		in.Moderation = &policy.Moderation{Flagged: true, Categories: map[string]bool{"pii/email": true}, Scores: map[string]float64{"pii/email": 1}}
		got = *in
	}}
	h, _ := policyTestChain(t, cfg, alice, cat)
	body := `{"model":"metered","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],` +
		`"max_tokens":40,"n":2,"temperature":0.5,"stream":true,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],` +
		`"tool_choice":"auto","response_format":{"type":"json_object"},"user":"end-user-42","metadata":{"team":"search"}}`
	rec := postJSON(h, "/v1/chat/completions", body)
	if rec.Code != 403 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	m, _ := cat.Resolve("metered")
	cw, in, cached, out, dep := 100_000, 1.0, 0.5, 4.0, false
	est := billing.WorstCase(m.Prices, got.Tokens.Prompt, 80).USD()
	temp := 0.5
	want := policy.Input{
		Request: policy.Request{ID: got.Request.ID, Endpoint: "/v1/chat/completions", Model: "metered", Stream: true, N: 2, MaxTokens: 40,
			Temperature: &temp, Messages: 2, Tools: []string{"get_weather"}, ToolChoice: "auto", HasImages: true, ResponseFormat: "json_object",
			User: "end-user-42", Metadata: map[string]string{"team": "search"}},
		Principal: policy.Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free", Labels: map[string]string{"env": "prod"}},
		Model: policy.Model{Name: "metered", Known: true, Encoding: "o200k_base", ContextWindow: &cw, InputPerMTok: &in, CachedInputPerMTok: &cached,
			OutputPerMTok: &out, PricesAsOf: "config", Deprecated: &dep},
		Tokens: policy.Tokens{Prompt: got.Tokens.Prompt, MaxCompletion: 80},
		Cost:   policy.Cost{EstimateUSD: &est},
		Budgets: policy.Budgets{
			Key: &policy.Budget{Window: "month", SpentUSD: 0, BudgetUSD: 10, RemainingUSD: 10},
			Org: &policy.Budget{Window: "day", SpentUSD: 4, BudgetUSD: 5, RemainingUSD: 1},
		},
		Moderation: got.Moderation,
	}
	if got.Request.ID == "" || got.Tokens.Prompt < 10 {
		t.Errorf("request id %q, prompt tokens %d", got.Request.ID, got.Tokens.Prompt)
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Errorf("input\n got %s\nwant %s", gj, wj)
	}
	// What Rego saw: the same document, plus time.
	var seen map[string]any
	if err := json.Unmarshal([]byte(budgetTestEnvelope(t, rec).Message), &seen); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	var wantMap map[string]any
	_ = json.Unmarshal(wantJSON, &wantMap)
	delete(seen, "time")
	if !reflect.DeepEqual(seen, wantMap) {
		t.Errorf("policy saw\n%v\nwant\n%v", seen, wantMap)
	}
	if _, ok := seen["request"].(map[string]any)["prompt"]; ok {
		t.Error("prompt text passed without PolicyConfig.Prompt")
	}
}

func TestPolicyInputPrompt(t *testing.T) {
	var got policy.Input
	cfg := PolicyConfig{Engine: policyTestEngine(t, `decision := {"allow": true}`), Prompt: true, Input: func(c *Call, in *policy.Input) { got = *in }}
	h, _ := policyTestChain(t, cfg, nil, budgetTestCatalog(t))
	rec := postJSON(h, "/v1/chat/completions", `{"model":"metered","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]}`)
	if rec.Code != 200 || got.Request.Prompt != "Be brief.\nHello" || !reflect.DeepEqual(got.Principal, policy.Principal{}) {
		t.Fatalf("%d; prompt %q principal %+v", rec.Code, got.Request.Prompt, got.Principal)
	}
}

// TestPolicyLibrary runs the shipped library through the layer.
func TestPolicyLibrary(t *testing.T) {
	e, err := policy.New(context.Background(), policy.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b, _ := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 0.000001}, "pro": {USDPerMonth: 10}}})
	for _, tc := range []struct {
		name, tier, model string
		status            int
		code              string
		capped            float64
	}{
		{"pro tier, allowed model, capped", "pro", "gpt-4o-mini", 200, "", 8192},
		{"free tier, model not allowed", "free", "gpt-4o", 404, wire.CodeModelNotFound, 0},
		{"free tier, budget exhausted", "free", "gpt-4o-mini", 429, wire.CodeInsufficientQuota, 0},
		{"unknown tier", "gold", "gpt-4o-mini", 403, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, seen := policyTestChain(t, PolicyConfig{Engine: e, Budgets: b}, &Principal{KeyID: "k-" + tc.tier, Tier: tc.tier}, models.Builtin())
			rec := postJSON(h, "/v1/chat/completions", `{"model":"`+tc.model+`","messages":[{"role":"user","content":"hi"}]}`)
			if rec.Code != tc.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tc.status == 200 {
				if seen.body["max_completion_tokens"] != tc.capped {
					t.Errorf("body %v, want max_completion_tokens %v", seen.body, tc.capped)
				}
				return
			}
			if e := budgetTestEnvelope(t, rec); e.Code != tc.code {
				t.Errorf("envelope %+v, want code %q", e, tc.code)
			}
		})
	}
}

// A decision that lists categories to redact has them redacted from the
// request the handler receives, instead of blocking it.
func TestPolicyRedactDecision(t *testing.T) {
	eng, err := policy.New(context.Background(), policy.Config{FS: fstest.MapFS{"p.rego": {Data: []byte(`package llmgate
decision := {"allow": true, "redact": ["pii/email"]}
`)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	pol, err := NewPolicy(PolicyConfig{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}), pol.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	rec := postJSON(h, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"mail me at jane.doe@example.com"}],"x":1}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if strings.Contains(string(got), "jane.doe@example.com") || !strings.Contains(string(got), "[REDACTED:pii/email]") || !strings.Contains(string(got), `"x":1`) {
		t.Errorf("handler got %s", got)
	}
}

// TestPolicyDenialRateLimitHeaders: with PolicyConfig.Limit, a denial
// carries the rate-limit headers of the request's limits, read without
// taking from the buckets: the next allowed request sees them untouched.
func TestPolicyDenialRateLimitHeaders(t *testing.T) {
	alice := &Principal{KeyID: "k1", User: "alice", Org: "acme", Tier: "free"}
	lim, err := NewLimit(LimitConfig{Tiers: map[string]LimitTier{"default": {}, "free": {Key: LimitRates{RPM: 10, TPM: 10000}}}})
	if err != nil {
		t.Fatal(err)
	}
	deny := policyTestEngine(t, `decision := {"allow": false, "status": 429, "reasons": ["out of budget"]} if input.request.max_tokens == 20
decision := {"allow": true} if input.request.max_tokens != 20`)
	h := Chain(RequestID, budgetTestPrincipal(alice), Decode(DecodeConfig{}), Count(CountConfig{Catalog: budgetTestCatalog(t)}),
		mustPolicy(t, PolicyConfig{Engine: deny, Limit: lim, Catalog: budgetTestCatalog(t)}).Handler, lim.Handler)(budgetTestUsage(1, 1))
	for range 3 {
		rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 20, false))
		if rec.Code != 429 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for name, want := range map[string]string{"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "10", "x-ratelimit-limit-tokens": "10000"} {
			if got := rec.Header().Get(name); got != want {
				t.Errorf("denial: %s = %q, want %q", name, got, want)
			}
		}
		if rec.Header().Get("RateLimit-Policy") == "" || rec.Header().Get("RateLimit") == "" {
			t.Errorf("denial without the IETF pair: %v", rec.Header())
		}
	}
	rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 21, false))
	if rec.Code != 200 || rec.Header().Get("x-ratelimit-remaining-requests") != "9" {
		t.Errorf("allowed after three denials: status %d, remaining %q, want 200 and 9", rec.Code, rec.Header().Get("x-ratelimit-remaining-requests"))
	}
}

func mustPolicy(t *testing.T, cfg PolicyConfig) *Policy {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicyRequestCustomTools: custom tools are listed in
// input.request.tools beside functions, a custom tool choice names its
// tool, and an allowed_tools choice gives its mode.
func TestPolicyRequestCustomTools(t *testing.T) {
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"custom","custom":{"name":"apply_patch"}}]`
	for _, tc := range []struct {
		choice, want string
	}{
		{`{"type":"custom","custom":{"name":"apply_patch"}}`, "apply_patch"},
		{`{"type":"function","function":{"name":"get_weather"}}`, "get_weather"},
		{`{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"custom","custom":{"name":"apply_patch"}}]}}`, "required"},
		{`{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"get_weather"}}]}}`, "auto"},
		{`"none"`, "none"},
	} {
		d := newScanner([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `,"tool_choice":` + tc.choice + `}`))
		req, _, err := decodeChat(&d)
		if err != nil {
			t.Fatal(err)
		}
		got := requestSummary(&Call{Chat: req}, false)
		if !reflect.DeepEqual(got.Tools, []string{"get_weather", "apply_patch"}) || got.ToolChoice != tc.want {
			t.Errorf("%s: tools %q, tool_choice %q, want [get_weather apply_patch] and %q", tc.choice, got.Tools, got.ToolChoice, tc.want)
		}
	}
}
