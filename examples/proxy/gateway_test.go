package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// testGateway builds the gateway of a YAML configuration, to be served
// in-process (httptest.NewRecorder or a server).
func testGateway(t *testing.T, yaml string) *gateway {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := newGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return gw
}

// Every response carries x-request-id, the chain's and the operational
// endpoints' alike, a 404 included; a valid id the client sent is kept.
func TestEveryResponseHasRequestID(t *testing.T) {
	gw := testGateway(t, testKeysYAML("rid")+`
upstream: {url: builtin}
tiers:
  rid: {rpm: 1000, tpm: 1000000, models: ["*"]}
policy: {disabled: true}
`)
	for _, tc := range []struct {
		method, path, auth string
		status             int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
		{"GET", "/admin/usage", "sk-admin", 200},
		{"GET", "/admin/usage", "", 401},
		{"GET", "/nope", "", 404},
		{"POST", "/v1/chat/completions", "", 401},
		{"GET", "/v1/models", "sk-rid", 200},
	} {
		for _, sent := range []string{"", "client-id-1"} {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}"))
			if tc.auth != "" {
				r.Header.Set("Authorization", "Bearer "+tc.auth)
			}
			if sent != "" {
				r.Header.Set("X-Request-Id", sent)
			}
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, r)
			got := w.Header().Values("X-Request-Id")
			switch {
			case w.Code != tc.status:
				t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, w.Code, tc.status, w.Body)
			case len(got) != 1 || got[0] == "" || sent != "" && got[0] != sent:
				t.Errorf("%s %s (sent %q): x-request-id %q, want one, the client's if sent", tc.method, tc.path, sent, got)
			}
		}
	}
}

// The operational endpoints answer a method other than GET or HEAD 405
// with an Allow header and an envelope, not the catch-all's 404; GET and
// HEAD are served.
func TestOperationalEndpointsMethodNotAllowed(t *testing.T) {
	gw := testGateway(t, testKeysYAML("ops")+`
upstream: {url: builtin}
policy: {disabled: true}
`)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/admin/usage"} {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
			r := httptest.NewRequest(method, path, nil)
			r.Header.Set("Authorization", "Bearer sk-admin")
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, r)
			if method == "GET" || method == "HEAD" {
				if w.Code != http.StatusOK {
					t.Errorf("%s %s: status %d, want 200: %s", method, path, w.Code, w.Body)
				}
				continue
			}
			e, ok := wire.DecodeError(w.Code, w.Body.Bytes())
			if allow := w.Header().Get("Allow"); w.Code != http.StatusMethodNotAllowed || !ok || e.Code != wire.CodeMethodNotAllowed ||
				!strings.Contains(allow, "GET") || strings.Contains(allow, "POST") {
				t.Errorf("%s %s: %d (Allow %q) %s, want a 405 method_not_allowed envelope with Allow: GET", method, path, w.Code, allow, w.Body)
			}
		}
	}
}
