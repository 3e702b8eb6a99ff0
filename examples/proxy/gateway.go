package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/wire"
)

// gateway is the proxy's whole HTTP surface: the chain in front of the
// upstream on /v1/, and the operational endpoints.
type gateway struct {
	mux      *http.ServeMux
	handler  http.Handler // mux behind middleware.RequestID
	keys     *middleware.StaticKeyStore
	cfgKeys  atomic.Pointer[[]Key]
	metrics  *metrics
	log      *slog.Logger
	admin    [sha256.Size]byte
	backends *backends
	engine   *policy.Engine
	budgets  *middleware.Budgets
	limit    *middleware.Limit
	closers  []func() error
}

func newGateway(ctx context.Context, cfg *Config, log *slog.Logger) (*gateway, error) {
	g := &gateway{mux: http.NewServeMux(), metrics: newMetrics(), log: log}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()
	var err error
	if g.keys, err = middleware.NewStaticKeyStore(keyEntries(cfg.Keys)); err != nil {
		return nil, err
	}
	if cfg.Admin.KeySHA256 != "" {
		d, _ := hex.DecodeString(cfg.Admin.KeySHA256)
		copy(g.admin[:], d)
	}
	catalog, err := models.New(models.Config{Models: cfg.Models, Aliases: cfg.Aliases})
	if err != nil {
		return nil, err
	}
	upstream, err := newUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	moderate, err := newModerate(cfg.Moderation)
	if err != nil {
		return nil, err
	}
	if g.backends, err = newBackends(cfg, log); err != nil {
		return nil, err
	}
	g.closers = append(g.closers, g.backends.closers...)
	g.cfgKeys.Store(&cfg.Keys)
	if g.budgets, err = middleware.NewBudgets(budgetConfig(cfg, g.backends, catalog, log)); err != nil {
		return nil, err
	}
	if g.limit, err = middleware.NewLimit(limitConfig(cfg, g.backends, log)); err != nil {
		return nil, err
	}
	var policyLayer middleware.Middleware
	if !cfg.Policy.Disabled {
		ev, err := policy.ParseEvaluator(cfg.Policy.Evaluator)
		if err != nil {
			return nil, err
		}
		if g.engine, err = policy.New(ctx, policy.Config{Dir: cfg.Policy.Dir, Data: policyData(cfg), Logger: log, Evaluator: ev}); err != nil {
			return nil, err
		}
		g.closers = append(g.closers, g.engine.Close)
		pol, err := middleware.NewPolicy(middleware.PolicyConfig{Engine: g.engine, Budgets: g.budgets, Catalog: catalog, Logger: log,
			Limit: g.limit}) // a denial carries the rate-limit headers too
		if err != nil {
			return nil, err
		}
		policyLayer = pol.Handler
	}
	var cacheLayer middleware.Middleware
	if g.backends.cache != nil {
		scope, err := cache.ParseScopeKind(cfg.Cache.Scope)
		if err != nil {
			return nil, err
		}
		cc, err := middleware.NewCache(middleware.CacheConfig{Store: g.backends.cache, TTL: time.Duration(cfg.Cache.TTL), Scope: scope, Logger: log})
		if err != nil {
			return nil, err
		}
		g.closers = append(g.closers, cc.Close)
		cacheLayer = cc.Handler
	}

	// /v1/moderations is answered here, by the built-in moderator; every
	// other /v1/ path goes upstream.
	handler := http.NewServeMux()
	handler.Handle("/v1/moderations", moderation.Handler(moderation.Default()))
	handler.Handle("/", upstream)

	chain := middleware.Chain(
		observe(log, g.metrics, cfg.Log.Prompts),
		middleware.Recover(middleware.RecoverConfig{Logger: log}),
		middleware.Auth(middleware.AuthConfig{Store: g.keys, Logger: log}),
		middleware.Decode(middleware.DecodeConfig{}),
		middleware.Count(middleware.CountConfig{Catalog: catalog}),
		moderate,
		policyLayer,
		g.limit.Handler,
		middleware.Budget(g.budgets),
		cacheLayer,
	)
	g.mux.Handle("/v1/", chain(handler))
	// The operational endpoints are registered for every method, so that
	// another method is their 405 rather than the catch-all's 404.
	g.mux.Handle("/healthz", getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })))
	g.mux.Handle("/readyz", getOnly(http.HandlerFunc(g.ready)))
	g.mux.Handle("/metrics", getOnly(promhttp.HandlerFor(g.metrics.registry, promhttp.HandlerOpts{})))
	g.mux.Handle("/admin/usage", getOnly(http.HandlerFunc(g.usage)))
	if cfg.Debug.Pprof {
		g.mux.HandleFunc("/debug/pprof/", pprof.Index)
		g.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		g.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		g.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		g.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, wire.TypeInvalidRequest, wire.CodeUnknownURL, "",
			"Invalid URL (%s %s)", r.Method, r.URL.Path))
	})
	// Every response carries x-request-id: the operational endpoints' and
	// the 404s' too, not only the chain's.
	g.handler = middleware.RequestID(g.mux)
	ok = true
	return g, nil
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// getOnly serves h to GET and HEAD requests, and answers any other method
// 405 with Allow: GET, HEAD and an envelope.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, wire.TypeInvalidRequest, wire.CodeMethodNotAllowed, "",
				"Method %s is not allowed for %s; use GET.", r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Close releases what the gateway started.
