package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/middleware"
)

// keyLine is one line of a keys file for the key "sk-<id>".
func keyLine(id, tier string) string {
	return fmt.Sprintf(`{"id": %q, "key_sha256": %q, "user": %q, "org": "acme", "tier": %q}`, id, middleware.HashKey("sk-"+id), id, tier)
}

// writeConfig writes a configuration and a keys file beside it and
// returns the configuration's path.
func writeConfig(t testing.TB, yaml, keys string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys.jsonl"), []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const keysFileYAML = `
keys:
  - {id: yaml-key, key_sha256: "%s", tier: t}
keys_file: keys.jsonl
tiers:
  t: {rpm: 1000, models: ["llmtest-*"]}
orgs:
  acme: {}
`

// TestKeysFile loads keys from a file beside the configuration, serves
// them, and reloads the file.
func TestKeysFile(t *testing.T) {
	yaml := fmt.Sprintf(keysFileYAML, middleware.HashKey("sk-yaml-key"))
	path := writeConfig(t, yaml, "# service keys\n"+keyLine("alice", "t")+"\n\n"+keyLine("bob", "t")+"\n")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range cfg.Keys {
		ids = append(ids, k.ID)
	}
	if got := strings.Join(ids, ","); got != "yaml-key,alice,bob" {
		t.Fatalf("keys %s, want yaml-key,alice,bob", got)
	}

	gw, err := newGateway(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw)
	defer srv.Close()
	chat := func(key string) int {
		t.Helper()
		res := rawChat(t, srv.URL, key, `{"model":"llmtest-1","messages":[{"role":"user","content":"Hi"}],"max_tokens":2}`)
		return res.StatusCode
	}
	for key, want := range map[string]int{"sk-yaml-key": 200, "sk-alice": 200, "sk-bob": 200, "sk-carol": 401} {
		if got := chat(key); got != want {
			t.Errorf("%s: status %d, want %d", key, got, want)
		}
	}

	// Reload: bob goes, carol comes.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "keys.jsonl"), []byte(keyLine("alice", "t")+"\n"+keyLine("carol", "t")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"sk-alice": 200, "sk-bob": 401, "sk-carol": 200} {
		if got := chat(key); got != want {
			t.Errorf("after reload, %s: status %d, want %d", key, got, want)
		}
	}

	// A reload with a broken keys file changes nothing.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "keys.jsonl"), []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(context.Background(), path); err == nil {
		t.Fatal("reload with a broken keys file succeeded")
	}
	if got := chat("sk-carol"); got != 200 {
		t.Errorf("after a failed reload, sk-carol: status %d, want 200", got)
	}
}

// TestKeysFileErrors checks that every bad line is named, and that the
// keys are checked as the YAML ones are.
func TestKeysFileErrors(t *testing.T) {
	yaml := fmt.Sprintf(keysFileYAML, middleware.HashKey("sk-yaml-key"))
	for _, c := range []struct {
		name, keys string
		want       []string
	}{
		{"not JSON", keyLine("a", "t") + "\n{\"id\": \n", []string{"line 2:"}},
		{"unknown field", `{"id": "a", "key_sha256": "` + middleware.HashKey("x") + `", "teir": "t"}`, []string{"line 1:", `unknown field "teir"`}},
		{"two objects", keyLine("a", "t") + " " + keyLine("b", "t"), []string{"line 1: more than one JSON object"}},
		{"duplicate across YAML and file", keyLine("yaml-key", "t"), []string{`line 1: id: duplicate id "yaml-key"`}},
		{"duplicate in file", keyLine("a", "t") + "\n" + keyLine("a", "t"), []string{`line 2: id: duplicate id "a"`}},
		{"bad digest", `{"id": "a", "key_sha256": "abc"}`, []string{"line 1: key_sha256: must be the 64 hex digits"}},
		{"unknown tier and org", `{"id": "a", "key_sha256": "` + middleware.HashKey("x") + `", "tier": "gold", "org": "nope"}`,
			[]string{`line 1: tier: unknown tier "gold"`, `line 1: org: unknown org "nope"`}},
		{"missing id", `{"key_sha256": "` + middleware.HashKey("x") + `"}`, []string{"line 1: id: missing"}},
		{"line too long", `{"id": "` + strings.Repeat("a", maxKeyLine) + `"}`, []string{"longer than 65536 bytes"}},
		{"too many errors", strings.Repeat("x\n", 50), []string{"line 20:", "too many errors"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, yaml, c.keys)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "keys.jsonl") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := writeConfig(t, yaml, "")
		if err := os.Remove(filepath.Join(filepath.Dir(path), "keys.jsonl")); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "keys_file") {
			t.Fatalf("LoadConfig: %v, want a keys_file error", err)
		}
	})
}

// BenchmarkKeysFile loads 100,000 keys from a keys file, beside the same
// keys in YAML (the baseline).
func BenchmarkKeysFile(b *testing.B) {
	const n = 100_000
	var lines, yamlKeys strings.Builder
	yamlKeys.WriteString("tiers:\n  t: {rpm: 1000}\norgs:\n  acme: {}\nkeys:\n")
	for i := range n {
		id := fmt.Sprintf("k%d", i)
		lines.WriteString(keyLine(id, "t") + "\n")
		fmt.Fprintf(&yamlKeys, "  - {id: %s, key_sha256: %q, user: %s, org: acme, tier: t}\n", id, middleware.HashKey("sk-"+id), id)
	}
	b.Run("format=jsonl", func(b *testing.B) {
		path := writeConfig(b, "tiers:\n  t: {rpm: 1000}\norgs:\n  acme: {}\nkeys_file: keys.jsonl\n", lines.String())
		b.ReportAllocs()
		for b.Loop() {
			if cfg, err := LoadConfig(path); err != nil || len(cfg.Keys) != n {
				b.Fatal(err)
			}
		}
	})
	b.Run("format=yaml", func(b *testing.B) {
		path := writeConfig(b, yamlKeys.String(), "")
		b.ReportAllocs()
		for b.Loop() {
			if cfg, err := LoadConfig(path); err != nil || len(cfg.Keys) != n {
				b.Fatal(err)
			}
		}
	})
}
