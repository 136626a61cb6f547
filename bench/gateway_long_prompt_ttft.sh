#!/usr/bin/env bash
# Macro benchmark: what does `kgai gateway` add to the time to first token of long prompts?
# 200 KB prompts (--input-len 50000 tokens at the simulator's 4 bytes a token), 100 streams at
# once, against one `kgai sim` replica directly and through `kgai gateway --endpoints SIM`
# (default profile: the gateway parses every body and hashes its prefix blocks).
#
# The simulated model is a tiny one written into a catalog file here (2 layers, 0.05 B
# parameters, on the default H100), with --max-num-batched-tokens 1048576 and --max-num-seqs
# 256, so that 100 prompts of 50,000 tokens fit in the KV cache and prefill in one or a few
# steps: the simulated GPU is not what TTFT measures. With the catalog's 8B model the KV cache
# holds about 9 such prompts and TTFT is seconds of simulated queueing. What remains is the
# simulator's own CPU per 200 KB request (one event-loop thread per replica).
#
# Each round (REPEATS rounds, default 3) runs direct and gateway, alternating which goes first,
# each against a fresh simulator (the same seed gives the same prompts, which a warm prefix
# cache would serve from cache):
#   kgai perf --url URL --stream --concurrency CONCURRENCY(100) --num-requests NUM(500)
#     --input-len 50000 --output-len 8 --seed SEED --quiet --out DIR
# and, to see the gateway's latency without queueing, the same at --concurrency 1
# --num-requests LOW_NUM(50). TTFT median and p90 come from
# DIR/summary_lifecycle_metrics.json (successes.latency.time_to_first_token).
# Target: the gateway adds < 5 ms to the median TTFT at concurrency 100 (every round).
#
# Client, simulator and gateway share the machine's cores; nothing is pinned. The machine's
# load average is printed before and after.
#
#   bench/gateway_long_prompt_ttft.sh [kgai binary]
#
# Environment: CONCURRENCY (100), NUM (500), LOW_NUM (50), INPUT_LEN (50000), OUTPUT_LEN (8),
# TIME_SCALE (10), REPEATS (3), SEED (1), OUT (a temp dir).
# Exits 0 whether the target is met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
concurrency=${CONCURRENCY:-100}
num=${NUM:-500}
low_num=${LOW_NUM:-50}
input_len=${INPUT_LEN:-50000}
output_len=${OUTPUT_LEN:-8}
time_scale=${TIME_SCALE:-10}
repeats=${REPEATS:-3}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-ttft.XXXXXX)}

if [[ ! -x $kgai ]]; then
  echo "gateway_long_prompt_ttft: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi
kgai=$(realpath "$kgai")
for tool in jq python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_long_prompt_ttft: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"

cat >"$out/tiny.yaml" <<'EOF'
models:
  - name: kgai/bench-tiny
    aliases: [bench-tiny]
    num_layers: 2
    hidden_size: 512
    num_heads: 8
    num_kv_heads: 8
    head_dim: 64
    intermediate_size: 1024
    vocab_size: 32000
    max_model_len: 131072
    params_billion: 0.05
