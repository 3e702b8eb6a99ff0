package policy

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		want  error
		want2 error // a second error the result must match, or nil
		msg   string
	}{
		{name: "missing directory", cfg: Config{Dir: filepath.Join(t.TempDir(), "nope")}, want: ErrLoad, want2: fs.ErrNotExist},
		{name: "no rego file", cfg: Config{FS: mapFS(map[string]string{"p/data.json": "{}", "p/x_test.rego": "package x"}), Root: "p"}, want: ErrLoad, msg: "no .rego file"},
		{name: "parse error", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {"})}, want: ErrCompile, msg: "p.rego:3"},
		{name: "compile error", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {\"allow\": x}\n"})}, want: ErrCompile, msg: "var x is unsafe"},
		{name: "unsafe builtin", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := http.send({\"method\": \"GET\", \"url\": \"http://x\"}).body\n"})}, want: ErrCompile, msg: "http.send"},
		{name: "no decision rule", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package other\n\ndecision := {\"allow\": true}\n"})}, want: ErrCompile, msg: "no rule defines data.llmgate.decision"},
		{name: "bad data file", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {\"allow\": true}\n", "data.json": "{"})}, want: ErrLoad, msg: "data.json"},
		{name: "overlapping data files", cfg: Config{FS: mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {\"allow\": true}\n", "data.json": `{"a": {"b": 1}}`, "a/data.json": `{"b": 2}`})}, want: ErrLoad, msg: "defined twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(context.Background(), tc.cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tc.want) || (tc.want2 != nil && !errors.Is(err, tc.want2)) {
				t.Fatalf("err = %v, want %v and %v", err, tc.want, tc.want2)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.msg)
			}
		})
	}
	t.Run("bad query", func(t *testing.T) {
		if _, err := New(context.Background(), Config{Query: "data.["}); err == nil {
			t.Fatal("New succeeded")
		}
	})
}

func TestDecideErrors(t *testing.T) {
	const conflict = `package llmgate

decision := {"allow": true} if input.principal.tier == "free"

decision := {"allow": false} if input.principal.key_id == "alice-key"
`
	tests := []struct {
		name   string
		policy string
		want   error
	}{
		{"undefined", "package llmgate\n\ndecision := {\"allow\": true} if input.principal.tier == \"gold\"\n", ErrUndefined},
		{"conflict", conflict, ErrConflict},
		{"builtin error", "package llmgate\n\ndecision := {\"allow\": to_number(\"ten\") > 1}\n", ErrEval},
		{"wrong type", "package llmgate\n\ndecision := {\"allow\": \"yes\"}\n", ErrBadDecision},
		{"not an object", "package llmgate\n\ndecision := true\n", ErrBadDecision},
	}
	for _, tc := range tests {
		forEachEvaluator(t, tc.name, func(t *testing.T, ev Evaluator) {
			e := newEngine(t, Config{FS: mapFS(map[string]string{"p.rego": tc.policy}), PollInterval: -1, Evaluator: ev})
			d, err := e.Decide(context.Background(), sampleInput())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decide = %+v, %v; want %v", d, err, tc.want)
			}
			if d.Allow {
				t.Fatal("a failed decision allows")
			}
			env := Deny(d, err, "req-1")
			if env.Status != http.StatusInternalServerError || env.Type != "server_error" {
				t.Fatalf("Deny = %+v, want a 500 server_error", env)
			}
			for _, leak := range []string{"rego", "conflict", "undefined", "decision", "to_number", "allow"} {
				if strings.Contains(strings.ToLower(env.Message), leak) {
					t.Fatalf("Deny message %q leaks %q", env.Message, leak)
				}
			}
		})
	}
}

func TestDecideCanceled(t *testing.T) {
	forEachEvaluator(t, "", func(t *testing.T, ev Evaluator) {
		e := newEngine(t, Config{Evaluator: ev})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.Decide(ctx, sampleInput()); !errors.Is(err, ErrEval) {
			t.Fatalf("Decide with a canceled context: %v, want ErrEval", err)
		}
	})
}

