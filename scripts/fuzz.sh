#!/usr/bin/env bash
# Builds and runs kgai's fuzz targets (tests/fuzz) with afl-fuzz. docs/reliability.md, section
# "Fuzzing", says what each target covers.
#
#   scripts/fuzz.sh build                    builds the `fuzz` preset (build-fuzz/)
#   scripts/fuzz.sh run [SECONDS] [TARGET...] fuzzes each target (default: all) for SECONDS
#                                            (default 10), one after the other
#   scripts/fuzz.sh replay TARGET FILE...    runs inputs once under ASan + UBSan (fuzz-replay)
#   scripts/fuzz.sh list                     the target names
#
# `run` starts from the seeds in tests/fuzz/corpus/TARGET and works in a fresh temporary
# folder (KGAI_FUZZ_WORK overrides it), never in the source tree. It prints one line per
# target and exits non-zero when any target crashed, hung or could not start, naming each
# saved input with the command that replays it. KGAI_FUZZ_BUILD picks another build folder
# (e.g. build-fuzz-asan after `cmake --preset fuzz-asan && cmake --build --preset fuzz-asan`).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${KGAI_FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-$(nproc)}

targets() {
  local f
  for f in tests/fuzz/*_fuzz.cpp; do
    f=${f##*/}
    echo "${f%_fuzz.cpp}"
  done
}

# Time limit of one input, in ms. The HTTP targets exchange each input over loopback with a
# server whose own timeouts are a few hundred ms; the harness gives up (and aborts) after 2 s.
exec_timeout() {
  case $1 in
    http_*) echo 3000 ;;
    *) echo 1000 ;;
  esac
}

# Reads one field of afl-fuzz's fuzzer_stats.
stat() { sed -n "s/^$2 *: *//p" "$1" 2>/dev/null | head -n 1; }

cmd_build() {
  test -f "$build_dir/build.ninja" || cmake --preset fuzz >/dev/null
  cmake --build "$build_dir" --target kgai_fuzz -j "$jobs"
}

cmd_run() {
  local seconds=10
  if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
  fi
  local selected=("$@")
  if [[ ${#selected[@]} -eq 0 ]]; then mapfile -t selected < <(targets); fi
  command -v afl-fuzz >/dev/null || { echo "fuzz: afl-fuzz not found (scripts/deps.sh installs afl++)" >&2; exit 2; }

  local work=${KGAI_FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kgai-fuzz.XXXXXX")}
  mkdir -p "$work"
  echo "fuzz: ${#selected[@]} targets, ${seconds} s each, work in $work"

  # Batch mode without a terminal UI; no CPU frequency or core dump checks (CI machines and
  # containers cannot change them); no CPU pinning, since other jobs share the cores.
  export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
  # Short calibration: a short run should spend its time fuzzing.
  export AFL_FAST_CAL=1

  local passed=0 failed=0 target
  local -a failures=()
  for target in "${selected[@]}"; do
    local binary=$build_dir/${target}_fuzz
    local seeds=tests/fuzz/corpus/$target
    local out=$work/$target
    if [[ ! -x $binary || ! -d $seeds ]]; then
      echo "fuzz: $target: no $binary or no $seeds (run: scripts/fuzz.sh build)" >&2
      failed=$((failed + 1))
      failures+=("$target")
      continue
    fi
    local -a dict=()
    if [[ -f tests/fuzz/dict/$target.dict ]]; then dict=(-x "tests/fuzz/dict/$target.dict"); fi
    local status=0
    # -V stops after SECONDS; the outer timeout only guards against afl-fuzz itself stalling.
    timeout -k 10 $((seconds + 120)) afl-fuzz -V "$seconds" -t "$(exec_timeout "$target")" \
      "${dict[@]}" -i "$seeds" -o "$out" -- "$binary" >"$work/$target.log" 2>&1 || status=$?
    local stats=$out/default/fuzzer_stats
    if [[ ! -f $stats ]]; then
      echo "fuzz: $target: afl-fuzz did not start (exit $status); log: $work/$target.log" >&2
      tail -n 15 "$work/$target.log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >&2 || true
      failed=$((failed + 1))
      failures+=("$target")
      continue
    fi
    local execs run_time crashes hangs corpus edges
    execs=$(stat "$stats" execs_done)
    run_time=$(stat "$stats" run_time)
    crashes=$(stat "$stats" saved_crashes)
    hangs=$(stat "$stats" saved_hangs)
    corpus=$(stat "$stats" corpus_count)
    edges=$(stat "$stats" edges_found)
    printf 'fuzz: %-18s %9s execs %7s/s  corpus %5s  edges %5s  crashes %s  hangs %s\n' \
      "$target" "$execs" "$((execs / (run_time > 0 ? run_time : 1)))" "$corpus" "$edges" \
      "$crashes" "$hangs"
    if [[ $status -ne 0 || $crashes -ne 0 || $hangs -ne 0 ]]; then
      failed=$((failed + 1))
      failures+=("$target")
      [[ $status -ne 0 ]] && echo "fuzz: $target: afl-fuzz exited $status; log: $work/$target.log" >&2
      local file shown=0
      for file in "$out"/default/crashes/id:* "$out"/default/hangs/id:*; do
        [[ -f $file ]] || continue
        if [[ $shown -eq 3 ]]; then
          echo "fuzz: $target: more in $out/default/crashes and hangs" >&2
          break
        fi
        shown=$((shown + 1))
        echo "fuzz: $target: saved input $file" >&2
        echo "  replay: $binary '$file'   (or: scripts/fuzz.sh replay $target '$file')" >&2
      done
    else
      passed=$((passed + 1))
    fi
  done
  [[ ${#failures[@]} -gt 0 ]] && echo "fuzz: failed: ${failures[*]}" >&2
  echo "fuzz: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

cmd_replay() {
  [[ $# -ge 2 ]] || { echo "usage: $0 replay TARGET FILE..." >&2; exit 2; }
  local target=$1
  shift
  test -f build-fuzz-replay/build.ninja || cmake --preset fuzz-replay >/dev/null
  cmake --build build-fuzz-replay --target "${target}_fuzz" -j "$jobs"
  build-fuzz-replay/"${target}_fuzz" "$@"
}

case ${1:-} in
  build) shift; cmd_build "$@" ;;
  run) shift; cmd_run "$@" ;;
  replay) shift; cmd_replay "$@" ;;
  list) targets ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
