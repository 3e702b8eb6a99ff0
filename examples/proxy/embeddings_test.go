package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// An embeddings request goes through the whole chain: a key whose tier
// does not list the model is refused before the upstream, and one whose
// tier does is rate-limited and answered.
func TestEmbeddingsThroughTheGateway(t *testing.T) {
	var calls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/embeddings" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","model":"text-embedding-3-small","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":2,"total_tokens":2}}`)
	}))
	defer up.Close()
	gw := testGateway(t, testKeysYAML("chat", "embed")+`
upstream: {url: "`+up.URL+`/v1", retries: 0}
tiers:
  chat: {rpm: 100, tpm: 100000, models: ["gpt-4o-mini"], budget: {usd_per_month: 10}}
  embed: {rpm: 100, tpm: 100000, models: ["text-embedding-3-*"], budget: {usd_per_month: 10}}
`)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	post := func(key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/embeddings",
			strings.NewReader(`{"model":"text-embedding-3-small","input":"hello world"}`))
		req.Header.Set("Authorization", "Bearer sk-"+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, body
	}

	res, body := post("chat")
	if e, ok := wire.DecodeError(res.StatusCode, body); res.StatusCode != http.StatusNotFound || !ok || e.Code != wire.CodeModelNotFound {
		t.Errorf("a tier without the model: %d %s, want 404 model_not_found", res.StatusCode, body)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the upstream was called %d times for a refused request", n)
	}

	res, body = post("embed")
	var out struct {
		Data []json.RawMessage `json:"data"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Data) != 1 || calls.Load() != 1 {
		t.Fatalf("a tier with the model: %d %s (%d upstream calls)", res.StatusCode, body, calls.Load())
	}
	if got := res.Header.Get("x-ratelimit-remaining-tokens"); got != "99998" {
		t.Errorf("x-ratelimit-remaining-tokens %q, want 99998 (the 2 input tokens reserved)", got)
	}
}
