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
  nodejs  # the Kubernetes schema check of `kgai quickstart manifests` (tests/k8s_validate)
)
# npm and kubectl may come from elsewhere (npm bundled with another Node build, kubectl from a
# cloud SDK): Debian's packages only when the command is missing.
command -v npm >/dev/null 2>&1 || packages+=(npm)
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)  # kubectl kustomize

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_validator() {
  # The npm packages tests/k8s_validate/validate.mjs needs (pinned by its package-lock.json),
  # in .cache/k8s-validate (git-ignored); reinstalled only when the lock file changes. A failure
  # is a warning: the schema test then skips, except under CI=true, where it fails.
  local src=tests/k8s_validate dest=.cache/k8s-validate
  cd "$(dirname "$0")/.."
  if cmp -s "$src/package-lock.json" "$dest/package-lock.json" &&
    [ -d "$dest/node_modules" ]; then
    return 0
  fi
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  echo "deps.sh: installing the manifest validator's npm packages into $dest"
  if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    rm -f "$dest/package-lock.json"
    echo "deps.sh: warning: npm ci failed; the manifest schema test will skip" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_validator
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
install_validator
