#!/usr/bin/env bash
# Macro benchmark: `kgai quickstart profiles list` on one core (taskset -c 0).
#   1. the whole catalog (every model x accelerator x count x settings grid), with latency
#      targets, on the catalog's prices (every accelerator has one): target < 10 s;
#   2. one model on one accelerator with the same targets: target < 1 s;
#   3. the whole catalog without targets (the knee of each setup), for reference.
# Prints wall and CPU seconds (CPU is what a busy machine cannot inflate) and the search's own
# counts. ROUNDS=N repeats each (default 3) and reports the median.
#   bench/quickstart_search.sh [kgai binary]
set -euo pipefail
kgai=${1:-build/kgai}
rounds=${ROUNDS:-3}
targets=(--target-ttft-ms 500 --target-ntpot-ms 50 --percentile 90)

measure() {
  local name=$1 limit=$2
  shift 2
  local walls=() cpus=()
  for _ in $(seq "$rounds"); do
    local out
    out=$( { /usr/bin/time -f "%e %U %S" taskset -c 0 "$kgai" quickstart profiles list --quiet \
      --format json "$@" > /tmp/kgai-qs-bench.json; } 2>&1 | tail -1)
    walls+=("$(echo "$out" | awk '{print $1}')")
    cpus+=("$(echo "$out" | awk '{print $2 + $3}')")
  done
  python3 - "$name" "$limit" "${walls[*]}" "${cpus[*]}" <<'PY'
import json, statistics, sys
name, limit, walls, cpus = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
wall = statistics.median(map(float, walls)); cpu = statistics.median(map(float, cpus))
d = json.load(open("/tmp/kgai-qs-bench.json"))
s = d["search"]
verdict = "PASS" if cpu < limit else "FAIL"
print(f"{name}: wall {wall:.2f} s, cpu {cpu:.2f} s (median of {len(walls)}; limit {limit:g} s cpu: "
      f"{verdict}); {s['setups']} setups, {s['simulations']} virtual-time runs, "
      f"{len(d['profiles'])} profiles, {len(d['skipped'])} left out")
PY
}

echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
measure "whole catalog, targets" 10 --cloud catalog "${targets[@]}"
measure "llama-3.1-8b on h100, targets" 1 --model llama-3.1-8b --accelerator h100 "${targets[@]}"
measure "whole catalog, no targets" 1000 --cloud catalog
