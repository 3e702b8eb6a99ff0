#!/usr/bin/env bash
# Measures llmgate's overhead against a bare reverse proxy (issue #10) and
# writes bench/results/overhead.md. One command; see bench/README.md.
#
#   bench/run.sh               # overhead table, ≤ 15 minutes
#   QUICK=1 bench/run.sh       # the same table from fewer requests, ≤ 2 minutes
#   bench/run.sh scale         # cost against prompt size, keys and concurrent streams (SCALE_PARTS="size keys streams")
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
# gateway NAME ADDR SCENARIO [REDIS_URL] [KEYS] [CACHE_BYTES] starts examples/proxy.
gateway() {
	"$bin/gencfg" -scenario "$3" -listen "$2" -upstream "http://$STUB/v1" -redis "${4:-}" -keys "${5:-1}" \
		-cache-bytes "${6:-64MiB}" -pprof >"$work/$1.yaml"
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

# one SCEN ADDR PID LOADFLAGS... runs one load against ADDR and prints
# its JSON line with the gateway's CPU µs per request and memory (KiB)
# added.
one() {
	local scen=$1 addr=$2 pid=$3; shift 3
	local t0=0 t1=0 json c=1 warm=10 prev=
	for a in "$@"; do
		case $prev in -c) c=$a ;; -warmup) warm=$a ;; esac
		prev=$a
	done
	[ "$pid" = - ] || t0=$(ticks "$pid")
	json=$("${CL[@]}" "$bin/load" -url "http://$addr/v1/chat/completions" -label "$scen" "$@")
	[ "$pid" = - ] || t1=$(ticks "$pid")
	local rss=0 hwm=0
	if [ "$pid" != - ]; then rss=$(status "$pid" VmRSS); hwm=$(status "$pid" VmHWM); fi
	echo "$json" | jq -c --argjson ticks $((t1 - t0)) --argjson rss "$rss" --argjson hwm "$hwm" --argjson warm $((c * warm)) \
		'. + {cpu_us_per_req: (if .requests > 0 then $ticks * 1e4 / (.requests + .errors + $warm) else 0 end), rss_kb: $rss, hwm_kb: $hwm}'
}
stop() { kill "$(cat "$work/$1.pid")" 2>/dev/null || true; sleep 0.5; }

