package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/middleware"
)

// TestPolicyDisabledAndPprof checks the two switches bench/ relies on:
// policy: {disabled: true} takes the Rego decision out of the chain (a
// model outside the tier's list is then served), and debug: {pprof: true}
// is what exposes /debug/pprof/.
func TestPolicyDisabledAndPprof(t *testing.T) {
	base := `
keys:
  - {id: k, key_sha256: "` + middleware.HashKey("sk-k") + `", tier: t}
tiers:
  t: {rpm: 1000, models: ["llmtest-*"], budget: {usd_per_month: 100}}
moderation: {input: true, output: true}
`
	for _, c := range []struct {
		name       string
		extra      string
		wantStatus int
		wantPprof  int
	}{
		{"defaults", "", http.StatusNotFound, http.StatusNotFound},
		{"policy off, pprof on", "policy: {disabled: true}\ndebug: {pprof: true}\n", http.StatusOK, http.StatusOK},
		{"topdown evaluator", "policy: {evaluator: topdown}\n", http.StatusNotFound, http.StatusNotFound},
		{"ir evaluator", "policy: {evaluator: ir}\n", http.StatusNotFound, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(base + c.extra))
			if err != nil {
				t.Fatal(err)
			}
			gw, err := newGateway(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer gw.Close()
			if e := gw.engine; e != nil && cfg.Policy.Evaluator != "" && e.Evaluator().String() != cfg.Policy.Evaluator {
				t.Errorf("evaluator %v, want %s", e.Evaluator(), cfg.Policy.Evaluator)
			}
			srv := httptest.NewServer(gw)
			defer srv.Close()

			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":4}`))
			req.Header.Set("Authorization", "Bearer sk-k")
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.wantStatus {
				t.Errorf("gpt-4o-mini outside the tier's models: %d %s, want %d", res.StatusCode, body, c.wantStatus)
			}
			if res.StatusCode == http.StatusOK && res.Header.Get("x-ratelimit-limit-requests") != "1000" {
				t.Errorf("rate limits not applied: x-ratelimit-limit-requests %q", res.Header.Get("x-ratelimit-limit-requests"))
			}

			res, err = http.Get(srv.URL + "/debug/pprof/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.wantPprof {
				t.Errorf("/debug/pprof/cmdline: %d, want %d", res.StatusCode, c.wantPprof)
			}
			res, err = http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("/readyz: %d", res.StatusCode)
			}
		})
	}
}
