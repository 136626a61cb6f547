#!/usr/bin/env bash
# Soak test: does `kgai gateway` keep serving, and lose nothing, while its endpoints fail and
# abusive clients run beside normal ones?
#
# Starts 4 `kgai sim` replicas (one process each, so each can be killed; the 8B model on an H100
# by default, cheap for the simulator) on free 127.0.0.1 ports, `kgai gateway` in front of them
# (an endpoints file), and for DURATION seconds:
#   normal load  `kgai perf`, open loop at RATE req/s (constant), streamed chat, shared_prefix
#                data (NUM_GROUPS system prompts of SYSTEM_PROMPT_LEN tokens, QUESTION_LEN-token
#                questions, OUTPUT_LEN output tokens), request timeout PERF_TIMEOUT s, every
#                request recorded (--per-request);
#   faults       a seeded schedule (bench/soak_report.py schedule, SEED) after WARMUP s and
#                until COOLDOWN s before the end, a new fault about every FAULT_GAP s, at most
#                MAX_FAULTY endpoints faulty at once, kinds FAULT_KINDS:
#                  kill    kill -9, restarted on the same port KILL_DOWN s later;
#                  stop    SIGSTOP (a hang), SIGCONT STOP_HOLD s later;
#                  errors  restarted with SIM_ERROR_ARGS (default --failure-rate ERROR_RATE: 429,
#                          500 and 503 at random) for ERROR_HOLD s, then restarted without;
#                each logged with its Unix time and the gateway's in-flight count on that endpoint
#                just before (kgai_gateway_endpoint_in_flight on --metrics-listen);
#   abuse        bench/soak_abuse.py (ABUSE=0 turns it off; ABUSE_KINDS picks kinds): slow
#                readers of streams, slowloris, connection floods, 100k-deep JSON, invalid UTF-8
#                in the rewrite and objective headers and the path, oversized bodies, malformed
#                HTTP, random garbage, a /metrics scrape loop, x-kgai-fail headers; each counts
#                what it got back;
#   sampling     the gateway's RSS and open descriptors every second (/proc), PROMTOOL_SCRAPES
#                scrapes of its /metrics checked with `promtool check metrics`.
#
# Verdict (bench/soak_report.py report), one PASS/FAIL line each:
#   gateway alive      the process is there at the end and /health answers 200;
#   requests lost      failed normal requests, less those excused, <= LOST_MAX (0). Excused: a
#                      failure sent before a kill -9, restart or SIGSTOP of an endpoint that ended
#                      within KILL_WINDOW s after it (after the SIGCONT, for a hang), at most the
#                      gateway's in-flight count on that endpoint just before + KILL_SLACK (perf
#                      does not record which endpoint served a request, so this is by time
#                      window, capped by the count); a failure sent within ERROR_GRACE s of an
#                      error fault's start or HANG_GRACE s of a hang's start (the time outlier
#                      detection may take to eject an endpoint);
#   p99 TTFT           of the successful normal requests <= TTFT_P99_MAX s;
#   generator          perf's schedule delay p99 <= SCHEDULE_DELAY_MAX s (else it measured itself);
#   RSS flat           median RSS over the last FINAL_WINDOW s minus the median over
#                      [BASELINE_FROM, BASELINE_TO) s <= max(RSS_GROWTH_PCT % of it, RSS_GROWTH_MB);
#   descriptors flat   the floors (minimum) of the same windows differ by <= FD_SLACK (floods
#                      come and go; a leak raises the floor), and the idle count after the load
#                      drained is <= the idle count before it + FD_SLACK;
#   /metrics valid     every saved scrape parses (promtool; lint findings are listed, not judged)
#                      and every scrape of the abusive loop got 200.
# The windows default to minute 2 and the last minute; for DURATION < 480 they scale (a quarter to
# a half of the run, and the last quarter). Before the run (PRIME=1) each one-shot abusive request
# is sent twice: a 17 MiB chunked body raises the gateway's RSS by ~50 MB once (the allocator
# keeps the freed memory), a step that the RSS line should not mistake for growth over time; the
# summary shows RSS before and after priming.
#
#   bench/gateway_soak.sh [kgai binary]          DURATION=120 bench/gateway_soak.sh
#
# Writes into OUT (default /tmp/kgai-soak-<timestamp>): summary.json, summary.txt, faults.jsonl,
# schedule.txt, series.tsv (unix time, RSS KiB, descriptors), abuse.json, metrics/ (scrapes and
# promtool output), perf/ (kgai perf's report), and each process's logs.
# Exits 0 when every line passes, 1 when one fails, 2 when it cannot run. Every process it started
# is stopped on exit (also on Ctrl-C). It only ever talks to 127.0.0.1.
set -euo pipefail
# The whole script is one compound command, read before it starts: bash reads a script as it
# runs, so an edit of this file during a 10-minute run would otherwise break its end.
{
kgai=${1:-build/kgai}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- settings (environment) -------------------------------------------------------------------
DURATION=${DURATION:-600}
RATE=${RATE:-20}
SEED=${SEED:-1}
OUT=${OUT:-/tmp/kgai-soak-$(date -u +%Y%m%d-%H%M%S)}
API=${API:-chat}
NUM_GROUPS=${NUM_GROUPS:-9}
SYSTEM_PROMPT_LEN=${SYSTEM_PROMPT_LEN:-400}
QUESTION_LEN=${QUESTION_LEN:-100}
OUTPUT_LEN=${OUTPUT_LEN:-32}
PERF_TIMEOUT=${PERF_TIMEOUT:-60}
ENDPOINTS=${ENDPOINTS:-4}
SIM_ARGS=${SIM_ARGS:---model llama-3.1-8b --accelerator h100 --max-num-seqs 256}
ERROR_RATE=${ERROR_RATE:-0.5}
SIM_ERROR_ARGS=${SIM_ERROR_ARGS:---failure-rate $ERROR_RATE}
GATEWAY_ARGS=${GATEWAY_ARGS:-}  # e.g. --request-timeout 30, outlier or connection-cap flags
# faults
if ((DURATION >= 300)); then edge=30; else edge=$((DURATION / 6)); fi
WARMUP=${WARMUP:-$edge}
COOLDOWN=${COOLDOWN:-$edge}
FAULT_GAP=${FAULT_GAP:-20}
FAULT_KINDS=${FAULT_KINDS:-kill,stop,errors}
MAX_FAULTY=${MAX_FAULTY:-2}
KILL_DOWN=${KILL_DOWN:-10}
STOP_HOLD=${STOP_HOLD:-8}
ERROR_HOLD=${ERROR_HOLD:-15}
# abuse
ABUSE=${ABUSE:-1}
ABUSE_KINDS=${ABUSE_KINDS:-slow_reader,slowloris,conn_flood,nested_json,bad_utf8,oversized,malformed,garbage,metrics,fail_header}
PRIME=${PRIME:-1}               # each one-shot abusive request twice before the run
ABUSE_ARGS=${ABUSE_ARGS:-}      # extra soak_abuse.py flags, e.g. --flood-conns 1000
MAX_BODY_BYTES=${MAX_BODY_BYTES:-16777216}
# measurement and bounds
PROMTOOL_SCRAPES=${PROMTOOL_SCRAPES:-4}
LOST_MAX=${LOST_MAX:-0}
KILL_WINDOW=${KILL_WINDOW:-5}
KILL_SLACK=${KILL_SLACK:-2}
ERROR_GRACE=${ERROR_GRACE:-1}
HANG_GRACE=${HANG_GRACE:-1}
TTFT_P99_MAX=${TTFT_P99_MAX:-1}
SCHEDULE_DELAY_MAX=${SCHEDULE_DELAY_MAX:-0.05}
if ((DURATION >= 480)); then
  BASELINE_FROM=${BASELINE_FROM:-60}; BASELINE_TO=${BASELINE_TO:-120}; FINAL_WINDOW=${FINAL_WINDOW:-60}
else
  BASELINE_FROM=${BASELINE_FROM:-$((DURATION / 4))}; BASELINE_TO=${BASELINE_TO:-$((DURATION / 2))}
  # at least 15 s: longer than a flood of idle connections is held (10 s)
  FINAL_WINDOW=${FINAL_WINDOW:-$((DURATION / 4 > 15 ? DURATION / 4 : 15))}
fi
RSS_GROWTH_PCT=${RSS_GROWTH_PCT:-20}
RSS_GROWTH_MB=${RSS_GROWTH_MB:-16}
FD_SLACK=${FD_SLACK:-64}

if [[ ! -x $kgai ]]; then
  echo "gateway_soak: $kgai is not an executable (build it, or pass its path)" >&2
  exit 2
fi
kgai=$(realpath "$kgai")
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "gateway_soak: needs $tool" >&2; exit 2; }
done
promtool=$(command -v promtool || true)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$OUT"/{metrics,logs}
OUT=$(realpath "$OUT")
: >"$OUT/faults.jsonl"

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- cleanup: every process this script started, by its id ----------------------------------
bg_pids=()  # gateway, perf, abuse, sampler, fault runner, scraper
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  # Freeze our helpers first (the fault runner must restart nothing behind our back), stop the
  # simulators (a stopped one is continued: it would not act on SIGTERM), then the helpers'
  # own children (sleep, curl) by parent id, then the helpers.
  for pid in "${bg_pids[@]}"; do kill -STOP "$pid" 2>/dev/null || true; done
  for ((i = 0; i < ENDPOINTS; i++)); do
    [[ -f $OUT/sim$i.pid ]] || continue
    pid=$(cat "$OUT/sim$i.pid")
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${bg_pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; done
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; kill -CONT "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for ((i = 0; i < ENDPOINTS; i++)); do
    if [[ -f $OUT/sim$i.pid ]]; then kill -9 "$(cat "$OUT/sim$i.pid")" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the endpoints ----------------------------------------------------------------------------
ports=()
for ((i = 0; i < ENDPOINTS; i++)); do ports+=("$(free_port)"); done
start_sim() {  # index extra-args...
  local i=$1 port=${ports[$1]}
  shift
  # shellcheck disable=SC2086  # SIM_ARGS is a word list
  "$kgai" sim --host 127.0.0.1 --port "$port" --replicas 1 --threads 1 --seed $((SEED + i)) \
    $SIM_ARGS "$@" >>"$OUT/logs/sim$i.out" 2>>"$OUT/logs/sim$i.err" &
  echo $! >"$OUT/sim$i.pid"
  for _ in $(seq 200); do
    curl -sf -m 1 "127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.05
  done
  echo "gateway_soak: sim $i did not start on port $port" >&2
  return 1
}
for ((i = 0; i < ENDPOINTS; i++)); do start_sim "$i" || exit 2; done
model=$(curl -sf "127.0.0.1:${ports[0]}/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
{
  echo "endpoints:"
  for p in "${ports[@]}"; do echo "- {address: 127.0.0.1:$p, engine: vllm}"; done
} >"$OUT/endpoints.yaml"

# --- the gateway ------------------------------------------------------------------------------
gw_port=$(free_port)
metrics_port=$(free_port)
# shellcheck disable=SC2086
"$kgai" gateway --listen "127.0.0.1:$gw_port" --metrics-listen "127.0.0.1:$metrics_port" \
  --endpoints-file "$OUT/endpoints.yaml" --max-body-bytes "$MAX_BODY_BYTES" $GATEWAY_ARGS \
  >"$OUT/logs/gateway.out" 2>"$OUT/logs/gateway.err" &
gw_pid=$!
bg_pids+=("$gw_pid")
for _ in $(seq 200); do
  curl -sf -m 1 "127.0.0.1:$gw_port/v1/models" 2>/dev/null | grep -qF "$model" && break
  sleep 0.05
done
if ! curl -sf -m 1 "127.0.0.1:$gw_port/v1/models" | grep -qF "$model"; then
  echo "gateway_soak: the gateway did not come up; see $OUT/logs/gateway.err" >&2
  exit 2
fi
fds() { find "/proc/$gw_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
fds_idle_before=$(fds)
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$gw_pid/status" 2>/dev/null; }
rss_before_prime=$(rss)
rss_after_prime=$rss_before_prime
if ((ABUSE && PRIME)); then
  # Each one-shot abusive request twice before the run, so that a one-time step of the
  # allocator's high-water mark (a 17 MiB body) is measured apart from growth over time.
  python3 "$here/soak_abuse.py" --prime --port "$gw_port" --metrics-port "$metrics_port" \
    --model "$model" --duration 60 --out "$OUT/prime.json" --max-body-bytes "$MAX_BODY_BYTES" \
    >"$OUT/logs/prime.out" 2>"$OUT/logs/prime.err" || true
  rss_after_prime=$(rss)
fi

settings="DURATION=$DURATION RATE=$RATE SEED=$SEED API=$API ENDPOINTS=$ENDPOINTS SIM_ARGS='$SIM_ARGS' SIM_ERROR_ARGS='$SIM_ERROR_ARGS' GATEWAY_ARGS='$GATEWAY_ARGS' FAULT_KINDS=$FAULT_KINDS ABUSE=$ABUSE"
log "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "kgai $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'): $settings"
log "endpoints ${ports[*]} (model $model), gateway 127.0.0.1:$gw_port (pid $gw_pid), metrics :$metrics_port; files: $OUT"

# --- the schedule and the fault runner ---------------------------------------------------------
python3 "$here/soak_report.py" schedule --seed "$SEED" --duration "$DURATION" \
  --endpoints "$ENDPOINTS" --warmup "$WARMUP" --cooldown "$COOLDOWN" --gap "$FAULT_GAP" \
  --kill-down "$KILL_DOWN" --stop-hold "$STOP_HOLD" --error-hold "$ERROR_HOLD" \
  --max-faulty "$MAX_FAULTY" --kinds "$FAULT_KINDS" >"$OUT/schedule.txt"

in_flight() {  # endpoint address -> the gateway's in-flight count there ("null" if unknown)
  curl -s -m 1 "127.0.0.1:$metrics_port/metrics" 2>/dev/null |
    awk -v e="endpoint=\"$1\"" '/^kgai_gateway_endpoint_in_flight[{]/ && index($0, e) { v = $2 } END { print (v == "" ? "null" : v + 0) }'
}
fault_log() {  # unix-time action index in_flight(or null)
  printf '{"t":%s,"action":"%s","endpoint":%s,"address":"127.0.0.1:%s","in_flight":%s}\n' \
    "$1" "$2" "$3" "${ports[$3]}" "$4" >>"$OUT/faults.jsonl"
  log "fault: $2 endpoint $3 (127.0.0.1:${ports[$3]}), gateway in flight there: $4"
}
stop_sim() {  # index signal
  local pid
  pid=$(cat "$OUT/sim$1.pid")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
run_faults() {  # t0 (unix)
  local t0=$1 off action i now n pid t
  while read -r off action i; do
    now=$(date +%s.%N)
    sleep "$(awk -v a="$t0" -v o="$off" -v n="$now" 'BEGIN { d = a + o - n; print (d > 0 ? d : 0) }')"
    pid=$(cat "$OUT/sim$i.pid")
    # The gateway's in-flight count on the endpoint, read just before the signal; t is the
    # signal's time.
    n=$(in_flight "127.0.0.1:${ports[$i]}")
    t=$(date +%s.%N)
    case $action in
      kill)
        kill -9 "$pid" 2>/dev/null || true
        fault_log "$t" kill "$i" "$n"
        wait "$pid" 2>/dev/null || true ;;
      restart)
        start_sim "$i" || log "fault: restart of endpoint $i failed"
        fault_log "$(date +%s.%N)" restarted "$i" null ;;
      stop)
        kill -STOP "$pid"
        fault_log "$t" stop "$i" "$n" ;;
      cont)
        kill -CONT "$pid"
        fault_log "$t" cont "$i" null ;;
      errors_on | errors_off)
        stop_sim "$i" TERM
        fault_log "$t" "$action" "$i" "$n"
        if [[ $action == errors_on ]]; then
          # shellcheck disable=SC2086
          start_sim "$i" $SIM_ERROR_ARGS || log "fault: restart of endpoint $i with errors failed"
        else
          start_sim "$i" || log "fault: restart of endpoint $i failed"
        fi ;;
    esac
  done <"$OUT/schedule.txt"
}