# scale measures how the gateway's cost grows with prompt size, the
# number of keys and the number of concurrent streams, and writes
# bench/results/scale.md (raw lines in scale.jsonl).
scale() {
	command -v jq >/dev/null || { echo "scale needs jq" >&2; exit 1; }
	local rounds=${ROUNDS:-3} q=${QUICK:-}
	local jl=$out/scale.jsonl md=$out/scale.md
	: >"$jl"
	start stub "${CL[@]}" "$bin/stub" -listen $STUB
	waitport $STUB
	start bare "${GW[@]}" "$bin/bare" -listen $BARE -upstream "http://$STUB"
	waitport $BARE
	local bpid; bpid=$(cat "$work/bare.pid")
	{
		echo "# Scaling — $(machine)"
		echo
		echo "Gateway pinned to core 0; stub and load generator on core 1. Medians of $rounds rounds where rounds apply."
	} >"$md"

	local parts=" ${SCALE_PARTS:-size keys streams} "
	# Prompt size: c=1, non-streamed, model bench-long (o200k_base, 4M context).
	if [[ $parts == *" size "* ]]; then
	gateway limits $LIMITS limits
	gateway full $FULL full
	local lpid fpid; lpid=$(cat "$work/limits.pid"); fpid=$(cat "$work/full.pid")
	local sizes="1024 16384 262144 1048576"
	for r in $(seq "$rounds"); do
		for size in $sizes; do
			local n=$((2000 * 1024 / size)); n=$((n < 20 ? 20 : n > 1000 ? 1000 : n))
			[ -z "$q" ] || n=$((n / 4 < 10 ? 10 : n / 4))
			for s in bare limits full; do
				local a=$BARE p=$bpid
				case $s in limits) a=$LIMITS p=$lpid ;; full) a=$FULL p=$fpid ;; esac
				one "$s" "$a" "$p" -keys 1 -c 1 -n "$n" -warmup 3 -body "$size" -model bench-long |
					jq -c --argjson r "$r" '. + {curve: "size", round: $r}' | tee -a "$jl" >&2
			done
		done
	done
	{
		echo
		echo "## Prompt size (c=1, non-streamed; µs)"
		echo
		echo "| body | bare p50 | limits p50 | full p50 | limits − bare | full − bare | bare CPU/req | limits CPU/req | full CPU/req |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		jq -rs '[.[] | select(.curve=="size")] | group_by(.body)[] as $g
			| def med(f): ([$g[] | f] | sort | .[(length-1)/2|floor]);
			  def m(s; f): med(select(.label==s) | f);
			  [($g[0].body/1024|tostring)+" KiB", m("bare"; .p50_us), m("limits"; .p50_us), m("full"; .p50_us),
			   (m("limits"; .p50_us) - m("bare"; .p50_us)), (m("full"; .p50_us) - m("bare"; .p50_us)),
			   m("bare"; .cpu_us_per_req), m("limits"; .cpu_us_per_req), m("full"; .cpu_us_per_req)]
			| map(if type=="number" then (.|round|tostring) else . end) | "| " + join(" | ") + " |"' "$jl"
	} >>"$md"
	stop limits; stop full
	fi

	# Keys: the full chain with N keys in its configuration; requests rotate
	# through all N keys, so each request of a large N touches a new key's
	# limiter and ledger state.
	if [[ $parts == *" keys "* ]]; then
	local keysets="1 1000 100000 1000000"
	[ -z "$q" ] || keysets="1 1000 100000"
	[ -z "${KEYS_MAX:-}" ] || keysets=$(for k in $keysets; do if [ "$k" -le "$KEYS_MAX" ]; then echo "$k"; fi; done)
	for k in $keysets; do
		local t0 t1
		t0=$(date +%s.%N)
		# Keys in a keys_file (KEYS_YAML=1: inline in the YAML, which for 1M
		# keys takes minutes and gigabytes to load).
		local kf=(-keys-file "$work/keys.jsonl")
		[ -z "${KEYS_YAML:-}" ] || kf=()
		"$bin/gencfg" -scenario full -listen $FULL -upstream "http://$STUB/v1" -keys "$k" "${kf[@]}" >"$work/keys.yaml"
		start full "${GW[@]}" "$bin/proxy" -config "$work/keys.yaml"
		for _ in $(seq 3000); do curl -s -o /dev/null "http://$FULL/healthz" && break; sleep 0.2; done
		t1=$(date +%s.%N)
		fpid=$(cat "$work/full.pid")
		local rss0; rss0=$(status "$fpid" VmRSS)
		for r in $(seq "$rounds"); do
			one bare $BARE "$bpid" -keys "$k" -c 1 -n 1000 -warmup 3 | jq -c --argjson r "$r" --argjson k "$k" '. + {curve: "keys", round: $r, k: $k}' | tee -a "$jl" >&2
			one full $FULL "$fpid" -keys "$k" -c 1 -n 1000 -warmup 3 |
				jq -c --argjson r "$r" --argjson k "$k" --argjson st "$(echo "$t1 - $t0" | bc)" --argjson rss0 "$rss0" \
					'. + {curve: "keys", round: $r, k: $k, startup_s: $st, rss0_kb: $rss0}' | tee -a "$jl" >&2
			one full $FULL "$fpid" -keys "$k" -c 32 -d 3s -warmup 3 | jq -c --argjson r "$r" --argjson k "$k" '. + {curve: "keys32", round: $r, k: $k}' | tee -a "$jl" >&2
		done
		stop full
	done
	{
		echo
		echo "## Number of keys (full chain in memory; requests rotate through every key)"
		echo
		echo "| keys | start-up (config load) | RSS after start (MiB) | bare p50 (µs) | full p50 (µs) | full − bare | full CPU/req (µs) | c=32 req/s | RSS after runs (MiB) |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		jq -rs '[.[] | select(.curve=="keys" or .curve=="keys32")] | group_by(.k)[] as $g
			| def med(f): ([$g[] | f] | sort | .[(length-1)/2|floor]);
			  def m(c; s; f): med(select(.curve==c and .label==s) | f);
			  [($g[0].k|tostring), ((m("keys";"full"; .startup_s)*10|round/10|tostring)+" s"), (m("keys";"full"; .rss0_kb)/1024|round|tostring),
			   (m("keys";"bare"; .p50_us)|round|tostring), (m("keys";"full"; .p50_us)|round|tostring),
			   ((m("keys";"full"; .p50_us) - m("keys";"bare"; .p50_us))|round|tostring), (m("keys";"full"; .cpu_us_per_req)|round|tostring),
			   (m("keys32";"full"; .rps)|round|tostring), (m("keys32";"full"; .rss_kb)/1024|round|tostring)]
			| "| " + join(" | ") + " |"' "$jl"
	} >>"$md"

	fi

	# Concurrent streams: N streams, each 50 chunks 2 s apart (about 100 s),
	# opened at an even 100 a second (N/100 s of ramp, 90 s for 9,000), so
	# that all N are open together at the end of the ramp. Peak RSS grows
	# with N, and the first-byte times say how the gateway answers with the
	# streams open.
	if [[ $parts == *" streams "* ]]; then
	stop stub; stop bare
	start stub "${CL[@]}" "$bin/stub" -listen $STUB -chunks 50 -interval 2s
	waitport $STUB
	start bare "${GW[@]}" "$bin/bare" -listen $BARE -upstream "http://$STUB"
	waitport $BARE
	bpid=$(cat "$work/bare.pid")
	gateway full $FULL full "" 1
	fpid=$(cat "$work/full.pid")
	# Warm both (tokenizer tables, policy, connections) with short requests.
	"${CL[@]}" "$bin/load" -url "http://$BARE/v1/chat/completions" -keys 1 -n 20 >/dev/null
	"${CL[@]}" "$bin/load" -url "http://$FULL/v1/chat/completions" -keys 1 -n 20 >/dev/null
	local streams="1 100 1000 9000"
	[ -z "$q" ] || streams="1 100 1000"
	for n in $streams; do
		for s in bare full; do
			local a=$BARE p=$bpid
			[ $s = full ] && a=$FULL p=$fpid
			one "$s" "$a" "$p" -keys 1 -c "$n" -n "$n" -warmup 0 -ramp "$((n * 10))ms" -timeout 4m -stream | jq -c '. + {curve: "streams"}' | tee -a "$jl" >&2
		done
	done
	{
		echo
		echo "## Concurrent streams (N streams opened at 100/s, each 50 chunks 2 s apart: all N open at the end of the ramp)"
		echo
		echo "| streams | bare first byte p50 / p99 (ms) | full first byte p50 / p99 (ms) | bare CPU/stream (µs) | full CPU/stream (µs) | bare peak RSS (MiB) | full peak RSS (MiB) | errors bare / full |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
		jq -rs '[.[] | select(.curve=="streams")] | group_by(.c)[] as $g
			| def m(s; f): ([$g[] | select(.label==s) | f] | .[0]);
			  [($g[0].c|tostring),
			   "\(m("bare"; .ttfb_p50_us)/100|round/10) / \(m("bare"; .ttfb_p99_us)/100|round/10)", "\(m("full"; .ttfb_p50_us)/100|round/10) / \(m("full"; .ttfb_p99_us)/100|round/10)",
			   (m("bare"; .cpu_us_per_req)|round|tostring), (m("full"; .cpu_us_per_req)|round|tostring),
			   (m("bare"; .hwm_kb)/1024|round|tostring), (m("full"; .hwm_kb)/1024|round|tostring), "\(m("bare"; .errors)) / \(m("full"; .errors))"]
			| "| " + join(" | ") + " |"' "$jl"
		echo
		echo "Peak RSS is the process's high-water mark so far (VmHWM), so each row includes the rows above it. CPU per stream is in 10 ms clock ticks: meaningless for 1 stream. 10,000 streams need 20,000 descriptors in the gateway (one toward the client, one toward the upstream), above this machine's hard limit of $(ulimit -Hn); 9,000 is the most that fits."
	} >>"$md"
	fi
	cat "$md"
}

