package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/wire"
	"github.com/redis/go-redis/v9"
)

// budgetTestChunk is chunk i of a chat stream.
func budgetTestChunk(i int) *wire.ChatCompletionChunk {
	return &wire.ChatCompletionChunk{ID: "chatcmpl-s", Object: "chat.completion.chunk", Created: 1, Model: "metered",
		Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Content: " word" + string(rune('a'+i%26))}}}}
}

// TestBudgetBillsDisconnectedStream: a client that goes away after a few
// chunks is billed for the prompt plus every token the handler generated,
// also those generated after it left.
func TestBudgetBillsDisconnectedStream(t *testing.T) {
	const received, afterGone = 3, 5
	cat := budgetTestCatalog(t)
	b, err := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	clientGone, served := make(chan struct{}), make(chan struct{})
	var generated []*wire.ChatCompletionChunk
	var call *Call
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call = CallFrom(r.Context())
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		sw := wire.NewWriter(w)
		for i := 0; i < 10_000; i++ {
			if i == received {
				<-clientGone
			}
			if i >= received+afterGone && r.Context().Err() != nil {
				return // the handler noticed
			}
			ch := budgetTestChunk(i)
			generated = append(generated, ch)
			_ = sw.WriteJSON(ch) // fails once the connection is gone; generation goes on until noticed
		}
	})
	chain := budgetTestChain(cat, &Principal{KeyID: "k1", Tier: "free"}, b, handler)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		chain.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(budgetTestBody("metered", 0, true)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := wire.NewReader(resp.Body)
	for range received {
		if _, err := rd.Next(); err != nil {
			t.Fatalf("reading chunk: %v", err)
		}
	}
	cancel()
	_ = resp.Body.Close()
	close(clientGone)
	<-served

	if len(generated) <= received+afterGone-1 {
		t.Fatalf("handler generated %d chunks", len(generated))
	}
	counter := call.Encoding.NewChatStreamCounter()
	for _, ch := range generated {
		counter.Add(ch)
	}
	want := billing.Cost(call.ModelInfo.Prices, wire.Usage{PromptTokens: call.PromptTokens, CompletionTokens: counter.CompletionTokens()})
	bal := budgetTestSpent(t, b.Ledger(), "key:k1")
	if bal.Spent != want || bal.Reserved != 0 || call.Cost != want {
		t.Errorf("spent %v (Call.Cost %v), reserved %v; want %v for %d prompt + %d generated tokens (%d chunks, client read %d)",
			bal.Spent, call.Cost, bal.Reserved, want, call.PromptTokens, counter.CompletionTokens(), len(generated), received)
	}
	promptOnly := billing.Cost(call.ModelInfo.Prices, wire.Usage{PromptTokens: call.PromptTokens})
	if bal.Spent <= promptOnly {
		t.Errorf("spent %v: no more than the prompt (%v)", bal.Spent, promptOnly)
	}
}

// TestBudgetEndsStreamMidway: an upstream that ignores max_tokens outgrows
// the reservation; when the budget runs out the stream ends with an
// insufficient_quota event and [DONE], and the handler is told to stop.
func TestBudgetEndsStreamMidway(t *testing.T) {
	cat := budgetTestCatalog(t)
	m, _ := cat.Resolve("metered")
	// "metered" caps output at 100 tokens: the reservation is the prompt
	// plus 100 tokens. The budget leaves room for about 60 more.
	worst := billing.WorstCase(m.Prices, 10, 100)
	budget := worst + billing.WorstCase(m.Prices, 0, 60)
	b, err := NewBudgets(BudgetConfig{Keys: map[string]BudgetLimit{"k1": {USDPerMonth: budget.USD()}}, StepTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	var writeErr error
	chunks := 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 1000 {
			ch := budgetTestChunk(i)
			b, _ := json.Marshal(ch)
			// each event split across two writes
			data := "data: " + string(b) + "\n\n"
			if _, writeErr = w.Write([]byte(data[:len(data)/2])); writeErr != nil {
				return
			}
			if _, writeErr = w.Write([]byte(data[len(data)/2:])); writeErr != nil {
				return
			}
			chunks++
		}
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	})
	h := budgetTestChain(cat, &Principal{KeyID: "k1"}, b, handler)
	rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 0, true))
	if !errors.Is(writeErr, ErrBudgetExhausted) {
		t.Fatalf("handler's write error = %v after %d chunks, want ErrBudgetExhausted", writeErr, chunks)
	}
	rd := wire.NewReader(strings.NewReader(rec.Body.String()))
	var events []wire.Event
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		ev.Data = append([]byte(nil), ev.Data...) // valid only until Next
		events = append(events, ev)
	}
	if len(events) < 3 || !events[len(events)-1].IsDone() {
		t.Fatalf("stream of %d events does not end with [DONE]:\n%s", len(events), rec.Body)
	}
	e, ok := wire.DecodeError(429, events[len(events)-2].Data)
	if !ok || e.Type != wire.TypeInsufficientQuota || e.Code != wire.CodeInsufficientQuota {
		t.Fatalf("last event before [DONE] = %s, want an insufficient_quota envelope", events[len(events)-2].Data)
	}
	for _, ev := range events[:len(events)-2] {
		var ch wire.ChatCompletionChunk
		if err := json.Unmarshal(ev.Data, &ch); err != nil || len(ch.Choices) != 1 {
			t.Fatalf("malformed event before the end: %q", ev.Data)
		}
	}
	bal := budgetTestSpent(t, b.Ledger(), "key:k1")
	oneChunk := billing.WorstCase(m.Prices, 0, 3)
	if bal.Reserved != 0 || bal.Spent > budget+oneChunk || bal.Spent < budget-billing.WorstCase(m.Prices, 0, 16) {
		t.Errorf("spent %v reserved %v; budget %v", bal.Spent, bal.Reserved, budget)
	}
}

// TestBudgetRaceRedis is the budget race with two middleware instances
// sharing one Redis ledger.
func TestBudgetRaceRedis(t *testing.T) {
	url := os.Getenv("LLMGATE_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("middleware: CI=true but LLMGATE_REDIS_URL is not set; Redis tests cannot run")
		}
		t.Skip("middleware: LLMGATE_REDIS_URL not set; skipping Redis test")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "{llmgate:test:" + hex.EncodeToString(rnd[:]) + "}:"
	var bs []*Budgets
	var ledger billing.Ledger
	for range 2 {
		client := redis.NewClient(opt)
		t.Cleanup(func() { _ = client.Close() })
		l, err := billing.NewRedis(billing.RedisConfig{Client: client, Prefix: prefix, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewBudgets(BudgetConfig{Ledger: l, Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		bs, ledger = append(bs, b), l
	}
	t.Cleanup(func() {
		client := redis.NewClient(opt)
		defer client.Close()
		ctx := context.Background()
		keys, _ := client.Keys(ctx, strings.NewReplacer("{", `\{`, "}", `\}`).Replace(prefix)+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	budgetTestRace(t, bs, ledger)
}
