package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/middleware"
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

// serveJSON posts a JSON body to path through gw, in process, with key as
// the bearer token.
func serveJSON(gw http.Handler, key, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, r)
	return w
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

// TestTierWithoutModelsKeepsPolicyList: under a policy of one's own
// (examples/policies, whose data lets the free tier use gpt-4o-mini,
// gpt-4.1-nano and llmtest-*), a tier the configuration gives limits but
// no models keeps the policy's list: gpt-4o stays refused. Under the
// shipped library the same tier may use every model.
func TestTierWithoutModelsKeepsPolicyList(t *testing.T) {
	dir, err := filepath.Abs("../policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy string
		status int
	}{
		{`policy: {dir: "` + dir + `"}`, http.StatusNotFound},
		{``, http.StatusOK},
	} {
		gw := testGateway(t, testKeysYAML("free")+`
upstream: {url: builtin}
tiers:
  free: {rpm: 600}
cache: {disabled: true}
`+tc.policy+"\n")
		w := serveJSON(gw, "sk-free", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)
		if w.Code != tc.status {
			t.Errorf("%q: free tier asking for gpt-4o: status %d, want %d: %s", tc.policy, w.Code, tc.status, w.Body)
		}
	}
}

// TestKeyWithoutTier: the shipped policy refuses a key without a tier, so
// such a key is a configuration error rather than a key that gets 403 on
// every request; without the policy it is served.
func TestKeyWithoutTier(t *testing.T) {
	const keys = "keys:\n  - {id: bob, key_sha256: \"%s\"}\nupstream: {url: builtin}\n"
	_, err := ParseConfig(fmt.Appendf(nil, keys, middleware.HashKey("sk-bob")))
	if err == nil || !strings.Contains(err.Error(), "tier: missing") {
		t.Errorf("shipped policy, key without a tier: err %v, want a tier error", err)
	}
	gw := testGateway(t, fmt.Sprintf(keys, middleware.HashKey("sk-bob"))+"policy: {disabled: true}\n")
	w := serveJSON(gw, "sk-bob", "/v1/chat/completions", `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)
	if w.Code != http.StatusOK {
		t.Errorf("no policy, key without a tier: status %d, want 200: %s", w.Code, w.Body)
	}
}

// TestTierBurst: rpm_burst bounds what a fresh key may do at once, below
// its rate: with rpm 60 and rpm_burst 1, the second request at once is
// refused.
func TestTierBurst(t *testing.T) {
	gw := testGateway(t, testKeysYAML("b")+`
upstream: {url: builtin}
tiers:
  b: {rpm: 60, rpm_burst: 1, models: ["*"]}
cache: {disabled: true}
`)
	var codes []int
	for range 2 {
		codes = append(codes, serveJSON(gw, "sk-b", "/v1/chat/completions", `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`).Code)
	}
	if codes[0] != http.StatusOK || codes[1] != http.StatusTooManyRequests {
		t.Errorf("statuses %v, want [200 429]", codes)
	}
}

// TestCustomToolThroughGateway: a custom tool call comes back through the
// whole chain from the built-in upstream, in a body and in a stream (where
// output moderation holds the call's input pieces and judges them whole).
func TestCustomToolThroughGateway(t *testing.T) {
	gw := testGateway(t, testKeysYAML("c")+`
upstream: {url: builtin}
tiers:
  c: {rpm: 100, models: ["*"]}
cache: {disabled: true}
moderation: {input: true, output: true}
`)
	const tools = `"tools":[{"type":"custom","custom":{"name":"run_query","format":{"type":"grammar","grammar":{"definition":"SELECT [a-z]+ FROM users","syntax":"regex"}}}}],` +
		`"tool_choice":{"type":"custom","custom":{"name":"run_query"}}`
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"llmtest-1","messages":[{"role":"user","content":"count users"}],%s,"stream":%t}`, tools, stream)
		w := serveJSON(gw, "sk-c", "/v1/chat/completions", body)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"custom":{"name":"run_query"`) ||
			!strings.Contains(w.Body.String(), "SELECT") {
			t.Errorf("stream %v: status %d: %s", stream, w.Code, w.Body)
		}
	}
}
