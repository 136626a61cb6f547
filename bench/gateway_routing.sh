#!/usr/bin/env bash
# Macro benchmark: does `kgai gateway` route well? Four simulated vLLM replicas (one
# `kgai sim --replicas 4` process), a shared-prefix workload from `kgai perf`, through:
#   default      the gateway's default profile (queue x2, kv-cache x2, prefix-cache x3,
#                max-score-picker);
#   round-robin  the gateway with a round-robin config (plugins: round-robin-picker only);
#   default+bad  the default profile with a 5th endpoint: a fake server whose /metrics says
#                its KV cache is full (1.0) and 50 requests wait, and which answers
#                completions slowly (SLOW_S seconds, then a valid SSE stream).
# Each run starts fresh simulators (empty prefix caches) and a fresh gateway.
#
# Workload (a generated Inference Perf config): data shared_prefix, NUM_GROUPS (9) system prompts of
# SYSTEM_PROMPT_LEN (2000) tokens, QUESTION_LEN (200)-token questions, OUTPUT_LEN (32) output
# tokens, open loop (constant) at RATE (40) req/s for DURATION (20) s, streamed, seed SEED (1).
# Requests take the groups in turn (request i has group i mod GROUPS), so with NUM_GROUPS a multiple
# of 4 a strict round-robin over 4 replicas would send each group to one replica by accident;
# 9 groups keep round-robin from looking prefix-aware. Each replica's KV cache is made small
# (--gpu-memory-utilization GPU_UTIL, 0.24: about 1,100 blocks of 16 tokens, 17,600 tokens on
# the default H100 and 8B model) so it cannot hold all 9 system prompts (18,000 tokens) plus
# the running requests: the prefix cache hits when the router keeps each group on few replicas.
#
# Per run: TTFT median / p99, output tokens/s, failures (kgai perf's summary); the prefix-cache
# hit rate over the 4 simulators (sum of vllm:prefix_cache_hits_total deltas / sum of
# vllm:prefix_cache_queries_total deltas, read before and after); requests per endpoint
# (the gateway's kgai_gateway_decisions_total{endpoint=...} on --metrics-listen).
# Targets: the default profile's prefix-cache hit rate is above round-robin's and its TTFT
# median is lower; the fake saturated endpoint gets < 1 % of the requests.
#
#   bench/gateway_routing.sh [kgai binary]
#
# Environment: RATE (40), DURATION (20), NUM_GROUPS (9), SYSTEM_PROMPT_LEN (2000),
# QUESTION_LEN (200), OUTPUT_LEN (32), GPU_UTIL (0.24), TIME_SCALE (1), SLOW_S (0.5), SEED (1),
# OUT (a temp dir).
# Exits 0 whether the targets are met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
rate=${RATE:-40}
duration=${DURATION:-20}
groups=${NUM_GROUPS:-9}
system_prompt_len=${SYSTEM_PROMPT_LEN:-2000}
question_len=${QUESTION_LEN:-200}
output_len=${OUTPUT_LEN:-32}
gpu_util=${GPU_UTIL:-0.24}
time_scale=${TIME_SCALE:-1}
slow_s=${SLOW_S:-0.5}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-routing.XXXXXX)}

if [[ ! -x $kgai ]]; then
  echo "gateway_routing: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi
kgai=$(realpath "$kgai")
for tool in jq python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_routing: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"

sim_args=(--replicas 4 --gpu-memory-utilization "$gpu_util" --time-scale "$time_scale" --seed "$seed")
per_group=$((rate * duration / groups + 1))
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
cat >"$out/round-robin.yaml" <<'EOF'
plugins: [{type: round-robin-picker}]
schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]
EOF

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kgai sim ${sim_args[*]}"
echo "kgai perf --config perf.yaml --seed $seed: shared_prefix $groups groups x $system_prompt_len-token system prompts, $question_len-token questions, $output_len output tokens, $rate req/s for $duration s; files: $out"

source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

# The fake saturated server: full KV cache, 50 waiting; completions after SLOW_S seconds.
fake_server() {  # port model
  python3 - "$1" "$2" "$slow_s" <<'PY'
import http.server, json, sys, time
port, model, slow = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
metrics = "".join(f"# TYPE vllm:{n} gauge\nvllm:{n}{{model_name=\"{model}\"}} {v}\n" for n, v in
                  [("num_requests_waiting", 50), ("num_requests_running", 16),
                   ("kv_cache_usage_perc", 1.0)])
metrics += ('# TYPE vllm:cache_config_info gauge\nvllm:cache_config_info{block_size="16",'
            'num_gpu_blocks="1100",enable_prefix_caching="True"} 1\n')
models = json.dumps({"object": "list", "data": [{"id": model, "object": "model"}]})
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, ctype, body):
        body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/metrics": self.reply(200, "text/plain; version=0.0.4", metrics)
        elif self.path == "/v1/models": self.reply(200, "application/json", models)
        else: self.reply(404, "text/plain", "not here\n")
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        time.sleep(slow)
        chunk = {"id": "fake", "object": "text_completion", "created": 0, "model": model,
                 "choices": [{"index": 0, "text": " slow", "finish_reason": None}]}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        if not req.get("stream"):
            chunk["choices"][0]["finish_reason"] = "length"
            chunk["usage"] = usage
            return self.reply(200, "application/json", json.dumps(chunk))
        events = [chunk, {**chunk, "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
                          "usage": usage}]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self.reply(200, "text/event-stream", body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
}

# Sums a vLLM counter over the simulators' /metrics.

