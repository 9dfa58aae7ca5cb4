#!/usr/bin/env bash
# loadgen vs wrk, and warmgate's own footprint, on the same kept-alive target in one run: every
# row of issue 12's goal table, as ratios where the goal is one.
#
# Target: `loadgen sim --profile flat --base-ms 0` (answers at once), pinned to CPU 1; warmgate
# runs against `--base-ms 2` (a 2 ms app, also on CPU 1), which its gate can judge.
# Clients: pinned to CPU 0, one at a time, each with CONNS connections / requests in flight:
#   wrk -t1 -cCONNS                    (closed loop, as fast as it can)
#   loadgen run --rate 200000 --threads 1 -cCONNS   (open loop far above what one core can
#                                       send: every request waits for the cap, so the achieved
#                                       rate is the maximum throughput)
#   the same with a templated path (`--var`), for the cost of per-request rendering
# Then, on CPU 0 against the same target:
#   - loadgen's peak RSS for a RSS_SECONDS run at 2,000 req/s;
#   - `warmgate run` at 2,000 rps over 2 endpoints (default gate): CPU and peak RSS over
#     WG_SECONDS of warm-up (peak RSS read before the probes start); /readyz latency from
#     PROBE_CONNS kept-alive probe connections (one probe per connection per second, a Python
#     client on CPU 1) during it, and how many the probe server closed; RSS once idle after
#     ready (waits up to READY_TIMEOUT s: the default gate opens a flat app in about a minute);
#   - the stripped release binary's size;
#   - `warmgate run` at 400 rps under a 0.2-core CPU limit (cgroup v2 `cpu.max`, else v1
#     `cpu.cfs_quota_us`; skipped with a message where neither can be created) for up to
#     LIMIT_SECONDS: its schedule lag p99 per window and whether it ever said ready while lagging.
#
# Usage: benches/loadgen_vs_wrk.sh   (env: SECONDS_EACH=10 ROUNDS=2 CONNS=64 RSS_SECONDS=30
#        WG_SECONDS=60 PROBE_CONNS=500 READY_TIMEOUT=300 LIMIT_SECONDS=180; BIN_DIR=path skips
#        the release build)
# Needs: wrk (Debian package `wrk`), taskset (util-linux), /usr/bin/time (package `time`),
#        python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${SECONDS_EACH:-10}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
RSS_SECONDS=${RSS_SECONDS:-30}
WG_SECONDS=${WG_SECONDS:-60}
PROBE_CONNS=${PROBE_CONNS:-500}
READY_TIMEOUT=${READY_TIMEOUT:-300}
LIMIT_SECONDS=${LIMIT_SECONDS:-180}

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "loadgen_vs_wrk: '$1' is missing: install the Debian package '$2' (apt-get install $2)" >&2
        exit 1
    fi
}
need wrk wrk
need taskset util-linux
need python3 python3
need curl curl
[ -x /usr/bin/time ] || { echo "loadgen_vs_wrk: /usr/bin/time is missing: apt-get install time" >&2; exit 1; }
if [ "$(nproc)" -lt 2 ]; then
    echo "loadgen_vs_wrk: needs 2 CPUs (target on one, client on the other)" >&2
    exit 1
fi

if [ -n "${BIN_DIR:-}" ]; then
    BIN=$BIN_DIR/loadgen; WG=$BIN_DIR/warmgate
else
    echo "building loadgen and warmgate (release)..." >&2
    nice cargo build --release -p loadgen -p warmgate >&2
    BIN=target/release/loadgen; WG=target/release/warmgate
fi

