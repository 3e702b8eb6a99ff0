package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
)

// Values of the x-cache header and of Call.CacheStatus.
const (
	CacheHit    = "HIT"
	CacheMiss   = "MISS"
	CacheBypass = "BYPASS"
)

// DefaultCacheMaxEntryBytes is CacheConfig.MaxEntryBytes's default.
const DefaultCacheMaxEntryBytes = 4 << 20

// CacheConfig configures a Cache. The zero value is usable: an in-memory
// store of 64 MiB, entries kept 10 minutes, shared per API key.
type CacheConfig struct {
	// Store keeps the entries: a *cache.MemoryStore for one process, a
	// *cache.RedisStore for replicas that share entries. Cache does not
	// close a Store it is given. Default: a new cache.MemoryStore with
	// its defaults on Clock, which Cache.Close closes.
	Store cache.Store
	// TTL is how long a stored response is served. Default: 0, the
	// store's own default (10 minutes for both stores).
	TTL time.Duration
	// Scope says whose requests share entries: cache.ScopeKey (each API
	// key on its own), cache.ScopeOrg (the keys of an org; a key without
	// an org keeps its own) or cache.ScopeGlobal (everyone). A request
	// without a principal (a chain without Auth) is cached only under
	// ScopeGlobal; otherwise it bypasses the cache, so tenants never mix.
	// Default: cache.ScopeKey.
	Scope cache.ScopeKind
	// Endpoints are the endpoints cached; requests to others pass through
	// untouched, with no x-cache header. Only EndpointChatCompletions and
	// EndpointCompletions can be cached. Default: both.
	Endpoints []Endpoint
	// IgnoredFields are the top-level request fields left out of keys
	// (see cache.NewKeyer). Default: cache.DefaultIgnoredFields.
	IgnoredFields []string
	// MaxEntryBytes bounds the response recorded for storing: a longer
	// body or stream passes through and is not stored. Default:
	// DefaultCacheMaxEntryBytes (4 MiB).
	MaxEntryBytes int
	// NoCollapse turns singleflight off: concurrent identical misses then
	// each reach the handler. Default: false, they collapse into one call.
	NoCollapse bool
	// Pacing spaces out the events of a replayed stream. Default: none,
	// events are sent (and flushed one by one) at once.
	Pacing cache.Pacing
	// Clock dates stored entries and computes the age header. Default:
	// the real clock. Give the MemoryStore the same clock.
	Clock cache.Clock
	// Logger receives store failures, and cache hits with their saved
	// cost at debug level. Default: slog.Default().
	Logger *slog.Logger
}

// Cache is the response cache layer. Create one with NewCache; its zero
// value is not usable. A Cache is safe for concurrent use; Close it when
// done if it created its store.
//
// # Per request
//
// Cache handles chat and completions requests decoded by Decode (requests
// without a Call, and other endpoints, pass through untouched). It keys the
// request by endpoint, resolved model (Call.Model), tenant scope and
// canonical body (Call.Raw, as patched by earlier layers), and decides with
// cache.Decide: reproducible requests only (n = 1 and temperature 0 or a
// seed), unless the policy decision says CacheForce (cache anyway) or
// CacheForbid (never); CacheAllow and no decision leave the rule as is. The
// client's Cache-Control narrows that: no-cache (or max-age=0) skips the
// lookup and stores the fresh answer, no-store neither reads nor stores,
// max-age=N refuses older entries, only-if-cached turns a miss into a 504
// envelope.
//
// Every response of a cached endpoint carries x-cache (HIT, MISS or
// BYPASS, also in Call.CacheStatus), and hits carry age in whole seconds.
//
// # Hits
//
// A hit is served without calling the wrapped handler: a stored body to a
// non-streamed request, a stored stream to a streamed request replayed as
// SSE with its original event boundaries (each event flushed), and the
// conversions between the two (cache.Entry.JSON, StreamEvents), the usage
// chunk included exactly when the request asked for stream_options
// include_usage. The replay goes through the response tap, so Count sees
// the usage; Call.CacheStatus "HIT" tells Limit and Budget, whose OnEnd
// runs afterwards, not to charge tokens or cost (their default).
// Call.SavedCost is the stored usage at the model's prices.
//
// # Misses
//
// A miss passes through untouched (streams are not delayed: the recording
// copies each event's data as the tap publishes it) and is stored when it
// ended: a 200 JSON completion, or a stream that ended with [DONE], with no
// choice cut by the content filter, and no write error or panic. The
// stored usage is Call.Usage (reported, or counted by Count).
//
// # Collapsing
//
// Concurrent identical misses (same key, so same tenant) collapse: the
// first one (the leader) reaches the handler, the others wait for its
// response (or for their own context) and are then served from the entry
// it produced, as hits: x-cache: HIT, since they did not reach the
// upstream. When the leader's response is not storable they each call the
// handler themselves; when the leader's client goes away first, one of
// them becomes the leader. Requests that skip the lookup (no-cache) never
// wait for a leader.
type Cache struct {
	store     cache.Store
	own       *cache.MemoryStore // the store NewCache created, if any
	ttl       time.Duration
	scope     cache.ScopeKind
	chat      bool
	comp      bool
	keyer     *cache.Keyer
	maxEntry  int
	collapse  bool
	pacing    cache.Pacing
	clock     cache.Clock
	logger    *slog.Logger
	group     cache.Group
	onlyIfErr *wire.Error
}

