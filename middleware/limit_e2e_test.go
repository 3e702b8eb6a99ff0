package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/llmtest"
)

// limitAttempt is one HTTP exchange the openai-go client made.
type limitAttempt struct {
	start, end time.Time
	status     int
	header     http.Header
}

// limitRecorder is an http.RoundTripper that records every attempt.
type limitRecorder struct {
	next     http.RoundTripper
	mu       sync.Mutex
	attempts []limitAttempt
	// served gets a value each time the server's handler returns, its
	// end-of-request work (the settle) done.
	served chan struct{}
}

func (rt *limitRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := rt.next.RoundTrip(r)
	a := limitAttempt{start: start, end: time.Now()}
	if err == nil {
		a.status, a.header = res.StatusCode, res.Header.Clone()
	}
	rt.mu.Lock()
	rt.attempts = append(rt.attempts, a)
	rt.mu.Unlock()
	return res, err
}

// limitNoLeaks checks, after the test's cleanups, that it left no
// goroutine behind.
func limitNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// limitOpenAIServer serves Auth → Decode → Count → Limit → llmtest, with
// key "sk-test" in tier "free".
func limitOpenAIServer(t *testing.T, cfg LimitConfig) (*httptest.Server, openai.Client, *limitRecorder) {
	t.Helper()
	lim, err := NewLimit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewStaticKeyStore([]KeyEntry{{ID: "k_test", SHA256: HashKey("sk-test"), Tier: "free"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rec := &limitRecorder{next: tr, served: make(chan struct{}, 64)}
	h := Chain(
		Auth(AuthConfig{Store: keys}),
		Decode(DecodeConfig{}),
		Count(CountConfig{}),
		lim.Handler,
	)(llmtest.Handler(llmtest.Config{}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case rec.served <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"),
		option.WithHTTPClient(&http.Client{Transport: rec}))
	return srv, client, rec
}

func limitChatParams(maxTokens int64) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:     "llmtest-1",
		Seed:      openai.Int(1),
		MaxTokens: openai.Int(maxTokens),
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")},
	}
}

// The official client, refused with 429, waits retry-after-ms and is then
// admitted. The limit is real time (5 requests per second, burst 1: one
// every 200ms), so the test takes about 200ms; the client waits exactly
// retry-after-ms (openai-go adds no jitter to a server-given delay).
func TestLimitOpenAIClientWaitsForRetryAfter(t *testing.T) {
	limitNoLeaks(t)
	_, client, rec := limitOpenAIServer(t, LimitConfig{
		Period: time.Second,
		Tiers: map[string]LimitTier{
			"free":    {Key: LimitRates{RPM: 5, RequestBurst: 1, TPM: 100000}},
			"default": {},
		},
	})
	ctx := context.Background()
	for i := range 2 {
		resp, err := client.Chat.Completions.New(ctx, limitChatParams(5))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(resp.Choices) != 1 || resp.Usage.TotalTokens == 0 {
			t.Fatalf("call %d: response %+v", i, resp)
		}
	}
	a := rec.attempts
	if len(a) != 3 || a[0].status != 200 || a[1].status != 429 || a[2].status != 200 {
		t.Fatalf("attempts %+v, want 200, 429, 200", a)
	}
	ms, err := strconv.Atoi(a[1].header.Get("Retry-After-Ms"))
	if err != nil || ms <= 0 || ms > 200 {
		t.Fatalf("retry-after-ms %q, want (0, 200]", a[1].header.Get("Retry-After-Ms"))
	}
	if a[1].header.Get("Retry-After") != "1" || a[1].header.Get("X-Ratelimit-Remaining-Requests") != "0" ||
		a[1].header.Get("X-Ratelimit-Limit-Requests") != "5" {
		t.Errorf("429 headers %v", a[1].header)
	}
	if wait := a[2].start.Sub(a[1].end); wait < time.Duration(ms)*time.Millisecond {
		t.Errorf("the client retried after %v, before retry-after-ms %dms", wait, ms)
	}
	for i, x := range a {
		if x.header.Get("Ratelimit-Policy") != `"rps";q=5;w=1, "tps";q=100000;w=1;qu="tokens"` {
			t.Errorf("attempt %d: RateLimit-Policy %q", i, x.header.Get("Ratelimit-Policy"))
		}
	}
}

// A request larger than the token burst is refused once, with
// x-should-retry: false, and the client does not retry it.
func TestLimitOpenAIClientTooLarge(t *testing.T) {
	limitNoLeaks(t)
	_, client, rec := limitOpenAIServer(t, LimitConfig{
		Tiers: map[string]LimitTier{"free": {Key: LimitRates{RPM: 60, TPM: 50}}, "default": {}},
	})
	_, err := client.Chat.Completions.New(context.Background(), limitChatParams(100))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "tokens" || apiErr.Code != "rate_limit_exceeded" {
		t.Fatalf("err = %v, want a 429 tokens rate_limit_exceeded", err)
	}
	if len(rec.attempts) != 1 {
		t.Errorf("%d attempts, want 1: a request too large must not be retried", len(rec.attempts))
	}
}

// A stream from llmtest through the chain is settled to its real usage:
// the next request sees exactly the refund.
func TestLimitOpenAIClientStreamSettles(t *testing.T) {
	limitNoLeaks(t)
	_, client, rec := limitOpenAIServer(t, LimitConfig{
		Store: limiter.NewMemory(limiter.MemoryConfig{Clock: newLimitClock()}),
		Tiers: map[string]LimitTier{"free": {Key: LimitRates{RPM: 60, TPM: 100000}}, "default": {}},
	})
	ctx := context.Background()
	params := limitChatParams(20)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	_ = stream.Close()
	u := acc.Usage
	if u.TotalTokens == 0 || u.CompletionTokens > 20 {
		t.Fatalf("usage %+v", u)
	}
	// The client has the whole stream at [DONE], which the tap flushes
	// before the settle; the next request, on a new connection since the
	// client closed this one early, could come before it. Wait for it.
	<-rec.served
	if _, err := client.Chat.Completions.New(ctx, limitChatParams(20)); err != nil {
		t.Fatal(err)
	}
	a := rec.attempts
	if len(a) != 2 {
		t.Fatalf("%d attempts", len(a))
	}
	if got, want := a[0].header.Get("X-Ratelimit-Remaining-Tokens"), strconv.Itoa(100000-int(u.PromptTokens)-20); got != want {
		t.Errorf("stream: remaining tokens %s, want %s (prompt + max_tokens reserved)", got, want)
	}
	if got, want := a[1].header.Get("X-Ratelimit-Remaining-Tokens"), strconv.Itoa(100000-int(u.TotalTokens)-int(u.PromptTokens)-20); got != want {
		t.Errorf("next request: remaining tokens %s, want %s (the stream settled to %d)", got, want, u.TotalTokens)
	}
}
