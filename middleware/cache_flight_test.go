package middleware

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/llmtest"
)

// gateStore counts Gets of the store it wraps; while hold is set, the next
// Get reads, then signals looked and waits for release before it returns.
type gateStore struct {
	cache.Store
	gets    atomic.Int32
	mu      sync.Mutex
	hold    bool
	looked  chan struct{}
	release chan struct{}
}

func (s *gateStore) Get(ctx context.Context, k cache.Key) (*cache.Entry, bool, error) {
	s.gets.Add(1)
	s.mu.Lock()
	hold := s.hold
	s.hold = false
	s.mu.Unlock()
	e, ok, err := s.Store.Get(ctx, k)
	if hold {
		close(s.looked)
		<-s.release
	}
	return e, ok, err
}

func newGateStore(t *testing.T, clock cache.Clock) *gateStore {
	m, err := cache.NewMemoryStore(cache.MemoryConfig{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return &gateStore{Store: m, looked: make(chan struct{}), release: make(chan struct{})}
}

// TestCacheMissLooksUpOnce checks that a miss reads the store once when no
// identical request finished meanwhile: the look again before leading is
// for a leader that stored its entry between the lookup and Join.
func TestCacheMissLooksUpOnce(t *testing.T) {
	clock := &cacheTestClock{now: cacheTestT0}
	store := newGateStore(t, clock)
	env := cacheTestChain(t, cacheTestOpts{cfg: CacheConfig{Store: store, Clock: clock}})
	body := cacheTestChatBody("Looked up once?", false, false)
	if rec := env.chat("sk-alice", body); rec.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("x-cache %q, want MISS", rec.Header().Get("X-Cache"))
	}
	if n := store.gets.Load(); n != 1 {
		t.Errorf("a miss read the store %d times, want 1", n)
	}
}

// TestCacheLeaderFinishedBetweenLookupAndJoin checks the other side: a
// request whose lookup missed just before an identical request stored its
// answer reads the store again and serves that answer, instead of asking
// the upstream a second time.
func TestCacheLeaderFinishedBetweenLookupAndJoin(t *testing.T) {
	clock := &cacheTestClock{now: cacheTestT0}
	store := newGateStore(t, clock)
	env := cacheTestChain(t, cacheTestOpts{cfg: CacheConfig{Store: store, Clock: clock}})
	body := cacheTestChatBody("Finished in between?", false, false)

	store.hold = true
	late := make(chan string)
	go func() { late <- env.chat("sk-alice", body).Header().Get("X-Cache") }()
	select {
	case <-store.looked: // the late request is inside its lookup
	case <-time.After(10 * time.Second):
		t.Fatal("the late request never looked up")
	}
	if x := env.chat("sk-alice", body).Header().Get("X-Cache"); x != "MISS" {
		t.Fatalf("first request: x-cache %q, want MISS", x)
	}
	close(store.release) // its lookup missed; the first request's entry is stored by now
	if x := <-late; x != "HIT" {
		t.Errorf("late request: x-cache %q, want HIT", x)
	}
	if n := env.upstream.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
	if n := store.gets.Load(); n != 3 {
		t.Errorf("store read %d times, want 3 (two lookups, one look again)", n)
	}
}

// ctxStore fails a Set whose ctx has ended, as a store across a network
// does (the memory store does not look at ctx).
type ctxStore struct{ cache.Store }

func (s ctxStore) Set(ctx context.Context, k cache.Key, e *cache.Entry, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.Set(ctx, k, e, ttl)
}

// TestCacheClientClosesAfterAnswer checks a leader whose client closes the
// connection as soon as it has the answer, before the observers ran (the
// tap flushes a complete answer first; a stream's client stops at
// [DONE]): its request context ends, yet the answer is stored and handed
// to the follower that waited for it, which does not go upstream again.
func TestCacheClientClosesAfterAnswer(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			mem, err := cache.NewMemoryStore(cache.MemoryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer mem.Close()
			var env *cacheTestEnv
			var first atomic.Bool
			up := llmtest.Handler(llmtest.Config{})
			follower := make(chan string, 1)
			body := cacheTestChatBody("Close when answered.", stream, false)
			env = cacheTestChain(t, cacheTestOpts{
				cfg: CacheConfig{Store: ctxStore{mem}},
				upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if first.CompareAndSwap(false, true) { // the leader: a follower joins first
						go func() { follower <- env.chat("sk-alice", body).Header().Get("X-Cache") }()
						for deadline := time.Now().Add(30 * time.Second); env.cache.group.Waiting() == 0; {
							if time.Now().After(deadline) {
								t.Error("the follower never waited for the leader")
								break
							}
							time.Sleep(time.Millisecond)
						}
					}
					up.ServeHTTP(w, r)
				}),
				before: func(next http.Handler) http.Handler { // subscribes before Cache
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						// Cancelled by OnEnd alone: the request's context
						// does not end when an inner layer returns.
						ctx, cancel := context.WithCancel(r.Context())
						c := CallFrom(r.Context())
						c.Observe(Observer{OnEnd: func(res *Response) {
							if !c.wasAnswered() {
								t.Errorf("the client did not have the whole answer before OnEnd: %d %v %v", res.Status, res.Header, res.Err)
							}
							cancel() // the client closes the connection
						}})
						next.ServeHTTP(w, r.WithContext(ctx))
					})
				},
			})
			if x := env.chat("sk-alice", body).Header().Get("X-Cache"); x != "MISS" {
				t.Fatalf("leader: x-cache %q, want MISS", x)
			}
			if x := <-follower; x != "HIT" {
				t.Errorf("follower: x-cache %q, want HIT", x)
			}
			if x := env.chat("sk-alice", body).Header().Get("X-Cache"); x != "HIT" {
				t.Errorf("a later request: x-cache %q, want HIT (the answer was not stored)", x)
			}
			if n := env.upstream.Load(); n != 1 {
				t.Errorf("upstream called %d times, want 1", n)
			}
		})
	}
}
