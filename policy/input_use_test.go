package policy

import (
	"context"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestInputUses checks which members of the input document the engine
// builds for a policy: those its rules name, whole members where a rule
// uses one as a value, iterates it or indexes it with a computed key, and
// the whole document when a rule uses input itself.
func TestInputUses(t *testing.T) {
	const allow = "package llmgate\n\ndecision := {\"allow\": true}\n"
	tests := []struct {
		name  string
		rules string // after the package line and a constant decision
		want  string // the document built for fullInput, "" for all of it
	}{
		{"none", ``, `{}`},
		{"leaf", `x if input.principal.tier == "free"`, `{"principal": {"tier": "free"}}`},
		{"two leaves", "x if input.principal.tier == input.model.name\ny := input.principal.org",
			`{"model": {"name": "gpt-4o-mini"}, "principal": {"org": "acme", "tier": "free"}}`},
		{"member as a value", `x := object.keys(input.tokens)`, `{"tokens": {"max_completion": 256, "prompt": 1200}}`},
		{"computed key", `x if input.budgets[_].remaining_usd < 1`,
			`{"budgets": {"key": {"budget_usd": 10, "remaining_usd": 8, "spent_usd": 2, "window": "month"}, "org": {"budget_usd": 100, "remaining_usd": 60, "spent_usd": 40, "window": "month"}, "user": {"budget_usd": 5, "remaining_usd": 3.75, "spent_usd": 1.25, "window": "7d"}}}`},
		{"key from input", `x := input.request.metadata[input.principal.tier]`,
			`{"principal": {"tier": "free"}, "request": {"metadata": {"team": "search"}}}`},
		{"some in", "x if {\n\tsome c, s in input.moderation.scores\n\ts > 0.5\n}",
			`{"moderation": {"categories": {"hate": true}, "flagged": true, "scores": {"hate": 0.8}}}`}, // moderation is built whole
		{"time", `x := input.time.unix_ns`, `{"time": {"unix_ns": 1748858400000000000}}`},
		{"import", "import input.request as req\n\nx := req.model", `{"request": {"model": "gpt-4o-mini"}}`},
		{"with target", `y if input.request.n == 2 with input.request.n as 2`, `{"request": {"n": 1}}`},
		{"function argument", "f(r) := r.model\n\nx := f(input.request)",
			`{"request": {"endpoint": "/v1/chat/completions", "has_audio": false, "has_images": false, "id": "req-1", "max_tokens": 256, "messages": 2, "metadata": {"team": "search"}, "model": "gpt-4o-mini", "n": 1, "prompt": "hello", "reasoning_effort": "", "response_format": "", "service_tier": "", "stream": false, "temperature": 0.7, "tool_choice": "", "tools": ["a", "b"], "top_p": 0.9, "user": ""}}`},
		{"function of input", "f(r) := r.request.model\n\nx := f(input)", ""},
		{"input as a value", `x := json.marshal(input)`, ""},
		{"input iterated", "x if {\n\tsome k, _ in input\n\tk == \"cost\"\n}", ""},
		{"with input", `y if input.request.n == 2 with input as {"request": {"n": 2}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := allow
			if tc.rules != "" {
				src += "\n" + tc.rules + "\n"
			}
			if tc.name == "import" {
				src = "package llmgate\n\n" + tc.rules + "\n\ndecision := {\"allow\": true}\n"
			}
			e := newEngine(t, Config{FS: mapFS(map[string]string{"p.rego": src}), PollInterval: -1})
			in := fullInput()
			got := in.value(t0, e.cur.Load().use).Value
			want := in.Value(t0)
			if tc.want != "" {
				want = ast.MustParseTerm(tc.want).Value
			}
			if got.Compare(want) != 0 {
				t.Fatalf("document =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestPrunedInputSameDecisions evaluates the shipped library and the
// examples' policies with the input the engine builds for them and with the
// whole document: the decisions must be the same.
func TestPrunedInputSameDecisions(t *testing.T) {
	inputs := map[string]func() *Input{
		"sample": sampleInput,
		"denied": deniedInput,
		"full":   fullInput,
		"zero":   func() *Input { return &Input{} },
		"moderated": func() *Input {
			in := sampleInput()
			in.Moderation = &Moderation{Flagged: true, Categories: map[string]bool{"pii/email": true, "violence": false},
				Scores: map[string]float64{"violence": 0.7, "pii/email": 1}}
			return in
		},
		"batch at noon": func() *Input {
			in := sampleInput()
			in.Principal.Tier, in.Request.Stream, in.Request.N = "batch", true, 3
			in.Principal.Labels = map[string]string{"suspended": "true"}
			return in
		},
	}
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{{"library", Config{}}, {"examples", Config{Dir: "../examples/policies", PollInterval: -1}}} {
		e := newEngine(t, cfg.cfg)
		p := e.cur.Load()
		if p.use == wholeInput {
			t.Fatalf("%s: the engine builds the whole input", cfg.name)
		}
		for name, mk := range inputs {
			t.Run(cfg.name+"/"+name, func(t *testing.T) {
				in := mk()
				d1, err1 := e.eval(context.Background(), p, t0, in.value(t0, p.use))
				d2, err2 := e.eval(context.Background(), p, t0, ast.NewTerm(in.Value(t0)))
				if !reflect.DeepEqual(d1, d2) || (err1 == nil) != (err2 == nil) {
					t.Fatalf("pruned input: %+v, %v\nwhole input: %+v, %v", d1, err1, d2, err2)
				}
			})
		}
	}
}
