#!/usr/bin/env bash
# Macro benchmark: what does kgai gateway add to TTFT for long prompts, against a backend whose
# timing is exact? kgai_fixed_timing_server (bench/fixed_timing_server.cpp) sends its first
# token exactly FIRST_MS after a request arrived, whatever the load, and serves a static vLLM
# /metrics page so the gateway routes to it. kgai perf drives it with CONCURRENCY (100) streams
# of INPUT_LEN (50,000) token prompts (~200 KB), directly and through `kgai gateway`, alternating
# the order over ROUNDS (3) rounds; TTFT median and p90 from each run's summary.
# Unlike bench/gateway_long_prompt_ttft.sh the backend adds no queueing of its own, so the
# difference is the gateway's (plus the CPU it takes from the client and server on a shared
# machine: all processes share this machine's cores; the load average is printed).
#
# Target: the gateway adds < 5 ms to the TTFT median at CONCURRENCY 100.
#
#   bench/gateway_ttft_fixed_backend.sh [kgai binary] [kgai_fixed_timing_server binary]
#
# Environment: CONCURRENCY (100), REQUESTS (1000), INPUT_LEN (50000), FIRST_MS (50), ROUNDS (3),
# SEED (1), GATEWAY_ARGS (extra gateway flags, e.g. "--threads 2"), OUT (a temp dir). Exits 0 whether the target is met or not; 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
server_bin=${2:-build/kgai_fixed_timing_server}
concurrency=${CONCURRENCY:-100}
requests=${REQUESTS:-1000}
input_len=${INPUT_LEN:-50000}
first_ms=${FIRST_MS:-50}
rounds=${ROUNDS:-3}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-ttft-fixed.XXXXXX)}
for bin in "$kgai" "$server_bin"; do
  if [[ ! -x $bin ]]; then
    echo "gateway_ttft_fixed_backend: $bin is not an executable (build it, or pass its path)" >&2
    exit 2
  fi
done
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
backend_port=$(free_port)
"$server_bin" --port "$backend_port" --first-ms "$first_ms" --step-ms 10 --tokens 8 --model fixed \
  > "$out/backend.log" 2>&1 &
pids+=($!)
"$kgai" gateway --listen 127.0.0.1:0 --endpoints "127.0.0.1:$backend_port" ${GATEWAY_ARGS:-} > "$out/gateway.log" 2>&1 &
pids+=($!)
gateway_port=""
for _ in $(seq 100); do
  gateway_port=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$out/gateway.log" | grep -o '[0-9]*$' || true)
  [[ -n $gateway_port ]] && break
  sleep 0.1
done
if [[ -z $gateway_port ]]; then
  echo "gateway_ttft_fixed_backend: the gateway did not start" >&2
  cat "$out/gateway.log" >&2
  exit 2
fi
sleep 1  # the gateway's first scrape and model list

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "backend: kgai_fixed_timing_server, first token after ${first_ms} ms; kgai perf --stream --concurrency $concurrency --num-requests $requests --input-len $input_len --output-len 8 --seed $seed"

ttft() {  # run name, port -> "median p90" in ms
  "$kgai" perf --url "http://127.0.0.1:$2" --model fixed --stream --concurrency "$concurrency" \
    --num-requests "$requests" --data synthetic --input-len "$input_len" --output-len 8 \
    --seed "$seed" --quiet --out "$out/$1" > "$out/$1.log" 2>&1
  python3 - "$out/$1/summary_lifecycle_metrics.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
t = j["successes"]["latency"]["time_to_first_token"]
print(f'{t["median"] * 1e3:.2f} {t["p90"] * 1e3:.2f} {j["successes"]["count"]} {j["failures"]["count"]}')
PY
}

added_all=()
for round in $(seq "$rounds"); do
  if (( round % 2 == 1 )); then order="direct gateway"; else order="gateway direct"; fi
  declare -A result
  for which in $order; do
    port=$backend_port
    [[ $which == gateway ]] && port=$gateway_port
    result[$which]=$(ttft "r$round-$which" "$port")
  done
  read -r dm dp dok dfail <<< "${result[direct]}"
  read -r gm gp gok gfail <<< "${result[gateway]}"
  added=$(python3 -c "print(f'{$gm - $dm:.2f}')")
  added_all+=("$added")
  echo "round $round ($order): direct TTFT median $dm ms p90 $dp ms (ok $dok, failed $dfail); gateway median $gm ms p90 $gp ms (ok $gok, failed $gfail); gateway adds $added ms"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
median_added=$(printf '%s\n' "${added_all[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
if python3 -c "import sys; sys.exit(0 if $median_added < 5 else 1)"; then verdict=PASS; else verdict=FAIL; fi
echo "target: gateway adds < 5 ms to the TTFT median at concurrency $concurrency (median over rounds: $median_added ms): $verdict"