// NewCache returns a Cache for cfg. It fails on a negative TTL or
// MaxEntryBytes, an unknown scope, or an endpoint that cannot be cached.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if cfg.TTL < 0 || cfg.MaxEntryBytes < 0 {
		return nil, fmt.Errorf("middleware: cache: negative TTL %v or MaxEntryBytes %d", cfg.TTL, cfg.MaxEntryBytes)
	}
	if cfg.Scope > cache.ScopeGlobal {
		return nil, fmt.Errorf("middleware: cache: unknown scope %v", cfg.Scope)
	}
	cc := &Cache{
		store: cfg.Store, ttl: cfg.TTL, scope: cfg.Scope, keyer: cache.NewKeyer(cfg.IgnoredFields),
		maxEntry: cfg.MaxEntryBytes, collapse: !cfg.NoCollapse, pacing: cfg.Pacing, clock: cfg.Clock, logger: cfg.Logger,
	}
	if cc.maxEntry == 0 {
		cc.maxEntry = DefaultCacheMaxEntryBytes
	}
	if cc.clock == nil {
		cc.clock = realCacheClock{}
	}
	if cc.logger == nil {
		cc.logger = slog.Default()
	}
	eps := cfg.Endpoints
	if eps == nil {
		eps = []Endpoint{EndpointChatCompletions, EndpointCompletions}
	}
	for _, ep := range eps {
		switch ep {
		case EndpointChatCompletions:
			cc.chat = true
		case EndpointCompletions:
			cc.comp = true
		default:
			return nil, fmt.Errorf("middleware: cache: endpoint %v cannot be cached", ep)
		}
	}
	if cc.store == nil {
		s, err := cache.NewMemoryStore(cache.MemoryConfig{Clock: cfg.Clock})
		if err != nil {
			return nil, fmt.Errorf("middleware: cache: %w", err)
		}
		cc.store, cc.own = s, s
	}
	cc.onlyIfErr = wire.Errorf(http.StatusGatewayTimeout, wire.TypeInvalidRequest, "cache_miss", "",
		"No cached response for this request, and Cache-Control: only-if-cached forbids asking the model.")
	return cc, nil
}

type realCacheClock struct{}

func (realCacheClock) Now() time.Time { return time.Now() }

// Close closes the store when NewCache created it; a Store from the config
// is left open. Close is idempotent.
func (cc *Cache) Close() error {
	if cc.own != nil {
		return cc.own.Close() // always nil
	}
	return nil
}

// Handler is the middleware: it serves hits, and records and stores misses
// of next. Place it last before the handler, after Decode (and Count,
// Policy, Limit and Budget when present).
func (cc *Cache) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		if c == nil || !cc.cached(c) {
			next.ServeHTTP(w, r)
			return
		}
		plan, key, ok := cc.plan(c, r)
		if !ok {
			c.CacheStatus = CacheBypass
			w.Header()["X-Cache"] = xCacheBypass
			next.ServeHTTP(w, r)
			return
		}
		if !tappedFor(w, c) {
			var l lookedUp
			if len(c.observers) == 0 && plan.Lookup {
				// Nobody observes the response, so a hit needs no tap:
				// it is written straight to w.
				l = lookedUp{done: true, finished: cc.group.Finished()}
				if e, now, ok := cc.lookup(r.Context(), c, plan, key); ok && cc.serveHit(w, r, c, e, now) {
					return
				}
			}
			// Without Decode's tap nothing would publish the response:
			// install one here.
			serveTapped(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cc.serve(next, w, r, c, plan, key, l)
			}), w, r, c)
			return
		}
		cc.serve(next, w, r, c, plan, key, lookedUp{})
	})
}