# --- samplers ------------------------------------------------------------------------------
sample() {  # every second: unix time, RSS KiB, descriptors
  echo "# unix_time rss_kib fds" >"$OUT/series.tsv"
  while kill -0 "$gw_pid" 2>/dev/null; do
    local rss
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$gw_pid/status" 2>/dev/null || true)
    [[ -n $rss ]] && echo "$(date +%s.%N) $rss $(fds)" >>"$OUT/series.tsv"
    sleep 1
  done
  echo "# gateway gone at $(date +%s.%N)" >>"$OUT/series.tsv"
}
check_metrics() {  # name
  local f="$OUT/metrics/$1"
  if ! curl -s -m 5 "127.0.0.1:$metrics_port/metrics" -o "$f.txt" || [[ ! -s $f.txt ]]; then
    echo "empty (no answer)" >"$f.promtool"
  elif [[ -z $promtool ]]; then
    echo "no-promtool" >"$f.promtool"
  else
    local rc=0 text
    text=$("$promtool" check metrics <"$f.txt" 2>&1) || rc=$?
    printf 'rc=%s\n%s\n' "$rc" "$text" >"$f.promtool"
  fi
}
scrape_loop() {  # t0: PROMTOOL_SCRAPES scrapes spread over the run (the last one after it)
  local t0=$1 k
  for ((k = 1; k < PROMTOOL_SCRAPES; k++)); do
    sleep "$(awk -v a="$t0" -v o="$((DURATION * k / PROMTOOL_SCRAPES))" -v n="$(date +%s.%N)" 'BEGIN { d = a + o - n; print (d > 0 ? d : 0) }')"
    check_metrics "scrape_$k"
  done
}

