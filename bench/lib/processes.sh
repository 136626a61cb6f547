# Shared by the gateway macro benchmarks (source it): the processes a run starts, waiting for
# the lines they print, free loopback ports, and summing a counter over /metrics pages.
# Every process a script starts goes into `pids`; they are all stopped when the script exits.

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT

stop_one() {  # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=()
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

wait_line() {  # file pattern count: until `count` (1) lines of `file` match, at most 10 s
  for _ in $(seq 200); do
    (($(grep -c "$2" "$1" 2>/dev/null || true) >= ${3:-1})) && return 0
    sleep 0.05
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sum_counter() {  # name urls...: the sum of every sample of counter `name` on their /metrics
  local name=$1 total=0 v
  shift
  for u in "$@"; do
    v=$(curl -sf "$u/metrics" | awk -v n="$name" '$1 ~ "^"n"([{]|$)" { s += $2 } END { print s + 0 }')
    total=$(awk -v a="$total" -v b="$v" 'BEGIN { print a + b }')
  done
  echo "$total"
}
