package cache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func keyN(i int) Key {
	return Key{Scope: Scope{ID: "k"}, Sum: [32]byte{byte(i), byte(i >> 8)}}
}

func bodyEntry(n int) *Entry {
	return &Entry{Body: []byte(strings.Repeat("x", n)), Created: t0, Model: "m"}
}

func TestMemoryTTL(t *testing.T) {
	clk := &fakeClock{now: t0}
	s, err := NewMemoryStore(MemoryConfig{TTL: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, keyN(1), bodyEntry(10), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, keyN(2), bodyEntry(10), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		key     int
		wantHit bool
	}{
		{0, 1, true},
		{59 * time.Second, 1, true},
		{time.Second, 1, false}, // expires at exactly TTL
		{0, 2, true},
		{time.Minute - time.Nanosecond, 2, true},
		{time.Nanosecond, 2, false},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		e, ok, err := s.Get(ctx, keyN(st.key))
		if err != nil || ok != st.wantHit || (ok && e.Model != "m") {
			t.Errorf("step %d: key %d hit %v err %v, want hit %v", i, st.key, ok, err, st.wantHit)
		}
	}
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Errorf("expired entries kept: len %d bytes %d", s.Len(), s.Bytes())
	}
	if e := bodyEntry(0); e.Age(t0.Add(90*time.Second)) != 90*time.Second || e.Age(t0.Add(-time.Second)) != 0 {
		t.Error("Age")
	}
}

func TestMemoryByteBound(t *testing.T) {
	one := int64(bodyEntry(1000).Size())
	s, err := NewMemoryStore(MemoryConfig{MaxBytes: 3 * one, MaxEntryBytes: 3 * one, Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := s.Set(ctx, keyN(i), bodyEntry(1000), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.Get(ctx, keyN(1)); !ok { // 1 is now the most recent
		t.Fatal("1 missing")
	}
	if err := s.Set(ctx, keyN(4), bodyEntry(1000), 0); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]bool{1: true, 2: false, 3: true, 4: true} {
		if _, ok, _ := s.Get(ctx, keyN(i)); ok != want {
			t.Errorf("key %d present %v, want %v", i, ok, want)
		}
	}
	if s.Bytes() != 3*one || s.Len() != 3 {
		t.Errorf("bytes %d len %d", s.Bytes(), s.Len())
	}
	// Replacing an entry gives its bytes back.
	if err := s.Set(ctx, keyN(4), bodyEntry(10), 0); err != nil {
		t.Fatal(err)
	}
	if want := 2*one + int64(bodyEntry(10).Size()); s.Bytes() != want {
		t.Errorf("bytes after replace %d, want %d", s.Bytes(), want)
	}
	// A big entry evicts several.
	if err := s.Set(ctx, keyN(5), bodyEntry(2500), 0); err != nil {
		t.Fatal(err)
	}
	if s.Bytes() > 3*one {
		t.Errorf("bytes %d over bound %d", s.Bytes(), 3*one)
	}
	if err := s.Set(ctx, keyN(6), bodyEntry(4000), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized entry: %v", err)
	}
}

func TestMemoryClose(t *testing.T) {
	s, _ := NewMemoryStore(MemoryConfig{})
	ctx := context.Background()
	_ = s.Set(ctx, keyN(1), bodyEntry(1), 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, _, err := s.Get(ctx, keyN(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Set(ctx, keyN(1), bodyEntry(1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v", err)
	}
	if err := s.Delete(ctx, keyN(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	if _, err := NewMemoryStore(MemoryConfig{MaxBytes: -1}); err == nil {
		t.Error("negative MaxBytes accepted")
	}
}

func TestMemoryTenantIsolation(t *testing.T) {
	s, _ := NewMemoryStore(MemoryConfig{})
	defer s.Close()
	ctx := context.Background()
	body := chatRequest1K
	alice := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeKey, "alice", "acme"), Body: body})
	bob := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeKey, "bob", "acme"), Body: body})
	_ = s.Set(ctx, alice, bodyEntry(5), 0)
	if _, ok, _ := s.Get(ctx, bob); ok {
		t.Fatal("bob read alice's entry")
	}
	// Per org, keys of one org share, other orgs do not.
	a := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeOrg, "alice", "acme"), Body: body})
	b := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeOrg, "bob", "acme"), Body: body})
	c := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeOrg, "carol", "globex"), Body: body})
	_ = s.Set(ctx, a, bodyEntry(6), 0)
	if _, ok, _ := s.Get(ctx, b); !ok {
		t.Error("same org: no hit")
	}
	if _, ok, _ := s.Get(ctx, c); ok {
		t.Error("other org: hit")
	}
}