declare -A hit ttft50 ttft99 tok fails
run() {  # name config(or -) fake(0/1)
  local name=$1 dir="$out/$1"
  mkdir -p "$dir"
  "$kgai" sim --host 127.0.0.1 --port 0 "${sim_args[@]}" >"$dir/sim.out" 2>"$dir/sim.err" &
  pids+=($!)
  wait_line "$dir/sim.out" 'serving' 4 || { cat "$dir/sim.err" >&2; exit 2; }
  mapfile -t sims < <(grep -o 'http://[0-9.:]*' "$dir/sim.out")
  local model endpoints fake_port=
  model=$(curl -sf "${sims[0]}/v1/models" | jq -r '.data[0].id')
  endpoints=$(printf '%s\n' "${sims[@]#http://}" | paste -sd,)
  if (($3)); then
    fake_port=$(free_port)
    fake_server "$fake_port" "$model" >"$dir/fake.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "127.0.0.1:$fake_port/metrics" >/dev/null && break; sleep 0.05; done
    endpoints+=",127.0.0.1:$fake_port"
  fi
  local gw_port metrics_port config=()
  gw_port=$(free_port)
  metrics_port=$(free_port)
  [[ $2 == - ]] || config=(--config "$2")
  "$kgai" gateway --listen "127.0.0.1:$gw_port" --metrics-listen "127.0.0.1:$metrics_port" \
    --endpoints "$endpoints" "${config[@]}" >"$dir/gw.out" 2>"$dir/gw.err" &
  pids+=($!)
  wait_line "$dir/gw.out" 'serving on' || { cat "$dir/gw.err" >&2; exit 2; }
  for _ in $(seq 100); do
    curl -sf "127.0.0.1:$gw_port/v1/models" | grep -q "$model" && break
    sleep 0.05
  done
  local q0 h0 q1 h1
  q0=$(sum_counter vllm:prefix_cache_queries_total "${sims[@]}")
  h0=$(sum_counter vllm:prefix_cache_hits_total "${sims[@]}")
  "$kgai" perf --config "$out/perf.yaml" --url "http://127.0.0.1:$gw_port" --seed "$seed" \
    --quiet --out "$dir/perf" >"$dir/perf.log" 2>&1 || true
  q1=$(sum_counter vllm:prefix_cache_queries_total "${sims[@]}")
  h1=$(sum_counter vllm:prefix_cache_hits_total "${sims[@]}")
  curl -sf "127.0.0.1:$metrics_port/metrics" >"$dir/gateway_metrics.txt" || true
  stop_all
  hit[$name]=$(awk -v h="$((${h1%.*} - ${h0%.*}))" -v q="$((${q1%.*} - ${q0%.*}))" \
    'BEGIN { printf "%.1f", (q > 0) ? 100 * h / q : 0 }')
  read -r ttft50[$name] ttft99[$name] tok[$name] ok fails[$name] < <(jq -r '[
      .successes.latency.time_to_first_token.median * 1000,
      .successes.latency.time_to_first_token.p99 * 1000,
      .successes.throughput.output_tokens_per_sec, .successes.count, .failures.count] | @tsv' \
    "$dir/perf/summary_lifecycle_metrics.json")
  printf '%-12s TTFT median %8.1f ms p99 %8.1f ms, output %7.1f tok/s, ok %s, failed %s, prefix-cache hit rate %s %% (%s of %s tokens)\n' \
    "$name" "${ttft50[$name]}" "${ttft99[$name]}" "${tok[$name]}" "$ok" "${fails[$name]}" \
    "${hit[$name]}" "$((${h1%.*} - ${h0%.*}))" "$((${q1%.*} - ${q0%.*}))"
  local total
  total=$(awk '/^kgai_gateway_decisions_total[{]/ { s += $2 } END { print s + 0 }' "$dir/gateway_metrics.txt")
  printf '             requests per endpoint (kgai_gateway_decisions_total):'
  for ep in ${endpoints//,/ }; do
    local n
    n=$(awk -v e="endpoint=\"$ep\"" 'index($0, e) && /^kgai_gateway_decisions_total/ { print $2 + 0 }' \
      "$dir/gateway_metrics.txt")
    [[ $ep == "127.0.0.1:$fake_port" ]] && { fake_n=${n:-0}; fake_total=$total; ep="$ep(fake)"; }
    printf ' %s=%s' "$ep" "${n:-0}"
  done
  echo
}

fake_n=0
fake_total=0
run default - 0
run round-robin "$out/round-robin.yaml" 0
run default+bad - 1
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

verdict_hit=$(awk -v a="${hit[default]}" -v b="${hit[round-robin]}" 'BEGIN { print ((a > b) ? "PASS" : "FAIL") }')
verdict_ttft=$(awk -v a="${ttft50[default]}" -v b="${ttft50[round-robin]}" 'BEGIN { print ((a < b) ? "PASS" : "FAIL") }')
verdict_fake=$(awk -v n="$fake_n" -v t="$fake_total" 'BEGIN { print ((t > 0 && n < 0.01 * t) ? "PASS" : "FAIL") }')
echo "target: default prefix-cache hit rate (${hit[default]} %) > round-robin's (${hit[round-robin]} %): $verdict_hit"
echo "target: default TTFT median (${ttft50[default]} ms) < round-robin's (${ttft50[round-robin]} ms): $verdict_ttft"
echo "target: the saturated fake endpoint gets < 1 % of the requests ($fake_n of $fake_total): $verdict_fake"
