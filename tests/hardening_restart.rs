//! Issue 10, item 6: an app restart is not missed, however short. While warming, an outage
//! shorter than a gate window: before, a window with successes around it hid it, and the
//! warm-up went on over a cold app; now connections refused in a window send the agent back to
//! waiting and it warms again. While ready, a restart within 50 ms: before, the 250 ms polling
//! (two failed checks in a row) could never see it and /readyz stayed 200 over a cold app; now
//! the idle connection warmgate holds to the app closes with the app's process, the reconnect
//! is refused, and it warms again.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use loadgen::sim::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_inside_one_window_restarts_the_warm_up() {
    let port = free_port();
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    // 5 s windows: the 1.5 s outage below always has successes before or after it.
    let gate =
        "gate: {window: 5s, lookback: 50s, consecutive: 3, min_samples: 1500, deadline: 120s}\n";
    let wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), gate));
    assert!(
        wg.wait_phase("warming", Duration::from_secs(20)).await,
        "{}",
        wg.status().await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    let t0 = std::time::Instant::now();
    while wg.status().await["warmups"] != 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the restart went unseen: {}\n{}",
            wg.status().await,
            wg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(wg.log_text().contains("app restarted"), "{}", wg.log_text());
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_within_50_ms_while_ready_is_seen_and_warms_again() {
    let port = free_port();
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    let wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), READY_GATE));
    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    assert_eq!(wg.status().await["warmups"], 1);
    // Give the watch time to hold its connection, then restart the app within 50 ms: its
    // listener and every connection close, and a new (cold) one listens on the same port.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.stop().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    let t0 = std::time::Instant::now();
    while wg.status().await["warmups"] != 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the 50 ms restart went unseen: {}\n{}",
            wg.status().await,
            wg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(wg.status().await["phase"], "ready");
    assert_eq!(wg.code("/readyz").await, Some(503));
    assert!(
        wg.log_text()
            .contains("app restarted: it closed warmgate's idle connection"),
        "{}",
        wg.log_text()
    );
    drop(sim);
}
