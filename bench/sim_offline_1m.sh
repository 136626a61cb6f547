#!/usr/bin/env bash
# Macro benchmark: one million requests (200 tokens in, 60 out, Poisson at 80% of the
# saturation rate) through `kgai sim offline` on one core. The target is under 60 s.
#
# Saturation is measured first with a closed loop far beyond the engine's capacity
# (the achieved request rate is then the engine's ceiling), then 80% of it is offered.
#   bench/sim_offline_1m.sh [kgai binary] [requests]
set -euo pipefail
kgai=${1:-build/kgai}
requests=${2:-1000000}
model=${MODEL:-llama-3.1-8b}
accelerator=${ACCELERATOR:-h100}
common=(sim offline --model "$model" --accelerator "$accelerator" --input-len 200 --output-len 60 --seed 1 --quiet)

saturation=$(taskset -c 0 "$kgai" "${common[@]}" --concurrency 4096 --num-requests 100000 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["successes"]["throughput"]["requests_per_sec"])')
rate=$(python3 -c "print(round(0.8 * $saturation, 1))")
echo "saturation: $saturation req/s (closed loop, 4096 clients); offering $rate req/s"

start=$(date +%s.%N)
taskset -c 0 "$kgai" "${common[@]}" --rate "$rate" --num-requests "$requests" > /tmp/kgai-sim-1m.json
end=$(date +%s.%N)
python3 - "$start" "$end" <<'PY'
import json, sys
start, end = float(sys.argv[1]), float(sys.argv[2])
s = json.load(open("/tmp/kgai-sim-1m.json"))
lat = s["successes"]["latency"]
print(f"requests: {s['successes']['count']}  wall: {end - start:.1f} s  "
      f"({s['successes']['count'] / (end - start):,.0f} simulated requests per wall second)")
print(f"simulated: {s['engine']['simulated_seconds']:.0f} s, {s['engine']['steps']} steps, "
      f"mean batch {s['engine']['mean_batch_size']:.1f}, peak KV {s['engine']['peak_kv_cache_usage']:.2f}")
print(f"TTFT p50 {lat['time_to_first_token']['median']*1e3:.1f} ms p99 {lat['time_to_first_token']['p99']*1e3:.1f} ms; "
      f"ITL p50 {lat['inter_token_latency']['median']*1e3:.1f} ms p99 {lat['inter_token_latency']['p99']*1e3:.1f} ms; "
      f"output {s['successes']['throughput']['output_tokens_per_sec']:,.0f} tok/s")
PY
