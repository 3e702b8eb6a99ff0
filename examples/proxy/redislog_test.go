package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9/logging"
)

// recordHandler is a slog.Handler that keeps the records it is given.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// TestRedisDialFailureLogged: with Redis configured and nothing listening
// there, go-redis's "failed to dial" line is a slog record of the proxy's
// logger (a warning, with the detail), not a line on stderr.
func TestRedisDialFailureLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()            // a port where nothing listens
	t.Cleanup(logging.Enable) // go-redis's default logger, for the tests after this one

	h := &recordHandler{}
	cfg := &Config{Redis: RedisConfig{URL: "redis://" + addr}}
	cfg.Cache.Disabled = true
	b, err := newBackends(cfg, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range b.closers {
			_ = c()
		}
	}()
	if err := b.ping(context.Background()); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		var detail string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "detail" {
				detail = a.Value.String()
			}
			return true
		})
		if r.Level == slog.LevelWarn && r.Message == "redis client" && strings.Contains(detail, "failed to dial") && strings.Contains(detail, addr) {
			return
		}
	}
	t.Errorf("no slog record of the dial failure among %d records: %v", len(h.records), h.records)
}
