package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
)

// LimitRates are the rate limits of one scope (a key, a user or an org).
// A zero rate means no limit of that kind; the zero LimitRates limits
// nothing.
type LimitRates struct {
	// RPM is how many requests the scope may make per period
	// (LimitConfig.Period, a minute by default). Default: 0, no limit.
	RPM int
	// TPM is how many tokens the scope may use per period: a request
	// reserves its prompt plus its most completion tokens and settles to
	// its real usage. Default: 0, no limit.
	TPM int
	// RequestBurst is how many requests a fresh scope may make at once.
	// Default: RPM.
	RequestBurst int
	// TokenBurst is how many tokens a fresh scope may use at once, and so
	// the largest request it can ever make. Default: TPM.
	TokenBurst int
}

// LimitTier is the limits of one tier of principals, per scope. The zero
// LimitTier limits nothing.
type LimitTier struct {
	// Key limits each API key (Principal.KeyID) on its own.
	Key LimitRates
	// User limits all keys of one user together (Principal.User);
	// requests of a principal without a user skip it. When the principal
	// has an org, the user's buckets live under that org (see Limit), so
	// one user's keys in two orgs are limited separately.
	User LimitRates
	// Org limits all keys of one org together (Principal.Org); requests of
	// a principal without an org skip it.
	Org LimitRates
}

// LimitCacheHit says what a response served from the cache
// (Call.CacheStatus "HIT") costs against the limits.
type LimitCacheHit uint8

const (
	// LimitCacheHitRequest counts the request against the requests limits
	// and refunds every reserved token: the upstream did no work. It is
	// the default.
	LimitCacheHitRequest LimitCacheHit = iota
	// LimitCacheHitCharge settles a hit like any response, to its usage.
	LimitCacheHitCharge
	// LimitCacheHitFree refunds the whole reservation, request included.
	LimitCacheHitFree
)

// LimitConfig configures a Limit. Only Tiers is required.
type LimitConfig struct {
	// Store decides and records the limits: a *limiter.MemoryStore for
	// one process, a *limiter.RedisStore for replicas sharing limits. What
	// happens when Redis is down is the RedisStore's FailMode: FailClosed
	// makes Limit answer 503, FailOpen limits locally. Default: a new
	// limiter.NewMemory(limiter.MemoryConfig{}) on the real clock.
	Store limiter.Store
	// Tiers maps Principal.Tier to the limits of that tier. Required; it
	// must hold DefaultTier.
	Tiers map[string]LimitTier
	// DefaultTier names the tier of requests without a principal (a chain
	// without Auth) and of principals whose tier Tiers does not know.
	// NewLimit fails when Tiers has no such entry: map it to a zero
	// LimitTier to leave those requests unlimited. Default: "default".
	DefaultTier string
	// Period is the window RPM and TPM count: a limit of N refills N per
	// Period. Default: time.Minute. The header names stay "requests" and
	// "tokens"; the IETF policy names follow the period ("rps" for
	// time.Second, see limiter.PolicyName).
	Period time.Duration
	// Endpoints are the endpoints Limit limits; requests to others pass
	// through untouched and get no rate-limit headers. Default:
	// EndpointChatCompletions, EndpointCompletions and EndpointEmbeddings
	// (an embeddings request reserves its input's tokens, with no
	// completion).
	Endpoints []Endpoint
	// Anonymous names the key bucket of a request without a principal
	// (or whose principal has no KeyID). Default: every such request
	// shares the bucket "anonymous".
	Anonymous func(r *http.Request) string
	// Tokens returns what a request reserves against TPM limits.
	// Default: Call.PromptTokens + Call.MaxCompletionTokens when Count ran
	// (Call.Encoding is set); without Count, an estimate: a token per 4
	// body bytes plus max_tokens (or max_completion_tokens) times n, with
	// 4096 tokens per choice when the request sets no maximum.
	Tokens func(c *Call) int
	// CacheHit says what a cache hit costs. Default: LimitCacheHitRequest.
	CacheHit LimitCacheHit
	// Timeout bounds each Reserve, Settle and Cancel on top of the
	// store's own timeout (a RedisStore has one, 100ms by default).
	// Default: 0, no extra bound.
	Timeout time.Duration
	// Logger receives store failures (with their cause, which clients
	// never see) and settle failures. Default: slog.Default().
	Logger *slog.Logger
}

