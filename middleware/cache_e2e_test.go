package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/llmtest"
)

// cacheTestNoLeaks checks, after the test's cleanups, that it left no
// goroutine behind.
func cacheTestNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// cacheTestTransport records the x-cache header of every response.
type cacheTestTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
	// served counts the requests the server is still handling. openai-go
	// ends a stream at [DONE], before the server's handler has returned —
	// and the cache stores an entry only then — so tests wait for it.
	served sync.WaitGroup
}

func (rt *cacheTestTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := rt.next.RoundTrip(r)
	if err == nil {
		rt.mu.Lock()
		rt.seen = append(rt.seen, res.Header.Get("x-cache"))
		rt.mu.Unlock()
	}
	return res, err
}

func (rt *cacheTestTransport) last() string {
	rt.served.Wait()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.seen) == 0 {
		return ""
	}
	return rt.seen[len(rt.seen)-1]
}

// cacheTestClient serves env over HTTP and returns openai-go clients for
// alice and bob sharing one recording transport.
func cacheTestClient(t *testing.T, env *cacheTestEnv) (alice, bob openai.Client, rt *cacheTestTransport) {
	t.Helper()
	rt = &cacheTestTransport{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.served.Add(1) // before the client can see any byte of the response
		defer rt.served.Done()
		env.h.ServeHTTP(w, r)
	}))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	rt.next = tr
	hc := &http.Client{Transport: rt}
	newClient := func(key string) openai.Client {
		return openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(key),
			option.WithMaxRetries(0), option.WithHTTPClient(hc))
	}
	return newClient("sk-alice"), newClient("sk-bob"), rt
}

func cacheTestParams(prompt string, includeUsage bool) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:       "gpt-4o-mini",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		Temperature: openai.Float(0),
		MaxTokens:   openai.Int(24),
	}
	if includeUsage {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return p
}

// cacheTestStreamed is what a client read from a stream.
type cacheTestStreamed struct {
	raw     []string // each chunk's JSON
	content string
	finish  string
	usage   *openai.CompletionUsage // from a usage chunk, if any
}