// cached reports a request of an endpoint this Cache handles.
func (cc *Cache) cached(c *Call) bool {
	return (c.Chat != nil && cc.chat && c.Endpoint == EndpointChatCompletions) ||
		(c.Completion != nil && cc.comp && c.Endpoint == EndpointCompletions)
}

// plan decides what to do with the request and computes its key; ok is
// false for a request that bypasses the cache.
func (cc *Cache) plan(c *Call, r *http.Request) (cache.Plan, cache.Key, bool) {
	scope, ok := cc.scopeOf(c.Principal)
	if !ok {
		return cache.Plan{}, cache.Key{}, false
	}
	var reproducible bool
	if c.Chat != nil {
		reproducible = cache.ReproducibleChat(c.Chat)
	} else {
		reproducible = cache.ReproducibleCompletion(c.Completion)
	}
	override := cache.OverrideNone
	if c.Decision != nil {
		switch c.Decision.Cache {
		case policy.CacheForce:
			override = cache.OverrideForce
		case policy.CacheForbid:
			override = cache.OverrideForbid
		}
	}
	var cc0 cache.CacheControl
	if vs := r.Header["Cache-Control"]; len(vs) > 0 { // the canonical key: no canonicalising per request
		cc0 = cache.ParseCacheControl(vs...)
	}
	plan := cache.Decide(reproducible, override, cc0)
	if plan.Bypass() {
		return plan, cache.Key{}, false
	}
	key, err := cc.keyer.Key(cache.KeyInput{Endpoint: c.Endpoint.Path(), Model: c.Model, Scope: scope, Body: c.Raw})
	if err != nil {
		cc.logger.WarnContext(r.Context(), "middleware: cache: no key for the request", "request_id", c.RequestID, "err", err)
		return plan, cache.Key{}, false
	}
	return plan, key, true
}

// scopeOf returns the tenant scope of a principal; ok is false when the
// request must not share entries with anyone.
func (cc *Cache) scopeOf(p *Principal) (cache.Scope, bool) {
	if cc.scope == cache.ScopeGlobal {
		return cache.Scope{Kind: cache.ScopeGlobal}, true
	}
	if p == nil {
		return cache.Scope{}, false
	}
	s := cache.NewScope(cc.scope, p.KeyID, p.Org)
	return s, s.ID != ""
}

