// Command report turns the raw lines bench/run.sh collects into the
// markdown table of bench/results/overhead.md: medians across rounds of
// each scenario's latency, added latency (paired with the same round's
// baseline), throughput, CPU per request and memory.
//
//	report < bench/results/raw.tsv > bench/results/overhead.md
//
// Each input line is tab-separated: round, scenario, the gateway's CPU
// ticks (utime+stime) spent during the run, its VmRSS and VmHWM in KiB
// after the run, the number of warm-up requests, and load's JSON line.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// run is one load run of one scenario in one round.
type run struct {
	Round    int
	Scenario string
	Ticks    float64
	RSS, HWM float64 // KiB
	Warm     float64
	Stream   bool    `json:"stream"`
	C        int     `json:"c"`
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	TTFB50   float64 `json:"ttfb_p50_us"`
	TTFB99   float64 `json:"ttfb_p99_us"`
}

// scenarios in table order, with their descriptions.
var scenarios = []struct{ id, name string }{
	{"direct", "(1) direct to the stub"},
	{"bare", "(2) bare httputil.ReverseProxy"},
	{"limits", "(3a) llmgate: auth, limits, budgets"},
	{"full", "(3b) llmgate: full chain, memory"},
	{"redis", "(4) llmgate: full chain, Redis"},
}

func main() {
	runs, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	write(os.Stdout, runs, os.Args[1:])
}

func parse(r io.Reader) ([]run, error) {
	var runs []run
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.SplitN(sc.Text(), "\t", 7)
		if len(f) != 7 {
			return nil, fmt.Errorf("line %d: %d fields, want 7", line, len(f))
		}
		var x run
		if err := json.Unmarshal([]byte(f[6]), &x); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		x.Round, _ = strconv.Atoi(f[0])
		x.Scenario = f[1]
		x.Ticks, _ = strconv.ParseFloat(f[2], 64)
		x.RSS, _ = strconv.ParseFloat(f[3], 64)
		x.HWM, _ = strconv.ParseFloat(f[4], 64)
		x.Warm, _ = strconv.ParseFloat(f[5], 64)
		runs = append(runs, x)
	}
	return runs, sc.Err()
}

// median of xs; NaN-free callers only. 0 when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table holds the runs by scenario, stream and concurrency, per round.
type table map[string]map[int]run

func key(scenario string, stream bool, c int) string {
	return fmt.Sprintf("%s/%v/%d", scenario, stream, c)
}

// stat is the median across rounds of f(run of the scenario, run of the
// baseline in the same round); base may be "" for no baseline.
func (t table) stat(scenario, base string, stream bool, c int, f func(x, b run) float64) (float64, bool) {
	var xs []float64
	for round, x := range t[key(scenario, stream, c)] {
		b := run{}
		if base != "" {
			var ok bool
			if b, ok = t[key(base, stream, c)][round]; !ok {
				continue
			}
		}
		xs = append(xs, f(x, b))
	}
	return median(xs), len(xs) > 0
}

