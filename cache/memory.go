package cache

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// MemoryConfig configures a MemoryStore. The zero value is usable.
type MemoryConfig struct {
	// MaxBytes bounds the sum of the stored entries' Size and of the
	// conversions they keep (Entry.JSON, Entry.StreamEvents), counted as
	// they are made. The least recently used entries are evicted to make
	// room. Default: 64 MiB.
	MaxBytes int64
	// TTL is how long an entry lives when Set gets no ttl. Default: 10m.
	TTL time.Duration
	// MaxEntryBytes refuses entries whose Size is larger (ErrTooLarge),
	// and bounds an entry's share with its kept conversions: a conversion
	// that would pass it is made for each request instead of kept.
	// Default: MaxBytes/8, so one answer cannot flush the cache.
	MaxEntryBytes int64
	// Clock tells the time. Default: the real clock.
	Clock Clock
}

// Defaults of MemoryConfig.
const (
	DefaultMaxBytes = 64 << 20
	DefaultTTL      = 10 * time.Minute
)

// MemoryStore is an in-process Store: an LRU bounded by bytes, whose
// entries expire after their TTL (checked when read: an expired entry is
// a miss and is removed; unread expired entries age out of the LRU). It starts no goroutine. It is safe for
// concurrent use; its zero value is not usable, use NewMemoryStore.
type MemoryStore struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[Key, memItem]
	bytes    int64
	maxBytes int64
	maxEntry int64
	ttl      time.Duration
	clock    Clock
	closed   bool
}

type memItem struct {
	e       *Entry
	size    int64
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	if cfg.MaxBytes < 0 || cfg.TTL < 0 || cfg.MaxEntryBytes < 0 {
		return nil, fmt.Errorf("cache: negative MemoryConfig value: %+v", cfg)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxEntryBytes == 0 || cfg.MaxEntryBytes > cfg.MaxBytes {
		cfg.MaxEntryBytes = max(cfg.MaxBytes/8, 1)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	s := &MemoryStore{maxBytes: cfg.MaxBytes, maxEntry: cfg.MaxEntryBytes, ttl: cfg.TTL, clock: cfg.Clock}
	// The count bound is never reached: bytes bound the cache.
	lru, err := simplelru.NewLRU(math.MaxInt, func(_ Key, it memItem) { s.bytes -= it.size })
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.lru = lru
	return s, nil
}

// Get returns the entry under k unless it expired (an expired entry is
// removed).
func (s *MemoryStore) Get(ctx context.Context, k Key) (*Entry, bool, error) {
	return s.GetAt(ctx, s.clock.Now(), k)
}

// GetAt is Get at time now.
func (s *MemoryStore) GetAt(_ context.Context, now time.Time, k Key) (*Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	it, ok := s.lru.Get(k)
	if !ok {
		return nil, false, nil
	}
	if !now.Before(it.expires) {
		s.lru.Remove(k)
		return nil, false, nil
	}
	return it.e, true, nil
}

// Set stores e under k for ttl (the configured TTL when ttl ≤ 0), evicting
// the least recently used entries until it fits. An entry
// larger than MaxEntryBytes is refused with ErrTooLarge.
func (s *MemoryStore) Set(ctx context.Context, k Key, e *Entry, ttl time.Duration) error {
	return s.SetAt(ctx, s.clock.Now(), k, e, ttl)
}

// SetAt is Set at time now.
func (s *MemoryStore) SetAt(_ context.Context, now time.Time, k Key, e *Entry, ttl time.Duration) error {
	size := int64(e.Size())
	if size > s.maxEntry {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, s.maxEntry)
	}
	if ttl <= 0 {
		ttl = s.ttl
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.lru.Remove(k) // a replaced entry gives its bytes back
	s.evict(size)
	grow := func(n int64) bool { return s.grow(k, e, n) }
	e.onGrow.Store(&grow)
	s.lru.Add(k, memItem{e: e, size: size, expires: now.Add(ttl)})
	s.bytes += size
	return nil
}

// evict removes the least recently used entries until n more bytes fit.
func (s *MemoryStore) evict(n int64) {
	for s.bytes+n > s.maxBytes {
		if _, _, ok := s.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// grow adds n bytes to the share of entry e under k, a conversion it is
// to keep, and evicts the least recently used entries to stay in bounds.
// It refuses (false) when the share would pass MaxEntryBytes: the
// conversion is then not kept, rather than one entry flushing the store.
func (s *MemoryStore) grow(k Key, e *Entry, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.lru.Peek(k)
	if s.closed || !ok || it.e != e {
		return true // gone or replaced: its bytes are not counted any more
	}
	if it.size+n > s.maxEntry {
		return false
	}
	it.size += n
	s.lru.Add(k, it) // the entry was just served: most recently used
	s.bytes += n
	s.evict(0)
	return true
}

// Delete removes the entry under k.
func (s *MemoryStore) Delete(_ context.Context, k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.lru.Remove(k)
	return nil
}

// Len returns the number of entries held, expired ones not yet removed
// included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Bytes returns the sum of the held entries' Size and kept conversions.
func (s *MemoryStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Close drops every entry; later calls return ErrClosed. Close is
// idempotent and always returns nil.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.lru.Purge()
	}
	return nil
}