func TestMemoryConcurrent(t *testing.T) {
	s, _ := NewMemoryStore(MemoryConfig{MaxBytes: 50 * int64(bodyEntry(100).Size())})
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := keyN((g*31 + i) % 200)
				if i%3 == 0 {
					_ = s.Set(ctx, k, bodyEntry(100), 0)
				} else if e, ok, err := s.Get(ctx, k); err != nil {
					t.Error(err)
				} else if ok {
					_, _ = e.StreamEvents(i%2 == 0) // counted by the store as it is kept
				}
			}
		})
	}
	wg.Wait()
	if s.Bytes() > 50*int64(bodyEntry(100).Size()) {
		t.Errorf("bound exceeded: %d", s.Bytes())
	}
	var sum int64
	s.mu.Lock()
	for _, k := range s.lru.Keys() {
		it, _ := s.lru.Peek(k)
		sum += it.size
	}
	s.mu.Unlock()
	if sum != s.Bytes() {
		t.Errorf("bytes %d, but the entries' shares add up to %d", s.Bytes(), sum)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	entries := []*Entry{
		{Body: []byte(chatBody), Created: t0, Model: "gpt-4o-mini", Usage: &wire.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{Kind: KindCompletion, Stream: true, StreamUsage: true, Events: [][]byte{[]byte("a"), {}, []byte("ccc")}, Created: t0,
			Usage: &wire.Usage{TotalTokens: 9, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 4, AudioTokens: 1},
				CompletionTokensDetails: &wire.CompletionTokensDetails{ReasoningTokens: 2, AudioTokens: 3, AcceptedPredictionTokens: 4, RejectedPredictionTokens: 5}}},
		{},
	}
	for i, e := range entries {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b, _ := e.MarshalBinary()
			var got Entry
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			b2, _ := got.MarshalBinary()
			if string(b) != string(b2) || !got.Created.Equal(e.Created) || got.Model != e.Model || got.Stream != e.Stream ||
				got.Kind != e.Kind || len(got.Events) != len(e.Events) || string(got.Body) != string(e.Body) {
				t.Errorf("round trip: %+v, want %+v", &got, e)
			}
			if !reflect.DeepEqual(got.Usage, e.Usage) {
				t.Errorf("usage %+v", got.Usage)
			}
			for n := range b { // every truncation is an error, never a panic
				var x Entry
				if err := x.UnmarshalBinary(b[:n]); err == nil {
					t.Errorf("truncated at %d: no error", n)
				}
			}
		})
	}
	var x Entry
	if err := x.UnmarshalBinary([]byte{9, 0}); !errors.Is(err, errVersion) {
		t.Errorf("other version: %v", err)
	}
	if err := x.UnmarshalBinary(append(mustMarshal(entries[2]), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
}

func mustMarshal(e *Entry) []byte { b, _ := e.MarshalBinary(); return b }

func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(mustMarshal(&Entry{Body: []byte(chatBody), Created: t0, Usage: &wire.Usage{TotalTokens: 3}}))
	f.Add(mustMarshal(&Entry{Stream: true, Events: [][]byte{[]byte("a"), []byte("b")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return
		}
		var e2 Entry
		if err := e2.UnmarshalBinary(mustMarshal(&e)); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
	})
}

// TestMemoryBoundCountsConversions: the conversions an entry keeps
// (JSON to stream, stream to JSON) count towards MaxBytes as they are
// made, evicting the least recently used entries; a conversion made after
// the entry left the store counts nowhere.
func TestMemoryBoundCountsConversions(t *testing.T) {
	entry := func(i int) *Entry {
		body := fmt.Appendf(nil, `{"id":"c%d","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}]}`,
			i, strings.Repeat("word ", 200))
		e, err := NewBodyEntry(KindChat, 200, body, t0)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	one := int64(entry(0).Size())
	s, err := NewMemoryStore(MemoryConfig{MaxBytes: 4 * one, MaxEntryBytes: 3 * one, Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	entries := make([]*Entry, 5)
	for i := 1; i <= 4; i++ {
		entries[i] = entry(i)
		if err := s.Set(ctx, keyN(i), entries[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	events, err := entries[2].StreamEvents(true)
	if err != nil {
		t.Fatal(err)
	}
	memo := int64(entries[2].memoSize(events))
	want := int64(s.Len())*one + memo
	if got := s.Bytes(); got > 4*one || got != want || s.Len() > 3 {
		t.Errorf("after a conversion of %d bytes: %d bytes in %d entries of %d, want %d, ≤ %d", memo, got, s.Len(), one, want, 4*one)
	}
	if _, ok, _ := s.Get(ctx, keyN(1)); ok {
		t.Error("the least recently used entry was kept")
	}
	if _, ok, _ := s.Get(ctx, keyN(2)); !ok {
		t.Error("the converted entry was evicted: it was just served")
	}
	_, _ = entries[2].StreamEvents(true) // kept: not counted again
	if s.Bytes() != want {
		t.Errorf("bytes %d after converting again, want %d", s.Bytes(), want)
	}
	_, _ = entries[1].StreamEvents(false) // no longer stored
	if s.Bytes() != want {
		t.Errorf("bytes %d after converting an evicted entry, want %d", s.Bytes(), want)
	}
}

// TestMemoryHeapBounded: with every entry converted both ways, the heap a
// bounded store keeps stays near its bound (it was 11 times over when
// conversions were not counted: logprobs make one chunk per token).
func TestMemoryHeapBounded(t *testing.T) {
	const maxBytes = 1 << 20
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	s, err := NewMemoryStore(MemoryConfig{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 300 {
		e, err := NewBodyEntry(KindChat, 200, logprobBody(i), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(context.Background(), keyN(i), e, 0); err != nil {
			t.Fatal(err)
		}
		_, _ = e.StreamEvents(true)
		_, _ = e.StreamEvents(false)
	}
	if used := heap() - base; used > 2*maxBytes {
		t.Errorf("a store bounded to %d MiB keeps %.1f MiB of heap", maxBytes>>20, float64(used)/(1<<20))
	}
	runtime.KeepAlive(s)
}

// logprobBody is a 200-token answer with a logprob per token.
func logprobBody(i int) []byte {
	var content strings.Builder
	var lps []string
	for j := range 200 {
		tok := fmt.Sprintf(" w%d", j%10)
		content.WriteString(tok)
		lps = append(lps, fmt.Sprintf(`{"token":%q,"logprob":-0.5,"bytes":null,"top_logprobs":[]}`, tok))
	}
	return fmt.Appendf(nil, `{"id":"chatcmpl-%08d","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":%q},"logprobs":{"content":[%s]},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":200,"total_tokens":210}}`,
		i, content.String(), strings.Join(lps, ","))
}

// TestMemoryConversionShares: a conversion that would take an entry's
// share past MaxEntryBytes is not kept (made again for each request)
// rather than flushing the store; one that shares the stored events (a
// stream given its usage chunk) counts only what it adds.
func TestMemoryConversionShares(t *testing.T) {
	big, err := NewBodyEntry(KindChat, 200, logprobBody(1), t0) // its stream is several times its body
	if err != nil {
		t.Fatal(err)
	}
	maxEntry := int64(big.Size()) * 2
	s, err := NewMemoryStore(MemoryConfig{MaxBytes: 4 * maxEntry, MaxEntryBytes: maxEntry, Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := s.Set(ctx, keyN(i), bodyEntry(100), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, keyN(9), big, 0); err != nil {
		t.Fatal(err)
	}
	before, n := s.Bytes(), s.Len()
	events, err := big.StreamEvents(false)
	if err != nil || len(events) < 100 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if s.Bytes() != before || s.Len() != n || big.memoEvents[0].Load() != nil {
		t.Errorf("a conversion past MaxEntryBytes: bytes %d → %d, entries %d → %d, kept %v; want nothing changed",
			before, s.Bytes(), n, s.Len(), big.memoEvents[0].Load() != nil)
	}
	again, _ := big.StreamEvents(false)
	if len(again) != len(events) {
		t.Errorf("made again: %d events, want %d", len(again), len(events))
	}

	// A recorded stream without a usage chunk, served with one.
	stream := record(t, KindChat, chatStream[:len(chatStream)-1]) // no usage chunk
	stream.Usage = &wire.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}
	if err := s.Set(ctx, keyN(10), stream, 0); err != nil {
		t.Fatal(err)
	}
	before = s.Bytes()
	withUsage, err := stream.StreamEvents(true)
	if err != nil || len(withUsage) != len(stream.Events)+1 {
		t.Fatalf("%d events, %v", len(withUsage), err)
	}
	if added, want := s.Bytes()-before, int64(48+24*len(withUsage)+len(withUsage[len(withUsage)-1])); added != want {
		t.Errorf("the usage chunk's conversion added %d bytes, want %d (the stored events are shared)", added, want)
	}
}
