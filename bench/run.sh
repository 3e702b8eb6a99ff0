#!/usr/bin/env bash
# Measures llmgate's overhead against a bare reverse proxy (issue #10) and
# writes bench/results/overhead.md. One command; see bench/README.md.
#
#   bench/run.sh               # overhead table, ≤ 15 minutes
#   QUICK=1 bench/run.sh       # the same table from fewer requests, ≤ 2 minutes
#   bench/run.sh scale         # cost against prompt size, keys and concurrent streams
#   bench/run.sh soak [10m]    # steady mixed load on the full chain; RSS and goroutines every 10 s
#   bench/run.sh profile       # 20 s CPU profile of the full chain at c=32 (bench/results/full.pprof)
#
# Interleaved: each round runs every scenario once (non-streamed and
# streamed, concurrency 1 and 32), and the table reports medians across
# rounds. The gateways run pinned to core 0; the stub, the load generator
# and redis-server to core 1. Knobs: ROUNDS, N1 (requests per c=1 run),
# D32 (duration of a c=32 run), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-overhead}
out=bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/llmgate-bench.XXXXXX)
bin=$work/bin
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

GW=(taskset -c 0)       # the gateway under test
CL=(taskset -c 1)       # stub, load generator, redis
if [ "$(nproc)" -lt 2 ]; then GW=(); CL=(); echo "fewer than 2 cores: not pinning" >&2; fi

STUB=127.0.0.1:18391 BARE=127.0.0.1:18392 LIMITS=127.0.0.1:18393 FULL=127.0.0.1:18394 REDISGW=127.0.0.1:18395
REDIS_PORT=6393

echo "building into $bin" >&2
go build -o "$bin/" ./bench/cmd/load ./bench/cmd/stub ./bench/cmd/bare ./bench/cmd/gencfg ./bench/cmd/report ./examples/proxy

# start NAME CMD... starts a background process, records its pid in
# $work/NAME.pid, and its output in $work/NAME.log.
start() {
	local name=$1; shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	echo $! >"$work/$name.pid"
}
# waitport ADDR waits until something answers HTTP on ADDR.
waitport() {
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://$1/" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2; return 1
}
# gateway NAME ADDR SCENARIO [REDIS_URL] [KEYS] starts examples/proxy.
gateway() {
	"$bin/gencfg" -scenario "$3" -listen "$2" -upstream "http://$STUB/v1" -redis "${4:-}" -keys "${5:-1}" -pprof >"$work/$1.yaml"
	start "$1" "${GW[@]}" "$bin/proxy" -config "$work/$1.yaml"
	waitport "$2"
}
redis() {
	start redis "${CL[@]}" redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no \
		--maxmemory 512mb --maxmemory-policy allkeys-lru
	for _ in $(seq 50); do redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "redis-server did not start on $REDIS_PORT" >&2; return 1
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }             # utime+stime of pid $1, in clock ticks
status() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; } # a /proc/PID/status field, in kB

# measure ROUND SCENARIO ADDR PID LOADFLAGS... runs one load and appends
# one line to $raw: round, scenario, gateway ticks, RSS, peak RSS, warm-up
# requests, load's JSON.
measure() {
	local round=$1 scen=$2 addr=$3 pid=$4; shift 4
	local warm=10 c=1 t0 t1 json
	for a in "$@"; do case $a in -c=*) c=${a#-c=} ;; esac; done
	t0=0; [ "$pid" = - ] || t0=$(ticks "$pid")
	json=$("${CL[@]}" "$bin/load" -url "http://$addr/v1/chat/completions" -keys "${KEYS:-1}" -warmup $warm -label "$scen" "$@")
	t1=0; [ "$pid" = - ] || t1=$(ticks "$pid")
	local rss=0 hwm=0
	if [ "$pid" != - ]; then rss=$(status "$pid" VmRSS); hwm=$(status "$pid" VmHWM); fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" $((t1 - t0)) "$rss" "$hwm" $((warm * c)) "$json" >>"$raw"
	if command -v jq >/dev/null; then echo "$round $scen $* → $(echo "$json" | jq -c "{rps: (.rps|floor), p50_us, ttfb_p50_us, errors}")" >&2; else echo "$round $scen $json" >&2; fi
}

machine() {
	echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(go version | cut -d' ' -f3),"\
		"load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)."
}

overhead() {
	local rounds=${ROUNDS:-5} n1=${N1:-2000} d32=${D32:-4s}
	if [ -n "${QUICK:-}" ]; then rounds=${ROUNDS:-2} n1=${N1:-400} d32=${D32:-1500ms}; fi
	raw=$out/raw.tsv
	: >"$raw"
	start stub "${CL[@]}" "$bin/stub" -listen $STUB
	waitport $STUB
	start bare "${GW[@]}" "$bin/bare" -listen $BARE -upstream "http://$STUB"
	waitport $BARE
	gateway limits $LIMITS limits
	gateway full $FULL full
	redis
	gateway redisgw $REDISGW full "redis://127.0.0.1:$REDIS_PORT/0"
	local before
	before=$(machine)
	declare -A addr=([direct]=$STUB [bare]=$BARE [limits]=$LIMITS [full]=$FULL [redis]=$REDISGW)
	declare -A pid=([direct]=- [bare]=$(cat "$work/bare.pid") [limits]=$(cat "$work/limits.pid")
		[full]=$(cat "$work/full.pid") [redis]=$(cat "$work/redisgw.pid"))
	for r in $(seq "$rounds"); do
		for stream in false true; do
			for s in direct bare limits full redis; do
				measure "$r" "$s" "${addr[$s]}" "${pid[$s]}" -c=1 -n "$n1" -stream=$stream
			done
			for s in direct bare limits full redis; do
				measure "$r" "$s" "${addr[$s]}" "${pid[$s]}" -c=32 -d "$d32" -stream=$stream
			done
		done
	done
	"$bin/report" "Before: $before After: $(machine) c=1 runs: $n1 requests; c=32 runs: $d32; 1 KiB chat body, 16-chunk answers, every request unique (a cache miss)." \
		<"$raw" >"$out/overhead.md"
	cat "$out/overhead.md"
}

case $mode in
overhead) overhead ;;
*) echo "unknown mode $mode (overhead, scale, soak, profile)" >&2; exit 2 ;;
esac
