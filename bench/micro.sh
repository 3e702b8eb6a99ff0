#!/usr/bin/env bash
# Runs the micro-benchmarks that BENCHMARKS.md quotes, each beside the
# baseline it is compared with (same benchmark function, same run), and
# writes the raw `go test -bench` output to bench/results/<package>.txt.
# Summarise with benchstat (go run golang.org/x/perf/cmd/benchstat@latest FILE).
#
#   bench/micro.sh              # every package, -count 5
#   COUNT=10 bench/micro.sh tokens policy
#
# Redis benchmarks run when LLMGATE_REDIS_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-5}
out=bench/results
mkdir -p "$out"

declare -A benches=(
	[wire]='BenchmarkParser'
	[tokens]='BenchmarkCount$|BenchmarkCount/|BenchmarkCountChat'
	[middleware]='BenchmarkDecodeChat|BenchmarkTap|BenchmarkLimit|BenchmarkPolicyLayer|BenchmarkBudgetLayer|BenchmarkModerate|BenchmarkCacheHit|BenchmarkStaticKeyStoreLookup'
	[limiter]='BenchmarkMemoryReserve|BenchmarkRateBaseline|BenchmarkRedis'
	[billing]='BenchmarkCost|BenchmarkMemoryReserveSettle|BenchmarkRedisReserveSettle'
	[policy]='BenchmarkDecide$|BenchmarkDecide/'
	[moderation]='BenchmarkModerate4KiB|BenchmarkStreamChunk'
	[cache]='BenchmarkKey|BenchmarkHitServed'
	[llmtest]='BenchmarkGenerate|BenchmarkLookup'
)
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(wire tokens middleware limiter billing policy moderation cache llmtest)
{
	echo "# $(date -u +%FT%TZ) $(go version) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/meta.txt"
for p in "${pkgs[@]}"; do
	echo "== $p" >&2
	go test "./$p/" -run '^$' -bench "${benches[$p]}" -benchmem -count "$count" | tee "$out/$p.txt" >&2
done