TMP=$(mktemp -d)
SIM_PID=""
WG_PID=""
CGROUP=""
cleanup() {
    if [ -n "$WG_PID" ]; then kill "$WG_PID" 2>/dev/null || true; wait "$WG_PID" 2>/dev/null || true; fi
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    if [ -n "${APP_PID:-}" ]; then kill "$APP_PID" 2>/dev/null || true; fi
    if [ -n "$CGROUP" ]; then rmdir "$CGROUP" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# wait_sim OUT: the base URL a `loadgen sim` prints to OUT (empty if none within 5 s).
wait_sim() {
    for _ in $(seq 50); do
        grep -q '^listening on ' "$1" 2>/dev/null && break
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1" | head -n1
}

taskset -c 1 "$BIN" sim --profile flat --base-ms 0 --listen 127.0.0.1:0 >"$TMP/sim.out" 2>&1 &
SIM_PID=$!
BASE=$(wait_sim "$TMP/sim.out")
[ -n "$BASE" ] || { echo "loadgen_vs_wrk: the sim did not start: $(cat "$TMP/sim.out")" >&2; exit 1; }
URL="$BASE/bench"

# warmgate is measured against an app with a real latency (`--base-ms 2`): at 0 ms the latency
# is the machine's scheduling noise (tens of microseconds swinging by 2x from window to window),
# which the gate rightly never calls stable, so it never said ready there.
taskset -c 1 "$BIN" sim --profile flat --base-ms 2 --listen 127.0.0.1:0 >"$TMP/app.out" 2>&1 &
APP_PID=$!
APP=$(wait_sim "$TMP/app.out")
[ -n "$APP" ] || { echo "loadgen_vs_wrk: the 2 ms sim did not start: $(cat "$TMP/app.out")" >&2; exit 1; }

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

# The same with a templated endpoint (issue 13): a path drawn per request from two variables.
run_loadgen_templated() {
    /usr/bin/time -o "$TMP/lgt.time" -f '%U %S %M' \
        taskset -c 0 "$BIN" run "$URL/{id}?lang={lang}" --var id=range:1:5000 \
        --var lang=one_of:en,de,fr --rate 200000 --duration "${SECONDS_EACH}s" \
        -c "$CONNS" --threads 1 --timeout 1s --json >"$TMP/lgt.json"
    python3 - "$TMP/lgt.json" "$(cpu_seconds "$TMP/lgt.time")" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
print(v["requests"] / v["duration_s"], v["requests"], sys.argv[2])
EOF
}

# Warm the target's connections and caches once.
taskset -c 0 wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null

best_wrk=0; best_wrk_cpu=0; best_lg=0; best_lg_cpu=0
for round in $(seq "$ROUNDS"); do
    read -r w_rps w_total w_cpu < <(run_wrk)
    read -r l_rps l_total l_cpu < <(run_loadgen)
    read -r t_rps t_total t_cpu < <(run_loadgen_templated)
    w_per=$(python3 -c "print($w_cpu / $w_total * 1e5)")
    l_per=$(python3 -c "print($l_cpu / $l_total * 1e5)")
    t_per=$(python3 -c "print($t_cpu / $t_total * 1e5)")
    printf 'round %d: wrk %.0f req/s (%.3f CPU s/100k)  loadgen %.0f req/s (%.3f CPU s/100k)  templated %.0f req/s (%.3f CPU s/100k)\n' \
        "$round" "$w_rps" "$w_per" "$l_rps" "$l_per" "$t_rps" "$t_per"
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
    "$RSS_SECONDS" "$rss_rate" "$CONNS" >"$TMP/summary.txt" <<'EOF'
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
      "   (loadgen / wrk; goals: CPU/100k <= 1.0, throughput >= 1.0)")
if max(w * wc, l * lc) / 1e5 < 0.9:
    print("note: neither client used its whole core, so the target (or a busy machine) set the "
          "max req/s;\n      'req/s per core' (1 / CPU per request) compares the clients themselves.")
print(f"loadgen peak RSS at 2000 req/s for {secs:.0f}s: {rss / 1024:.1f} MiB "
      f"(achieved {rrate} req/s, {rcpu / secs * 100:.1f}% of a core)")
EOF

# ---- warmgate: CPU, memory and /readyz at 2,000 rps over 2 endpoints ------------------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# write_config FILE PORT RATE: two endpoints on the sim, the default gate.
write_config() {
    cat >"$1" <<EOF
listen: "127.0.0.1:$2"
log: {level: warn}
target: {url: "$APP"}
endpoints:
  - {name: a, path: /a}
  - {name: b, path: /b}
traffic: {rate: $3}
EOF
}

