//! Helpers of warmgate's integration tests on top of `warmgate-testkit` (the real `warmgate`
//! binary, simulators, ports): short configs, CLI runs, user traffic, raw probes. Everything
//! listens on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
#[allow(unused_imports)] // each test file uses a different subset
pub use warmgate_testkit::{free_port, http_get, SimApp, Warmgate};

/// The `warmgate` binary cargo built for these tests.
pub const WARMGATE: &str = env!("CARGO_BIN_EXE_warmgate");

/// Settings short enough for tests: 1 s windows, 10 s lookback, 800 rps on one endpoint (the gate simulation puts a flat app's worst time to ready near 35 s).
pub fn fast_config(target: &str, extra: &str) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: 60s}}\n\
         shutdown_grace: 1s\n\
         log: {{level: info}}\n\
         traffic: {{rate: 800, ramp: 1s}}\n\
         {extra}"
    )
}

/// The gate section used with [`fast_config`].
pub const FAST_GATE: &str =
    "gate: {window: 1s, lookback: 10s, consecutive: 3, min_samples: 1500, deadline: 60s}\n";

/// [`FAST_GATE`] with a lax `max_rise` (+50%/min, so the trend's precision guard is +/-30%/min):
/// for tests that need a flat app ready and test something else (restarts, signals, rates, the
/// status page). At the default +5%/min a flat app at 1 s windows needs ~45 s on a quiet machine
/// and more on a loaded one, which only tests/gate_statistics.rs and the drift cases of
/// tests/agent_verdicts.rs are about.
pub const READY_GATE: &str =
    "gate: {window: 1s, lookback: 10s, consecutive: 3, min_samples: 1500, max_rise: 0.5, deadline: 60s}\n";

/// Runs `warmgate` with `args` to completion: (exit code, stdout, stderr).
pub fn warmgate_cmd(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// User traffic right after "ready": `n` GETs of `path` at `rate` rps, open loop; returns the
/// latency p99 in ms (from intended send times) and the error count.
pub async fn user_p99(base: &str, path: &str, n: u64, rate: f64) -> (f64, u64) {
    let url = url::Url::parse(&format!("{base}{path}")).unwrap();
    let mut plan = loadgen::Plan::try_new(
        vec![loadgen::Endpoint::get("user", url)],
        loadgen::RateSchedule::Constant(rate),
        256,
        Duration::from_secs(60),
    )
    .unwrap();
    plan.duration = Some(Duration::from_secs_f64(n as f64 / rate));
    let engine = loadgen::run(plan, CancellationToken::new()).unwrap();
    let report = engine.finish().await;
    let p99 = report.total.latency.value_at_quantile(0.99) as f64 / 1000.0;
    (p99, report.total.outcomes.errors())
}

/// A raw HTTP/1.1 GET on a new connection, as the kubelet probes: (status, time taken).
pub async fn raw_probe(base: &str, path: &str) -> Option<(u16, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, took))
}
