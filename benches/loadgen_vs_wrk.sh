#!/usr/bin/env bash
# loadgen vs wrk on the same kept-alive target, one core each (issue 2's benchmark).
#
# Target: `loadgen sim --profile flat --base-ms 0` (answers at once), pinned to CPU 1.
# Clients: pinned to CPU 0, one at a time, each with CONNS connections / requests in flight:
#   wrk -t1 -cCONNS                    (closed loop, as fast as it can)
#   loadgen run --rate 200000 --threads 1 -cCONNS   (open loop far above what one core can
#                                       send: every request waits for the cap, so the achieved
#                                       rate is the maximum throughput)
# Prints requests/s and CPU seconds per 100k requests (user + system, from /usr/bin/time) for
# each, the ratios loadgen/wrk, and loadgen's peak RSS for a RSS_SECONDS run at 2,000 req/s.
#
# Usage: benches/loadgen_vs_wrk.sh   (env: SECONDS_EACH=10 ROUNDS=2 CONNS=64 RSS_SECONDS=60;
#        LOADGEN_BIN=path skips the release build)
# Needs: wrk (Debian package `wrk`), taskset (util-linux), /usr/bin/time (package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${SECONDS_EACH:-10}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
RSS_SECONDS=${RSS_SECONDS:-60}

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "loadgen_vs_wrk: '$1' is missing: install the Debian package '$2' (apt-get install $2)" >&2
        exit 1
    fi
}
need wrk wrk
need taskset util-linux
[ -x /usr/bin/time ] || { echo "loadgen_vs_wrk: /usr/bin/time is missing: apt-get install time" >&2; exit 1; }
if [ "$(nproc)" -lt 2 ]; then
    echo "loadgen_vs_wrk: needs 2 CPUs (target on one, client on the other)" >&2
    exit 1
fi

if [ -n "${LOADGEN_BIN:-}" ]; then
    BIN=$LOADGEN_BIN
else
    echo "building loadgen (release)..." >&2
    nice cargo build --release -p loadgen >&2
    BIN=target/release/loadgen
fi

TMP=$(mktemp -d)
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

taskset -c 1 "$BIN" sim --profile flat --base-ms 0 --listen 127.0.0.1:0 >"$TMP/sim.out" 2>&1 &
SIM_PID=$!
for _ in $(seq 50); do
    grep -q '^listening on ' "$TMP/sim.out" 2>/dev/null && break
    sleep 0.1
done
BASE=$(sed -n 's/^listening on //p' "$TMP/sim.out" | head -n1)
[ -n "$BASE" ] || { echo "loadgen_vs_wrk: the sim did not start: $(cat "$TMP/sim.out")" >&2; exit 1; }
URL="$BASE/bench"

# cpu_seconds FILE: user + system seconds from a /usr/bin/time -f '%U %S %M' line.
cpu_seconds() { awk 'END { print $1 + $2 }' "$1"; }

run_wrk() {
    /usr/bin/time -o "$TMP/wrk.time" -f '%U %S %M' \
        taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" "$URL" >"$TMP/wrk.out"
    local rps total cpu
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out")
    total=$(awk '/requests in/ { print $1 }' "$TMP/wrk.out")
    cpu=$(cpu_seconds "$TMP/wrk.time")
    echo "$rps $total $cpu"
}

run_loadgen() {
    /usr/bin/time -o "$TMP/lg.time" -f '%U %S %M' \
        taskset -c 0 "$BIN" run "$URL" --rate 200000 --duration "${SECONDS_EACH}s" \
        -c "$CONNS" --threads 1 --timeout 1s --json >"$TMP/lg.json"
    python3 - "$TMP/lg.json" "$(cpu_seconds "$TMP/lg.time")" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
# Throughput over the whole run, including the last requests' drain.
print(v["requests"] / v["duration_s"], v["requests"], sys.argv[2])
EOF
}

# Warm the target's connections and caches once.
taskset -c 0 wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null

best_wrk=0; best_wrk_cpu=0; best_lg=0; best_lg_cpu=0
for round in $(seq "$ROUNDS"); do
    read -r w_rps w_total w_cpu < <(run_wrk)
    read -r l_rps l_total l_cpu < <(run_loadgen)
    w_per=$(python3 -c "print($w_cpu / $w_total * 1e5)")
    l_per=$(python3 -c "print($l_cpu / $l_total * 1e5)")
    printf 'round %d: wrk %.0f req/s (%.3f CPU s/100k)  loadgen %.0f req/s (%.3f CPU s/100k)\n' \
        "$round" "$w_rps" "$w_per" "$l_rps" "$l_per"
    if python3 -c "import sys; sys.exit(0 if $w_rps > $best_wrk else 1)"; then
        best_wrk=$w_rps; best_wrk_cpu=$w_per
    fi
    if python3 -c "import sys; sys.exit(0 if $l_rps > $best_lg else 1)"; then
        best_lg=$l_rps; best_lg_cpu=$l_per
    fi
done

echo "measuring loadgen's peak RSS: ${RSS_SECONDS}s at 2000 req/s..." >&2
/usr/bin/time -o "$TMP/rss.time" -f '%U %S %M' \
    taskset -c 0 "$BIN" run "$URL" --rate 2000 --duration "${RSS_SECONDS}s" -c "$CONNS" \
    --json >"$TMP/rss.json"
rss_kib=$(awk 'END { print $3 }' "$TMP/rss.time")
rss_cpu=$(cpu_seconds "$TMP/rss.time")
rss_rate=$(python3 -c "import json; print(round(json.load(open('$TMP/rss.json'))['achieved_rate'], 1))")

python3 - "$best_wrk" "$best_wrk_cpu" "$best_lg" "$best_lg_cpu" "$rss_kib" "$rss_cpu" \
    "$RSS_SECONDS" "$rss_rate" "$CONNS" <<'EOF'
import sys
w, wc, l, lc, rss, rcpu, secs, rrate, conns = sys.argv[1:]
w, wc, l, lc, rss, rcpu, secs = map(float, (w, wc, l, lc, rss, rcpu, secs))
print()
print(f"target: loadgen sim --profile flat --base-ms 0 (CPU 1); clients on CPU 0, {conns} in flight")
# CPU per request bounds what one client core can send when the target is not the bottleneck.
print(f"{'':10}{'max req/s':>12}{'CPU s/100k':>12}{'core use':>10}{'req/s per core':>16}")
print(f"{'wrk':10}{w:>12.0f}{wc:>12.3f}{w * wc / 1e5:>10.0%}{1e5 / wc:>16.0f}")
print(f"{'loadgen':10}{l:>12.0f}{lc:>12.3f}{l * lc / 1e5:>10.0%}{1e5 / lc:>16.0f}")
print(f"{'ratio':10}{l / w:>12.2f}{lc / wc:>12.2f}{'':>10}{wc / lc:>16.2f}"
      "   (loadgen / wrk; goal: throughput >= 0.80)")
if max(w * wc, l * lc) / 1e5 < 0.9:
    print("note: neither client used its whole core, so the target (or a busy machine) set the "
          "max req/s;\n      'req/s per core' (1 / CPU per request) compares the clients themselves.")
print(f"loadgen peak RSS at 2000 req/s for {secs:.0f}s: {rss / 1024:.1f} MiB "
      f"(achieved {rrate} req/s, {rcpu / secs * 100:.1f}% of a core)")
EOF