# soak [DURATION] runs steady mixed load on the full chain (in memory) and
# samples the gateway's RSS and goroutines every 10 s into
# bench/results/soak.tsv; soak.md says whether memory stayed flat.
soak() {
	local d=${1:-${SOAK:-10m}}
	local tsv=$out/soak.tsv md=$out/soak.md
	start stub "${CL[@]}" "$bin/stub" -listen $STUB
	waitport $STUB
	# The cache is bounded to 8 MiB so that it fills within the first
	# minute; with the default 64 MiB its growth would look like a leak.
	gateway full $FULL full "" 100 8MiB
	local fpid; fpid=$(cat "$work/full.pid")
	local before; before=$(machine)
	# Mixed: unique non-streamed and streamed requests over 100 keys, and
	# repeated requests that hit the cache.
	start l1 "${CL[@]}" "$bin/load" -url "http://$FULL/v1/chat/completions" -keys 100 -c 8 -d "$d" -label unique
	start l2 "${CL[@]}" "$bin/load" -url "http://$FULL/v1/chat/completions" -keys 100 -c 8 -d "$d" -stream -label unique-stream
	start l3 "${CL[@]}" "$bin/load" -url "http://$FULL/v1/chat/completions" -keys 100 -c 2 -d "$d" -unique=false -stream -label cached
	printf 't_s\trss_kib\thwm_kib\tgoroutines\theap_inuse_mib\tcpu_ticks\n' >"$tsv"
	local t0; t0=$(date +%s)
	while kill -0 "$(cat "$work/l1.pid")" 2>/dev/null; do
		local m; m=$(curl -s "http://$FULL/metrics")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' $(($(date +%s) - t0)) "$(status "$fpid" VmRSS)" "$(status "$fpid" VmHWM)" \
			"$(echo "$m" | awk '$1=="go_goroutines" {print $2}')" \
			"$(echo "$m" | awk '$1=="go_memstats_heap_inuse_bytes" {printf "%.1f", $2/1048576}')" "$(ticks "$fpid")" | tee -a "$tsv" >&2
		sleep 10
	done
	wait "$(cat "$work/l2.pid")" "$(cat "$work/l3.pid")" 2>/dev/null || true
	{
		echo "# Soak — $d, full chain in memory"
		echo
		echo "Before: $before After: $(machine)"
		echo
		echo "Load: 8 connections of unique non-streamed requests, 8 of unique streamed requests, 2 of one repeated streamed request (cache hits), 100 keys; cache bounded to 8 MiB."
		echo
		for l in l1 l2 l3; do echo "    $(cat "$work/$l.log")"; done
		echo
		awk -F'\t' 'NR>1 {n++; t[n]=$1; r[n]=$2; g[n]=$4; h[n]=$5}
			END {
				for (i=1;i<=n;i++) { if (t[i] >= 10 && t[i] <= 70) {fr+=r[i]; fg+=g[i]; fh+=h[i]; fn++} if (t[i] >= t[n]-60) {lr+=r[i]; lg+=g[i]; lh+=h[i]; ln++} }
				printf "| | first minute (mean of %d samples) | last minute (mean of %d samples) | change |\n|---|---:|---:|---:|\n", fn, ln
				printf "| RSS (MiB) | %.1f | %.1f | %+.1f %% |\n", fr/fn/1024, lr/ln/1024, 100*(lr/ln-fr/fn)/(fr/fn)
				printf "| heap in use (MiB) | %.1f | %.1f | %+.1f %% |\n", fh/fn, lh/ln, 100*(lh/ln-fh/fn)/(fh/fn)
				printf "| goroutines | %.0f | %.0f | %+.0f |\n", fg/fn, lg/ln, lg/ln-fg/fn
				printf "\nMemory flat (last minute within 10 %% of the first): %s\n", ((lr/ln) <= 1.1*(fr/fn)) ? "yes" : "**no**"
			}' "$tsv"
		echo
		echo "Per minute (the cache fills to its bound in the first minutes; after that the heap should not grow):"
		echo
		echo "| minute | RSS (MiB) | heap in use (MiB) | goroutines |"
		echo "|---:|---:|---:|---:|"
		awk -F'\t' 'NR>1 && $1>0 {m=int(($1-1)/60); r[m]+=$2; h[m]+=$5; g[m]+=$4; n[m]++; if (m>last) last=m}
			END {for (i=0;i<=last;i++) if (n[i]) printf "| %d | %.1f | %.1f | %.0f |\n", i+1, r[i]/n[i]/1024, h[i]/n[i], g[i]/n[i]}' "$tsv"
		echo
		echo "Series (every 10 s): bench/results/soak.tsv."
	} >"$md"
	cat "$md"
}

