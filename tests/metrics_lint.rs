//! `promtool check metrics` on the real binary's /metrics prints nothing in each of the five
//! phases: waiting (no app yet), warming (windows recorded), ready, draining (after SIGTERM) and
//! failed (`wait_timeout` passed with `on_deadline: fail`). Exporter linters in CI pipelines
//! run exactly this check; a `quantile` label on a gauge or a name without its unit fails it.
//! Needs `promtool` (Debian package `prometheus`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use loadgen::sim::Profile;

/// Runs `promtool check metrics` on `text` (testkit): empty when clean.
fn promtool_lint(text: &str) -> String {
    warmgate_testkit::prometheus::promtool_check_metrics(text)
}

/// Fetches /metrics in `phase` and asserts that promtool finds nothing to say and no sample is
/// NaN.
async fn assert_clean(wg: &Warmgate, phase: &str) {
    let (code, text) = http_get(&format!("{}/metrics", wg.base)).await.unwrap();
    assert_eq!(code, 200, "{phase}: /metrics answered {code}");
    let said = promtool_lint(&text);
    assert!(
        said.is_empty(),
        "{phase}: promtool check metrics said:\n{said}\non:\n{text}"
    );
    let nan: Vec<&str> = text.lines().filter(|l| l.ends_with(" NaN")).collect();
    assert!(nan.is_empty(), "{phase}: NaN samples {nan:?}");
}

/// A config for these runs: a drain long enough to be seen, `on_deadline: fail`.
/// A lax `max_rise` (as `READY_GATE`): the test lints every phase and needs a flat app ready,
/// not the default trend precision, which takes a flat app at 1 s windows ~45 s.
fn config(target: &str, wait_timeout: &str) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: {wait_timeout}}}\n\
         shutdown_grace: 10s\n\
         log: {{level: info}}\n\
         traffic: {{rate: 800, ramp: 1s}}\n\
         gate: {{window: 1s, lookback: 10s, consecutive: 3, min_samples: 1500, max_rise: 0.5, deadline: 90s, on_deadline: fail}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_in_every_phase() {
    let app_port = free_port();
    let mut wg = Warmgate::spawn(
        WARMGATE,
        &config(&format!("http://127.0.0.1:{app_port}"), "120s"),
    );
    assert!(
        wg.wait_phase("waiting", Duration::from_secs(20)).await,
        "{}",
        wg.log_text()
    );
    assert_clean(&wg, "waiting").await;

    let sim = SimApp::start(Profile::Flat, 1.0, app_port).await;
    assert!(
        wg.wait_phase("warming", Duration::from_secs(20)).await,
        "{}",
        wg.log_text()
    );
    // Warming with at least one window recorded: the per-window series exist.
    let t0 = Instant::now();
    while wg.status().await["endpoints"][0]["windows"]
        .as_array()
        .is_none_or(|w| w.is_empty())
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "no window recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_clean(&wg, "warming").await;
    // A warm-up takes a lookback (10 s) at least: what was linted was still warming.
    assert_eq!(wg.status().await["phase"], "warming");

    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    assert_clean(&wg, "ready").await;

    wg.sigterm().unwrap();
    assert!(
        wg.wait_phase("draining", Duration::from_secs(5)).await,
        "{}",
        wg.log_text()
    );
    assert_clean(&wg, "draining").await;
    let _ = wg.wait_exit(Duration::from_secs(15));
    // Its stderr went to a file, not a terminal: plain text, no colour escapes.
    let log = wg.log_text();
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );
    assert!(log.contains("Shutting down."), "{log}");
    sim.stop().await;

    // Nothing listens on this port: the wait times out and the agent fails for good.
    let wg = Warmgate::spawn(
        WARMGATE,
        &config(&format!("http://127.0.0.1:{}", free_port()), "2s"),
    );
    assert!(
        wg.wait_phase("failed", Duration::from_secs(20)).await,
        "{}",
        wg.log_text()
    );
    assert_clean(&wg, "failed").await;
}