func write(w io.Writer, runs []run, meta []string) {
	t := table{}
	rounds := map[int]bool{}
	var errs float64
	for _, x := range runs {
		k := key(x.Scenario, x.Stream, x.C)
		if t[k] == nil {
			t[k] = map[int]run{}
		}
		t[k][x.Round] = x
		rounds[x.Round] = true
		errs += x.Errors
	}
	fmt.Fprintf(w, "Medians of %d interleaved rounds; \"added\" is the median of each round's difference with the baseline run in the same round. %s\n\n",
		len(rounds), strings.Join(meta, " "))
	if errs > 0 {
		fmt.Fprintf(w, "**%v requests failed across all runs** (see raw.tsv).\n\n", errs)
	}
	us := func(v float64, ok bool) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf("%.0f", v)
	}
	signed := func(v float64, ok bool) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf("%+.0f", v)
	}
	cpu := func(x, _ run) float64 {
		n := x.Requests + x.Errors + x.Warm
		if n == 0 {
			return 0
		}
		return x.Ticks * 1e4 / n // ticks of 10 ms → µs per request
	}

	fmt.Fprint(w, "**Concurrency 1, non-streamed** (µs)\n\n| scenario | p50 | p99 | added p50 over (1) | added p50 over (2) | gateway CPU/req | gateway RSS / peak (MiB) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range scenarios {
		p50, ok := t.stat(s.id, "", false, 1, func(x, _ run) float64 { return x.P50 })
		if !ok {
			continue
		}
		p99, _ := t.stat(s.id, "", false, 1, func(x, _ run) float64 { return x.P99 })
		overDirect, ok1 := t.stat(s.id, "direct", false, 1, func(x, b run) float64 { return x.P50 - b.P50 })
		overBare, ok2 := t.stat(s.id, "bare", false, 1, func(x, b run) float64 { return x.P50 - b.P50 })
		c, okc := t.stat(s.id, "", false, 1, cpu)
		mem := "—"
		if s.id != "direct" {
			rss, _ := t.stat(s.id, "", false, 32, func(x, _ run) float64 { return x.RSS / 1024 })
			hwm, _ := t.stat(s.id, "", false, 32, func(x, _ run) float64 { return x.HWM / 1024 })
			mem = fmt.Sprintf("%.0f / %.0f", rss, hwm)
		} else {
			okc = false
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", s.name, us(p50, true), us(p99, true),
			signed(overDirect, ok1 && s.id != "direct"), signed(overBare, ok2 && s.id != "direct" && s.id != "bare"), us(c, okc), mem)
	}

	fmt.Fprint(w, "\n**Concurrency 1, streamed** (µs; first byte = first byte of the answer's body)\n\n| scenario | first byte p50 | first byte p99 | added first byte over (2) | whole stream p50 | whole stream p99 | added p50 over (2) | gateway CPU/req |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range scenarios {
		f50, ok := t.stat(s.id, "", true, 1, func(x, _ run) float64 { return x.TTFB50 })
		if !ok {
			continue
		}
		f99, _ := t.stat(s.id, "", true, 1, func(x, _ run) float64 { return x.TTFB99 })
		fOver, okf := t.stat(s.id, "bare", true, 1, func(x, b run) float64 { return x.TTFB50 - b.TTFB50 })
		p50, _ := t.stat(s.id, "", true, 1, func(x, _ run) float64 { return x.P50 })
		p99, _ := t.stat(s.id, "", true, 1, func(x, _ run) float64 { return x.P99 })
		over, oko := t.stat(s.id, "bare", true, 1, func(x, b run) float64 { return x.P50 - b.P50 })
		c, okc := t.stat(s.id, "", true, 1, cpu)
		gw := s.id != "direct" && s.id != "bare"
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name, us(f50, true), us(f99, true), signed(fOver, okf && gw),
			us(p50, true), us(p99, true), signed(over, oko && gw), us(c, okc && s.id != "direct"))
	}

	fmt.Fprint(w, "\n**Concurrency 32** (requests/s; % of the bare proxy's in the same round)\n\n| scenario | non-streamed req/s | % of (2) | CPU/req (µs) | streamed req/s | % of (2) | CPU/req (µs) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range scenarios {
		var cells []string
		for _, stream := range []bool{false, true} {
			rps, ok := t.stat(s.id, "", stream, 32, func(x, _ run) float64 { return x.RPS })
			pct, okp := t.stat(s.id, "bare", stream, 32, func(x, b run) float64 { return 100 * x.RPS / b.RPS })
			c, okc := t.stat(s.id, "", stream, 32, cpu)
			cells = append(cells, us(rps, ok), func() string {
				if !okp || s.id == "direct" {
					return "—"
				}
				return fmt.Sprintf("%.0f %%", pct)
			}(), us(c, okc && s.id != "direct"))
		}
		fmt.Fprintf(w, "| %s | %s |\n", s.name, strings.Join(cells, " | "))
	}

	// The targets, each against the same round's bare proxy.
	fmt.Fprint(w, "\n**Targets (issue #10)**\n\n| target | measured | met |\n|---|---|---|\n")
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	if v, ok := t.stat("limits", "bare", false, 1, func(x, b run) float64 { return x.P50 - b.P50 }); ok {
		fmt.Fprintf(w, "| auth+limits+budgets adds ≤ bare + 50 µs (p50, c=1) | bare + %.0f µs | %s |\n", v, verdict(v <= 50))
	}
	if v, ok := t.stat("full", "bare", false, 1, func(x, b run) float64 { return x.P50 - b.P50 }); ok {
		fmt.Fprintf(w, "| full chain adds ≤ bare + 100 µs (p50, c=1) | bare + %.0f µs | %s |\n", v, verdict(v <= 100))
	}
	for _, s := range []string{"limits", "full"} {
		if v, ok := t.stat(s, "bare", true, 1, func(x, b run) float64 { return x.TTFB50 - b.TTFB50 }); ok {
			fmt.Fprintf(w, "| first streamed byte within 50 µs of bare (%s) | bare + %.0f µs | %s |\n", s, v, verdict(v <= 50))
		}
	}
	for _, stream := range []bool{false, true} {
		if v, ok := t.stat("full", "bare", stream, 32, func(x, b run) float64 { return 100 * x.RPS / b.RPS }); ok {
			fmt.Fprintf(w, "| full chain ≥ 50 %% of bare req/s at c=32 (stream=%v) | %.0f %% | %s |\n", stream, v, verdict(v >= 50))
		}
	}
}
