// Command proxy is llmgate's reverse proxy: it puts the whole middleware
// chain — auth, validation, exact token counting, moderation, policies,
// rate limits, budgets, caching — in front of any OpenAI-compatible
// upstream (vLLM, Ollama, llama.cpp, OpenAI), or in front of the built-in
// llmtest model when there is none.
//
//	go run ./examples/proxy                                   # built-in model, demo key printed
//	go run ./examples/proxy -upstream http://127.0.0.1:11434/v1   # in front of Ollama
//	go run ./examples/proxy -config proxy.yaml
//
// See README.md beside this file for the configuration.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llmgate/llmgate/middleware"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

// run parses flags, builds the gateway and serves until ctx ends or a
// SIGINT/SIGTERM arrives; then it shuts down gracefully.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration file (default: built-in demo configuration)")
	upstream := fs.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:11434/v1 (overrides upstream.url)")
	listen := fs.String("listen", "", "address to listen on (overrides listen)")
	shutdownGrace := fs.Duration("shutdown-grace", 30*time.Second, "how long streams may run on after a shutdown signal")
	headerTimeout := fs.Duration("header-timeout", 10*time.Second, "how long a client may take to send its request headers; slower connections (slowloris) are closed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h, -help: fs has printed the usage; not an error
		}
		return err
	}
	if *headerTimeout <= 0 {
		return fmt.Errorf("-header-timeout %v: must be positive", *headerTimeout)
	}

	var cfg *Config
	var demo *demoKeys
	var err error
	if *configPath != "" {
		if cfg, err = LoadConfig(*configPath); err != nil {
			return err
		}
	} else {
		cfg, demo = demoConfig()
	}
	if *upstream != "" {
		cfg.Upstream.URL = *upstream
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if err := cfg.validate(emptyDoc()); err != nil {
		return err
	}

	log := newLogger(cfg.Log, stdout)
	gw, err := newGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer gw.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := newServer(gw, *headerTimeout, log)
	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "llmgate proxy on http://%s → upstream %s\n", addr, cfg.Upstream.URL)
	if demo != nil {
		demo.print(stdout, addr)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	for {
		select {
		case err := <-serveErr:
			return err
		case <-ctx.Done():
			return shutdown(srv, *shutdownGrace)
		case s := <-sigs:
			if s == syscall.SIGHUP {
				if *configPath == "" {
					log.Info("SIGHUP: no -config file to reload")
					continue
				}
				if err := gw.Reload(ctx, *configPath); err != nil {
					log.Error("reload failed; keeping the running configuration", slog.Any("error", err))
				} else {
					log.Info("configuration reloaded", slog.String("file", *configPath))
				}
				continue
			}
			log.Info("shutting down; letting streams finish", slog.Duration("grace", *shutdownGrace))
			return shutdown(srv, *shutdownGrace)
		}
	}
}

// newServer is the HTTP server in front of h. headerTimeout bounds how long
// a connection may take to send a request's headers: a client that trickles
// them (slowloris) is disconnected then, and holds no handler meanwhile.
func newServer(h http.Handler, headerTimeout time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       2 * time.Minute, // a 4 MiB body on a slow link
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No WriteTimeout: streams legitimately last minutes; the upstream
		// timeout and the client's context bound them instead.
	}
}

// shutdown stops accepting connections and waits up to grace for the
// requests in flight (streams included) to end.
func shutdown(srv *http.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func newLogger(cfg LogConfig, stdout io.Writer) *slog.Logger {
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(stdout, nil))
	}
	return slog.New(slog.NewTextHandler(stdout, nil))
}

// demoKeys are the keys of the built-in demo configuration.
type demoKeys struct{ client, admin string }

// demoConfig is the configuration `go run ./examples/proxy` starts with:
// the built-in model, one client key and one admin key made up at start-up,
// and a "free" tier with modest limits and a budget.
func demoConfig() (*Config, *demoKeys) {
	keys := &demoKeys{client: "sk-demo-" + randomHex(16), admin: "sk-admin-" + randomHex(16)}
	cfg := &Config{
		Keys: []Key{{ID: "demo", KeySHA256: middleware.HashKey(keys.client), User: "demo", Org: "demo-org", Tier: "demo"}},
		Tiers: map[string]Tier{"demo": {RPM: 60, TPM: 100000, Models: []string{"*"},
			Budget: Budget{USDPerMonth: 10}}},
		Orgs:       map[string]Org{"demo-org": {Budget: Budget{USDPerMonth: 100}}},
		Moderation: ModerationConfig{Input: true, Output: true},
		Admin:      Admin{KeySHA256: middleware.HashKey(keys.admin)},
	}
	cfg.applyDefaults()
	return cfg, keys
}

func (k *demoKeys) print(w io.Writer, addr string) {
	fmt.Fprintf(w, "demo key:  %s\nadmin key: %s\n\ntry:\n", k.client, k.admin)
	fmt.Fprintf(w, "  curl -s http://%s/v1/chat/completions -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", addr, k.client)
	fmt.Fprintf(w, "    -d '{\"model\":\"llmtest-1\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}],\"max_tokens\":40}'\n\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