# --- the normal load -------------------------------------------------------------------------
per_group=$((RATE * DURATION / NUM_GROUPS + 1))
cat >"$OUT/perf.yaml" <<EOF
api: {type: $API, streaming: true}
data:
  type: shared_prefix
  shared_prefix:
    num_groups: $NUM_GROUPS
    num_prompts_per_group: $per_group
    system_prompt_len: $SYSTEM_PROMPT_LEN
    question_len: $QUESTION_LEN
    output_len: $OUTPUT_LEN
load:
  type: constant
  stages: [{rate: $RATE, duration: $DURATION}]
  request_timeout: $PERF_TIMEOUT
report:
  request_lifecycle: {summary: true, per_stage: true, per_request: true}
  prometheus: {summary: false, per_stage: false}
EOF
start_at=$(($(date +%s) + 3))
"$kgai" perf --config "$OUT/perf.yaml" --url "http://127.0.0.1:$gw_port" --model "$model" \
  --seed "$SEED" --start-at "$start_at" --quiet --out "$OUT/perf" \
  >"$OUT/logs/perf.out" 2>"$OUT/logs/perf.err" &
perf_pid=$!
bg_pids+=("$perf_pid")
sample &
bg_pids+=($!)
run_faults "$start_at" >>"$OUT/logs/faults.log" 2>&1 &
faults_pid=$!
bg_pids+=("$faults_pid")
scrape_loop "$start_at" &
bg_pids+=($!)
abuse_pid=
if ((ABUSE)); then
  sleep "$(awk -v a="$start_at" -v n="$(date +%s.%N)" 'BEGIN { d = a - n; print (d > 0 ? d : 0) }')"
  # shellcheck disable=SC2086
  python3 "$here/soak_abuse.py" --port "$gw_port" --metrics-port "$metrics_port" \
    --model "$model" --duration "$DURATION" --seed "$SEED" --out "$OUT/abuse.json" \
    --kinds "$ABUSE_KINDS" --max-body-bytes "$MAX_BODY_BYTES" $ABUSE_ARGS \
    >"$OUT/logs/abuse.out" 2>"$OUT/logs/abuse.err" &
  abuse_pid=$!
  bg_pids+=("$abuse_pid")
