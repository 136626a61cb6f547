#!/usr/bin/env bash
# Macro benchmark: is `kgai perf` as fast a client as wrk? Both drive the same nginx, which
# answers POST /v1/completions with a fixed OpenAI completion body (and GET /v1/models), so
# the server costs the same per request whichever client drives it.
#
# Each round (REPEATS rounds, default 3), in this order:
#   1. wrk, CONNECTIONS connections (64), 2 threads, DURATION s (12), POST of the very body
#      kgai perf sends (captured from kgai perf itself) -> wrk req/s;
#   2. kgai perf closed loop, --concurrency CONNECTIONS, --num-requests = wrk's req/s x
#      DURATION, non-streamed, --data mock -> completed req/s; the ratio kgai / wrk;
#   3. kgai perf open loop at half wrk's rate, --load constant, OPEN_DURATION s (15) ->
#      schedule delay p99 and failures.
# Targets: ratio >= 80 %; open-loop schedule delay p99 < 2 ms with no failures.
#
# nginx runs with worker_processes NGINX_WORKERS (default 1: one core for the server, the
# rest for the client, the same for wrk and kgai perf), access_log off, keepalive_requests
# raised so neither client reconnects. Nothing is pinned: every process may use every core.
# Both clients use 2 threads (wrk -t2; kgai perf --workers 2).
#
# Installs, when missing and run as root: nginx-light (or nginx) and wrk, with apt-get.
#
#   bench/perf_vs_wrk.sh [kgai binary]
#
# Environment: CONNECTIONS (64), DURATION (12), OPEN_DURATION (15), REPEATS (3),
# NGINX_WORKERS (1), SEED (1), OUT (a temp dir).
# Exits 0 whether the targets are met or not (it prints PASS or FAIL); 2 when it cannot run.
set -euo pipefail
kgai=${1:-build/kgai}
connections=${CONNECTIONS:-64}
duration=${DURATION:-12}
open_duration=${OPEN_DURATION:-15}
repeats=${REPEATS:-3}
nginx_workers=${NGINX_WORKERS:-1}
seed=${SEED:-1}
out=${OUT:-$(mktemp -d /tmp/kgai-perf-wrk.XXXXXX)}
model=fixed

if [[ ! -x $kgai ]]; then
  echo "perf_vs_wrk: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi

install=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || install+=(nginx-light)
command -v wrk >/dev/null || install+=(wrk)
if ((${#install[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "perf_vs_wrk: missing ${install[*]}; install them (apt-get install ${install[*]})" >&2
    exit 2
  fi
  echo "installing with apt-get: ${install[*]}"
  apt-get update -qq >/dev/null
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null; then
    # Some releases have no nginx-light: the full package does as well.
    install=("${install[@]/nginx-light/nginx}")
    echo "installing with apt-get: ${install[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null
  fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "perf_vs_wrk: needs $tool" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r)"
echo "$("$nginx_bin" -v 2>&1), $(wrk --version 2>&1 | head -1 | cut -c1-40)"
echo "nginx worker_processes $nginx_workers; $connections connections; seed $seed; reports: $out"
mkdir -p "$out"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# 1. The body kgai perf sends: ask it for one request against a one-shot catcher.
catch_port=$(free_port)
python3 - "$catch_port" "$out/body.json" "$model" <<'PY' &
import http.server, sys
port, path, model = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(path, "wb").write(body)
        reply = ('{"id":"c","object":"text_completion","created":0,"model":"%s","choices":'
                 '[{"index":0,"text":"ok","finish_reason":"length"}],"usage":'
                 '{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}' % model).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
catcher_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$catch_port/" && break
  sleep 0.1
done
"$kgai" perf --url "http://127.0.0.1:$catch_port" --model "$model" --data mock --seed "$seed" \
  --concurrency 1 --num-requests 1 --quiet --out "$out/catch" >"$out/catch.log" 2>&1 || true
kill "$catcher_pid" 2>/dev/null || true
wait "$catcher_pid" 2>/dev/null || true
if [[ ! -s $out/body.json ]]; then
  echo "perf_vs_wrk: could not capture kgai perf's request body" >&2
  cat "$out/catch.log" >&2
  exit 2
fi
echo "request body ($(wc -c <"$out/body.json") bytes): $(cat "$out/body.json")"

# 2. nginx in the foreground, its config and temp files in $out.
port=$(free_port)
completion='{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"'$model'","choices":[{"index":0,"text":" tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok","logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":16,"total_tokens":32,"completion_tokens":16}}'
models='{"object":"list","data":[{"id":"'$model'","object":"model","owned_by":"nginx"}]}'
mkdir -p "$out/nginx"
cat >"$out/nginx/nginx.conf" <<EOF
worker_processes $nginx_workers;
daemon off;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $out/nginx/body;
  proxy_temp_path $out/nginx/proxy;
  fastcgi_temp_path $out/nginx/fastcgi;
  uwsgi_temp_path $out/nginx/uwsgi;
  scgi_temp_path $out/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /v1/models { default_type application/json; return 200 '$models'; }
    location = /v1/completions { default_type application/json; return 200 '$completion'; }
  }
}
EOF
"$nginx_bin" -c "$out/nginx/nginx.conf" -p "$out/nginx" >"$out/nginx/stdout.log" 2>&1 &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -sf -X POST -d @"$out/body.json" "$url/v1/completions" >/dev/null && break
  sleep 0.05
