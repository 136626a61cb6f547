#!/usr/bin/env bash
# Macro benchmark: does kgai gateway route as well behind Envoy (its ext_proc server) as it does
# as the standalone proxy? The workload, simulators and settings of bench/gateway_routing.sh's
# "default" run (read its header: 4 `kgai sim` replicas with small KV caches, shared-prefix prompts
# from `kgai perf`, open loop), the default scheduling profile, through two data planes:
#   proxy    kgai gateway --listen (the standalone HTTP proxy);
#   extproc  kgai-envoy-double (tests/envoy_double: Envoy's ext_proc filter, FULL_DUPLEX_STREAMED,
#            16 KiB body chunks, the response phases through the processor) in front of
#            kgai gateway --listen off --ext-proc-listen; kgai perf talks to the double.
# Back to back, ROUNDS (1) rounds alternating which goes first; each run starts fresh simulators
# (empty prefix caches) and a fresh gateway. Same seeds in both.
#
# Per run: TTFT median / p99, output tokens/s, ok / failed (kgai perf's summary); the prefix-cache
# hit rate over the simulators (vllm:prefix_cache_hits_total / queries_total deltas); requests per
# endpoint (kgai_gateway_decisions_total); for extproc, the double's count of protocol violations.
# The double is a test tool (a worker thread and blocking calls per exchange, not Envoy's event
# loop): its own cost is in extproc's TTFT.
# Targets: extproc's hit rate within HIT_TOLERANCE (2) points of proxy's, no failed requests and no
# protocol violations. TTFT is reported side by side, not judged (the double's cost is in it).
#
#   bench/gateway_routing_extproc.sh [kgai binary] [kgai-envoy-double binary]
#
# Environment: as bench/gateway_routing.sh (RATE 40, DURATION 20, NUM_GROUPS 9, SYSTEM_PROMPT_LEN
# 2000, QUESTION_LEN 200, OUTPUT_LEN 32, GPU_UTIL 0.24, TIME_SCALE 1, SEED 1, OUT), plus ROUNDS (1)
# and HIT_TOLERANCE (2). Exits 0 whether the targets are met or not; 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
double=${2:-build/kgai-envoy-double}
rate=${RATE:-40}
duration=${DURATION:-20}
groups=${NUM_GROUPS:-9}
system_prompt_len=${SYSTEM_PROMPT_LEN:-2000}
question_len=${QUESTION_LEN:-200}
output_len=${OUTPUT_LEN:-32}
gpu_util=${GPU_UTIL:-0.24}
time_scale=${TIME_SCALE:-1}
seed=${SEED:-1}
rounds=${ROUNDS:-1}
tolerance=${HIT_TOLERANCE:-2}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-routing-extproc.XXXXXX)}

for bin in "$kgai" "$double"; do
  if [[ ! -x $bin ]]; then
    echo "gateway_routing_extproc: $bin is not an executable (build it: cmake --build build --target kgai kgai-envoy-double)" >&2
    exit 2
  fi
done
kgai=$(realpath "$kgai")
double=$(realpath "$double")
for tool in jq python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_routing_extproc: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"

sim_args=(--replicas 4 --gpu-memory-utilization "$gpu_util" --time-scale "$time_scale" --seed "$seed")
per_group=$((rate * duration / groups + 1))
# The same generated Inference Perf config as bench/gateway_routing.sh.
cat >"$out/perf.yaml" <<EOF
api: {type: completion, streaming: true}
data:
  type: shared_prefix
  shared_prefix:
    num_groups: $groups
    num_prompts_per_group: $per_group
    system_prompt_len: $system_prompt_len
    question_len: $question_len
    output_len: $output_len
load:
  type: constant
  stages: [{rate: $rate, duration: $duration}]
EOF

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kgai sim ${sim_args[*]}"
echo "kgai perf --config perf.yaml --seed $seed: shared_prefix $groups groups x $system_prompt_len-token system prompts, $question_len-token questions, $output_len output tokens, $rate req/s for $duration s; files: $out"

source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

