// Command load sends chat completion requests to a loopback endpoint at a
// fixed concurrency and prints one JSON line with what it measured
// (bench/run.sh runs it; see bench/README.md).
//
//	load -url http://127.0.0.1:8080/v1/chat/completions -keys 1 -c 32 -n 20000 -stream
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/llmgate/llmgate/bench/load"
)

func main() {
	var cfg load.Config
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/v1/chat/completions", "chat completions endpoint")
	keys := flag.Int("keys", 0, "number of API keys to rotate through: sk-bench-00000000, sk-bench-00000001, … (0: no Authorization)")
	flag.IntVar(&cfg.Concurrency, "c", 1, "requests in flight")
	flag.IntVar(&cfg.Requests, "n", 0, "measured requests (0: bounded by -d only)")
	flag.DurationVar(&cfg.Duration, "d", 0, "measured duration (0: bounded by -n only)")
	flag.DurationVar(&cfg.RampUp, "ramp", 0, "spread the connections' first requests over this duration")
	flag.DurationVar(&cfg.Think, "think", 0, "pause on each connection between an answer and the next request")
	flag.IntVar(&cfg.Warmup, "warmup", 10, "unmeasured requests per connection before the run")
	flag.BoolVar(&cfg.Stream, "stream", false, "ask for streamed answers")
	flag.IntVar(&cfg.BodySize, "body", 1024, "request body size in bytes")
	flag.BoolVar(&cfg.Unique, "unique", true, "number every request so that none is a cache hit")
	flag.Int64Var(&cfg.FirstSeq, "first-seq", -1, "number of the first request with -unique (-1: random, so that runs against one gateway never repeat a request)")
	flag.StringVar(&cfg.Model, "model", "gpt-4o-mini", "requested model")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "bound on each request, answer included")
	label := flag.String("label", "", "scenario name copied into the output")
	flag.Parse()
	if cfg.FirstSeq < 0 {
		cfg.FirstSeq = rand.Int64N(900_000_000_000) // 12 digits leave ≥ 10^11 requests per run
	}
	for i := range *keys {
		cfg.Keys = append(cfg.Keys, load.KeyName(i))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	status := map[string]uint64{}
	for s, n := range res.Status {
		status[fmt.Sprint(s)] = n
	}
	out := map[string]any{
		"label": *label, "stream": cfg.Stream, "c": cfg.Concurrency, "body": cfg.BodySize, "keys": *keys,
		"requests": res.Requests, "errors": res.Errors, "status": status, "elapsed_s": res.Elapsed.Seconds(),
		"rps": res.RPS(), "p50_us": us(res.Latency.Quantile(0.5)), "p90_us": us(res.Latency.Quantile(0.9)),
		"p99_us": us(res.Latency.Quantile(0.99)), "max_us": us(res.Latency.Max()), "mean_us": us(res.Latency.Mean()),
	}
	if cfg.Stream {
		out["ttfb_p50_us"], out["ttfb_p99_us"] = us(res.FirstByte.Quantile(0.5)), us(res.FirstByte.Quantile(0.99))
	}
	if res.FirstError != "" {
		out["first_error"] = strings.TrimSpace(res.FirstError)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if res.Requests == 0 {
		os.Exit(1)
	}
}