done
curl -sf -X POST -d @"$out/body.json" "$url/v1/completions" >/dev/null || {
  echo "perf_vs_wrk: nginx did not start:" >&2
  cat "$out/nginx/error.log" "$out/nginx/stdout.log" >&2
  exit 2
}

cat >"$out/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$out/body.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF

verdict_ratio=PASS
verdict_delay=PASS
for round in $(seq "$repeats"); do
  echo "round $round"
  wrk -t2 -c"$connections" -d"${duration}s" -s "$out/post.lua" "$url/v1/completions" \
    >"$out/wrk-$round.log" 2>&1
  wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out/wrk-$round.log")
  wrk_bad=$(awk '/Non-2xx|Socket errors/' "$out/wrk-$round.log" | tr '\n' ' ')
  echo "  wrk -t2 -c$connections -d${duration}s: ${wrk_rps} req/s ${wrk_bad}"

  n=$(awk -v r="$wrk_rps" -v d="$duration" 'BEGIN { printf "%d", r * d }')
  dir="$out/closed-$round"
  /usr/bin/time -f "%U %S %e" -o "$dir.time" \
    "$kgai" perf --url "$url" --model "$model" --data mock --seed "$seed" --workers 2 --quiet \
    --concurrency "$connections" --num-requests "$n" --out "$dir" >"$dir.log" 2>&1
  read -r kgai_rps ok failed < <(jq -r \
    '[.successes.throughput.requests_per_sec, .successes.count, .failures.count] | @tsv' \
    "$dir/summary_lifecycle_metrics.json")
  read -r user sys wall <"$dir.time"
  ratio=$(awk -v k="$kgai_rps" -v w="$wrk_rps" 'BEGIN { printf "%.1f", 100 * k / w }')
  awk -v r="$ratio" 'BEGIN { exit !(r < 80) }' && verdict_ratio=FAIL
  [[ $failed == 0 ]] || verdict_ratio=FAIL
  printf '  kgai perf --concurrency %s --num-requests %s: %.0f req/s (%s %% of wrk), ok %s, failed %s, CPU user %ss sys %ss over %ss\n' \
    "$connections" "$n" "$kgai_rps" "$ratio" "$ok" "$failed" "$user" "$sys" "$wall"

  half=$(awk -v r="$wrk_rps" 'BEGIN { printf "%d", r / 2 }')
  dir="$out/open-$round"
  /usr/bin/time -f "%U %S %e" -o "$dir.time" \
    "$kgai" perf --url "$url" --model "$model" --data mock --seed "$seed" --workers 2 --quiet \
    --rate "$half" --load constant --duration "$open_duration" --out "$dir" >"$dir.log" 2>&1
  read -r d50 d99 dmax achieved ok failed < <(jq -r '[
      .load_summary.schedule_delay.median * 1000, .load_summary.schedule_delay.p99 * 1000,
      (.load_summary.schedule_delay.max // 0) * 1000, .load_summary.achieved_rate,
      .successes.count, .failures.count] | @tsv' "$dir/summary_lifecycle_metrics.json")
  read -r user sys wall <"$dir.time"
  awk -v d="$d99" 'BEGIN { exit !(d >= 2) }' && verdict_delay=FAIL
  [[ $failed == 0 ]] || verdict_delay=FAIL
  printf '  kgai perf --rate %s --load constant --duration %s: achieved %.1f req/s, schedule delay median %.3f ms p99 %.3f ms max %.3f ms, ok %s, failed %s, CPU user %ss sys %ss\n' \
    "$half" "$open_duration" "$achieved" "$d50" "$d99" "$dmax" "$ok" "$failed" "$user" "$sys"
done

echo "target: kgai perf closed loop >= 80 % of wrk's req/s: $verdict_ratio"
echo "target: open loop at half wrk's rate, schedule delay p99 < 2 ms, no failures: $verdict_delay"