func cacheTestStream(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams) cacheTestStreamed {
	t.Helper()
	s := c.Chat.Completions.NewStreaming(context.Background(), p)
	defer s.Close()
	var out cacheTestStreamed
	for s.Next() {
		ch := s.Current()
		out.raw = append(out.raw, ch.RawJSON())
		for _, choice := range ch.Choices {
			out.content += choice.Delta.Content
			if choice.FinishReason != "" {
				out.finish = choice.FinishReason
			}
		}
		if ch.JSON.Usage.Valid() && ch.Usage.TotalTokens > 0 {
			u := ch.Usage
			out.usage = &u
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

func cacheTestJSON(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams) *openai.ChatCompletion {
	t.Helper()
	res, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	return res
}

func TestCacheOpenAIConversions(t *testing.T) {
	cacheTestNoLeaks(t)
	env := cacheTestChain(t, cacheTestOpts{})
	alice, bob, rt := cacheTestClient(t, env)
	expect := func(t *testing.T, xcache string, upstream int32) {
		t.Helper()
		if got := rt.last(); got != xcache {
			t.Errorf("x-cache %q, want %q", got, xcache)
		}
		if got := env.upstream.Load(); got != upstream {
			t.Errorf("%d upstream calls, want %d", got, upstream)
		}
	}

	t.Run("stream entry served as JSON, usage included", func(t *testing.T) {
		p := cacheTestParams("Write about rivers.", false)
		before := env.upstream.Load()
		streamed := cacheTestStream(t, alice, p)
		expect(t, "MISS", before+1)
		if streamed.usage != nil {
			t.Error("usage chunk the client did not ask for")
		}
		hit := cacheTestJSON(t, alice, p)
		expect(t, "HIT", before+1)
		real := cacheTestJSON(t, bob, p) // bob's own upstream answer, as JSON
		expect(t, "MISS", before+2)
		if got := hit.Choices[0].Message.Content; got != streamed.content || got != real.Choices[0].Message.Content {
			t.Errorf("content %q; stream %q; upstream JSON %q", got, streamed.content, real.Choices[0].Message.Content)
		}
		if hit.Choices[0].FinishReason != real.Choices[0].FinishReason || hit.Object != "chat.completion" {
			t.Errorf("finish %q object %q, want %q", hit.Choices[0].FinishReason, hit.Object, real.Choices[0].FinishReason)
		}
		if hit.Usage.PromptTokens != real.Usage.PromptTokens || hit.Usage.CompletionTokens != real.Usage.CompletionTokens || hit.Usage.TotalTokens == 0 {
			t.Errorf("usage %+v, upstream's %+v", hit.Usage, real.Usage)
		}
	})

	t.Run("JSON entry served as a stream", func(t *testing.T) {
		p := cacheTestParams("Write about mountains.", false)
		before := env.upstream.Load()
		stored := cacheTestJSON(t, alice, p)
		expect(t, "MISS", before+1)

		plain := cacheTestStream(t, alice, p)
		expect(t, "HIT", before+1)
		if plain.content != stored.Choices[0].Message.Content || plain.finish != stored.Choices[0].FinishReason {
			t.Errorf("stream %q (%s), stored %q (%s)", plain.content, plain.finish, stored.Choices[0].Message.Content, stored.Choices[0].FinishReason)
		}
		if plain.usage != nil || len(plain.raw) < 3 {
			t.Errorf("without include_usage: usage %+v, %d chunks", plain.usage, len(plain.raw))
		}

		p = cacheTestParams("Write about mountains.", true)
		withUsage := cacheTestStream(t, alice, p)
		expect(t, "HIT", before+1)
		if withUsage.usage == nil || withUsage.usage.TotalTokens != stored.Usage.TotalTokens ||
			withUsage.usage.CompletionTokens != stored.Usage.CompletionTokens {
			t.Errorf("usage chunk %+v, stored %+v", withUsage.usage, stored.Usage)
		}
		if withUsage.content != stored.Choices[0].Message.Content {
			t.Errorf("content %q", withUsage.content)
		}
	})

	t.Run("stream replayed with its chunk boundaries", func(t *testing.T) {
		p := cacheTestParams("Write about forests.", true)
		before := env.upstream.Load()
		first := cacheTestStream(t, alice, p)
		expect(t, "MISS", before+1)
		again := cacheTestStream(t, alice, p)
		expect(t, "HIT", before+1)
		if strings.Join(first.raw, "\n") != strings.Join(again.raw, "\n") || first.usage == nil {
			t.Errorf("replay differs:\n%s\n---\n%s", strings.Join(first.raw, "\n"), strings.Join(again.raw, "\n"))
		}
		noUsage := cacheTestStream(t, alice, cacheTestParams("Write about forests.", false))
		expect(t, "HIT", before+1)
		if noUsage.usage != nil || len(noUsage.raw) != len(first.raw)-1 {
			t.Errorf("without include_usage: %d chunks (usage %+v), want %d", len(noUsage.raw), noUsage.usage, len(first.raw)-1)
		}
	})
}

// TestCacheCollapse sends n identical requests at once, half of them
// streamed; the upstream answers only once all n have reached the cache
// layer (with singleflight) or the upstream itself (without it: otherwise a
// request still on its way to the cache lookup could find the entry an
// early answer stored, and the baseline would count fewer than n calls).
func TestCacheCollapse(t *testing.T) {
	const n = 100
	tests := []struct {
		name           string
		cfg            CacheConfig
		gateAtUpstream bool
		wantUpstream   int32
		wantMisses     int
	}{
		{"singleflight", CacheConfig{}, false, 1, 1},
		{"baseline without singleflight", CacheConfig{NoCollapse: true}, true, n, n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var arrived, arrivedUpstream atomic.Int32
			gate := make(chan struct{})
			up := llmtest.Handler(llmtest.Config{})
			env := cacheTestChain(t, cacheTestOpts{
				cfg: tc.cfg,
				upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.gateAtUpstream && arrivedUpstream.Add(1) == n {
						close(gate)
					}
					select { // answer once all n requests reached the cache
					case <-gate:
					case <-r.Context().Done():
						return
					}
					up.ServeHTTP(w, r)
				}),
				before: func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if !tc.gateAtUpstream && arrived.Add(1) == n {
							close(gate)
						}
						next.ServeHTTP(w, r)
					})
				},
			})

			var wg sync.WaitGroup
			recs := make([]*httptest.ResponseRecorder, n)
			for i := range n {
				wg.Go(func() {
					recs[i] = env.chat("sk-alice", cacheTestChatBody("Tell me about caches.", i%2 == 1, false))
				})
			}
			wg.Wait()
			misses := 0
			var jsonBody string
			for i, rec := range recs {
				if rec.Code != 200 {
					t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
				}
				switch rec.Header().Get("x-cache") {
				case "MISS":
					misses++
				case "HIT":
				default:
					t.Errorf("request %d: x-cache %q", i, rec.Header().Get("x-cache"))
				}
				if i%2 == 1 {
					if !strings.HasSuffix(rec.Body.String(), "data: [DONE]\n\n") {
						t.Errorf("request %d: stream does not end with [DONE]", i)
					}
					continue
				}
				var c openai.ChatCompletion
				if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || len(c.Choices) != 1 {
					t.Fatalf("request %d: %v %s", i, err, rec.Body)
				}
				if jsonBody == "" {
					jsonBody = c.Choices[0].Message.Content
				} else if c.Choices[0].Message.Content != jsonBody {
					t.Errorf("request %d: content %q, want %q", i, c.Choices[0].Message.Content, jsonBody)
				}
			}
			if got := env.upstream.Load(); got != tc.wantUpstream || misses != tc.wantMisses {
				t.Errorf("%d upstream calls and %d misses, want %d and %d", got, misses, tc.wantUpstream, tc.wantMisses)
			}
		})
	}
}