func (g *gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	return errors.Join(errs...)
}

// Reload re-reads the configuration file and swaps in its keys, and
// reloads the policies. A file that does not load changes nothing; a policy
// that does not compile keeps the last good one.
func (g *gateway) Reload(ctx context.Context, path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if err := g.keys.Replace(keyEntries(cfg.Keys)); err != nil {
		return err
	}
	g.cfgKeys.Store(&cfg.Keys)
	if g.engine == nil {
		return nil // policy: {disabled: true}
	}
	return g.engine.Reload(ctx)
}

// ready answers 200 when the policies (unless disabled) are loaded and Redis (when used)
// answers, 503 otherwise.
func (g *gateway) ready(w http.ResponseWriter, r *http.Request) {
	if g.engine != nil && g.engine.Revision() == "" {
		http.Error(w, "policies not loaded", http.StatusServiceUnavailable)
		return
	}
	if err := g.backends.ping(r.Context()); err != nil {
		http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// keyUsage is one key's entry in /admin/usage.
type keyUsage struct {
	ID       string            `json:"id"`
	User     string            `json:"user,omitempty"`
	Org      string            `json:"org,omitempty"`
	Tier     string            `json:"tier,omitempty"`
	Revoked  bool              `json:"revoked,omitempty"`
	Balances []billing.Balance `json:"balances"`
	Limits   []limitState      `json:"limits"`
}

// limitState is one rate limit of a key as /admin/usage shows it.
type limitState struct {
	Name       string `json:"name"` // the IETF policy name: "rpm", "tpm", "org-rpm", …
	Key        string `json:"key"`  // the bucket
	Limit      int    `json:"limit"`
	Remaining  int    `json:"remaining"`
	ResetAfter string `json:"reset_after"` // as x-ratelimit-reset-* formats it
}

// usage serves /admin/usage to the admin key: the spend, reservations and
// budget of every scope (key, user, org) of every configured key, and the
// state of its rate limits.
func (g *gateway) usage(w http.ResponseWriter, r *http.Request) {
	if !g.isAdmin(r) {
		wire.WriteError(w, wire.InvalidAPIKey())
		return
	}
	keys := *g.cfgKeys.Load()
	out := make([]keyUsage, 0, len(keys))
	for _, k := range keys {
		p := &middleware.Principal{KeyID: k.ID, User: k.User, Org: k.Org, Tier: k.Tier}
		bals, err := g.budgets.Balances(r.Context(), p)
		if err != nil {
			g.log.Warn("admin usage: balances", slog.String("key_id", k.ID), slog.Any("error", err))
			wire.WriteError(w, wire.Errorf(http.StatusServiceUnavailable, wire.TypeServer, "", "", "Usage is unavailable right now."))
			return
		}
		if bals == nil {
			bals = []billing.Balance{}
		}
		results, err := g.limit.State(r.Context(), p)
		if err != nil {
			g.log.Warn("admin usage: limits", slog.String("key_id", k.ID), slog.Any("error", err))
			wire.WriteError(w, wire.Errorf(http.StatusServiceUnavailable, wire.TypeServer, "", "", "Usage is unavailable right now."))
			return
		}
		limits := make([]limitState, len(results))
		for i, res := range results {
			limits[i] = limitState{Name: limiter.PolicyName(res.Limit), Key: res.Limit.Key, Limit: res.Limit.Rate,
				Remaining: res.Remaining, ResetAfter: limiter.FormatReset(res.ResetAfter)}
		}
		out = append(out, keyUsage{ID: k.ID, User: k.User, Org: k.Org, Tier: k.Tier, Revoked: k.Revoked, Balances: bals, Limits: limits})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": out})
}

func (g *gateway) isAdmin(r *http.Request) bool {
	if g.admin == [sha256.Size]byte{} {
		return false
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	d := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(d[:], g.admin[:]) == 1
}

func keyEntries(keys []Key) []middleware.KeyEntry {
	out := make([]middleware.KeyEntry, len(keys))
	for i, k := range keys {
		out[i] = middleware.KeyEntry{ID: k.ID, SHA256: k.KeySHA256, User: k.User, Org: k.Org, Tier: k.Tier,
			Labels: k.Labels, Revoked: k.Revoked}
	}
	return out
}

func newModerate(cfg ModerationConfig) (middleware.Middleware, error) {
	mc := middleware.ModerateConfig{Input: middleware.InputOff, Output: middleware.OutputOff}
	if cfg.Input {
		// Classify, then decide: the moderator only scores the request and
		// the policy (which sees the scores as input.moderation) blocks,
		// redacts or lets it through.
		mc.Input = middleware.InputAnnotate
	}
	if cfg.Output {
		mc.Output = middleware.OutputFilter
	}
	if !cfg.Input && !cfg.Output {
		return nil, nil
	}
	m, err := middleware.NewModerate(mc)
	if err != nil {
		return nil, err
	}
	return m.Wrap, nil
}

func emptyDoc() *yaml.Node { return &yaml.Node{} }

// policyData lays the configuration's tiers over the policy's settings:
// the models each tier may use (glob patterns). A tier that lists none may
// use every model under the shipped library; under a policy of one's own
// (policy.dir) its data decides, and is not widened.
func policyData(cfg *Config) map[string]any {
	tiers := map[string]any{}
	for name, t := range cfg.Tiers {
		allowed := t.Models
		if len(allowed) == 0 {
			if cfg.Policy.Dir != "" {
				continue
			}
			allowed = []string{"*"}
		}
		tiers[name] = map[string]any{"models": allowed}
	}
	return map[string]any{"llmgate_config": map[string]any{"tiers": tiers}}
}

func budgetConfig(cfg *Config, b *backends, catalog *models.Catalog, log *slog.Logger) middleware.BudgetConfig {
	bc := middleware.BudgetConfig{Ledger: b.ledger, Catalog: catalog, Logger: log,
		Tiers: map[string]middleware.BudgetLimit{}, Orgs: map[string]middleware.BudgetLimit{}}
	for name, t := range cfg.Tiers {
		bc.Tiers[name] = middleware.BudgetLimit{USDPerMonth: t.Budget.USDPerMonth, USDPerDay: t.Budget.USDPerDay}
	}
	for name, o := range cfg.Orgs {
		bc.Orgs[name] = middleware.BudgetLimit{USDPerMonth: o.Budget.USDPerMonth, USDPerDay: o.Budget.USDPerDay}
	}
	return bc
}

func limitConfig(cfg *Config, b *backends, log *slog.Logger) middleware.LimitConfig {
	lc := middleware.LimitConfig{Store: b.limits, Logger: log, Tiers: map[string]middleware.LimitTier{}}
	for name, t := range cfg.Tiers {
		lc.Tiers[name] = middleware.LimitTier{Key: middleware.LimitRates{RPM: t.RPM, TPM: t.TPM,
			RequestBurst: t.RPMBurst, TokenBurst: t.TPMBurst}}
	}
	if _, ok := lc.Tiers["default"]; !ok {
		lc.Tiers["default"] = middleware.LimitTier{} // keys without a tier: unlimited, as configured
	}
	return lc
}
