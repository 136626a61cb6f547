#!/usr/bin/env bash
# Macro benchmark: kgai gateway as Envoy's endpoint picker (its ext_proc server), driven by
# kgai-extproc-load (bench/extproc_load.cpp: Envoy's side of the protocol, FULL_DUPLEX_STREAMED,
# gRPC callback API, streams spread over CHANNELS HTTP/2 connections), with the picker routing
# over REPLICAS (4) real `kgai sim` replicas (one process; requests are not forwarded, so the
# replicas stay idle and ready). Beside it, the baseline: kgai-extproc-null
# (bench/extproc_null_processor.cpp), the same gRPC server setup answering the same messages with a
# fixed destination and no picking, so what gRPC and this machine cost shows apart from what the
# picker costs.
#
# 1. Decision time: CONCURRENCY (100) streams open at once, closed loop; each sends request_headers
#    and right behind them the body in CHUNK (16 KiB) messages, reads the answers (the headers
#    answer carries the destination, then the body comes back), stays open as if the upstream
#    response were passing through, then half-closes. That time is drawn per stream, exponential
#    with mean THINK_MS (120: the lifetime of a response from the exact-timing backend of
#    bench/gateway_ttft_fixed_backend.sh, whose target is also "at concurrency 100": first token
#    at 50 ms, 8 tokens 10 ms apart), so that requests arrive as steady traffic (about
#    CONCURRENCY / THINK_MS per ms) and not in lockstep bursts of CONCURRENCY, which a fixed
#    time would give (kgai-extproc-load --fixed-think shows that case). Decision time =
#    request_headers handed to gRPC -> the headers answer read (the body upload included).
#    Bodies of SMALL_BODY (2,048) and LARGE_BODY (204,800) bytes, every prompt new to the prefix
#    index. ROUNDS (2) rounds of DURATION (10) s after WARMUP (2) s, baseline and gateway
#    alternating which goes first. With SATURATION=1 (default) also one closed loop without think
#    time per size and processor: the capacity of this machine, and the latency when the load is
#    as high as it goes.
#    Targets: 2 KB p99 < 1 ms, 200 KB median < 5 ms (every round).
# 2. Memory: a fresh gateway (and a fresh baseline), WARMUP_REQUESTS (1000) streams run and ended,
#    then STREAMS (10,000) streams held open over CHANNELS connections: "decided" (a whole 2 KB
#    request sent and answered, the response phases pending) and "partial" (request_headers and
#    the first 1 KiB of a 2 KiB body). Bytes per stream = (RSS with them open - idle RSS) / STREAMS.
#    Target: all STREAMS held (the gateway's kgai_gateway_ext_proc_streams says so), none failed,
#    and fewer than MAX_BYTES_PER_STREAM (65,536) bytes each. STREAMS=0 skips this part.
#
#   bench/gateway_extproc.sh [kgai] [kgai-extproc-load] [kgai-extproc-null]
#
# Environment: CONCURRENCY, THINK_MS, DURATION, WARMUP, ROUNDS, CHANNELS, SMALL_BODY, LARGE_BODY,
# CHUNK, SATURATION, STREAMS, WARMUP_REQUESTS, MAX_BYTES_PER_STREAM, REPLICAS, SEED (1), OUT (a
# temp dir; every run's JSON report, with full histograms, stays there).
# Exits 0 whether the targets are met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
load=${2:-build/kgai-extproc-load}
null=${3:-build/kgai-extproc-null}
concurrency=${CONCURRENCY:-100}
think_ms=${THINK_MS:-120}
duration=${DURATION:-10}
warmup=${WARMUP:-2}
rounds=${ROUNDS:-2}
channels=${CHANNELS:-4}
small_body=${SMALL_BODY:-2048}
large_body=${LARGE_BODY:-204800}
chunk=${CHUNK:-16384}
saturation=${SATURATION:-1}
streams=${STREAMS:-10000}
warmup_requests=${WARMUP_REQUESTS:-1000}
max_bytes=${MAX_BYTES_PER_STREAM:-65536}
replicas=${REPLICAS:-4}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-extproc.XXXXXX)}

for bin in "$kgai" "$load" "$null"; do
  if [[ ! -x $bin ]]; then
    echo "gateway_extproc: $bin is not an executable (build it: cmake --build build --target kgai kgai-extproc-load kgai-extproc-null)" >&2
    exit 2
  fi
done
for tool in jq python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_extproc: needs $tool" >&2; exit 2; }
done
kgai=$(realpath "$kgai")
load=$(realpath "$load")
null=$(realpath "$null")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"