// cacheTestRedis returns a client for LLMGATE_REDIS_URL and a random key
// prefix; without the variable the test is skipped, except under CI=true.
func cacheTestRedis(t *testing.T) (*redis.Options, string) {
	t.Helper()
	opt, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatalf("LLMGATE_REDIS_URL: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return opt, "llmgate-test:cache:" + hex.EncodeToString(b[:]) + ":"
}

// TestCacheRedisShared runs two Cache instances, as two replicas would,
// each with its own client and RedisStore on one Redis.
func TestCacheRedisShared(t *testing.T) {
	opt, prefix := cacheTestRedis(t)
	var upstream atomic.Int32
	var envs [2]*cacheTestEnv
	for i := range envs {
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("redis: %v", err)
		}
		s, err := cache.NewRedisStore(cache.RedisConfig{Client: c, Prefix: prefix, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		up := llmtest.Handler(llmtest.Config{})
		envs[i] = cacheTestChain(t, cacheTestOpts{cfg: CacheConfig{Store: s, TTL: time.Minute},
			upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upstream.Add(1)
				up.ServeHTTP(w, r)
			})})
	}
	a, b := envs[0], envs[1]
	q := cacheTestChatBody("Shared between replicas?", false, false)
	steps := []struct {
		env       *cacheTestEnv
		key, body string
		want      string
		upstream  int32
	}{
		{a, "sk-alice", q, "MISS", 1},
		{b, "sk-alice", q, "HIT", 1},
		{b, "sk-alice", cacheTestChatBody("Shared between replicas?", true, true), "HIT", 1},
		{b, "sk-bob", q, "MISS", 2},
		{a, "sk-bob", q, "HIT", 2},
	}
	var first string
	for i, s := range steps {
		rec := s.env.chat(s.key, s.body)
		if rec.Code != 200 || rec.Header().Get("x-cache") != s.want || upstream.Load() != s.upstream {
			t.Fatalf("step %d: %d x-cache %q upstream %d, want %s and %d: %s", i, rec.Code, rec.Header().Get("x-cache"), upstream.Load(), s.want, s.upstream, rec.Body)
		}
		if i == 0 {
			first = rec.Body.String()
		}
		if i == 1 && rec.Body.String() != first {
			t.Errorf("replica b served %s, replica a stored %s", rec.Body, first)
		}
		if i == 2 && !strings.Contains(rec.Body.String(), `"usage":{`) {
			t.Errorf("stream converted from Redis lacks the usage chunk: %s", rec.Body)
		}
	}
}
