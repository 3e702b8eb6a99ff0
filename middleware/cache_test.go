package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/llmtest"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
)

// cacheTestT0 is the start of the fake timeline.
var cacheTestT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// cacheTestClock is a fake clock for the cache layer and its store.
type cacheTestClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *cacheTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *cacheTestClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// cacheTestKeys are alice and bob of org acme, and carol of org other.
var cacheTestKeys = []KeyEntry{
	{ID: "alice", SHA256: HashKey("sk-alice"), Org: "acme"},
	{ID: "bob", SHA256: HashKey("sk-bob"), Org: "acme"},
	{ID: "carol", SHA256: HashKey("sk-carol"), Org: "other"},
}

// cacheTestEnv is a chain Auth → Decode → Count → [decision] → Cache →
// counted upstream, on a fake clock.
type cacheTestEnv struct {
	h        http.Handler
	cache    *Cache
	clock    *cacheTestClock
	upstream atomic.Int32
}

type cacheTestOpts struct {
	cfg      CacheConfig
	noAuth   bool
	decision *policy.Decision
	upstream http.Handler // default: llmtest
	before   Middleware   // placed just before Cache
}

func cacheTestChain(t testing.TB, o cacheTestOpts) *cacheTestEnv {
	t.Helper()
	env := &cacheTestEnv{clock: &cacheTestClock{now: cacheTestT0}}
	cfg := o.cfg
	if cfg.Clock == nil {
		cfg.Clock = env.clock
	}
	if cfg.Store == nil {
		s, err := cache.NewMemoryStore(cache.MemoryConfig{Clock: cfg.Clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		cfg.Store = s
	}
	cc, err := NewCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.cache = cc
	up := o.upstream
	if up == nil {
		up = llmtest.Handler(llmtest.Config{Now: func() time.Time { return cacheTestT0 }})
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.upstream.Add(1)
		up.ServeHTTP(w, r)
	})
	var auth Middleware
	if !o.noAuth {
		keys, err := NewStaticKeyStore(cacheTestKeys)
		if err != nil {
			t.Fatal(err)
		}
		auth = Auth(AuthConfig{Store: keys})
	}
	var decide Middleware
	if o.decision != nil {
		decide = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c := CallFrom(r.Context()); c != nil {
					c.Decision = o.decision
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	env.h = Chain(auth, Decode(DecodeConfig{}), Count(CountConfig{}), decide, o.before, cc.Handler)(counted)
	return env
}

// cacheTestChatBody is a reproducible chat request (temperature 0).
func cacheTestChatBody(prompt string, stream, includeUsage bool) string {
	b := `{"model":"gpt-4o-mini","temperature":0,"max_tokens":24,"messages":[{"role":"user","content":` + cacheTestQuote(prompt) + `}]`
	if stream {
		b += `,"stream":true`
		if includeUsage {
			b += `,"stream_options":{"include_usage":true}`
		}
	}
	return b + "}"
}

func cacheTestQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cacheTestDo posts body to path with the API key (none when ""), and
// header pairs.
func (env *cacheTestEnv) do(key, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	return rec
}

func (env *cacheTestEnv) chat(key, body string, header ...string) *httptest.ResponseRecorder {
	return env.do(key, "/v1/chat/completions", body, header...)
}

// cacheTestStep is one request of a scenario and what it must get.
type cacheTestStep struct {
	key, body string
	header    []string
	advance   time.Duration // the clock moves this much first
	xcache    string        // want x-cache ("" = no header)
	age       string        // want age ("" = no header)
	upstream  int32         // want upstream calls so far
	status    int           // want status (0 = 200)
}

func (env *cacheTestEnv) run(t *testing.T, steps []cacheTestStep) {
	t.Helper()
	for i, s := range steps {
		env.clock.advance(s.advance)
		rec := env.chat(s.key, s.body, s.header...)
		want := s.status
		if want == 0 {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Fatalf("step %d: status %d, want %d: %s", i, rec.Code, want, rec.Body)
		}
		if got := rec.Header().Get("x-cache"); got != s.xcache {
			t.Errorf("step %d: x-cache %q, want %q", i, got, s.xcache)
		}
		if got := rec.Header().Get("age"); got != s.age {
			t.Errorf("step %d: age %q, want %q", i, got, s.age)
		}
		if got := env.upstream.Load(); got != s.upstream {
			t.Errorf("step %d: %d upstream calls so far, want %d", i, got, s.upstream)
		}
	}
}

func TestCacheScenarios(t *testing.T) {
	q := cacheTestChatBody("Tell me about the sea.", false, false)
	q2 := cacheTestChatBody("Tell me about the sky.", false, false)
	hot := strings.Replace(q, `"temperature":0`, `"temperature":0.8`, 1)
	tests := []struct {
		name  string
		opts  cacheTestOpts
		steps []cacheTestStep
	}{
		{"miss then hit with age", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: q, advance: 2500 * time.Millisecond, xcache: "HIT", age: "2", upstream: 1},
			{key: "sk-alice", body: q2, xcache: "MISS", upstream: 2},
		}},
		{"tenants never share under key scope", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-bob", body: q, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, xcache: "HIT", age: "0", upstream: 2},
			{key: "sk-bob", body: q, xcache: "HIT", age: "0", upstream: 2},
		}},
		{"org scope shares within an org only", cacheTestOpts{cfg: CacheConfig{Scope: cache.ScopeOrg}}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-bob", body: q, xcache: "HIT", age: "0", upstream: 1},
			{key: "sk-carol", body: q, xcache: "MISS", upstream: 2},
		}},
		{"no principal bypasses under key scope", cacheTestOpts{noAuth: true}, []cacheTestStep{
			{body: q, xcache: "BYPASS", upstream: 1},
			{body: q, xcache: "BYPASS", upstream: 2},
		}},
		{"no principal is cached under global scope", cacheTestOpts{noAuth: true, cfg: CacheConfig{Scope: cache.ScopeGlobal}}, []cacheTestStep{
			{body: q, xcache: "MISS", upstream: 1},
			{body: q, xcache: "HIT", age: "0", upstream: 1},
		}},
		{"TTL expiry on the injected clock", cacheTestOpts{cfg: CacheConfig{TTL: time.Minute}}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: q, advance: 59 * time.Second, xcache: "HIT", age: "59", upstream: 1},
			{key: "sk-alice", body: q, advance: time.Second, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, advance: 10 * time.Second, xcache: "HIT", age: "10", upstream: 2},
		}},
		{"no-cache refreshes: skips the lookup, stores", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: q, advance: 30 * time.Second, header: []string{"Cache-Control", "no-cache"}, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, advance: 5 * time.Second, xcache: "HIT", age: "5", upstream: 2},
		}},
		{"max-age=0 refreshes, max-age=N refuses older entries", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: q, header: []string{"Cache-Control", "max-age=0"}, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, advance: 20 * time.Second, header: []string{"Cache-Control", "max-age=30"}, xcache: "HIT", age: "20", upstream: 2},
			{key: "sk-alice", body: q, advance: 20 * time.Second, header: []string{"Cache-Control", "max-age=30"}, xcache: "MISS", upstream: 3},
		}},
		{"no-store neither reads nor stores", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, header: []string{"Cache-Control", "no-store"}, xcache: "BYPASS", upstream: 1},
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, header: []string{"Cache-Control", "no-store"}, xcache: "BYPASS", upstream: 3},
			{key: "sk-alice", body: q, xcache: "HIT", age: "0", upstream: 3},
		}},
		{"only-if-cached: 504 on a miss, the entry on a hit", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, header: []string{"Cache-Control", "only-if-cached"}, xcache: "MISS", upstream: 0, status: http.StatusGatewayTimeout},
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: q, header: []string{"Cache-Control", "only-if-cached"}, xcache: "HIT", age: "0", upstream: 1},
		}},
		{"not reproducible: bypass", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: hot, xcache: "BYPASS", upstream: 1},
			{key: "sk-alice", body: hot, xcache: "BYPASS", upstream: 2},
		}},
		{"policy force caches what is not reproducible", cacheTestOpts{decision: &policy.Decision{Allow: true, Cache: policy.CacheForce}}, []cacheTestStep{
			{key: "sk-alice", body: hot, xcache: "MISS", upstream: 1},
			{key: "sk-alice", body: hot, xcache: "HIT", age: "0", upstream: 1},
		}},
		{"policy forbid", cacheTestOpts{decision: &policy.Decision{Allow: true, Cache: policy.CacheForbid}}, []cacheTestStep{
			{key: "sk-alice", body: q, xcache: "BYPASS", upstream: 1},
			{key: "sk-alice", body: q, xcache: "BYPASS", upstream: 2},
		}},
		{"policy allow keeps the rules", cacheTestOpts{decision: &policy.Decision{Allow: true, Cache: policy.CacheAllow}}, []cacheTestStep{
			{key: "sk-alice", body: hot, xcache: "BYPASS", upstream: 1},
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 2},
			{key: "sk-alice", body: q, xcache: "HIT", age: "0", upstream: 2},
		}},
		{"upstream errors are never stored", cacheTestOpts{}, []cacheTestStep{
			{key: "sk-alice", body: q, header: []string{llmtest.FaultHeader, "status=500"}, xcache: "MISS", upstream: 1, status: 500},
			{key: "sk-alice", body: q, header: []string{llmtest.FaultHeader, "status=500"}, xcache: "MISS", upstream: 2, status: 500},
			{key: "sk-alice", body: q, xcache: "MISS", upstream: 3},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cacheTestChain(t, tc.opts).run(t, tc.steps)
		})
	}
}

