#!/usr/bin/env bash
# Runs the end-to-end tests of the subcommands that face the network (gateway, sim) against a
# kgai built with AddressSanitizer + UBSan (the `asan` preset): real processes on loopback,
# driven by the normal integration test binary. Any sanitizer report (a leak at exit
# included) fails the run, with the report printed.
#
# Only the `kgai` binary is built with the sanitizers (not every test), to keep CI on two cores
# within its budget; the unit tests of the same code run under the preset by hand:
#   cmake --preset asan && cmake --build build-asan && ctest --test-dir build-asan
#
# FILTER picks other tests (a GoogleTest filter); JOBS the build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
filter=${FILTER:-'GatewayE2E.*:GatewayExtProcE2E.*:SimServer.*:SimCommand.*'}

test -f build-asan/build.ninja || cmake --preset asan >/dev/null
cmake --build build-asan -j "$jobs" --target kgai
test -f build/build.ninja || cmake --preset default >/dev/null
cmake --build build -j "$jobs" --target integration

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
status=0
KGAI_TEST_BINARY="$PWD/build-asan/kgai" build/integration --gtest_filter="$filter" \
  --gtest_brief=1 || status=$?
found=$(find "$reports" -type f | wc -l)
if [ "$found" -gt 0 ]; then
  echo "asan-integration: $found sanitizer report(s):" >&2
  for f in "$reports"/*; do
    echo "==== $f" >&2
    head -60 "$f" >&2
  done
  status=1
fi
[ "$status" -eq 0 ] && echo "asan-integration: no sanitizer report" || true
exit "$status"
