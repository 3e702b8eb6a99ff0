// Package limiter enforces per-key request and token rate limits (RPM,
// TPM, and any other scope a policy names) exactly, under concurrency and
// across replicas.
//
//	store := limiter.NewMemory(limiter.MemoryConfig{})
//	res, err := store.Reserve(ctx, []limiter.Request{
//		{Limit: limiter.Limit{Key: "key:k1", Kind: limiter.Requests, Rate: 60}, Cost: 1},
//		{Limit: limiter.Limit{Key: "key:k1", Kind: limiter.Tokens, Rate: 40000}, Cost: prompt + maxTokens},
//	})
//	if err != nil { /* could not decide: 503 */ }
//	if !res.Allowed { /* 429, retry after res.RetryAfter */ }
//	// … after the response:
//	res.Settle(ctx, usage.TotalTokens) // or res.Cancel(ctx) on an upstream error
//
// # Semantics
//
// A limit of N per minute is a bucket of N units refilled continuously at
// N/60 per second, holding at most Burst (default N): a fresh key may spend
// N at once. Both backends implement it as GCRA (the generic cell rate
// algorithm): a bucket is a single number, its theoretical arrival time
// (TAT), and a request of cost c is admitted at time t when
// max(TAT, t) + c·Period/Rate − Burst·Period/Rate ≤ t. This is exact (no
// window boundaries, no float drift in memory), allocation-free, and needs
// one int64 per key, which is why it was chosen over golang.org/x/time/rate
// (a pointer to an 80-byte Limiter with its own mutex and float state per
// key, and no way to reserve several limiters atomically or refund part of
// a reservation later). Over any stretch of time d
// a bucket admits at most Burst + Rate·d/Period units. The emission
// interval Period/Rate is rounded up to the nanosecond (in memory) so that
// the bound holds even when it is not a whole number.
//
// A request carries several limits; Reserve admits it only if every limit
// does and then charges all of them, atomically: a denied limit leaves the
// others untouched. Settle then sets the Tokens charge to the real usage
// (refund, or overage into debt) and Cancel refunds everything. A cost
// above Burst can never pass: the result says TooLarge instead of asking
// the client to wait forever.
//
// # Backends
//
// MemoryStore keeps buckets in sharded open-addressing hash tables of
// (hash, TAT) pairs, 16 bytes a slot, at most 3/4 full (about 34 bytes per
// live key; 1M keys measured in TestMemoryMillionKeys). A bucket's hash is
// its key's seeded hash xor a tag of its Period and Kind, so a decision
// hashes each key once, takes one shard lock for all the buckets of a key,
// finds each bucket with linear probing from the hash's low bits (usually
// in one probe) and writes the new TAT in place; the
// results' divisions are done after unlocking. Idle buckets — a TAT in the
// past is a full bucket — are swept during insertions, with no goroutine:
// a shard is swept when it has doubled since its last sweep, and its table
// grows only when the live buckets need the room, so the work is amortised
// O(1) per insertion, paid as an occasional pause of one shard (about 16k
// entries per shard at 1M keys). RedisStore runs
// one Lua script per decision with Redis TIME as the clock; when Redis
// fails it fails closed (ErrUnavailable) or open (a local limit of
// limit/Replicas), as configured.
//
// # Headers
//
// FormatReset, RetryAfter, Result.OpenAI, Tightest, Result.PolicyItem and
// Result.RateLimitItem compute the values of OpenAI's x-ratelimit-*
// headers, retry-after(-ms), and the IETF draft-09 RateLimit-Policy and
// RateLimit fields; middleware.Limit writes them.
package limiter
