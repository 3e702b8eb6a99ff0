package tokens

import (
	"hash/maphash"
	"strings"
	"sync"
)

const (
	// maxCachedPiece is the longest piece whose count is cached: longer
	// pieces are rare and would let a hostile input fill the cache with
	// big keys.
	maxCachedPiece = 128
	cacheShards    = 32
	// shardEntries bounds each shard; the whole cache holds at most
	// cacheShards*shardEntries pieces (64K; at most ~10 MiB of keys).
	shardEntries = 2048
)

// pieceCache is a bounded, concurrency-safe map from a piece that is not a
// single token to its token count. A full shard forgets an arbitrary
// entry (Go map iteration order) to make room.
type pieceCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]int32
	_  [32]byte // keep shards on separate cache lines
}

func newPieceCache() *pieceCache {
	c := &pieceCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]int32, 64)
	}
	return c
}

func (c *pieceCache) shard(piece string) *cacheShard {
	return &c.shards[maphash.String(c.seed, piece)%cacheShards]
}

func (c *pieceCache) get(piece string) (int, bool) {
	sh := c.shard(piece)
	sh.mu.RLock()
	n, ok := sh.m[piece]
	sh.mu.RUnlock()
	return int(n), ok
}

func (c *pieceCache) put(piece string, n int) {
	sh := c.shard(piece)
	// Clone: the piece is a substring of the caller's text, which the
	// cache must not keep alive.
	key := strings.Clone(piece)
	sh.mu.Lock()
	if len(sh.m) >= shardEntries {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[key] = int32(n)
	sh.mu.Unlock()
}