// cacheTestFiltered answers with a completion the content filter cut, as a
// JSON body or a stream.
func cacheTestFiltered(w http.ResponseWriter, r *http.Request) {
	c := CallFrom(r.Context())
	if c != nil && c.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}` + "\n\n"))
		_, _ = w.Write([]byte(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}` + "\n\ndata: [DONE]\n\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hel"},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`))
}

// cacheTestUnfinished streams two chunks and stops without [DONE].
func cacheTestUnfinished(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = w.Write([]byte(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}` + "\n\n"))
}

func TestCacheNeverStores(t *testing.T) {
	tests := []struct {
		name     string
		upstream http.HandlerFunc
		stream   bool
	}{
		{"content_filter JSON", cacheTestFiltered, false},
		{"content_filter stream", cacheTestFiltered, true},
		{"stream without [DONE]", cacheTestUnfinished, true},
		{"error envelope", func(w http.ResponseWriter, _ *http.Request) {
			wire.WriteError(w, wire.Errorf(http.StatusServiceUnavailable, wire.TypeServer, "", "", "overloaded"))
		}, false},
		{"200 that is not a completion", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, map[string]string{"hello": "world"})
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := cacheTestChain(t, cacheTestOpts{upstream: tc.upstream})
			body := cacheTestChatBody("hi", tc.stream, false)
			for i := range 3 {
				rec := env.chat("sk-alice", body)
				if got := rec.Header().Get("x-cache"); got != "MISS" {
					t.Errorf("request %d: x-cache %q, want MISS", i, got)
				}
			}
			if n := env.upstream.Load(); n != 3 {
				t.Errorf("%d upstream calls, want 3 (nothing stored)", n)
			}
		})
	}
}

