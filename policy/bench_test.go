package policy

import (
	"context"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// trivialFS is the baseline policy: a constant decision, evaluated
// through the same prepared-query path as the library.
var trivialFS = fstest.MapFS{"p/trivial.rego": {Data: []byte("package llmgate\n\ndecision := {\"allow\": true}\n")}}

func benchDecide(b *testing.B, cfg Config, in *Input, allow bool) {
	e := newEngine(b, cfg)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || d.Allow != allow {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
	cpu.report(b)
}

// deniedInput asks for a model outside the free tier, with tools, over
// budget: three denials, so the deny path builds and sorts reasons.
func deniedInput() *Input {
	in := sampleInput()
	in.Request.Model, in.Model.Name = "gpt-4o", "gpt-4o"
	in.Request.Tools = []string{"search"}
	in.Budgets.Key.RemainingUSD = 0
	return in
}

// cpuTimer measures the process's CPU time (user+sys, GC included) over a
// benchmark loop. On a shared machine, CPU time per op is steadier than
// wall time, which also counts the time other processes held the cores.
type cpuTimer struct{ start time.Duration }

func startCPU() cpuTimer { return cpuTimer{processCPU()} }

func (c cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide measures one decision per request, by each evaluator:
// the IR evaluator (the default) with the input built lazily, and topdown
// with the input members the policy names built as an ast.Value; the
// decision decoded strictly. The trivial policy is the baseline of each.
func BenchmarkDecide(b *testing.B) {
	trivial := Config{FS: trivialFS, Root: "p", PollInterval: -1}
	for _, ev := range []Evaluator{EvaluatorIR, EvaluatorTopdown} {
		with := func(c Config) Config { c.Evaluator = ev; return c }
		b.Run("evaluator="+ev.String(), func(b *testing.B) {
			b.Run("policy=trivial", func(b *testing.B) { benchDecide(b, with(trivial), sampleInput(), true) })
			b.Run("policy=library", func(b *testing.B) { benchDecide(b, with(Config{}), sampleInput(), true) })
			b.Run("policy=library/denied", func(b *testing.B) { benchDecide(b, with(Config{}), deniedInput(), false) })
		})
	}
}

// BenchmarkDecideMapInput is the same evaluation with the input given as
// map[string]any, converted to an OPA value on every call (what
// rego.EvalInput does).
func BenchmarkDecideMapInput(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"policy=trivial", Config{FS: trivialFS, Root: "p", PollInterval: -1}}, {"policy=library", Config{}}} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Evaluator = EvaluatorTopdown
			e := newEngine(b, tc.cfg)
			in := sampleInput()
			ctx := context.Background()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				v, err := ast.InterfaceToValue(in.Map(t0))
				if err != nil {
					b.Fatal(err)
				}
				d, err := e.eval(ctx, e.cur.Load(), t0, ast.NewTerm(v))
				if err != nil || !d.Allow {
					b.Fatalf("eval = %+v, %v", d, err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkDecideLazyInput evaluates with the input given as an
// ast.LazyObject over Input.Map: members become OPA values only when the
// policy reads them.
func BenchmarkDecideLazyInput(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"policy=trivial", Config{FS: trivialFS, Root: "p", PollInterval: -1}}, {"policy=library", Config{}}} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Evaluator = EvaluatorTopdown
			e := newEngine(b, tc.cfg)
			in := sampleInput()
			ctx := context.Background()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				d, err := e.eval(ctx, e.cur.Load(), t0, ast.NewTerm(ast.LazyObject(in.Map(t0))))
				if err != nil || !d.Allow {
					b.Fatalf("eval = %+v, %v", d, err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkInput measures building the input document alone: directly as
// an ast.Value, and as the generic map OPA would convert.
func BenchmarkInput(b *testing.B) {
	in := sampleInput()
	b.Run("build=value", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = in.Value(t0)
		}
	})
	b.Run("build=map+convert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ast.InterfaceToValue(in.Map(t0)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