fi
log "running for $DURATION s from $(date -u -d "@$start_at" +%H:%M:%S); schedule:"
sed 's/^/    /' "$OUT/schedule.txt"

perf_rc=0
wait "$perf_pid" || perf_rc=$?
log "kgai perf finished (exit $perf_rc)"
[[ -n $abuse_pid ]] && { wait "$abuse_pid" || true; log "abusive clients finished"; }
wait "$faults_pid" || true
# The load is over: let pooled connections settle, then count what the gateway still holds.
sleep 3
gateway_alive=false
gateway_death=""
if kill -0 "$gw_pid" 2>/dev/null && curl -sf -m 5 "127.0.0.1:$gw_port/health" >/dev/null; then
  gateway_alive=true
elif kill -0 "$gw_pid" 2>/dev/null; then
  gateway_death="running but /health did not answer 200"
else
  wait "$gw_pid" && gw_rc=0 || gw_rc=$?
  gateway_death="exited with status $gw_rc (see logs/gateway.err)"
fi
fds_idle_after=$(fds)
check_metrics "scrape_final"
cat >"$OUT/status.json" <<EOF
{"gateway_alive": $gateway_alive, "gateway_death": "$gateway_death", "start_at": $start_at,
 "fds_idle_before": $fds_idle_before,
 "rss_kib_before_prime": ${rss_before_prime:-null}, "rss_kib_after_prime": ${rss_after_prime:-null}, "fds_idle_after": ${fds_idle_after:-null}, "perf_exit": $perf_rc,
 "settings": {"commit": "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')",
   "duration_s": $DURATION, "rate": $RATE, "seed": $SEED, "api": "$API", "endpoints": $ENDPOINTS,
   "sim_args": "$SIM_ARGS", "sim_error_args": "$SIM_ERROR_ARGS", "gateway_args": "$GATEWAY_ARGS",
   "fault_kinds": "$FAULT_KINDS", "abuse": "$( ((ABUSE)) && echo "$ABUSE_KINDS" || echo off)",
   "machine": "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"}}
EOF
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

verdict_rc=0
python3 "$here/soak_report.py" report --dir "$OUT" --duration "$DURATION" --lost-max "$LOST_MAX" \
  --kill-window "$KILL_WINDOW" --kill-slack "$KILL_SLACK" --error-grace "$ERROR_GRACE" \
  --hang-grace "$HANG_GRACE" --ttft-p99-max "$TTFT_P99_MAX" \
  --schedule-delay-max "$SCHEDULE_DELAY_MAX" --baseline-from "$BASELINE_FROM" \
  --baseline-to "$BASELINE_TO" --final-window "$FINAL_WINDOW" \
  --rss-growth-pct "$RSS_GROWTH_PCT" --rss-growth-mb "$RSS_GROWTH_MB" --fd-slack "$FD_SLACK" ||
  verdict_rc=$?
log "summary: $OUT/summary.txt, $OUT/summary.json"
exit "$verdict_rc"
}
