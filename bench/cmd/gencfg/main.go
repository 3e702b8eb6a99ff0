// Command gencfg writes the examples/proxy configuration of a benchmark
// scenario to standard output: keys sk-bench-00000000 onwards (the names
// load -keys sends), one tier with limits and a budget no run reaches, and
// the layers the scenario turns on.
//
//	gencfg -scenario full -keys 1000 -upstream http://127.0.0.1:8391/v1 > proxy.yaml
//
// Scenarios: "limits" is Bifrost's feature set — auth, rate limits and
// budgets (validation and exact counting stay on: the limiter and the
// budget reserve from the counted prompt), with policy, moderation and
// cache off. "full" is the whole chain: plus policy, input and output
// moderation and the cache.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/llmgate/llmgate/bench/load"
)

func main() {
	scenario := flag.String("scenario", "full", "limits (auth, limits, budgets) or full (the whole chain)")
	keys := flag.Int("keys", 1, "number of keys")
	upstream := flag.String("upstream", "http://127.0.0.1:8391/v1", "upstream base URL")
	listen := flag.String("listen", "127.0.0.1:8393", "gateway listen address")
	redis := flag.String("redis", "", "redis:// URL (empty: in memory)")
	pprof := flag.Bool("pprof", false, "expose /debug/pprof/")
	cacheBytes := flag.String("cache-bytes", "64MiB", "the cache's size bound (full scenario)")
	keysFile := flag.String("keys-file", "", "write the keys to this file, one JSON object per line, and name it as keys_file (default: inline YAML keys)")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	fmt.Fprintf(w, "listen: %s\nupstream: {url: %q, retries: 0}\nlog: {format: json}\n", *listen, *upstream)
	// Limits and budgets high enough that no run is refused, yet checked and
	// settled on every request.
	fmt.Fprint(w, "tiers:\n  bench: {rpm: 1000000000, tpm: 2000000000, models: [\"*\"], budget: {usd_per_month: 1000000}}\n")
	fmt.Fprint(w, "orgs:\n  bench: {budget: {usd_per_month: 1000000}}\n")
	// gpt-4o-mini's tokenizer and prices with a context window that holds
	// the 1 MiB prompts of the scaling runs.
	fmt.Fprint(w, "models:\n  bench-long: {context_window: 4000000, encoding: o200k_base, input: 0.15, output: 0.6}\n")
	switch *scenario {
	case "limits":
		fmt.Fprint(w, "policy: {disabled: true}\nmoderation: {input: false, output: false}\ncache: {disabled: true}\n")
	case "full":
		fmt.Fprintf(w, "moderation: {input: true, output: true}\ncache: {max_bytes: %s, ttl: 10m, scope: key}\n", *cacheBytes)
	default:
		fmt.Fprintln(os.Stderr, "gencfg: -scenario is limits or full")
		os.Exit(2)
	}
	if *redis != "" {
		fmt.Fprintf(w, "redis: {url: %q, fail: closed, prefix: \"bench:\"}\n", *redis)
	}
	if *pprof {
		fmt.Fprint(w, "debug: {pprof: true}\n")
	}
	if *keysFile == "" {
		fmt.Fprint(w, "keys:\n")
		for i := range *keys {
			d := sha256.Sum256([]byte(load.KeyName(i)))
			fmt.Fprintf(w, "  - {id: k%d, key_sha256: %s, user: u%d, org: bench, tier: bench}\n", i, hex.EncodeToString(d[:]), i)
		}
		return
	}
	abs, err := filepath.Abs(*keysFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencfg:", err)
		os.Exit(1)
	}
	fmt.Fprintf(w, "keys_file: %q\n", abs)
	if err := writeKeysFile(abs, *keys); err != nil {
		fmt.Fprintln(os.Stderr, "gencfg:", err)
		os.Exit(1)
	}
}

// writeKeysFile writes n keys to path as the proxy's keys_file: one JSON
// object per line.
func writeKeysFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		d := sha256.Sum256([]byte(load.KeyName(i)))
		fmt.Fprintf(w, "{\"id\":\"k%d\",\"key_sha256\":\"%s\",\"user\":\"u%d\",\"org\":\"bench\",\"tier\":\"bench\"}\n", i, hex.EncodeToString(d[:]), i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