source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "files: $out"

"$kgai" sim --host 127.0.0.1 --port 0 --replicas "$replicas" --seed "$seed" >"$out/sim.out" 2>"$out/sim.err" &
pids+=($!)
wait_line "$out/sim.out" 'serving' "$replicas" || { cat "$out/sim.err" >&2; exit 2; }
mapfile -t sims < <(grep -o 'http://[0-9.:]*' "$out/sim.out")
model=$(curl -sf "${sims[0]}/v1/models" | jq -r '.data[0].id')
endpoints=$(printf '%s\n' "${sims[@]#http://}" | paste -sd,)

# Starts a gateway (ext_proc only) or the baseline; sets target, metrics_url, proc_pid.
start_processor() {  # gateway|null name
  local log="$out/$2.out"
  if [[ $1 == gateway ]]; then
    "$kgai" gateway --listen off --ext-proc-listen 127.0.0.1:0 --health-listen 127.0.0.1:0 \
      --metrics-listen 127.0.0.1:0 --endpoints "$endpoints" >"$log" 2>"$out/$2.err" &
    proc_pid=$!
    wait_line "$log" 'metrics on' || { cat "$out/$2.err" >&2; exit 2; }
    metrics_url=$(grep -o 'http://[0-9.:]*/metrics' "$log")
  else
    "$null" --listen 127.0.0.1:0 --destination "${sims[0]#http://}" >"$log" 2>"$out/$2.err" &
    proc_pid=$!
    wait_line "$log" 'ext_proc on' || { cat "$out/$2.err" >&2; exit 2; }
    metrics_url=
  fi
  pids+=("$proc_pid")
  target=$(grep -o 'ext_proc on grpc://[0-9.:]*' "$log" | sed 's#.*grpc://##')
  # Until the picker routes: its first scrape and model list.
  for _ in $(seq 100); do
    "$load" --target "$target" --model "$model" --concurrency 1 --duration 0.2 --warmup 0 \
      >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway_extproc: $2 never answered with a destination" >&2
  exit 2
}

common=(--model "$model" --channels "$channels" --seed "$seed")
echo "kgai sim --replicas $replicas --seed $seed; kgai-extproc-load ${common[*]} --chunk-bytes $chunk"

# --- 1. decision time --------------------------------------------------------------------------
start_processor gateway gateway
gw_target=$target gw_pid=$proc_pid
start_processor null null
null_target=$target null_pid=$proc_pid

# One run -> "p50 p90 p99 max streams/s cpu_us failed" (ms, ms, ms, ms, 1/s, µs per stream).
measure() {  # name target pid body think
  "$load" --target "$2" --gateway-pid "$3" --concurrency "$concurrency" --body-bytes "$4" \
    --think-ms "$5" --duration "$duration" --warmup "$warmup" --chunk-bytes "$chunk" \
    "${common[@]}" --label "$1" \
    --json "$out/$1.json" >"$out/$1.log" 2>&1 || true
  jq -r '[.results.decision.p50_ms, .results.decision.p90_ms, .results.decision.p99_ms,
          .results.decision.max_ms, .results.ok_streams_per_s, .processor_cpu_us_per_stream,
          .results.failed] | map(. // -1) | @tsv' "$out/$1.json" 2>/dev/null ||
    echo "-1 -1 -1 -1 -1 -1 -1"
}
row() {  # label "p50 p90 p99 max rate cpu failed"
  read -r p50 p90 p99 max rate cpu failed <<<"$2"
  printf '  %-26s decision p50 %7.3f  p90 %7.3f  p99 %7.3f  max %8.3f ms  %7.1f streams/s  processor CPU %6.1f us/stream  failed %s\n' \
    "$1" "$p50" "$p90" "$p99" "$max" "$rate" "$cpu" "$failed"
}