// Limit is the rate-limit layer: per-key, per-user and per-org
// requests-per-period and tokens-per-period limits, reserved atomically
// before the request goes on and settled to the real usage when the
// response ends. Create one with NewLimit; the zero value is not usable.
// A Limit is safe for concurrent use. Place it after Decode, Count and
// Policy, whose results it reads: Call.Principal (tier, key, user, org),
// Call.PromptTokens and Call.MaxCompletionTokens, and Call.Decision.Limits,
// which override the tier's rates per scope for one request (an override
// replaces a rate, and its burst becomes the new rate).
//
// # Buckets
//
// Every limit is a limiter bucket keyed by scope: "key:<KeyID>",
// "user:<User>", "org:<Org>". So that all limits of one request live in
// one Redis Cluster slot, the keys of a principal with an org carry the
// org as their hash tag ("{org:acme}:key:k1", "{org:acme}:user:alice",
// "org:acme"), and those of a principal with a user but no org the user
// ("{user:alice}:key:k1", "user:alice"); see limiter.RedisStore.
//
// # Responses
//
// Every response of a limited endpoint — 429s included — carries OpenAI's
// x-ratelimit-limit-, x-ratelimit-remaining- and x-ratelimit-reset-
// requests and tokens headers for the tightest limit of each kind (see
// limiter.Tightest), and the IETF draft-09 RateLimit-Policy and RateLimit
// fields listing every limit. They are set before the handler runs and set
// again, if the handler changed them (a proxy copying an upstream's), just
// before the status is sent.
//
// A request some limit does not admit gets 429 rate_limit_exceeded with
// type "requests" (when a requests limit denied it) or "tokens", an OpenAI
// style message, and retry-after (seconds) and retry-after-ms: after that
// wait, the same request is admitted unless other traffic came first. A
// request whose tokens exceed a bucket's burst can never be admitted: it
// gets 429 type "tokens" saying so, with x-should-retry: false and no
// retry-after. When the store cannot decide (Redis down with FailClosed,
// or the Timeout expired) the answer is 503 server_error, code
// limiter_unavailable, and the cause goes to the Logger only.
//
// # Settling
//
// When the response ends, the tokens limits are settled to Call.Usage
// (the usage the handler reported, or that Count counted — so a client
// that went away mid-stream is charged for what was generated): the unused
// part is refunded, an overage is charged and may put a bucket in debt.
// The whole reservation, request included, is cancelled when the upstream
// failed before any output: a status of 500 or more without usage, or a
// handler that panicked before writing. A non-2xx response without usage
// is settled to zero tokens; a 2xx response whose usage nobody knows (no
// Count, none reported) keeps its reservation. A cache hit costs what
// LimitConfig.CacheHit says.
type Limit struct {
	store     limiter.Store
	tiers     map[string]*limitPlan
	def       *limitPlan
	period    time.Duration
	names     [limitScopes][2]string // IETF policy names by scope and kind
	endpoints uint64                 // bit set of Endpoint
	anonymous func(*http.Request) string
	tokens    func(*Call) int
	cacheHit  LimitCacheHit
	timeout   time.Duration
	logger    *slog.Logger
}

// limitScope is what a bucket limits.
type limitScope uint8

const (
	limitScopeKey limitScope = iota
	limitScopeUser
	limitScopeOrg
	limitScopes
)

var limitScopeNames = [limitScopes]string{"key", "user", "org"}

// limitPlan is a tier with its RateLimit-Policy values precomputed, by the
// set of limits a request carries (bit 2×scope+kind).
type limitPlan struct {
	LimitTier
	policy [1 << limitMax]string
}

// plan precomputes t's RateLimit-Policy values.
func (l *Limit) plan(t LimitTier) *limitPlan {
	p := &limitPlan{LimitTier: t}
	var all [limitMax]limiter.Result
	for s, r := range [limitScopes]LimitRates{t.Key, t.User, t.Org} {
		for k, rate := range [2]int{r.RPM, r.TPM} {
			all[2*s+k].Limit = limiter.Limit{Kind: limiter.Kind(k), Rate: rate, Period: l.period, Name: l.names[s][k]}
		}
	}
	for mask := range len(p.policy) {
		var res []limiter.Result
		for i := range limitMax {
			if mask&(1<<i) != 0 {
				if all[i].Limit.Rate == 0 {
					res = nil
					break
				}
				res = append(res, all[i])
			}
		}
		if res != nil {
			p.policy[mask] = limiter.PolicyHeader(res)
		}
	}
	return p
}

// limitMax is the most limits one request carries: two kinds per scope.
const limitMax = 2 * int(limitScopes)