// TestLibrary checks decisions of the shipped library for representative
// inputs and the envelopes Deny makes of them.
func TestLibrary(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(in *Input)
		allow  bool
		status int
		code   string
		typ    string
		check  func(t *testing.T, d Decision)
	}{
		{name: "free tier, allowed model", allow: true, check: func(t *testing.T, d Decision) {
			if d.MaxTokens != 1024 || d.Model != "" || d.Redact != nil {
				t.Errorf("decision = %+v, want max_tokens 1024 only", d)
			}
		}},
		{name: "model not allowed", edit: func(in *Input) { in.Request.Model, in.Model.Name = "gpt-4o", "gpt-4o" },
			status: 404, code: "model_not_found", typ: "invalid_request_error"},
		{name: "budget exhausted", edit: func(in *Input) { in.Budgets.Org.RemainingUSD = 0.0001 },
			status: 429, code: "insufficient_quota", typ: "insufficient_quota"},
		{name: "no estimate, budget left", edit: func(in *Input) { in.Cost.EstimateUSD = nil }, allow: true},
		{name: "tools on free tier", edit: func(in *Input) { in.Request.Tools = []string{"search"} },
			status: 403, typ: "permission_error"},
		{name: "unknown tier", edit: func(in *Input) { in.Principal.Tier = "" }, status: 403, typ: "permission_error"},
		{name: "flagged content", edit: func(in *Input) {
			in.Moderation = &Moderation{Flagged: true, Categories: map[string]bool{"violence": true}, Scores: map[string]float64{"violence": 0.93}}
		}, status: 400, code: "content_policy_violation", typ: "invalid_request_error"},
		{name: "pii is redacted", edit: func(in *Input) {
			in.Moderation = &Moderation{Flagged: true, Categories: map[string]bool{"pii/email": true, "pii/phone": true}, Scores: map[string]float64{}}
		}, allow: true, check: func(t *testing.T, d Decision) {
			if strings.Join(d.Redact, ",") != "pii/email,pii/phone" {
				t.Errorf("redact = %q", d.Redact)
			}
		}},
	}
	for _, tc := range tests {
		forEachEvaluator(t, tc.name, func(t *testing.T, ev Evaluator) {
			e := newEngine(t, Config{Evaluator: ev})
			in := sampleInput()
			if tc.edit != nil {
				tc.edit(in)
			}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			env := Deny(d, nil, "req-1")
			if d.Allow != tc.allow || (env == nil) != tc.allow {
				t.Fatalf("decision = %+v, envelope %+v; want allow %v", d, env, tc.allow)
			}
			if !tc.allow {
				if env.Status != tc.status || env.Code != tc.code || env.Type != tc.typ || env.Message == "" {
					t.Fatalf("envelope = %+v, want %d %s/%s", env, tc.status, tc.typ, tc.code)
				}
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestDataOverride(t *testing.T) {
	forEachEvaluator(t, "", func(t *testing.T, ev Evaluator) {
		in := sampleInput()
		in.Model.Deprecated = ptr(true)
		e := newEngine(t, Config{Data: map[string]any{"llmgate_config": map[string]any{"deny_deprecated": true}}, Evaluator: ev})
		d, err := e.Decide(context.Background(), in)
		if err != nil || d.Allow || d.Status != 404 {
			t.Fatalf("deprecated model with deny_deprecated: %+v, %v", d, err)
		}
		// The rest of the library's settings are still there.
		in.Model.Deprecated = ptr(false)
		if d, err := e.Decide(context.Background(), in); err != nil || !d.Allow || d.MaxTokens != 1024 {
			t.Fatalf("after override: %+v, %v", d, err)
		}
	})
}

func TestDataFilesInSubdirectories(t *testing.T) {
	fsys := mapFS(map[string]string{
		"pol/llmgate.rego":      "package llmgate\n\ndecision := {\"allow\": input.principal.tier in data.tiers.allowed, \"max_tokens\": data.caps.n}\n",
		"pol/tiers/data.json":   `{"allowed": ["free"]}`,
		"pol/caps/data.yaml":    "n: 42\n",
		"pol/.hidden/data.json": `{"bad": `,
		"other/x.rego":          "package broken {",
	})
	forEachEvaluator(t, "", func(t *testing.T, ev Evaluator) {
		e := newEngine(t, Config{FS: fsys, Root: "pol", PollInterval: -1, Evaluator: ev})
		d, err := e.Decide(context.Background(), sampleInput())
		if err != nil || !d.Allow || d.MaxTokens != 42 {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
	})
}

func TestDirOnDisk(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p.rego", "package llmgate\n\ndecision := {\"allow\": true, \"reasons\": [\"disk\"]}\n")
	e := newEngine(t, Config{Dir: dir, PollInterval: -1})
	d, err := e.Decide(context.Background(), sampleInput())
	if err != nil || !d.Allow || d.Reasons[0] != "disk" {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
	if len(e.Revision()) != 12 {
		t.Fatalf("Revision = %q", e.Revision())
	}
}

// TestInputValueMatchesMap checks that the directly built ast.Value is the
// document the generic map gives, for a full input.
func TestInputValueMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *Input
	}{{"full", fullInputUnflagged()}, {"zero", &Input{}}, {"sample", sampleInput()}} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := ast.InterfaceToValue(tc.in.Map(t0))
			if err != nil {
				t.Fatal(err)
			}
			got := tc.in.Value(t0)
			if got.Compare(want) != 0 {
				t.Fatalf("Value =\n%v\nMap =\n%v", got, want)
			}
		})
	}
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}
