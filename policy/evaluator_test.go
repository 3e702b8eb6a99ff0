package policy

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// unplannable has rules under one ref prefix (q) where one reads another
// (q.z reads q.k): valid Rego that OPA's planner does not plan, so the
// engine evaluates it with topdown.
const unplannable = `package llmgate

q[x].v := 1 if x := "k"

q.z.v := q.k.v + 1

decision := {"allow": q.z.v == 2}
`

func TestEvaluatorChoice(t *testing.T) {
	fsys := mapFS(map[string]string{"p.rego": unplannable})
	for _, tc := range []struct {
		cfg  Config
		want Evaluator
	}{
		{Config{}, EvaluatorIR},
		{Config{Evaluator: EvaluatorTopdown}, EvaluatorTopdown},
		{Config{Evaluator: EvaluatorIR}, EvaluatorIR},
		{Config{FS: fsys, PollInterval: -1}, EvaluatorTopdown},
		{Config{FS: fsys, PollInterval: -1, Evaluator: EvaluatorTopdown}, EvaluatorTopdown},
	} {
		e := newEngine(t, tc.cfg)
		if got := e.Evaluator(); got != tc.want {
			t.Errorf("Config{FS: %v, Evaluator: %v}: evaluator %v, want %v", tc.cfg.FS != nil, tc.cfg.Evaluator, got, tc.want)
		}
		if d, err := e.Decide(context.Background(), sampleInput()); err != nil || !d.Allow {
			t.Errorf("Config{FS: %v, Evaluator: %v}: Decide = %+v, %v", tc.cfg.FS != nil, tc.cfg.Evaluator, d, err)
		}
	}
	// Asking for the IR evaluator makes a policy it cannot run fail to load.
	if _, err := New(context.Background(), Config{FS: fsys, PollInterval: -1, Evaluator: EvaluatorIR}); !errors.Is(err, ErrCompile) {
		t.Errorf("EvaluatorIR with a policy the planner rejects: %v, want ErrCompile", err)
	}
	if _, err := New(context.Background(), Config{Evaluator: EvaluatorIR + 1}); err == nil {
		t.Error("an unknown Evaluator was accepted")
	}
}

func TestParseEvaluator(t *testing.T) {
	for _, v := range []Evaluator{EvaluatorAuto, EvaluatorTopdown, EvaluatorIR} {
		if got, err := ParseEvaluator(v.String()); err != nil || got != v {
			t.Errorf("ParseEvaluator(%q) = %v, %v", v.String(), got, err)
		}
	}
	if got, err := ParseEvaluator(""); err != nil || got != EvaluatorAuto {
		t.Errorf(`ParseEvaluator("") = %v, %v`, got, err)
	}
	if _, err := ParseEvaluator("wasm"); err == nil {
		t.Error(`ParseEvaluator("wasm") succeeded`)
	}
	if s := Evaluator(9).String(); s != "Evaluator(9)" {
		t.Errorf("String = %q", s)
	}
}

// pick returns one of options, chosen by the next byte of *b.
func pick[T any](b *[]byte, options ...T) T {
	if len(*b) == 0 {
		return options[0]
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return options[int(c)%len(options)]
}

// inputFrom builds a request input from fuzz bytes: the members the
// library and examples/policies read, each varied over values that make
// their rules fire or not.
func inputFrom(b []byte) (*Input, time.Time) {
	in := sampleInput()
	in.Principal.Tier = pick(&b, "free", "pro", "enterprise", "batch", "gold", "")
	in.Request.Model = pick(&b, "gpt-4o-mini", "gpt-4o", "llmtest-small", "o3-pro", "llmtest-a/b", "gpt-4o-2024-05-13")
	in.Model.Name = pick(&b, in.Request.Model, "gpt-4o")
	in.Request.Tools = pick(&b, []string{}, []string{"search"}, []string{"a", "b"}, nil)
	in.Request.Stream = pick(&b, false, true)
	in.Request.N = pick(&b, 1, 2, 5)
	in.Request.HasImages = pick(&b, false, true)
	in.Model.Deprecated = pick(&b, nil, ptr(false), ptr(true))
	in.Cost.EstimateUSD = pick(&b, nil, ptr(0.0), ptr(0.0003336), ptr(9.0), ptr(1e-7))
	in.Budgets.Key = pick(&b, nil, in.Budgets.Key, &Budget{Window: "day", SpentUSD: 1, BudgetUSD: 1, RemainingUSD: 0})
	in.Budgets.Org = pick(&b, nil, in.Budgets.Org, &Budget{Window: "month", SpentUSD: 99.99, BudgetUSD: 100, RemainingUSD: 0.01})
	in.Principal.Labels = pick(&b, nil, map[string]string{"suspended": "true"}, map[string]string{"team": "x"})
	cat := pick(&b, "harassment", "pii/email", "violence", "sexual", "pii/ip_address", "self-harm")
	in.Moderation = pick(&b, nil,
		&Moderation{Flagged: true, Categories: map[string]bool{cat: true}, Scores: map[string]float64{cat: 0.9}},
		&Moderation{Categories: map[string]bool{cat: false}, Scores: map[string]float64{cat: pick(&b, 0.1, 0.25, 0.7)}},
		&Moderation{Flagged: true, Categories: map[string]bool{"pii/email": true, "pii/phone": true}, Scores: map[string]float64{}})
	now := t0.Add(time.Duration(pick(&b, 0, 3, 9, 13, 20, 23)) * time.Hour)
	return in, now
}

// FuzzEvaluatorsAgree checks that the IR evaluator and topdown decide
// alike, through the whole engine (lazy input, data, decoding), on the
// shipped library, the library with settings overridden, and
// examples/policies.
func FuzzEvaluatorsAgree(f *testing.F) {
	for _, seed := range [][]byte{nil, {1, 1}, {0, 1, 1}, {3, 0, 0, 0, 1}, {4}, {0, 0, 0, 0, 0, 0, 0, 2, 3, 2, 2}, {2, 3, 3, 2, 1, 1, 1, 1, 4, 2, 2, 1, 2, 1, 5}} {
		f.Add(seed)
	}
	var now time.Time
	clock := func() time.Time { return now }
	configs := map[string]Config{
		"library":   {},
		"overrides": {Data: map[string]any{"llmgate_config": map[string]any{"deny_deprecated": true, "moderation": map[string]any{"thresholds": map[string]any{"violence": 0.2}}}}},
		"examples":  {Dir: "../examples/policies", PollInterval: -1},
	}
	type pair struct{ ir, td *Engine }
	engines := map[string]pair{}
	for name, cfg := range configs {
		cfg.Now = clock
		ir, td := cfg, cfg
		ir.Evaluator, td.Evaluator = EvaluatorIR, EvaluatorTopdown
		engines[name] = pair{newEngine(f, ir), newEngine(f, td)}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in *Input
		in, now = inputFrom(b)
		for name, e := range engines {
			d1, err1 := e.ir.Decide(context.Background(), in)
			d2, err2 := e.td.Decide(context.Background(), in)
			if !reflect.DeepEqual(d1, d2) || !sameError(err1, err2) {
				t.Fatalf("%s: %+v\nir:      %+v, %v\ntopdown: %+v, %v", name, in, d1, err1, d2, err2)
			}
		}
	})
}

// sameError reports whether a and b are both nil or both the same Err… kind.
func sameError(a, b error) bool {
	for _, kind := range []error{ErrUndefined, ErrConflict, ErrBadDecision, ErrEval} {
		if errors.Is(a, kind) != errors.Is(b, kind) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}