// limitDefaultMaxTokens is the completion budget per choice of the
// estimate used without Count, for a request that sets no maximum.
const limitDefaultMaxTokens = 4096

// NewLimit returns the rate-limit layer for cfg. It fails when Tiers lacks
// DefaultTier, or a rate or burst is negative or too large for the period
// (an error wrapping limiter.ErrInvalid).
func NewLimit(cfg LimitConfig) (*Limit, error) {
	if cfg.DefaultTier == "" {
		cfg.DefaultTier = "default"
	}
	if cfg.Period < 0 {
		return nil, fmt.Errorf("middleware: limit: negative period %v", cfg.Period)
	}
	if cfg.Period == 0 {
		cfg.Period = time.Minute
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("middleware: limit: negative timeout %v", cfg.Timeout)
	}
	if cfg.CacheHit > LimitCacheHitFree {
		return nil, fmt.Errorf("middleware: limit: unknown cache hit mode %d", cfg.CacheHit)
	}
	l := &Limit{
		store:     cfg.Store,
		tiers:     make(map[string]*limitPlan, len(cfg.Tiers)),
		period:    cfg.Period,
		anonymous: cfg.Anonymous,
		tokens:    cfg.Tokens,
		cacheHit:  cfg.CacheHit,
		timeout:   cfg.Timeout,
		logger:    cfg.Logger,
	}
	for name, t := range cfg.Tiers {
		for s, r := range [limitScopes]LimitRates{t.Key, t.User, t.Org} {
			if r.RPM < 0 || r.TPM < 0 || r.RequestBurst < 0 || r.TokenBurst < 0 {
				return nil, fmt.Errorf("middleware: limit: tier %q, %s scope: negative rate or burst %+v",
					name, limitScopeNames[s], r)
			}
		}
	}
	if _, ok := cfg.Tiers[cfg.DefaultTier]; !ok {
		return nil, fmt.Errorf("middleware: limit: Tiers has no default tier %q (map it to a zero LimitTier to leave requests without a tier unlimited)",
			cfg.DefaultTier)
	}
	if l.store == nil {
		l.store = limiter.NewMemory(limiter.MemoryConfig{})
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	eps := cfg.Endpoints
	if eps == nil {
		eps = []Endpoint{EndpointChatCompletions, EndpointCompletions, EndpointEmbeddings}
	}
	for _, e := range eps {
		if e == EndpointUnknown || e.Path() == "" {
			return nil, fmt.Errorf("middleware: limit: cannot limit endpoint %d", e)
		}
		l.endpoints |= 1 << e
	}
	for s := range limitScope(limitScopes) {
		for k, kind := range [2]limiter.Kind{limiter.Requests, limiter.Tokens} {
			name := limiter.PolicyName(limiter.Limit{Kind: kind, Period: l.period})
			if s != limitScopeKey {
				name = limitScopeNames[s] + "-" + name
			}
			l.names[s][k] = name
		}
	}
	// Check every configured limit once, on a scratch store, so that a
	// burst that overflows fails here and not on each request.
	scratch := limiter.NewMemory(limiter.MemoryConfig{Shards: 1})
	for name, t := range cfg.Tiers {
		for s, r := range [limitScopes]LimitRates{t.Key, t.User, t.Org} {
			for k, rb := range [2][2]int{{r.RPM, r.RequestBurst}, {r.TPM, r.TokenBurst}} {
				if rb[0] == 0 {
					continue
				}
				lim := limiter.Limit{Key: "check", Kind: limiter.Kind(k), Rate: rb[0], Burst: rb[1], Period: l.period}
				if _, err := scratch.ReserveAt(time.Time{}, []limiter.Request{{Limit: lim}}); err != nil {
					return nil, fmt.Errorf("middleware: limit: tier %q, %s scope: %w", name, limitScopeNames[s], err)
				}
			}
		}
		l.tiers[name] = l.plan(t)
	}
	l.def = l.tiers[cfg.DefaultTier]
	return l, nil
}

// limitCall is one request's state, from the reservation to the settle.
type limitCall struct {
	l     *Limit
	c     *Call
	r     *http.Request
	reqs  [limitMax]limiter.Request
	scope [limitMax]limitScope
	who   [limitMax]string // the scope's id, for messages
	n     int
	res   limiter.Reservation
	hdr   limitHeaderValues
	// policy is the request's RateLimit-Policy value when the tier's
	// precomputed one applies, else "".
	policy string
}

// Handler returns next wrapped with the limits: it is the Middleware.
func (l *Limit) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		if c == nil || l.endpoints&(1<<c.Endpoint) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		lc := &limitCall{l: l, c: c, r: r}
		lc.build()
		if lc.n == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if err := lc.reserve(); err != nil {
			l.unavailable(w, r, c, err)
			return
		}
		lc.hdr.compute(lc.res.Results(), lc.policy)
		lc.hdr.set(w.Header())
		if !lc.res.Allowed {
			lc.deny(w)
			return
		}
		c.Observe(Observer{OnHeader: lc.onHeader, OnEnd: lc.onEnd})
		next.ServeHTTP(w, r)
	})
}