// tappedFor reports whether w is, or wraps, the response tap of c.
func tappedFor(w http.ResponseWriter, c *Call) bool {
	for {
		switch t := w.(type) {
		case *tap:
			return t.c == c
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// lookup returns the stored entry for key when it is fresh under plan, and
// the time it was read at.
func (cc *Cache) lookup(ctx context.Context, c *Call, plan cache.Plan, key cache.Key) (*cache.Entry, time.Time, bool) {
	now := cc.clock.Now()
	var (
		e   *cache.Entry
		ok  bool
		err error
	)
	if cc.own != nil { // the store runs on cc.clock: read it at the same now
		e, ok, err = cc.own.GetAt(ctx, now, key)
	} else {
		e, ok, err = cc.store.Get(ctx, key)
	}
	if err != nil {
		cc.logger.WarnContext(ctx, "middleware: cache: store get failed", "request_id", c.RequestID, "err", err)
	}
	return e, now, ok && fresh(e, plan, now)
}

// lookedUp says whether the store was already looked up for a request,
// in vain, and what cc.group.Finished() was just before.
type lookedUp struct {
	done     bool
	finished uint64
}

// serve serves a request the cache may read or store, looked up already
// or not.
func (cc *Cache) serve(next http.Handler, w http.ResponseWriter, r *http.Request, c *Call, plan cache.Plan, key cache.Key, looked lookedUp) {
	ctx := r.Context()
	if plan.Lookup && !looked.done {
		looked = lookedUp{done: true, finished: cc.group.Finished()}
		if e, now, ok := cc.lookup(ctx, c, plan, key); ok && cc.serveHit(w, r, c, e, now) {
			return
		}
	}
	if plan.OnlyIfCached {
		c.CacheStatus = CacheMiss
		w.Header()["X-Cache"] = xCacheMiss
		wire.WriteError(w, cc.onlyIfErr)
		return
	}
	var lead *cache.Lead
	if cc.collapse && plan.Lookup {
		// A follower whose leader's response was not storable (Join's
		// error) asks the handler itself, below.
		e, l, _ := cc.group.Join(ctx, key)
		switch {
		case e != nil:
			if cc.serveHit(w, r, c, e, cc.clock.Now()) {
				return
			}
		case l != nil && cc.group.Finished() == looked.finished:
			// No leader finished since the lookup, so none stored an
			// entry the lookup missed.
			lead = l
		case l != nil:
			// A leader that finished between our lookup and Join may have
			// stored its entry: look again before asking the handler.
			now := cc.clock.Now()
			if e, ok, _ := cc.store.Get(ctx, key); ok && e.Kind == cacheKindOf(c) && fresh(e, plan, now) {
				l.Finish(e, nil)
				if cc.serveHit(w, r, c, e, now) {
					return
				}
			} else {
				lead = l
			}
		case ctx.Err() != nil:
			// The client went away while waiting: nothing to send.
			c.CacheStatus = CacheMiss
			w.Header()["X-Cache"] = xCacheMiss
			wire.WriteError(w, wire.Errorf(http.StatusGatewayTimeout, wire.TypeServer, "timeout", "",
				"The request ended while waiting for an identical request's response."))
			return
		}
	}
	cc.miss(next, w, r, c, plan, key, lead)
}

func cacheKindOf(c *Call) cache.Kind {
	if c.Endpoint == EndpointCompletions {
		return cache.KindCompletion
	}
	return cache.KindChat
}

// fresh reports whether e may be served under plan's max-age.
func fresh(e *cache.Entry, plan cache.Plan, now time.Time) bool {
	return e != nil && (!plan.HasMaxAge || e.Age(now) <= plan.MaxAge)
}

// serveHit writes e as the response to the request. It returns false,
// having written nothing, when e cannot be converted to what the request
// asks for (the caller then treats the request as a miss).
func (cc *Cache) serveHit(w http.ResponseWriter, r *http.Request, c *Call, e *cache.Entry, now time.Time) bool {
	if e.Kind != cacheKindOf(c) {
		return false
	}
	var (
		body   []byte
		events [][]byte
		err    error
	)
	if c.Stream {
		events, err = e.StreamEvents(cc.includeUsage(c))
	} else {
		body, err = e.JSON()
	}
	if err != nil {
		cc.logger.WarnContext(r.Context(), "middleware: cache: stored entry does not convert", "request_id", c.RequestID, "err", err)
		return false
	}
	c.CacheStatus = CacheHit
	if e.Usage != nil {
		c.SavedCost = billing.Cost(c.ModelInfo.Prices, *e.Usage)
	}
	// The header values are shared, read-only slices of capacity 1 (see
	// hitHeader): nothing to allocate, and a layer that sets the header
	// again (Header.Set, Add) replaces or copies them, never writes them.
	h := w.Header()
	h["X-Cache"], h["Age"] = hitHeader.xCache, ageValue(e.Age(now))
	if c.Stream {
		h["Content-Type"], h["Cache-Control"] = hitHeader.sse, hitHeader.noCache
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		// A write error is the client going away; the tap reports it.
		_ = cache.Replay(r.Context(), w, rc.Flush, events, cc.pacing)
	} else {
		// The length lets the client tell the answer is whole before the
		// handler returns (see Observer.OnEnd).
		h["Content-Type"], h["Content-Length"] = hitHeader.json, []string{strconv.Itoa(len(body))}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	if cc.logger.Enabled(r.Context(), slog.LevelDebug) {
		cc.logger.DebugContext(r.Context(), "middleware: cache hit", "request_id", c.RequestID,
			"model", c.Model, "saved_cost", c.SavedCost.String(), "age", e.Age(now).String())
	}
	return true
}

// hitHeader holds the header values of hits, shared by all of them.
// xCacheMiss and xCacheBypass are the shared, read-only values of the
// x-cache header on a miss and a bypass, set in canonical form: like
// hitHeader's, they cost no allocation and are replaced, never written, by
// a layer that sets the header again.
var xCacheMiss, xCacheBypass = []string{CacheMiss}, []string{CacheBypass}

var hitHeader = struct {
	xCache, json, sse, noCache []string
	age                        [600][]string // "0" to "599"
}{
	xCache: []string{CacheHit}, json: []string{"application/json"},
	sse: []string{"text/event-stream"}, noCache: []string{"no-cache"},
}

func init() {
	vs := make([]string, len(hitHeader.age))
	for i := range vs {
		vs[i] = strconv.Itoa(i)
		hitHeader.age[i] = vs[i : i+1 : i+1]
	}
}

// ageValue returns the value of the age header of an entry of age d: a
// shared slice for the first ten minutes (the default TTL), a new one
// after that.
func ageValue(d time.Duration) []string {
	s := int64(d / time.Second)
	if s < int64(len(hitHeader.age)) {
		return hitHeader.age[s]
	}
	return []string{strconv.FormatInt(s, 10)}
}

func (cc *Cache) includeUsage(c *Call) bool {
	if c.Chat != nil {
		return c.Chat.IncludeUsage()
	}
	return c.Completion != nil && c.Completion.IncludeUsage()
}

// miss serves the request through next, recording the response to store
// it (and, as the leader, to hand it to the waiting followers).
func (cc *Cache) miss(next http.Handler, w http.ResponseWriter, r *http.Request, c *Call, plan cache.Plan, key cache.Key, lead *cache.Lead) {
	c.CacheStatus = CacheMiss
	w.Header()["X-Cache"] = xCacheMiss
	m := &cacheMiss{cc: cc, c: c, ctx: r.Context(), plan: plan, key: key, lead: lead}
	m.rec.MaxBytes = cc.maxEntry
	m.rec.Kind = cacheKindOf(c)
	if lead != nil {
		// The leader's client going away (or an OnEnd that never comes)
		// must not keep the followers waiting: they elect a new leader.
		// A client that closes once it has the whole answer has not gone
		// away: OnEnd is on its way and hands the answer over.
		m.stop = context.AfterFunc(m.ctx, func() {
			if !c.wasAnswered() {
				lead.Finish(nil, m.ctx.Err())
			}
		})
	}
	c.Observe(Observer{OnHeader: m.onHeader, OnChunk: m.onChunk, OnEnd: m.onEnd})
	next.ServeHTTP(w, r)
}

// cacheMiss records one response for the cache.
type cacheMiss struct {
	cc   *Cache
	c    *Call
	ctx  context.Context
	plan cache.Plan
	key  cache.Key
	lead *cache.Lead
	stop func() bool
	rec  cache.Recorder
	skip bool // the response cannot be stored: stop recording
}

func (m *cacheMiss) onHeader(status int, h http.Header) {
	h["X-Cache"] = xCacheMiss // again, in case the handler copied an upstream's
	m.skip = status != http.StatusOK
}

func (m *cacheMiss) onChunk(ch *Chunk) {
	if !m.skip {
		m.rec.Add(ch.Data)
	}
}

var errCacheNoBody = fmt.Errorf("%w: no body kept", cache.ErrNotStorable)

func (m *cacheMiss) onEnd(res *Response) {
	if m.stop != nil {
		m.stop()
	}
	e, err := m.entry(res)
	if err != nil || !m.plan.Store {
		if m.lead != nil {
			m.lead.Finish(e, err)
		}
		return
	}
	if inProcess(m.cc.store) {
		m.store(e)
	} else {
		m.c.Go(func() { m.store(e) })
	}
}

// store stores e, then wakes the followers: a request arriving in between
// then finds the entry in the store (see serve's second lookup). The
// context is not bound to the client: it may close once it has the answer
// (see Call.answered), and the answer is still worth keeping.
func (m *cacheMiss) store(e *cache.Entry) {
	ctx := context.WithoutCancel(m.ctx)
	if err := m.cc.store.Set(ctx, m.key, e, m.cc.ttl); err != nil && !errors.Is(err, cache.ErrTooLarge) {
		m.cc.logger.WarnContext(ctx, "middleware: cache: store set failed", "request_id", m.c.RequestID, "err", err)
	}
	if m.lead != nil {
		m.lead.Finish(e, nil)
	}
}

// entry returns the entry that stores res, or why it cannot be stored.
func (m *cacheMiss) entry(res *Response) (*cache.Entry, error) {
	// A stream that reached [DONE] is complete whatever happened to the
	// client afterwards: clients (openai-go among them) stop reading at
	// [DONE] and close the connection, which can end the request context
	// before the handler returns. Anything else with an error — a panic, a
	// body cut short — is not stored.
	complete := res.Stream && res.Done && !errors.Is(res.Err, ErrHandlerPanicked)
	if res.Err != nil && !complete {
		return nil, fmt.Errorf("%w: %w", cache.ErrNotStorable, res.Err)
	}
	usage := m.c.Usage
	if usage == nil {
		usage = res.Usage
	}
	now := m.cc.clock.Now()
	if res.Stream {
		return m.rec.Finish(res.Status, usage, now)
	}
	if len(res.Body) == 0 {
		return nil, errCacheNoBody
	}
	if len(res.Body) > m.cc.maxEntry {
		return nil, fmt.Errorf("%w: body larger than %d bytes", cache.ErrNotStorable, m.cc.maxEntry)
	}
	e, err := cache.NewBodyEntry(m.rec.Kind, res.Status, res.Body, now)
	if err != nil {
		return nil, err
	}
	if e.Usage == nil && usage != nil {
		u := *usage
		e.Usage = &u
	}
	return e, nil
}
