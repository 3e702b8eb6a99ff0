package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"
)

// redisURL returns LLMGATE_REDIS_URL; without it the test is skipped,
// except under CI=true, where it fails.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("LLMGATE_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("examples/proxy: LLMGATE_REDIS_URL is not set under CI=true; the shared-Redis replica test cannot run")
		}
		t.Skip("examples/proxy: set LLMGATE_REDIS_URL (e.g. redis://127.0.0.1:6394/0) to run the shared-Redis replica test")
	}
	return u
}

// TestReplicasShareRedis starts two proxy processes with one configuration
// on one Redis (under a key prefix of their own) and checks that limits,
// budgets and the cache are those of one gateway, not two.
func TestReplicasShareRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two proxy binaries")
	}
	url := redisURL(t)
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	prefix := "e2e-" + hex.EncodeToString(rnd) + ":"
	const rpm = 10
	cfg := testKeysYAML("limited", "budgeted", "cached") + fmt.Sprintf(`
tiers:
  limited:  {rpm: %d, models: ["llmtest-*"]}
  budgeted: {models: ["llmtest-*"], budget: {usd_per_month: 0.0001}}
  cached:   {models: ["llmtest-*"]}
redis: {url: %q, prefix: %q, replicas: 2}
`, rpm, url, prefix)
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startProxy(t, "-config", path)
	b := startProxy(t, "-config", path)
	replicas := []*proxyProc{a, b}
	for _, p := range replicas {
		res, err := http.Get(p.URL + "/readyz")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s/readyz: %v %v", p.URL, res, err)
		}
		res.Body.Close()
	}
	ctx := context.Background()
	const small = `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`

	t.Run("one RPM limit across replicas", func(t *testing.T) {
		admitted := map[int]int{}
		for i := 0; i < 3*rpm; i++ {
			who := i % 2
			res := rawChat(t, replicas[who].URL, "sk-limited", small)
			switch res.StatusCode {
			case 200:
				admitted[who]++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("request %d on replica %d: status %d", i, who, res.StatusCode)
			}
		}
		// Alone, each replica would admit rpm requests (2·rpm in all).
		if got := admitted[0] + admitted[1]; got != rpm || admitted[0] == 0 || admitted[1] == 0 {
			t.Errorf("admitted %d on A and %d on B: %d in all, want %d across both", admitted[0], admitted[1], got, rpm)
		}
	})

	t.Run("budget spent on A is enforced on B", func(t *testing.T) {
		if res := rawChat(t, a.URL, "sk-budgeted", small); res.StatusCode != 200 {
			t.Fatalf("first request on A: %d", res.StatusCode)
		}
		// The client has its answer before A settles its cost (see
		// middleware.Observer.OnEnd): the spend is awaited.
		var spentA, spentB float64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if spentA, spentB = adminSpent(t, a.URL, "budgeted"), adminSpent(t, b.URL, "budgeted"); spentA != 0 && spentA == spentB {
				break
			}
		}
		if spentA == 0 || spentA != spentB {
			t.Fatalf("spent %.9f USD on A's view, %.9f on B's; want the same, non-zero", spentA, spentB)
		}
		// Spend the rest of the budget on A only.
		for i := 0; ; i++ {
			res := rawChat(t, a.URL, "sk-budgeted", small)
			if res.StatusCode == http.StatusTooManyRequests {
				break
			}
			if res.StatusCode != 200 || i > 100 {
				t.Fatalf("request %d on A: status %d", i, res.StatusCode)
			}
		}
		// B has served none of it, yet refuses: the budget is shared.
		c := b.client("sk-budgeted")
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llmtest-1", Messages: userMsg("hi"), MaxTokens: openai.Int(1)})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "insufficient_quota" {
			t.Fatalf("B: err %v, want 429 insufficient_quota", err)
		}
		if got := countRequests(t, b.URL, "budgeted", "200"); got != 0 {
			t.Errorf("B served %v requests of the budgeted key, want 0", got)
		}
	})

	// A streamed answer is cached too. openai-go stops reading a stream at
	// [DONE] and closes it, which can end the request's context on the
	// proxy while it still settles and stores (middleware's
	// TestCacheClientClosesAfterAnswer makes that happen every time): the
	// answer is stored all the same, and replayed by the other replica.
	//
	// The client has its answer before A stores it (see
	// middleware.Observer.OnEnd): a request to B in that moment would miss.
	// So the test waits for the entry to be in Redis before asking B.
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	cached := func() int {
		keys, err := rdb.Keys(ctx, prefix+"cache:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached by A is a hit on B (stream=%v)", stream), func(t *testing.T) {
			params := openai.ChatCompletionNewParams{Model: "llmtest-1", Messages: userMsg(fmt.Sprintf("Cache me across replicas (%v)", stream)),
				MaxTokens: openai.Int(8), Temperature: openai.Float(0)}
			var texts []string
			before := cached()
			for i, step := range []struct {
				p    *proxyProc
				want string
			}{{a, "MISS"}, {b, "HIT"}, {a, "HIT"}} {
				var httpRes *http.Response
				c := step.p.client("sk-cached")
				var text string
				if stream {
					s := c.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&httpRes))
					var acc openai.ChatCompletionAccumulator
					for s.Next() {
						acc.AddChunk(s.Current())
					}
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					s.Close()
					if len(acc.Choices) != 1 {
						t.Fatalf("request %d: %d choices", i, len(acc.Choices))
					}
					text = acc.Choices[0].Message.Content
				} else {
					resp, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&httpRes))
					if err != nil {
						t.Fatal(err)
					}
					text = resp.Choices[0].Message.Content
				}
				if got := httpRes.Header.Get("x-cache"); got != step.want {
					t.Errorf("request %d: x-cache %q, want %q", i, got, step.want)
				}
				if i == 0 {
					waitFor(t, "A's answer in Redis", func() bool { return cached() > before })
				}
				texts = append(texts, text)
			}
			if texts[0] == "" || texts[0] != texts[1] || texts[1] != texts[2] {
				t.Errorf("texts differ: %q", texts)
			}
		})
	}
}
