#!/usr/bin/env bash
# Macro benchmark: what does `kgai gateway` cost as a proxy, next to nginx as a plain reverse
# proxy? One fast backend (nginx, 1 worker) answers POST /v1/completions with a fixed OpenAI
# completion body, GET /v1/models with a model list and GET /metrics with a static vLLM page
# (waiting 0, running 0, KV use 0.1). In front of it, side by side in one run:
#   nginx-proxy  nginx, 1 worker, proxy_pass to an `upstream` block with `keepalive 64`,
#                proxy_http_version 1.1, Connection "" (keep-alive to the backend);
#   gateway      kgai gateway --endpoints BACKEND (default profile; one event-loop thread).
#
# Each round (REPEATS rounds, default 3), for each of direct (wrk straight to the backend),
# nginx-proxy and gateway, in that order:
#   1. saturation: wrk -t1 -cCONNECTIONS(32) -dDURATION(10)s --latency -s post.lua
#      -> req/s, latency median / p99 (at saturation the medians are mostly queueing);
#   2. moderate closed load: wrk -t1 -cLOW_CONNECTIONS(4) -dLOW_DURATION(3)s --latency
#      -> latency median / p99;
#   3. fixed open-loop load: kgai perf --rate RATE(1000) --load constant --duration
#      LOW_DURATION, non-streamed -> E2E latency median / p99 (the same arrivals for all three).
# post.lua POSTs a small completion body whose "model" is in the backend's model list (the
# gateway parses it: model and prompt must be valid JSON).
# Targets: gateway req/s >= 50 % of nginx-proxy's (saturation); gateway median latency minus
# direct median < 0.5 ms at the moderate loads (2 and 3, judged apart).
#
# Client, proxies and backend share the machine's cores (2 here); nothing is pinned, and the
# setup is the same for both proxies (one worker or one event-loop thread each, the same
# backend, the same client settings). The machine's load average is printed before and after.
#
# Installs, when missing and run as root: nginx-light (or nginx) and wrk, with apt-get.
#
#   bench/gateway_vs_nginx.sh [kgai binary]
#
# Environment: CONNECTIONS (32), DURATION (10), LOW_CONNECTIONS (4), LOW_DURATION (3),
# RATE (1000), REPEATS (3), SEED (1), OUT (a temp dir).
# Exits 0 whether the targets are met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
connections=${CONNECTIONS:-32}
duration=${DURATION:-10}
low_connections=${LOW_CONNECTIONS:-4}
low_duration=${LOW_DURATION:-3}
rate=${RATE:-1000}
repeats=${REPEATS:-3}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-gw-nginx.XXXXXX)}
# nginx workers run as another user: they must be able to read the static pages in here.
chmod 755 "$out"
model=fixed

if [[ ! -x $kgai ]]; then
  echo "gateway_vs_nginx: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi
kgai=$(realpath "$kgai")