# layers PPROF REQUESTS ELAPSED SECONDS prints the CPU per request of each
# layer of the chain: the difference between the cumulative time of a
# layer's handler and the next layer's (the layers nest). Requests in the
# profile's window are estimated as REQUESTS × SECONDS / ELAPSED.
layers() {
	go tool pprof -top -cum -nodecount=100000 "$bin/proxy" "$1" 2>/dev/null | awk -v req="$2" -v el="$3" -v secs="$4" '
		function sec(v) { if (v ~ /ms$/) return v / 1000; if (v ~ /us$|µs$/) return v / 1e6; return v + 0 }
		/Total samples =/ { for (i = 1; i <= NF; i++) if ($i == "=") total = sec($(i + 1)) }
		{ cum[$NF] = sec($4) }
		END {
			n = split("net/http.(*conn).serve|github.com/llmgate/llmgate/middleware.RequestID.func1|github.com/llmgate/llmgate/middleware.(*decoder).serve|github.com/llmgate/llmgate/middleware.Count.func1.1|github.com/llmgate/llmgate/middleware.(*Moderate).Wrap-fm.(*Moderate).Wrap.func1|github.com/llmgate/llmgate/middleware.(*Policy).Handler-fm.(*Policy).Handler.func1|github.com/llmgate/llmgate/middleware.(*Limit).Handler-fm.(*Limit).Handler.func1|github.com/llmgate/llmgate/middleware.(*Budgets).serve|github.com/llmgate/llmgate/middleware.(*Cache).Handler-fm.(*Cache).Handler.func1|net/http/httputil.(*ReverseProxy).ServeHTTP", f, "|")
			split("HTTP server (read, parse, write; outside the chain)|RequestID, observe (log line, metrics), Recover, Auth|Decode and validate, response tap|Count (exact prompt tokens)|Moderate (input; output runs inside the proxy row)|Policy (Rego decision)|Limit (reserve, settle)|Budget (reserve, settle)|Cache (key, lookup, record and store on a miss)|ReverseProxy to the upstream (includes output moderation and the tap on the answer)", name, "|")
			nreq = req * secs / el
			printf "CPU profile: %.2f s of samples in %s s, about %.0f requests: %.0f µs of CPU per request in all.\n\n", total, secs, nreq, total * 1e6 / nreq
			print "| layer | µs/request | % of the process |"
			print "|---|---:|---:|"
			prev = 0
			for (i = 1; i <= n; i++) {
				if (!(f[i] in cum)) continue
				if (prev) printf "| %s | %.0f | %.0f %% |\n", name[prev], (cum[f[prev]] - cum[f[i]]) * 1e6 / nreq, 100 * (cum[f[prev]] - cum[f[i]]) / total
				prev = i
			}
			printf "| %s | %.0f | %.0f %% |\n", name[prev], cum[f[prev]] * 1e6 / nreq, 100 * cum[f[prev]] / total
			up = cum["net/http.(*persistConn).writeLoop"] + cum["net/http.(*persistConn).readLoop"]
			printf "| upstream connection (Transport write and read loops) | %.0f | %.0f %% |\n", up * 1e6 / nreq, 100 * up / total
			gc = cum["runtime.gcBgMarkWorker"]
			printf "| garbage collector (background marking) | %.0f | %.0f %% |\n", gc * 1e6 / nreq, 100 * gc / total
			rest = total - cum[f[1]] - gc - up
			printf "| everything else (scheduler, network poller, timers, …) | %.0f | %.0f %% |\n", rest * 1e6 / nreq, 100 * rest / total
		}'
}

