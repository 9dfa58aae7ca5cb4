//! Issue 10, item 1: `failed` is not a trap. With `on_deadline: fail`, an app that comes up
//! after `wait_timeout`, or restarts after a failed warm-up, is warmed again: in a pod the
//! kubelet restarts the app container when `/startupz` fails, never warmgate.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use loadgen::sim::Profile;

/// A config whose app (at `url`) must be up within `wait` and warm within `deadline`, or fail.
fn failing_config(url: &str, wait: &str, deadline: &str) -> String {
    format!(
        "target: {{url: \"{url}\", wait_timeout: {wait}}}\n\
         shutdown_grace: 1s\n\
         log: {{level: info}}\n\
         traffic: {{rate: 800, ramp: 1s}}\n\
         gate: {{window: 1s, lookback: 10s, consecutive: 3, min_samples: 1500, \
         deadline: {deadline}, on_deadline: fail}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_comes_up_after_wait_timeout_is_warmed() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let wg = Warmgate::spawn(WARMGATE, &failing_config(&url, "1s", "60s"));
    assert!(
        wg.wait_phase("failed", Duration::from_secs(10)).await,
        "{}",
        wg.status().await
    );
    assert_eq!(wg.code("/startupz").await, Some(503));
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    assert!(
        wg.wait_phase("warming", Duration::from_secs(10)).await,
        "a late app is warmed: {}\n{}",
        wg.status().await,
        wg.log_text()
    );
    assert_eq!(wg.status().await["warmups"], 1);
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_restarted_after_a_deadline_failure_is_warmed_again() {
    let port = free_port();
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    // min_samples 1500 at 800 rps cannot pass within a 2 s deadline.
    let wg = Warmgate::spawn(WARMGATE, &failing_config(&sim.url(), "60s", "2s"));
    assert!(
        wg.wait_phase("failed", Duration::from_secs(20)).await,
        "{}",
        wg.status().await
    );
    assert_eq!(wg.status().await["warmups"], 1);
    sim.stop().await;
    // Still failed while the app is down: nothing new to warm yet.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(wg.status().await["phase"], "failed");
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    assert!(
        wg.wait_phase("warming", Duration::from_secs(10)).await,
        "a restarted app is warmed again: {}\n{}",
        wg.status().await,
        wg.log_text()
    );
    assert_eq!(wg.status().await["warmups"], 2);
    drop(sim);
}