declare -A hit ttft50 ttft99 fails violations
run() {  # dataplane(proxy|extproc) round
  local name=$1 dir="$out/$1-r$2"
  mkdir -p "$dir"
  "$kgai" sim --host 127.0.0.1 --port 0 "${sim_args[@]}" >"$dir/sim.out" 2>"$dir/sim.err" &
  pids+=($!)
  wait_line "$dir/sim.out" 'serving' 4 || { cat "$dir/sim.err" >&2; exit 2; }
  mapfile -t sims < <(grep -o 'http://[0-9.:]*' "$dir/sim.out")
  local model endpoints url
  model=$(curl -sf "${sims[0]}/v1/models" | jq -r '.data[0].id')
  endpoints=$(printf '%s\n' "${sims[@]#http://}" | paste -sd,)
  local listen=(--listen 127.0.0.1:0)
  [[ $name == extproc ]] && listen=(--listen off --ext-proc-listen 127.0.0.1:0 --health-listen 127.0.0.1:0)
  "$kgai" gateway "${listen[@]}" --metrics-listen 127.0.0.1:0 --endpoints "$endpoints" \
    >"$dir/gw.out" 2>"$dir/gw.err" &
  pids+=($!)
  wait_line "$dir/gw.out" 'metrics on' || { cat "$dir/gw.err" >&2; exit 2; }
  local metrics_url double_pid=
  metrics_url=$(grep -o 'http://[0-9.:]*/metrics' "$dir/gw.out")
  if [[ $name == proxy ]]; then
    wait_line "$dir/gw.out" 'serving on' || { cat "$dir/gw.err" >&2; exit 2; }
    url=$(grep -o 'serving on http://[0-9.:]*' "$dir/gw.out" | sed 's/serving on //')
  else
    local ext
    ext=$(grep -o 'ext_proc on grpc://[0-9.:]*' "$dir/gw.out" | sed 's#.*grpc://##')
    "$double" --listen 127.0.0.1:0 --ext-proc "$ext" >"$dir/double.out" 2>"$dir/double.err" &
    double_pid=$!
    pids+=("$double_pid")
    wait_line "$dir/double.out" 'serving on' || { cat "$dir/double.err" >&2; exit 2; }
    url=$(grep -o 'serving on http://[0-9.:]*' "$dir/double.out" | sed 's/serving on //')
  fi
  for _ in $(seq 100); do
    curl -sf "$url/v1/models" | grep -q "$model" && break
    sleep 0.05
  done
  local q0 h0 q1 h1
  q0=$(sum_counter vllm:prefix_cache_queries_total "${sims[@]}")
  h0=$(sum_counter vllm:prefix_cache_hits_total "${sims[@]}")
  "$kgai" perf --config "$out/perf.yaml" --url "$url" --seed "$seed" \
    --quiet --out "$dir/perf" >"$dir/perf.log" 2>&1 || true
  q1=$(sum_counter vllm:prefix_cache_queries_total "${sims[@]}")
  h1=$(sum_counter vllm:prefix_cache_hits_total "${sims[@]}")
  curl -sf "$metrics_url" >"$dir/gateway_metrics.txt" || true
  if [[ -n $double_pid ]]; then
    # The double prints its counts on SIGTERM.
    kill "$double_pid" 2>/dev/null || true
    wait "$double_pid" 2>/dev/null || true
  fi
  stop_all
  local key="$name-r$2"
  violations[$key]=0
  [[ -n $double_pid ]] && violations[$key]=$(grep -o '[0-9]* protocol violations' "$dir/double.out" | grep -o '^[0-9]*' || echo -1)
  hit[$key]=$(awk -v h="$((${h1%.*} - ${h0%.*}))" -v q="$((${q1%.*} - ${q0%.*}))" \
    'BEGIN { printf "%.1f", (q > 0) ? 100 * h / q : 0 }')
  local tok ok
  read -r ttft50[$key] ttft99[$key] tok ok fails[$key] < <(jq -r '[
      .successes.latency.time_to_first_token.median * 1000,
      .successes.latency.time_to_first_token.p99 * 1000,
      .successes.throughput.output_tokens_per_sec, .successes.count, .failures.count] | @tsv' \
    "$dir/perf/summary_lifecycle_metrics.json")
  printf '%-8s round %s: TTFT median %7.1f ms p99 %7.1f ms, output %7.1f tok/s, ok %s, failed %s, prefix-cache hit rate %s %% (%s of %s tokens), protocol violations %s\n' \
    "$name" "$2" "${ttft50[$key]}" "${ttft99[$key]}" "$tok" "$ok" "${fails[$key]}" "${hit[$key]}" \
    "$((${h1%.*} - ${h0%.*}))" "$((${q1%.*} - ${q0%.*}))" "${violations[$key]}"
  printf '                  requests per endpoint (kgai_gateway_decisions_total):'
  for ep in ${endpoints//,/ }; do
    local n
    n=$(awk -v e="endpoint=\"$ep\"" 'index($0, e) && /^kgai_gateway_decisions_total/ { print $2 + 0 }' \
      "$dir/gateway_metrics.txt")
    printf ' %s' "${n:-0}"
  done
  echo
}

for round in $(seq "$rounds"); do
  if ((round % 2 == 1)); then order="proxy extproc"; else order="extproc proxy"; fi
  for dp in $order; do run "$dp" "$round"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "side by side (proxy | extproc):"
verdict=PASS
for round in $(seq "$rounds"); do
  p="proxy-r$round" e="extproc-r$round"
  printf '  round %s: hit rate %s %% | %s %%; TTFT median %.1f | %.1f ms; TTFT p99 %.1f | %.1f ms; failed %s | %s\n' \
    "$round" "${hit[$p]}" "${hit[$e]}" "${ttft50[$p]}" "${ttft50[$e]}" "${ttft99[$p]}" "${ttft99[$e]}" \
    "${fails[$p]}" "${fails[$e]}"
  ok=$(awk -v a="${hit[$p]}" -v b="${hit[$e]}" -v t="$tolerance" -v f="${fails[$p]}" -v g="${fails[$e]}" \
    -v v="${violations[$e]}" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= t && f == 0 && g == 0 && v == 0) ? 1 : 0 }')
  ((ok)) || verdict=FAIL
done
echo "target: extproc's prefix-cache hit rate within $tolerance points of the proxy's, no failures, no protocol violations: $verdict"
