package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

// configProxy starts the proxy binary with a YAML configuration whose keys
// are "sk-<id>" for each id.
func configProxy(t *testing.T, yaml string) *proxyProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProxy(t, "-config", path)
}

func testKeysYAML(ids ...string) string {
	var b strings.Builder
	b.WriteString("keys:\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "  - {id: %s, key_sha256: %q, user: %s, org: acme, tier: %s}\n", id, middleware.HashKey("sk-"+id), id, id)
	}
	b.WriteString("admin: {key_sha256: \"" + middleware.HashKey("sk-admin") + "\"}\n")
	return b.String()
}

func TestEndToEndLimitsBudgetsCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	p := configProxy(t, testKeysYAML("limited", "broke", "rich")+`
tiers:
  limited: {rpm: 60, models: ["llmtest-*"]}
  broke:   {rpm: 1000, models: ["*"], budget: {usd_per_month: 0.000001}}
  rich:    {models: ["llmtest-*"], budget: {usd_per_month: 100}}
orgs:
  acme: {budget: {usd_per_month: 1000}}
`)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "llmtest-1", Messages: userMsg("Hello there"), MaxTokens: openai.Int(8)}

	t.Run("404 model_not_found", func(t *testing.T) {
		c := p.client("sk-limited")
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: userMsg("hi")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("429 then a successful retry", func(t *testing.T) {
		// Drain the 60-request bucket with plain requests, watching the headers.
		var last *http.Response
		for i := 0; ; i++ {
			res := rawChat(t, p.URL, "sk-limited", `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`)
			last = res
			if res.StatusCode == http.StatusTooManyRequests {
				break
			}
			if res.StatusCode != 200 || i > 70 {
				t.Fatalf("request %d: status %d", i, res.StatusCode)
			}
		}
		for _, h := range []string{"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
			"ratelimit-policy", "ratelimit", "retry-after", "retry-after-ms"} {
			if last.Header.Get(h) == "" {
				t.Errorf("429 lacks %s: %v", h, last.Header)
			}
		}
		if last.Header.Get("x-ratelimit-remaining-requests") != "0" {
			t.Errorf("remaining %q on a 429", last.Header.Get("x-ratelimit-remaining-requests"))
		}
		// /admin/usage shows the drained bucket (at most one request refilled since).
		if lim := adminLimit(t, p.URL, "limited", "rpm"); lim.Limit != 60 || lim.Remaining > 1 || lim.ResetAfter == "" {
			t.Errorf("/admin/usage rpm of the drained key: %+v", lim)
		}
		// The official client, with its default retries, waits retry-after-ms and gets through.
		c := p.client("sk-limited", option.WithMaxRetries(2))
		var httpRes *http.Response
		resp, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&httpRes))
		if err != nil {
			t.Fatalf("after waiting: %v", err)
		}
		if len(resp.Choices) != 1 || httpRes.Header.Get("x-ratelimit-limit-requests") != "60" {
			t.Fatalf("resp %+v headers %v", resp, httpRes.Header)
		}
	})

	t.Run("budget 429 is not retried", func(t *testing.T) {
		c := p.client("sk-broke", option.WithMaxRetries(3))
		before := countRequests(t, p.URL, "broke", "429")
		_, err := c.Chat.Completions.New(ctx, params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "insufficient_quota" {
			t.Fatalf("err %v", err)
		}
		// A limited route's 429s carry the rate-limit headers, the
		// policy's budget denial too.
		if h := apiErr.Response.Header; h.Get("x-ratelimit-limit-requests") == "" || h.Get("RateLimit-Policy") == "" {
			t.Errorf("budget 429 without rate-limit headers: %v", h)
		}
		// The client has its answer before the proxy counts it (see
		// middleware.Observer.OnEnd), so the count is awaited.
		waitFor(t, "the 429 in /metrics", func() bool { return countRequests(t, p.URL, "broke", "429") > before })
		if got := countRequests(t, p.URL, "broke", "429") - before; got != 1 {
			t.Errorf("the client sent %v requests; insufficient_quota must not be retried", got)
		}
	})

	t.Run("cache hit and admin usage", func(t *testing.T) {
		c := p.client("sk-rich")
		det := params
		det.Temperature = openai.Float(0)
		var sum billing.Money
		prices := mustPrices(t, "llmtest-1")
		for i, want := range []string{"MISS", "HIT"} {
			var httpRes *http.Response
			resp, err := c.Chat.Completions.New(ctx, det, option.WithResponseInto(&httpRes))
			if err != nil {
				t.Fatal(err)
			}
			if got := httpRes.Header.Get("x-cache"); got != want {
				t.Errorf("request %d: x-cache %q, want %q", i, got, want)
			}
			if want == "MISS" { // a hit costs nothing
				sum += billing.Cost(prices, wire.Usage{PromptTokens: int(resp.Usage.PromptTokens), CompletionTokens: int(resp.Usage.CompletionTokens)})
			}
		}
		// A streamed request is billed too.
		stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "llmtest-1", Messages: userMsg("Stream please"),
			MaxTokens: openai.Int(6), StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		sum += billing.Cost(prices, wire.Usage{PromptTokens: int(acc.Usage.PromptTokens), CompletionTokens: int(acc.Usage.CompletionTokens)})

		// The client has its answer before the proxy settles its cost (see
		// middleware.Observer.OnEnd): the spend is awaited.
		spent := 0.0
		settled := func() bool {
			spent = adminSpent(t, p.URL, "rich")
			return math.Abs(spent-sum.USD()) <= 1e-9
		}
		for deadline := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if math.Abs(spent-sum.USD()) > 1e-9 || spent == 0 {
			t.Errorf("/admin/usage spent %.9f USD, sum of request costs %.9f", spent, sum.USD())
		}
	})
}

