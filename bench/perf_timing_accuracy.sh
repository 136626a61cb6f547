#!/usr/bin/env bash
# Macro benchmark: does `kgai perf` measure TTFT and ITL correctly? It runs against
# kgai_fixed_timing_server (bench/fixed_timing_server.cpp), whose every stream sends its first
# token exactly FIRST_MS after the request arrived and each next token exactly STEP_MS after
# the previous (scheduled from the arrival time, so errors do not add up), TOKENS tokens in all.
# So the truth is TTFT = FIRST_MS and ITL = STEP_MS, plus the loopback transit (tens of us).
#
# Two runs, each compared to the truth at the median (and p99 shown):
#   A. open loop, RATE requests/s for DURATION s, constant spacing (about RATE x DURATION
#      requests; default 20/s x 10 s = 200), few streams in flight;
#   B. closed loop, CONCURRENCY streams (default 200), NUM_REQUESTS requests (default 2000).
# Alongside each, the server's own lateness (write time minus intended time, every token) from
# its /stats endpoint, so an error can be put on the server or on the client.
#
# Target: |measured median - truth| <= 1 ms for TTFT and ITL in both runs.
#
#   bench/perf_timing_accuracy.sh [kgai binary] [kgai_fixed_timing_server binary]
#
# Environment: FIRST_MS (50), STEP_MS (10), TOKENS (20), RATE (20), DURATION (10),
# CONCURRENCY (200), NUM_REQUESTS (2000), SEED (1), OUT (report folder, a temp dir).
# Exits 0 whether the target is met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
server_bin=${2:-build/kgai_fixed_timing_server}
first_ms=${FIRST_MS:-50}
step_ms=${STEP_MS:-10}
tokens=${TOKENS:-20}
rate=${RATE:-20}
duration=${DURATION:-10}
concurrency=${CONCURRENCY:-200}
num_requests=${NUM_REQUESTS:-2000}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-perf-timing.XXXXXX)}

for bin in "$kgai" "$server_bin"; do
  if [[ ! -x $bin ]]; then
    echo "perf_timing_accuracy: $bin is not an executable (build it, or pass its path)" >&2
    exit 2
  fi
done
for tool in jq curl; do
  command -v "$tool" >/dev/null || { echo "perf_timing_accuracy: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "truth: TTFT ${first_ms} ms, ITL ${step_ms} ms, ${tokens} tokens per stream; seed ${seed}"
echo "reports: $out"

mkdir -p "$out"
"$server_bin" --first-ms "$first_ms" --step-ms "$step_ms" --tokens "$tokens" \
  >"$out/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
port=""
for _ in $(seq 100); do
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$out/server.log")
  [[ -n $port ]] && break
  sleep 0.05
done
if [[ -z $port ]]; then
  echo "perf_timing_accuracy: the server did not start:" >&2
  cat "$out/server.log" >&2
  exit 2
fi
url="http://127.0.0.1:$port"

verdict=PASS
# $1 name, then kgai perf's load arguments.
run() {
  local name=$1
  shift
  curl -s "$url/stats?reset=1" >/dev/null
  /usr/bin/time -f "%U %S %e" -o "$out/$name.time" \
    "$kgai" perf --url "$url" --stream --data mock --seed "$seed" --quiet \
    --out "$out/$name" "$@" >"$out/$name.log" 2>&1
  local stats
  stats=$(curl -s "$url/stats")
  local summary="$out/$name/summary_lifecycle_metrics.json"
  # Seconds in the report; milliseconds here.
  read -r ttft50 ttft99 itl50 itl99 ok failed < <(jq -r '[
      .successes.latency.time_to_first_token.median * 1000,
      .successes.latency.time_to_first_token.p99 * 1000,
      .successes.latency.inter_token_latency.median * 1000,
      .successes.latency.inter_token_latency.p99 * 1000,
      .successes.count, .failures.count] | @tsv' "$summary")
  read -r user sys wall <"$out/$name.time"
  local ttft_err itl_err
  ttft_err=$(awk -v m="$ttft50" -v t="$first_ms" 'BEGIN { printf "%+.3f", m - t }')
  itl_err=$(awk -v m="$itl50" -v t="$step_ms" 'BEGIN { printf "%+.3f", m - t }')
  local ok_run
  ok_run=$(awk -v a="$ttft_err" -v b="$itl_err" \
    'BEGIN { print ((a < 0 ? -a : a) <= 1 && (b < 0 ? -b : b) <= 1) ? "PASS" : "FAIL" }')
  [[ $ok_run == PASS && $failed == 0 ]] || verdict=FAIL
  printf '%s: %s\n' "$name" "$*"
  printf '  requests ok %s, failed %s; client CPU user %ss sys %ss over %ss\n' \
    "$ok" "$failed" "$user" "$sys" "$wall"
  printf '  TTFT median %.3f ms (truth %s, error %s ms), p99 %.3f ms\n' \
    "$ttft50" "$first_ms" "$ttft_err" "$ttft99"
  printf '  ITL  median %.3f ms (truth %s, error %s ms), p99 %.3f ms\n' \
    "$itl50" "$step_ms" "$itl_err" "$itl99"
  printf '  server lateness, first tokens (us): %s\n' \
    "$(jq -c '.first_token.late_us + {sends: .first_token.sends}' <<<"$stats")"
  printf '  server lateness, next tokens (us):  %s\n' \
    "$(jq -c '.next_tokens.late_us + {sends: .next_tokens.sends}' <<<"$stats")"
  printf '  %s\n' "$ok_run"
}

run "A-open-loop" --rate "$rate" --load constant --duration "$duration"
run "B-closed-loop" --concurrency "$concurrency" --num-requests "$num_requests"

echo "target: TTFT and ITL medians within 1 ms of the truth, no failures: $verdict"