# proc_cpu PID: utime + stime in seconds.
proc_cpu() { python3 -c "import os,sys; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"; }
# proc_kib PID FIELD: VmHWM or VmRSS in KiB.
proc_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# The probe client: PROBE_CONNS kept-alive connections, one GET /readyz per connection per
# second (spread evenly), for SECONDS; prints p50 p99 max in ms, the number of answers and the
# number of probes whose connection the server closed (then the next probe reconnects; the
# probe server bounds its connections).
cat >"$TMP/probe.py" <<'EOF'
import asyncio, sys, time
port, conns, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
req = f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
lat, failed = [], [0]
async def probe(rw):
    r, w = rw
    w.write(req)
    head = await r.readuntil(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    await r.readexactly(n)
async def one(i):
    await asyncio.sleep(i / conns)
    end = time.monotonic() + secs
    nxt = time.monotonic()
    rw = None
    while time.monotonic() < end:
        t = time.perf_counter()
        try:
            if rw is None:
                rw = await asyncio.open_connection("127.0.0.1", port)
            await probe(rw)
            lat.append((time.perf_counter() - t) * 1000)
        except (OSError, asyncio.IncompleteReadError):
            failed[0] += 1
            rw = None
        nxt += 1.0
        await asyncio.sleep(max(0, nxt - time.monotonic()))
async def main():
    await asyncio.gather(*(one(i) for i in range(conns)))
asyncio.run(main())
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"{q(0.5):.3f} {q(0.99):.3f} {q(1.0):.3f} {len(lat)} {failed[0]}")
EOF

WG_PORT=$(free_port)
write_config "$TMP/wg.yaml" "$WG_PORT" 2000
echo "warmgate at 2000 rps over 2 endpoints: ${WG_SECONDS}s of warm-up..." >&2
taskset -c 0 "$WG" run --config "$TMP/wg.yaml" >"$TMP/wg.log" 2>&1 &
WG_PID=$!
sleep 5
kill -0 "$WG_PID" 2>/dev/null || { echo "loadgen_vs_wrk: warmgate exited: $(cat "$TMP/wg.log")" >&2; exit 1; }
cpu0=$(proc_cpu "$WG_PID")
probe_at=$(( WG_SECONDS / 2 > 15 ? WG_SECONDS / 2 - 10 : 0 ))
sleep "$probe_at"
# The warm-up's own peak, before the probe connections add their buffers.
wg_hwm_warm=$(proc_kib "$WG_PID" VmHWM)
probe_p50=nan; probe_p99=nan; probe_max=nan; probe_n=0; probe_failed=0
read -r probe_p50 probe_p99 probe_max probe_n probe_failed < <(taskset -c 1 python3 "$TMP/probe.py" "$WG_PORT" \
    "$PROBE_CONNS" 10 || true) || echo "loadgen_vs_wrk: the /readyz probe client failed" >&2
sleep $(( WG_SECONDS - 5 - probe_at - 10 > 0 ? WG_SECONDS - 5 - probe_at - 10 : 0 ))
cpu1=$(proc_cpu "$WG_PID")
wg_hwm=$(proc_kib "$WG_PID" VmHWM)
wg_core=$(python3 -c "print(($cpu1 - $cpu0) / ($WG_SECONDS - 5))")
echo "waiting up to ${READY_TIMEOUT}s for warmgate to say ready..." >&2
idle_kib=""
for _ in $(seq "$READY_TIMEOUT"); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WG_PORT/readyz")" = 200 ]; then
        sleep 5
        idle_kib=$(proc_kib "$WG_PID" VmRSS)
        break
    fi
    sleep 1
done
kill "$WG_PID"; wait "$WG_PID" 2>/dev/null || true; WG_PID=""
wg_size=$(stat -c %s "$WG")

# ---- warmgate under a 0.2-core CPU limit at 400 rps -------------------------------------------