declare -A worst
for body in "$small_body" "$large_body"; do
  echo "body $body bytes: concurrency $concurrency, think exponential with mean $think_ms ms, $duration s after $warmup s, $rounds rounds"
  worst[$body-p50]=0 worst[$body-p99]=0 worst[$body-failed]=0
  for round in $(seq "$rounds"); do
    if ((round % 2 == 1)); then order="null gateway"; else order="gateway null"; fi
    for which in $order; do
      if [[ $which == null ]]; then t=$null_target p=$null_pid; else t=$gw_target p=$gw_pid; fi
      r=$(measure "decision-$body-r$round-$which" "$t" "$p" "$body" "$think_ms")
      row "round $round $which" "$r"
      if [[ $which == gateway ]]; then
        read -r p50 _ p99 _ _ _ failed <<<"$r"
        worst[$body-p50]=$(awk -v a="${worst[$body-p50]}" -v b="$p50" 'BEGIN { print (b < 0 || b > a) ? b : a }')
        worst[$body-p99]=$(awk -v a="${worst[$body-p99]}" -v b="$p99" 'BEGIN { print (b < 0 || b > a) ? b : a }')
        worst[$body-failed]=$((worst[$body-failed] + (failed < 0 ? 1 : failed)))
      fi
    done
  done
  if ((saturation)); then
    for which in null gateway; do
      if [[ $which == null ]]; then t=$null_target p=$null_pid; else t=$gw_target p=$gw_pid; fi
      row "saturation (think 0) $which" "$(measure "saturation-$body-$which" "$t" "$p" "$body" 0)"
    done
  fi
done
stop_one "$gw_pid"
stop_one "$null_pid"

verdict() { awk -v v="$1" -v lim="$2" -v f="$3" 'BEGIN { print (v >= 0 && v < lim && f == 0) ? "PASS" : "FAIL" }'; }
v_small=$(verdict "${worst[$small_body-p99]}" 1 "${worst[$small_body-failed]}")
v_large=$(verdict "${worst[$large_body-p50]}" 5 "${worst[$large_body-failed]}")

# --- 2. memory per open stream -----------------------------------------------------------------
# Sets hold_result (not in a subshell: it starts and stops processes).
hold() {  # name kind(gateway|null) at(decided|partial)
  start_processor "$2" "$1"
  local args=(--body-bytes 2048 --chunk-bytes "$chunk")
  [[ $3 == partial ]] && args=(--body-bytes 2048 --chunk-bytes 1024 --partial-chunks 1)
  local metrics=()
  [[ -n $metrics_url ]] && metrics=(--gateway-metrics "$metrics_url")
  "$load" --target "$target" --gateway-pid "$proc_pid" "${metrics[@]}" --hold "$streams" \
    --hold-at "$3" --hold-seconds 3 --warmup-requests "$warmup_requests" \
    --concurrency "$concurrency" "${common[@]}" "${args[@]}" --label "$1" \
    --json "$out/$1.json" >"$out/$1.log" 2>&1 || true
  stop_one "$proc_pid"
  hold_result=$(jq -r '.hold | [.held, .failed, .gateway_reported_open, .gateway_idle.rss_kb,
                  .gateway_loaded.rss_kb, .gateway_after_release.rss_kb,
                  .gateway_bytes_per_stream, .client_bytes_per_stream, .open_seconds]
         | map(. // -1) | @tsv' "$out/$1.json" 2>/dev/null || echo "-1 -1 -1 -1 -1 -1 -1 -1 -1")
}
declare -A v_mem
((streams > 0)) && echo "memory: $streams streams held open over $channels connections, after $warmup_requests streams of warmup"
for at in decided partial; do
  ((streams > 0)) || break
  for which in null gateway; do
    hold "hold-$at-$which" "$which" "$at"
    read -r held failed reported idle loaded after bytes client open_s <<<"$hold_result"
    printf '  %-8s %-8s held %s (failed %s, reported open %s) in %.1f s; RSS idle %s kB, open %s kB, after release %s kB: %.0f bytes per stream (client: %.0f)\n' \
      "$at" "$which" "$held" "$failed" "$reported" "$open_s" "$idle" "$loaded" "$after" "$bytes" "$client"
    if [[ $which == gateway ]]; then
      v_mem[$at]=$(awk -v h="$held" -v n="$streams" -v f="$failed" -v r="$reported" -v b="$bytes" -v m="$max_bytes" \
        'BEGIN { print (h == n && f == 0 && r == n && b >= 0 && b < m) ? "PASS" : "FAIL" }')
      v_mem[$at-bytes]=$bytes
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "target: 2 KB bodies, decision p99 < 1 ms at concurrency $concurrency (worst round: $(printf %.3f "${worst[$small_body-p99]}") ms): $v_small"
echo "target: 200 KB bodies, decision median < 5 ms at concurrency $concurrency (worst round: $(printf %.3f "${worst[$large_body-p50]}") ms): $v_large"
for at in decided partial; do
  ((streams > 0)) || break
  echo "target: $streams streams held open ($at), < $max_bytes bytes each ($(printf %.0f "${v_mem[$at-bytes]}")): ${v_mem[$at]}"
done
