#!/usr/bin/env bash
# The main job, until `kgai demo` lands: start a small simulated vLLM pool, stream a few
# requests through it and watch its live /metrics change.
set -euo pipefail
cd "$(dirname "$0")/.."
kgai=build/kgai
replicas=${REPLICAS:-3}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Find a base port with `replicas` free ports after it.
for _ in $(seq 20); do
  base=$(free_port)
  ok=1
  for i in $(seq 0 $((replicas - 1))); do
    python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$((base + i))))" 2>/dev/null || ok=0
  done
  [ $ok = 1 ] && break
done

log=$(mktemp)
"$kgai" sim --model llama-3.1-8b --accelerator h100 --replicas "$replicas" \
  --host 127.0.0.1 --port "$base" --max-num-seqs 8 --seed 1 >"$log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; wait $sim_pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  [ "$(grep -c serving "$log")" -ge "$replicas" ] && break
  sleep 0.1
done
cat "$log"
echo

echo "== One streamed chat completion (first events):"
curl -sN "http://127.0.0.1:$base/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}'
echo

echo "== 48 streamed requests over $replicas replicas (400-token prompts, 600 tokens out each; 8 run at once per replica)"
pids=()
prompt=$(python3 -c 'print("You are a helpful assistant. " * 57)')
for i in $(seq 0 47); do
  port=$((base + i % replicas))
  curl -sN "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\":\"$prompt question $i\",\"max_tokens\":600,\"ignore_eos\":true,\"stream\":true}" \
    >/dev/null &
  pids+=($!)
done

metric() {  # metric PORT NAME -> value of the first sample of NAME
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"({|$)" {print $NF; exit}'
}
printf '\n%-6s %-8s %8s %8s %8s %12s %12s\n' time replica running waiting kv_use generated prefix_hits
for t in $(seq 0 2 10); do
  for r in $(seq 0 $((replicas - 1))); do
    port=$((base + r))
    printf '%-6s %-8s %8s %8s %8.3f %12s %12s\n' "${t}s" "$r" \
      "$(metric $port vllm:num_requests_running)" "$(metric $port vllm:num_requests_waiting)" \
      "$(metric $port vllm:kv_cache_usage_perc)" "$(metric $port vllm:generation_tokens_total)" \
      "$(metric $port vllm:prefix_cache_hits_total)"
  done
  sleep 2
done
wait "${pids[@]}" 2>/dev/null || true

echo
echo "== Virtual time: the same engine, 20,000 requests at 40 req/s, in a few seconds"
"$kgai" sim offline --model llama-3.1-8b --accelerator h100 --rate 40 --num-requests 20000 \
  --shared-prefix-groups 8 --shared-prefix-len 400 --quiet > "$log"
python3 - "$log" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
lat, thr, eng = s["successes"]["latency"], s["successes"]["throughput"], s["engine"]
print(f"TTFT p50 {lat['time_to_first_token']['median'] * 1e3:.1f} ms, "
      f"p99 {lat['time_to_first_token']['p99'] * 1e3:.1f} ms; "
      f"ITL p50 {lat['inter_token_latency']['median'] * 1e3:.1f} ms; "
      f"{thr['output_tokens_per_sec']:.0f} output tok/s; "
      f"prefix-cache hit rate {eng['prefix_cache_hit_rate']:.2f}; "
      f"simulated {eng['simulated_seconds']:.0f} s in {s['runtime']['wall_seconds']:.2f} s of CPU")
PY
