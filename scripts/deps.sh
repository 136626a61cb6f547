#!/usr/bin/env bash
# Installs the Debian packages kgai needs to build, test and demo. Idempotent: it only
# calls apt-get when a package is missing, as root or through sudo.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache make pkg-config
  libboost-dev libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
  libxxhash-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev  # Envoy ext_proc (proto/)
  curl python3
  prometheus  # tests/integration/prometheus_test.cpp runs a real one; skipped without it
  nginx haproxy  # the baselines of `kgai demo` and bench/gateway_vs_nginx.sh
  afl++  # afl-fuzz and its runtime for the fuzz targets (make fuzz-smoke, scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  # A fresh machine may have stale or empty package lists.
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