// SetHeaders sets on h the rate-limit headers of r's call as Handler
// would send them, reading the buckets without taking anything from them.
// It is for a request refused before it reaches Limit (a policy denial,
// see PolicyConfig.Limit), whose response should carry them too. It does
// nothing for a call Limit does not limit, or when the store fails.
func (l *Limit) SetHeaders(r *http.Request, h http.Header) {
	c := CallFrom(r.Context())
	if c == nil || l.endpoints&(1<<c.Endpoint) == 0 {
		return
	}
	lc := &limitCall{l: l, c: c, r: r}
	lc.build()
	if lc.n == 0 {
		return
	}
	for i := range lc.reqs[:lc.n] {
		lc.reqs[i].Cost = 0 // a read
	}
	if lc.reserve() != nil {
		return
	}
	lc.hdr.compute(lc.res.Results(), lc.policy)
	lc.hdr.set(h)
}

// reserve asks the store for the call's requests, within the timeout,
// into lc.res.
func (lc *limitCall) reserve() (err error) {
	ctx, cancel := lc.l.bound(lc.r.Context())
	lc.res, err = lc.l.store.Reserve(ctx, lc.reqs[:lc.n])
	cancel()
	return err
}

// bound returns ctx with the configured timeout, if any.
func (l *Limit) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.timeout > 0 {
		return context.WithTimeout(ctx, l.timeout)
	}
	return ctx, func() {}
}

// build fills the requests of the call's limits.
func (lc *limitCall) build() {
	l, c := lc.l, lc.c
	p := c.Principal
	tier := l.def
	if p != nil {
		if t := l.tiers[p.Tier]; t != nil {
			tier = t
		}
	}
	rates := [limitScopes]LimitRates{tier.Key, tier.User, tier.Org}
	overridden := false
	if d := c.Decision; d != nil {
		for s, o := range [limitScopes]policy.Limit{d.Limits.Key, d.Limits.User, d.Limits.Org} {
			if o.RPM > 0 {
				rates[s].RPM, rates[s].RequestBurst = o.RPM, 0
				overridden = true
			}
			if o.TPM > 0 {
				rates[s].TPM, rates[s].TokenBurst = o.TPM, 0
				overridden = true
			}
		}
	}
	var id, user, org string
	if p != nil {
		id, user, org = p.KeyID, p.User, p.Org
	}
	if id == "" {
		id = "anonymous"
		if l.anonymous != nil {
			id = l.anonymous(lc.r)
		}
		user, org = "", ""
	}
	if user == "" {
		rates[limitScopeUser] = LimitRates{}
	}
	if org == "" {
		rates[limitScopeOrg] = LimitRates{}
	}
	tokens, mask := -1, 0
	for s := range limitScope(limitScopes) {
		rt := rates[s]
		if rt.RPM == 0 && rt.TPM == 0 {
			continue
		}
		var key, who string
		switch s {
		case limitScopeKey:
			key, who = limitKey(org, user, "key:", id), id
		case limitScopeUser:
			key, who = limitKey(org, "", "user:", user), user
		case limitScopeOrg:
			key, who = "org:"+org, org
		}
		if rt.RPM > 0 {
			mask |= 1 << (2 * s)
			lc.add(s, who, limiter.Limit{Key: key, Kind: limiter.Requests, Rate: rt.RPM, Burst: rt.RequestBurst,
				Period: l.period, Name: l.names[s][0]}, 1)
		}
		if rt.TPM > 0 {
			if tokens < 0 {
				tokens = l.tokenCost(c)
			}
			mask |= 1 << (2*s + 1)
			lc.add(s, who, limiter.Limit{Key: key, Kind: limiter.Tokens, Rate: rt.TPM, Burst: rt.TokenBurst,
				Period: l.period, Name: l.names[s][1]}, tokens)
		}
	}
	if !overridden {
		lc.policy = tier.policy[mask]
	}
}