install=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || install+=(nginx-light)
command -v wrk >/dev/null || install+=(wrk)
if ((${#install[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "gateway_vs_nginx: missing ${install[*]}; install them (apt-get install ${install[*]})" >&2
    exit 2
  fi
  echo "installing with apt-get: ${install[*]}"
  apt-get update -qq >/dev/null
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null; then
    install=("${install[@]/nginx-light/nginx}")
    echo "installing with apt-get: ${install[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null
  fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
for tool in jq python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_vs_nginx: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "$("$nginx_bin" -v 2>&1), $(wrk --version 2>&1 | head -1 | cut -c1-40)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t1 -c$connections -d${duration}s; moderate: wrk -c$low_connections and kgai perf --rate $rate, ${low_duration}s; seed $seed; files: $out"
mkdir -p "$out"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

body='{"model":"'$model'","prompt":"Say hello to the gateway benchmark, in one short sentence please.","max_tokens":16,"temperature":0}'
printf '%s' "$body" >"$out/body.json"
completion='{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"'$model'","choices":[{"index":0,"text":" tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok","logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":16,"total_tokens":32,"completion_tokens":16}}'
models='{"object":"list","data":[{"id":"'$model'","object":"model","owned_by":"nginx"}]}'
cat >"$out/metrics.txt" <<EOF
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="$model"} 0.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="$model"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="$model"} 0.1
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",num_gpu_blocks="10000",enable_prefix_caching="True"} 1.0
EOF

backend_port=$(free_port)
proxy_port=$(free_port)
gateway_port=$(free_port)
common_http="access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $out/%s/body;
  proxy_temp_path $out/%s/proxy;
  fastcgi_temp_path $out/%s/fastcgi;
  uwsgi_temp_path $out/%s/uwsgi;
  scgi_temp_path $out/%s/scgi;"
write_nginx_conf() {  # name, server block
  mkdir -p "$out/$1"
  cat >"$out/$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $out/$1/nginx.pid;
error_log $out/$1/error.log warn;
events { worker_connections 16384; }
http {
  ${common_http//%s/$1}
  $2
}
EOF
}
write_nginx_conf backend "server {
    listen 127.0.0.1:$backend_port;
    location = /v1/models { default_type application/json; return 200 '$models'; }
    location = /v1/completions { default_type application/json; return 200 '$completion'; }
    location = /metrics { default_type text/plain; alias $out/metrics.txt; }
  }"
write_nginx_conf proxy "upstream backend {
    server 127.0.0.1:$backend_port;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"

start_nginx() {
  "$nginx_bin" -c "$out/$1/nginx.conf" -p "$out/$1" >"$out/$1/stdout.log" 2>&1 &
  pids+=($!)
}
wait_post() {  # url name
  for _ in $(seq 100); do
    curl -sf -X POST -H 'Content-Type: application/json' -d @"$out/body.json" "$1/v1/completions" \
      >/dev/null && return 0
    sleep 0.05
  done
  echo "gateway_vs_nginx: $2 does not answer POST $1/v1/completions" >&2
  return 1
}
start_nginx backend
start_nginx proxy
"$kgai" gateway --listen "127.0.0.1:$gateway_port" --endpoints "127.0.0.1:$backend_port" \
  >"$out/gateway.log" 2>&1 &
pids+=($!)
declare -A url=(
  [direct]="http://127.0.0.1:$backend_port"
  [nginx-proxy]="http://127.0.0.1:$proxy_port"
  [gateway]="http://127.0.0.1:$gateway_port"
)
targets=(direct nginx-proxy gateway)
for t in "${targets[@]}"; do
  wait_post "${url[$t]}" "$t" || { cat "$out"/*/error.log "$out/gateway.log" >&2; exit 2; }
done
echo "gateway: $(grep -m1 'serving on' "$out/gateway.log")"
echo "request body ($(wc -c <"$out/body.json") bytes): $body"

cat >"$out/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$out/body.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF

# wrk's latency percentile (50% or 99%) in ms.
wrk_ms() {  # log percent
  awk -v p="$2%" '$1 == p {
      v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
      f = (unit == "us") ? 0.001 : (unit == "ms") ? 1 : (unit == "s") ? 1000 : (unit == "m") ? 60000 : 1
      printf "%.3f", v * f }' "$1"
}
wrk_run() {  # log connections seconds url
  wrk -t1 -c"$2" -d"$3s" --latency -s "$out/post.lua" "$4/v1/completions" >"$1" 2>&1
  local rps errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
  errs=$(awk '/Non-2xx|Socket errors/' "$1" | tr -s ' \n' ' ')
  echo "$rps $(wrk_ms "$1" 50) $(wrk_ms "$1" 99) ${errs:+ERRORS:$errs}"
}

declare -A rps p50 p99 low50 low99 open50 open99 openfail
verdict_ratio=PASS
verdict_wrk=PASS
verdict_open=PASS
for round in $(seq "$repeats"); do
  echo "round $round (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  for t in "${targets[@]}"; do
    read -r rps[$t] p50[$t] p99[$t] errs < <(wrk_run "$out/sat-$t-$round.log" "$connections" "$duration" "${url[$t]}")
    printf '  %-11s wrk -c%s: %9.0f req/s, latency median %.3f ms p99 %.3f ms %s\n' \
      "$t" "$connections" "${rps[$t]}" "${p50[$t]}" "${p99[$t]}" "$errs"
    [[ -z $errs ]] || { [[ $t == gateway ]] && verdict_ratio=FAIL; }
  done
  for t in "${targets[@]}"; do
    read -r _ low50[$t] low99[$t] errs < <(wrk_run "$out/low-$t-$round.log" "$low_connections" "$low_duration" "${url[$t]}")
    printf '  %-11s wrk -c%s: latency median %.3f ms p99 %.3f ms %s\n' \
      "$t" "$low_connections" "${low50[$t]}" "${low99[$t]}" "$errs"
  done
  for t in "${targets[@]}"; do
    dir="$out/open-$t-$round"
    "$kgai" perf --url "${url[$t]}" --model "$model" --data mock --seed "$seed" --workers 1 --quiet \
      --rate "$rate" --load constant --duration "$low_duration" --out "$dir" >"$dir.log" 2>&1 || true
    read -r open50[$t] open99[$t] ok openfail[$t] < <(jq -r '[
        .successes.latency.request_latency.median * 1000, .successes.latency.request_latency.p99 * 1000,
        .successes.count, .failures.count] | @tsv' "$dir/summary_lifecycle_metrics.json")
    printf '  %-11s kgai perf --rate %s: E2E median %.3f ms p99 %.3f ms, ok %s, failed %s\n' \
      "$t" "$rate" "${open50[$t]}" "${open99[$t]}" "$ok" "${openfail[$t]}"
  done
  ratio=$(awk -v g="${rps[gateway]}" -v n="${rps[nginx-proxy]}" 'BEGIN { printf "%.1f", 100 * g / n }')
  add_wrk=$(awk -v g="${low50[gateway]}" -v d="${low50[direct]}" 'BEGIN { printf "%.3f", g - d }')
  add_wrk_nginx=$(awk -v g="${low50[nginx-proxy]}" -v d="${low50[direct]}" 'BEGIN { printf "%.3f", g - d }')
  add_open=$(awk -v g="${open50[gateway]}" -v d="${open50[direct]}" 'BEGIN { printf "%.3f", g - d }')
  add_open_nginx=$(awk -v g="${open50[nginx-proxy]}" -v d="${open50[direct]}" 'BEGIN { printf "%.3f", g - d }')
  add_sat=$(awk -v g="${p50[gateway]}" -v d="${p50[direct]}" 'BEGIN { printf "%.3f", g - d }')
  echo "  gateway / nginx-proxy req/s: $ratio %"
  echo "  added median latency vs direct: gateway $add_wrk ms (wrk -c$low_connections), $add_open ms (kgai perf --rate $rate), $add_sat ms (saturated, queueing); nginx-proxy $add_wrk_nginx ms (wrk -c$low_connections), $add_open_nginx ms (--rate $rate)"
  awk -v r="$ratio" 'BEGIN { exit !(r < 50) }' && verdict_ratio=FAIL
  awk -v a="$add_wrk" 'BEGIN { exit !(a >= 0.5) }' && verdict_wrk=FAIL
  awk -v a="$add_open" 'BEGIN { exit !(a >= 0.5) }' && verdict_open=FAIL
  [[ ${openfail[gateway]} == 0 ]] || verdict_open=FAIL
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "target: gateway req/s >= 50 % of nginx-proxy's (wrk -c$connections): $verdict_ratio"
echo "target: gateway adds < 0.5 ms at the median vs direct, wrk -c$low_connections: $verdict_wrk"
echo "target: gateway adds < 0.5 ms at the median vs direct, kgai perf --rate $rate: $verdict_open"
