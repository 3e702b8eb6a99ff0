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
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/wire"
)

// gateway is the proxy's whole HTTP surface: the chain in front of the
// upstream on /v1/, and the operational endpoints.
type gateway struct {
	mux     *http.ServeMux
	keys    *middleware.StaticKeyStore
	metrics *metrics
	log     *slog.Logger
	admin   [sha256.Size]byte
	closers []func() error
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

	// /v1/moderations is answered here, by the built-in moderator; every
	// other /v1/ path goes upstream.
	handler := http.NewServeMux()
	handler.Handle("/v1/moderations", moderation.Handler(moderation.Default()))
	handler.Handle("/", upstream)

	chain := middleware.Chain(
		middleware.RequestID,
		observe(log, g.metrics, cfg.Log.Prompts),
		middleware.Recover(middleware.RecoverConfig{Logger: log}),
		middleware.Auth(middleware.AuthConfig{Store: g.keys, Logger: log}),
		middleware.Decode(middleware.DecodeConfig{}),
		middleware.Count(middleware.CountConfig{Catalog: catalog}),
		moderate,
	)
	g.mux.Handle("/v1/", chain(handler))
	g.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	g.mux.HandleFunc("GET /readyz", g.ready)
	g.mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.registry, promhttp.HandlerOpts{}))
	g.mux.HandleFunc("GET /admin/usage", g.usage)
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, wire.TypeInvalidRequest, wire.CodeUnknownURL, "",
			"Invalid URL (%s %s)", r.Method, r.URL.Path))
	})
	ok = true
	return g, nil
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Close releases what the gateway started.
func (g *gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	return errors.Join(errs...)
}

// Reload re-reads the configuration file and swaps in its keys. A file that
// does not load changes nothing.
func (g *gateway) Reload(ctx context.Context, path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	return g.keys.Replace(keyEntries(cfg.Keys))
}

func (g *gateway) ready(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("ready\n"))
}

// usage serves /admin/usage to the admin key.
func (g *gateway) usage(w http.ResponseWriter, r *http.Request) {
	if !g.isAdmin(r) {
		wire.WriteError(w, wire.InvalidAPIKey())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{}})
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
		mc.Input = middleware.InputBlock
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