EOF
sim_args=(--catalog "$out/tiny.yaml" --model bench-tiny --replicas 1 --time-scale "$time_scale"
  --max-num-seqs 256 --max-num-batched-tokens 1048576 --seed "$seed")

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kgai sim ${sim_args[*]}"
echo "prompts $input_len tokens ($((input_len * 4 / 1000)) KB), output $output_len; concurrency $concurrency x $num requests and 1 x $low_num; seed $seed; files: $out"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sim_pid=
gw_pid=
stop_servers() {
  for pid in $gw_pid $sim_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $gw_pid $sim_pid; do wait "$pid" 2>/dev/null || true; done
  sim_pid=
  gw_pid=
}
trap stop_servers EXIT
wait_line() {  # file pattern
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
cpu_seconds() {  # pid: user + system CPU seconds so far
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Starts a fresh simulator (and the gateway in front of it for `gateway`); sets url.
start() {  # mode tag
  local log="$out/$2"
  "$kgai" sim --host 127.0.0.1 --port 0 "${sim_args[@]}" >"$log-sim.out" 2>"$log-sim.err" &
  sim_pid=$!
  wait_line "$log-sim.out" 'serving' || { cat "$log-sim.err" >&2; exit 2; }
  local sim_url
  sim_url=$(grep -o 'http://[0-9.:]*' "$log-sim.out" | head -1)
  url=$sim_url
  if [[ $1 == gateway ]]; then
    local port
    port=$(free_port)
    "$kgai" gateway --listen "127.0.0.1:$port" --endpoints "${sim_url#http://}" \
      >"$log-gw.out" 2>"$log-gw.err" &
    gw_pid=$!
    wait_line "$log-gw.out" 'serving on' || { cat "$log-gw.err" >&2; exit 2; }
    url="http://127.0.0.1:$port"
    # The endpoint is healthy once its /metrics was read: wait for a request to go through.
    for _ in $(seq 100); do
      curl -sf "$url/v1/models" | grep -q bench-tiny && break
      sleep 0.05
    done
  fi
}

run_perf() {  # mode tag concurrency num -> "median_ms p90_ms ok failed sim_cpu gw_cpu"
  start "$1" "$2"
  local dir="$out/$2"
  "$kgai" perf --url "$url" --stream --concurrency "$3" --num-requests "$4" \
    --input-len "$input_len" --output-len "$output_len" --seed "$seed" --quiet --out "$dir" \
    >"$dir.log" 2>&1 || true
  local sim_cpu gw_cpu=-
  sim_cpu=$(cpu_seconds "$sim_pid")
  [[ -z $gw_pid ]] || gw_cpu=$(cpu_seconds "$gw_pid")
  stop_servers
  if [[ ! -s $dir/summary_lifecycle_metrics.json ]]; then
    echo "- - 0 $4 $sim_cpu $gw_cpu"
    return
  fi
  echo "$(jq -r '[.successes.latency.time_to_first_token.median * 1000,
      .successes.latency.time_to_first_token.p90 * 1000, .successes.count, .failures.count]
      | @tsv' "$dir/summary_lifecycle_metrics.json") $sim_cpu $gw_cpu"
}

verdict=PASS
verdict_low=PASS
declare -A m p ok failed simcpu gwcpu
for round in $(seq "$repeats"); do
  echo "round $round (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  if ((round % 2)); then order=(direct gateway); else order=(gateway direct); fi
  for c in "$concurrency" 1; do
    n=$num
    ((c == concurrency)) || n=$low_num
    for mode in "${order[@]}"; do
      read -r m[$mode] p[$mode] ok[$mode] failed[$mode] simcpu[$mode] gwcpu[$mode] \
        < <(run_perf "$mode" "$mode-c$c-$round" "$c" "$n")
      printf '  %-7s --concurrency %-3s --num-requests %-4s TTFT median %8.2f ms p90 %8.2f ms, ok %s, failed %s, CPU sim %ss gateway %ss\n' \
        "$mode" "$c" "$n" "${m[$mode]}" "${p[$mode]}" "${ok[$mode]}" "${failed[$mode]}" \
        "${simcpu[$mode]}" "${gwcpu[$mode]}"
    done
    d50=$(awk -v g="${m[gateway]}" -v d="${m[direct]}" 'BEGIN { printf "%.2f", g - d }')
    d90=$(awk -v g="${p[gateway]}" -v d="${p[direct]}" 'BEGIN { printf "%.2f", g - d }')
    echo "  concurrency $c: gateway - direct: median $d50 ms, p90 $d90 ms"
    bad=$(awk -v a="$d50" 'BEGIN { print (a >= 5) }')
    [[ ${failed[gateway]} == 0 && ${failed[direct]} == 0 ]] || bad=1
    if ((bad)); then
      if ((c == concurrency)); then verdict=FAIL; else verdict_low=FAIL; fi
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "target: the gateway adds < 5 ms to the median TTFT, concurrency $concurrency, $((input_len * 4 / 1000)) KB prompts: $verdict"
echo "(same, concurrency 1, no queueing: $verdict_low)"
