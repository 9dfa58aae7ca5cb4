//! Issue 10, item 9 (the rate gauges): once ready with `after_ready_rate: 0`, nothing is sent,
//! so `warmgate_target_requests_per_second` and `warmgate_achieved_requests_per_second` read 0 instead of staying frozen at
//! the warm-up's last values.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use loadgen::sim::Profile;

/// The value of the first sample whose name starts with `prefix` in a /metrics text.
fn gauge(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_gauges_fall_to_zero_when_nothing_is_sent_after_ready() {
    let sim = SimApp::start(Profile::Flat, 1.0, 0).await;
    let yaml = fast_config(&sim.url(), READY_GATE).replace(
        "traffic: {rate: 800, ramp: 1s}",
        "traffic: {rate: 800, ramp: 1s, after_ready_rate: 0}",
    );
    assert!(yaml.contains("after_ready_rate: 0"), "{yaml}");
    let wg = Warmgate::spawn(WARMGATE, &yaml);
    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, text) = http_get(&format!("{}/metrics", wg.base)).await.unwrap();
    assert_eq!(
        gauge(&text, "warmgate_target_requests_per_second"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        gauge(&text, "warmgate_achieved_requests_per_second"),
        Some(0.0),
        "{text}"
    );
    drop(sim);
}