func (lc *limitCall) add(s limitScope, who string, lim limiter.Limit, cost int) {
	lc.reqs[lc.n] = limiter.Request{Limit: lim, Cost: cost}
	lc.scope[lc.n] = s
	lc.who[lc.n] = who
	lc.n++
}

// limitKey is the bucket key kind+id, tagged with the org, else the user,
// so that a principal's buckets share a Redis Cluster slot.
func limitKey(org, user, kind, id string) string {
	switch {
	case org != "":
		return "{org:" + org + "}:" + kind + id
	case user != "":
		return "{user:" + user + "}:" + kind + id
	}
	return kind + id
}

// tokenCost is what the call reserves against tokens limits.
func (l *Limit) tokenCost(c *Call) int {
	if l.tokens != nil {
		return max(0, l.tokens(c))
	}
	if c.Encoding != nil {
		return max(0, addTokens(c.PromptTokens, c.MaxCompletionTokens))
	}
	est := rawTokens(c)
	perChoice, choices := limitDefaultMaxTokens, 1
	switch {
	case c.Chat != nil:
		if n := c.Chat.MaxOutputTokens(); n > 0 {
			perChoice = n
		}
		choices = c.Chat.Choices()
	case c.Completion != nil:
		if n := c.Completion.MaxTokens; n != nil {
			perChoice = max(0, *n) // 0: the prompt only
		}
		choices = c.Completion.Choices()
	default:
		return est
	}
	return addTokens(est, mulTokens(perChoice, max(1, choices)))
}

// rawTokens estimates the tokens of a request Count did not count: one
// per four bytes of its body, rounded up.
func rawTokens(c *Call) int { return (len(c.Raw) + 3) / 4 }

// onHeader sets the rate-limit headers again if the handler replaced or
// added to them, just before the status is sent.
func (lc *limitCall) onHeader(_ int, h http.Header) { lc.hdr.reassert(h) }

// onEnd settles the reservation to what the response cost.
func (lc *limitCall) onEnd(res *Response) {
	c := lc.c
	usage := c.Usage
	if usage == nil {
		usage = res.Usage
	}
	tokens := -1 // settle to this many tokens; -1: cancel the reservation
	switch {
	case c.CacheStatus == "HIT" && lc.l.cacheHit == LimitCacheHitFree:
		// cancelled: a free hit
	case c.CacheStatus == "HIT" && lc.l.cacheHit == LimitCacheHitRequest:
		tokens = 0
	case res.Usage == nil && (res.Status >= 500 ||
		(res.Written == 0 && (res.Status == 0 || errors.Is(res.Err, ErrHandlerPanicked)))):
		// cancelled: the upstream failed, or nothing was produced
	case usage != nil:
		// Some servers leave total_tokens out; the parts count then.
		tokens = max(0, usage.TotalTokens, addTokens(max(0, usage.PromptTokens), max(0, usage.CompletionTokens)))
	case res.Status < 200 || res.Status > 299:
		tokens = 0
	default:
		return // a success whose usage nobody knows keeps its reservation
	}
	if inProcess(lc.l.store) {
		lc.settle(tokens)
	} else {
		c.Go(func() { lc.settle(tokens) })
	}
}

// settle settles the reservation to tokens, or cancels it when tokens is
// negative. The context is not bound to the client, which may close the
// connection as soon as it has the answer (or go away earlier): its usage
// is settled all the same.
func (lc *limitCall) settle(tokens int) {
	ctx, stop := lc.l.bound(context.WithoutCancel(lc.r.Context()))
	defer stop()
	var err error
	if tokens >= 0 {
		err = lc.res.Settle(ctx, tokens)
	} else {
		err = lc.res.Cancel(ctx)
	}
	if err != nil {
		lc.l.logger.WarnContext(ctx, "middleware: limit: settling the reservation failed",
			slog.String("request_id", lc.c.RequestID), slog.Any("error", err))
	}
}

// unavailable answers a request the store could not decide.
func (l *Limit) unavailable(w http.ResponseWriter, r *http.Request, c *Call, err error) {
	if errors.Is(err, limiter.ErrInvalid) {
		l.logger.ErrorContext(r.Context(), "middleware: limit: invalid limit configuration",
			slog.String("request_id", c.RequestID), slog.Any("error", err))
		wire.WriteError(w, limitServerError(c))
		return
	}
	l.logger.WarnContext(r.Context(), "middleware: limit: the limiter could not decide",
		slog.String("request_id", c.RequestID), slog.Any("error", err))
	wire.WriteError(w, limitUnavailable(c))
}
