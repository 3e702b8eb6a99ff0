package middleware

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/wire"
)

// TestCacheSkipsBudgetCutStream: Budget ends a stream with an
// insufficient_quota event after the chunk that also carries the choice's
// finish_reason (as vLLM sends its last tokens), then [DONE]. That stream
// is not stored: another key of the org, with budget to spare, gets its
// own answer, not k1's error.
func TestCacheSkipsBudgetCutStream(t *testing.T) {
	cat := budgetTestCatalog(t)
	m, _ := cat.Resolve("metered")
	worst := billing.WorstCase(m.Prices, 10, 100)
	budget := worst + billing.WorstCase(m.Prices, 0, 20)
	b, err := NewBudgets(BudgetConfig{Keys: map[string]BudgetLimit{"k1": {USDPerMonth: budget.USD()}}, StepTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewCache(CacheConfig{Scope: cache.ScopeOrg})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	upstream := 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream++
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		_ = sw.WriteJSON(&wire.ChatCompletionChunk{ID: "c1", Object: "chat.completion.chunk", Created: 1, Model: "metered",
			Choices: []wire.ChunkChoice{{Delta: wire.Delta{Role: "assistant", Content: "Hi"}}}})
		// The last tokens and the finish_reason in one chunk.
		_ = sw.WriteJSON(&wire.ChatCompletionChunk{ID: "c1", Object: "chat.completion.chunk", Created: 1, Model: "metered",
			Choices: []wire.ChunkChoice{{Delta: wire.Delta{Content: strings.Repeat(" word", 300)}, FinishReason: "stop"}}})
		_ = sw.WriteDone()
	})
	chain := func(key string) http.Handler {
		return Chain(budgetTestPrincipal(&Principal{KeyID: key, Org: "acme"}), Decode(DecodeConfig{}),
			Count(CountConfig{Catalog: cat}), Budget(b), cc.Handler)(handler)
	}
	body := `{"model":"metered","temperature":0,"messages":[{"role":"user","content":"Say hi."}],"stream":true}`
	rec1 := postJSON(chain("k1"), "/v1/chat/completions", body)
	if !strings.Contains(rec1.Body.String(), "insufficient_quota") {
		t.Fatalf("setup: k1's stream was not cut by the budget:\n%s", rec1.Body)
	}
	rec2 := postJSON(chain("k2"), "/v1/chat/completions", body)
	if xc := rec2.Header().Get("x-cache"); xc != "MISS" || upstream != 2 || strings.Contains(rec2.Body.String(), "insufficient_quota") {
		t.Errorf("k2 (no budget limit): x-cache %s, %d upstream calls, want a MISS of its own:\n%s", xc, upstream, rec2.Body)
	}
}

// TestCacheBodyHitStreamUsage: a JSON answer without usage is stored
// with the usage Count counted; a streamed request with include_usage
// served from it gets that usage in its usage chunk, as a stored stream
// without one does.
func TestCacheBodyHitStreamUsage(t *testing.T) {
	env := cacheTestChain(t, cacheTestOpts{upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}]}`))
	})})
	if rec := env.chat("sk-alice", cacheTestChatBody("hi", false, false)); rec.Header().Get("x-cache") != "MISS" {
		t.Fatalf("first: %s", rec.Header().Get("x-cache"))
	}
	rec := env.chat("sk-alice", cacheTestChatBody("hi", true, true))
	if rec.Header().Get("x-cache") != "HIT" {
		t.Fatalf("second: x-cache %s", rec.Header().Get("x-cache"))
	}
	rd := wire.NewReader(strings.NewReader(rec.Body.String()))
	var usage *wire.Usage
	for {
		ev, err := rd.Next()
		if err != nil || ev.IsDone() {
			break
		}
		var ch wire.ChatCompletionChunk
		if json.Unmarshal(ev.Data, &ch) == nil && ch.Usage != nil {
			usage = ch.Usage
		}
	}
	if usage == nil {
		t.Errorf("streamed hit with stream_options.include_usage has no usage chunk:\n%s", rec.Body)
	}
}

// TestCacheHitKeepsReasoning: a streamed answer carrying
// reasoning_content (vLLM, llama.cpp, DeepSeek) is stored; the same
// request non-streamed is served from it with the reasoning in its
// message.
func TestCacheHitKeepsReasoning(t *testing.T) {
	env := cacheTestChain(t, cacheTestOpts{upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Greeting; reply politely."}}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello!"},"finish_reason":"stop"}]}`,
			`[DONE]`,
		} {
			_, _ = w.Write([]byte("data: " + ev + "\n\n"))
		}
	})})
	if rec := env.chat("sk-alice", cacheTestChatBody("hi", true, false)); rec.Header().Get("x-cache") != "MISS" {
		t.Fatalf("first: %s", rec.Header().Get("x-cache"))
	}
	rec := env.chat("sk-alice", cacheTestChatBody("hi", false, false))
	if rec.Header().Get("x-cache") != "HIT" || !strings.Contains(rec.Body.String(), `"reasoning_content":"Greeting; reply politely."`) {
		t.Errorf("x-cache %s: non-streamed hit lost the reasoning_content: %s", rec.Header().Get("x-cache"), rec.Body)
	}
}