func rawChat(t *testing.T, base, key, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

var metricsMu sync.Mutex

// countRequests reads llmgate_requests_total for a key and status.
func countRequests(t *testing.T, base, key, status string) float64 {
	t.Helper()
	metricsMu.Lock()
	defer metricsMu.Unlock()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	prefix := fmt.Sprintf(`llmgate_requests_total{endpoint="/v1/chat/completions",key=%q,model="llmtest-1",status=%q} `, key, status)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// adminSpent returns the key-scope monthly spend of key id from /admin/usage.
func adminSpent(t *testing.T, base, id string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/usage", nil)
	req.Header.Set("Authorization", "Bearer sk-admin")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Keys []struct {
			ID       string `json:"id"`
			Balances []struct {
				Scope    string  `json:"scope"`
				SpentUSD float64 `json:"spent_usd"`
			} `json:"balances"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("admin usage: %d %v", res.StatusCode, err)
	}
	for _, k := range body.Keys {
		if k.ID != id {
			continue
		}
		for _, b := range k.Balances {
			if strings.HasPrefix(b.Scope, "key") {
				return b.SpentUSD
			}
		}
		t.Fatalf("no key balance for %s: %+v", id, k.Balances)
	}
	t.Fatalf("no key %s in /admin/usage", id)
	return 0
}

func mustPrices(t *testing.T, model string) models.Prices {
	m, ok := models.Builtin().Resolve(model)
	if !ok || m.Prices.AsOf == "" {
		t.Fatalf("no prices for %s", model)
	}
	return m.Prices
}

type adminLimitState struct {
	Name       string `json:"name"`
	Limit      int    `json:"limit"`
	Remaining  int    `json:"remaining"`
	ResetAfter string `json:"reset_after"`
}

// adminLimit returns the named rate limit of key id from /admin/usage.
func adminLimit(t *testing.T, base, id, name string) adminLimitState {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/usage", nil)
	req.Header.Set("Authorization", "Bearer sk-admin")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Keys []struct {
			ID     string            `json:"id"`
			Limits []adminLimitState `json:"limits"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("admin usage: %d %v", res.StatusCode, err)
	}
	for _, k := range body.Keys {
		for _, l := range k.Limits {
			if k.ID == id && l.Name == name {
				return l
			}
		}
	}
	t.Fatalf("no %s limit for key %s in /admin/usage: %+v", name, id, body.Keys)
	return adminLimitState{}
}