func TestCacheOtherEndpointsUntouched(t *testing.T) {
	env := cacheTestChain(t, cacheTestOpts{})
	req := httptest.NewRequest("GET", "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sk-alice")
	rec := httptest.NewRecorder()
	env.h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("x-cache") != "" {
		t.Errorf("/v1/models: %d, x-cache %q", rec.Code, rec.Header().Get("x-cache"))
	}
	// Completions are cached like chat.
	body := `{"model":"gpt-3.5-turbo-instruct","prompt":"Once upon a time","temperature":0,"max_tokens":16}`
	for i, want := range []string{"MISS", "HIT"} {
		rec := env.do("sk-alice", "/v1/completions", body)
		if rec.Code != 200 || rec.Header().Get("x-cache") != want {
			t.Errorf("completion %d: %d x-cache %q, want %s: %s", i, rec.Code, rec.Header().Get("x-cache"), want, rec.Body)
		}
	}
	if n := env.upstream.Load(); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
}

// TestCacheHitSettlesAsHit checks what outer layers see on a hit: the
// status on Call.CacheStatus, the saved cost and the usage from the tap.
func TestCacheHitSettlesAsHit(t *testing.T) {
	env := cacheTestChain(t, cacheTestOpts{})
	var got []Call
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := CallFrom(r.Context())
			c.Observe(Observer{OnEnd: func(*Response) {
				got = append(got, Call{CacheStatus: c.CacheStatus, SavedCost: c.SavedCost, Usage: c.Usage})
			}})
			next.ServeHTTP(w, r)
		})
	}
	keys, _ := NewStaticKeyStore(cacheTestKeys)
	up := llmtest.Handler(llmtest.Config{})
	env.h = Chain(Auth(AuthConfig{Store: keys}), Decode(DecodeConfig{}), Count(CountConfig{}), outer, env.cache.Handler)(up)
	body := cacheTestChatBody("What is a cache?", false, false)
	env.chat("sk-alice", body)
	env.chat("sk-alice", body)
	if len(got) != 2 {
		t.Fatalf("%d OnEnd calls", len(got))
	}
	if got[0].CacheStatus != "MISS" || got[0].SavedCost != 0 {
		t.Errorf("miss: %q saved %v", got[0].CacheStatus, got[0].SavedCost)
	}
	if got[1].CacheStatus != "HIT" || got[1].SavedCost <= 0 || !reflect.DeepEqual(got[1].Usage, got[0].Usage) {
		t.Errorf("hit: %q saved %v usage %+v (miss usage %+v)", got[1].CacheStatus, got[1].SavedCost, got[1].Usage, got[0].Usage)
	}
}

func TestNewCacheRejects(t *testing.T) {
	for _, cfg := range []CacheConfig{
		{TTL: -time.Second},
		{MaxEntryBytes: -1},
		{Scope: 7},
		{Endpoints: []Endpoint{EndpointModerations}},
	} {
		if _, err := NewCache(cfg); err == nil || !strings.HasPrefix(err.Error(), "middleware: ") {
			t.Errorf("NewCache(%+v): err %v", cfg, err)
		}
	}
	cc, err := NewCache(CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.Close(); err != nil {
		t.Error(err)
	}
}