# profile takes a 20 s CPU profile of the limits and full gateways under
# c=32 non-streamed load: bench/results/profile-<scenario>.pprof and a
# flat/cumulative top in profile-<scenario>.txt.
profile() {
	local secs=${PROFILE_SECONDS:-20}
	start stub "${CL[@]}" "$bin/stub" -listen $STUB
	waitport $STUB
	gateway limits $LIMITS limits
	gateway full $FULL full
	for s in limits full; do
		local a=$LIMITS; [ $s = full ] && a=$FULL
		for stream in false true; do
			"${CL[@]}" "$bin/load" -url "http://$a/v1/chat/completions" -keys 1 -c 32 -d $((secs + 4))s -stream=$stream -label "$s" >"$work/prof-load.json" &
			local lp=$!
			sleep 2
			curl -s -o "$out/profile-$s-stream=$stream.pprof" "http://$a/debug/pprof/profile?seconds=$secs"
			wait $lp
			{
				echo "# $s stream=$stream: $(cat "$work/prof-load.json")"
				go tool pprof -top -nodecount=60 "$bin/proxy" "$out/profile-$s-stream=$stream.pprof" 2>/dev/null
				echo
				go tool pprof -top -cum -nodecount=80 "$bin/proxy" "$out/profile-$s-stream=$stream.pprof" 2>/dev/null
			} >"$out/profile-$s-stream=$stream.txt"
			layers "$out/profile-$s-stream=$stream.pprof" "$(jq .requests "$work/prof-load.json")" "$(jq .elapsed_s "$work/prof-load.json")" "$secs" \
				>"$out/profile-$s-stream=$stream.md"
			cat "$out/profile-$s-stream=$stream.md"
			echo "wrote $out/profile-$s-stream=$stream.txt" >&2
		done
	done
}

case $mode in
overhead) overhead ;;
scale) scale ;;
soak) soak "${2:-}" ;;
profile) profile ;;
*) echo "unknown mode $mode (overhead, scale, soak, profile)" >&2; exit 2 ;;
esac
