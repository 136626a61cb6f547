#!/usr/bin/env bash
# Macro benchmark: can one `kgai perf` process hold 10,000 concurrent streams? It drives one
# `kgai sim` replica large enough to run them all at once (--max-num-seqs 16384
# --max-num-batched-tokens 65536, --time-scale 5) with
#   kgai perf --stream --concurrency 10000 --num-requests 20000 --input-len 50 --output-len 100
# and reports the client's own errors (target: none), its CPU time, and the peak number of
# requests in flight, two ways: the client's own records (the most requests whose
# [start_time, end_time] overlap, from per_request_lifecycle_metrics.json) and
# the server's running + waiting gauges (vllm:num_requests_running/waiting on /metrics,
# sampled every 0.5 s).
#
# File descriptors: 10,000 connections are 10,000 descriptors in each process. kgai perf
# raises its soft RLIMIT_NOFILE to the hard limit itself; kgai sim does not, so this script
# raises the soft limit of the shell (and so of both children) to the hard limit. SIM_NOFILE
# sets kgai sim's soft limit instead, to show what happens when it is too low.
#
#   bench/perf_10k_streams.sh [kgai binary]
#
# Environment: CONCURRENCY (10000), NUM_REQUESTS (20000), INPUT_LEN (50), OUTPUT_LEN (100),
# TIME_SCALE (5), SEED (1), SIM_NOFILE (unset), OUT (a temp dir).
# Exits 0 whether the target is met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
concurrency=${CONCURRENCY:-10000}
num_requests=${NUM_REQUESTS:-20000}
input_len=${INPUT_LEN:-50}
output_len=${OUTPUT_LEN:-100}
time_scale=${TIME_SCALE:-5}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-perf-10k.XXXXXX)}

if [[ ! -x $kgai ]]; then
  echo "perf_10k_streams: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi
for tool in jq curl python3; do
  command -v "$tool" >/dev/null || { echo "perf_10k_streams: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
sim_nofile=${SIM_NOFILE:-$(ulimit -n)}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "RLIMIT_NOFILE: soft $(ulimit -n), hard $(ulimit -Hn); kgai sim runs with soft $sim_nofile"
echo "seed $seed; reports: $out"
mkdir -p "$out"

(ulimit -n "$sim_nofile" && exec "$kgai" sim --host 127.0.0.1 --port 0 --replicas 1 \
  --max-num-seqs 16384 --max-num-batched-tokens 65536 --time-scale "$time_scale" \
  --seed "$seed") >"$out/sim.log" 2>&1 &
sim_pid=$!
sampler_pid=""
cleanup() {
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null || true
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
}
trap cleanup EXIT
url=""
for _ in $(seq 200); do
  url=$(sed -n 's|^kgai sim: replica 0 serving .* on \(http://[0-9.:]*\).*$|\1|p' "$out/sim.log")
  [[ -n $url ]] && break
  sleep 0.05
done
if [[ -z $url ]]; then
  echo "perf_10k_streams: kgai sim did not start:" >&2
  cat "$out/sim.log" >&2
  exit 2
fi
echo "$(head -1 "$out/sim.log")"

# The server's view of concurrency, every 0.5 s.
(
  while true; do
    curl -s --max-time 2 "$url/metrics" |
      awk '/^vllm:num_requests_(running|waiting)[{ ]/ { s += $NF } END { print s + 0 }'
    sleep 0.5
  done
) >"$out/server_in_flight.txt" 2>/dev/null &
sampler_pid=$!

sim_cpu_before=$(awk '{ print $14 + $15 }' "/proc/$sim_pid/stat")
status=0
/usr/bin/time -f "%U %S %e %M" -o "$out/perf.time" \
  "$kgai" perf --url "$url" --stream --concurrency "$concurrency" --num-requests "$num_requests" \
  --data synthetic --input-len "$input_len" --output-len "$output_len" --seed "$seed" \
  --per-request --out "$out/report" >"$out/perf.log" 2>&1 || status=$?
sim_cpu_after=$(awk '{ print $14 + $15 }' "/proc/$sim_pid/stat")
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=""
if [[ $status != 0 || ! -f $out/report/summary_lifecycle_metrics.json ]]; then
  echo "perf_10k_streams: kgai perf failed (exit $status):" >&2
  tail -20 "$out/perf.log" >&2
  echo "kgai sim's log:" >&2
  tail -20 "$out/sim.log" >&2
  echo "FAIL"
  exit 0
fi

read -r user sys wall maxrss <"$out/perf.time"
summary="$out/report/summary_lifecycle_metrics.json"
read -r ok failed labels ttft50 ttft99 itl50 itl99 rps < <(jq -r '[
    .successes.count, .failures.count, (.failures.by_label // {} | tojson),
    .successes.latency.time_to_first_token.median * 1000,
    .successes.latency.time_to_first_token.p99 * 1000,
    .successes.latency.inter_token_latency.median * 1000,
    .successes.latency.inter_token_latency.p99 * 1000,
    .successes.throughput.requests_per_sec] | @tsv' "$summary")
client_peak=$(python3 - "$out/report/per_request_lifecycle_metrics.json" <<'PY'
import json, sys
def records(x):
    if isinstance(x, dict):
        if "start_time" in x and "end_time" in x:
            yield x
        else:
            for v in x.values(): yield from records(v)
    elif isinstance(x, list):
        for v in x: yield from records(v)
events = []
for r in records(json.load(open(sys.argv[1]))):
    events += [(r["start_time"], 1), (r["end_time"], -1)]
events.sort(key=lambda e: (e[0], e[1]))  # an end at the same instant as a start goes first
now = peak = 0
for _, d in events:
    now += d
    peak = max(peak, now)
print(peak)
PY
)
server_peak=$(sort -n "$out/server_in_flight.txt" | tail -1)
ticks=$(getconf CLK_TCK)
sim_cpu=$(awk -v a="$sim_cpu_before" -v b="$sim_cpu_after" -v t="$ticks" \
  'BEGIN { printf "%.1f", (b - a) / t }')

echo "kgai perf --stream --concurrency $concurrency --num-requests $num_requests" \
  "--data synthetic --input-len $input_len --output-len $output_len"
printf '  requests ok %s, failed %s %s\n' "$ok" "$failed" "$labels"
printf '  peak in flight: client %s, server (running + waiting) %s\n' \
  "${client_peak:-?}" "${server_peak:-?}"
printf '  client CPU: user %ss sys %ss over %ss wall (%.0f %% of one core), max RSS %s MB\n' \
  "$user" "$sys" "$wall" "$(awk -v u="$user" -v s="$sys" -v w="$wall" 'BEGIN { print 100 * (u + s) / w }')" \
  "$((maxrss / 1024))"
printf '  server CPU: %ss\n' "$sim_cpu"
printf '  completed %.1f req/s; TTFT median %.1f ms p99 %.1f ms; ITL median %.2f ms p99 %.2f ms\n' \
  "$rps" "$ttft50" "$ttft99" "$itl50" "$itl99"
if [[ $failed == 0 && ${client_peak:-0} -ge $concurrency ]]; then
  echo "target: $concurrency concurrent streams from one process, no errors: PASS"
else
  echo "target: $concurrency concurrent streams from one process, no errors: FAIL"
fi