make_cgroup() {
    local root=/sys/fs/cgroup name=warmgate-bench-$$
    if grep -qw cpu "$root/cgroup.controllers" 2>/dev/null && mkdir "$root/$name" 2>/dev/null; then
        echo "20000 100000" >"$root/$name/cpu.max" && { echo "$root/$name"; return; }
        rmdir "$root/$name"
    fi
    if [ -w "$root/cpu" ] && mkdir "$root/cpu/$name" 2>/dev/null; then
        echo 100000 >"$root/cpu/$name/cpu.cfs_period_us" &&
            echo 20000 >"$root/cpu/$name/cpu.cfs_quota_us" && { echo "$root/cpu/$name"; return; }
        rmdir "$root/cpu/$name"
    fi
}
CGROUP=$(make_cgroup || true)
limit_line="warmgate under a 0.2-core CPU limit: skipped (no cgroup v2 cpu.max or v1 cpu controller can be created here)"
if [ -n "$CGROUP" ]; then
    echo "warmgate at 400 rps under 0.2 core ($CGROUP): up to ${LIMIT_SECONDS}s..." >&2
    LIM_PORT=$(free_port)
    write_config "$TMP/lim.yaml" "$LIM_PORT" 400
    sh -c 'echo $$ >"$1/cgroup.procs" && exec taskset -c 0 "$2" run --config "$3"' sh \
        "$CGROUP" "$WG" "$TMP/lim.yaml" >"$TMP/lim.log" 2>&1 &
    WG_PID=$!
    : >"$TMP/lim.samples"
    for _ in $(seq "$LIMIT_SECONDS"); do
        sleep 1
        m=$(curl -s "http://127.0.0.1:$LIM_PORT/metrics" || true)
        lag=$(echo "$m" | awk '$1 == "warmgate_schedule_lag_seconds" { print $2 }')
        ready=$(echo "$m" | awk '$1 == "warmgate_ready" { print $2 }')
        echo "${lag:-nan} ${ready:-0}" >>"$TMP/lim.samples"
        [ "${ready:-0}" = 1 ] && break
    done
    reason=$(curl -s "http://127.0.0.1:$LIM_PORT/status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("reason", "?"))' 2>/dev/null || echo "?")
    kill "$WG_PID"; wait "$WG_PID" 2>/dev/null || true; WG_PID=""
    limit_line=$(python3 - "$TMP/lim.samples" "$reason" <<'EOF'
import math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
lags = [float(a) * 1000 for a, _ in rows if a != "nan" and not math.isnan(float(a))]
ready = [i for i, (_, r) in enumerate(rows) if r == "1"]
worst = max(lags[5:] or lags or [float("nan")])
before = [float(a) * 1000 for a, _ in rows[: ready[0]] if a != "nan"] if ready else []
wrong = bool(ready) and max(before[5:] or [0]) > 50
verdict = ("WRONG READY (ready while lagging)" if wrong else
           "ready, schedule kept" if ready else f"not ready after {len(rows)} s")
print(f"warmgate under a 0.2-core CPU limit, 400 rps: window lag p99 max {worst:.1f} ms "
      f"(goal <= 50), {verdict}; /status reason: {sys.argv[2]}")
EOF
)
fi

cat "$TMP/summary.txt"
python3 - "$wg_core" "$wg_hwm" "${idle_kib:-nan}" "$probe_p50" "$probe_p99" "$probe_max" \
    "$probe_n" "$PROBE_CONNS" "$wg_size" "$WG_SECONDS" "$probe_failed" "$wg_hwm_warm" <<'EOF'
import sys
core, hwm, idle, p50, p99, pmax, n, conns, size, secs, failed, warm = sys.argv[1:]
core, hwm, idle, size = float(core), float(hwm) / 1024, float(idle) / 1024, float(size) / 2**20
warm = float(warm) / 1024
print(f"warmgate at 2000 rps over 2 endpoints ({secs} s of warm-up): {core:.3f} core "
      f"({core / 0.08:.2f}x the 0.08 goal), peak RSS {warm:.1f} MiB before the probes "
      f"({warm / 10:.2f}x the 10 MiB goal), {hwm:.1f} MiB with them")
idle_txt = "not ready in time" if idle != idle else f"{idle:.1f} MiB ({idle / 8:.2f}x the 8 MiB goal)"
print(f"warmgate RSS idle after ready: {idle_txt}")
print(f"/readyz during the warm-up, {conns} probe connections at 1/s each ({n} answered, "
      f"{failed} closed by the server): p50 {p50} ms, p99 {p99} ms "
      f"({float(p99) / 1:.2f}x the 1 ms goal), max {pmax} ms")
print(f"stripped release binary: {size:.1f} MiB ({size / 8:.2f}x the 8 MiB goal)")
EOF
echo "$limit_line"
echo "machine: $(nproc) CPUs, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
