//! The real `warmgate` binary's life: app restarts, SIGTERM, bad configuration, remote targets,
//! probe latency under load, and the demo.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use loadgen::sim::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_restart_sends_the_agent_back_to_waiting_and_it_warms_again() {
    let port = free_port();
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    let wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), READY_GATE));
    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    sim.stop().await;
    assert!(
        wg.wait_phase("waiting", Duration::from_secs(5)).await,
        "{}",
        wg.status().await
    );
    assert_eq!(wg.code("/readyz").await, Some(503));
    assert_eq!(wg.code("/startupz").await, Some(503));
    let sim = SimApp::start(Profile::Flat, 1.0, port).await;
    assert!(
        wg.wait_phase("warming", Duration::from_secs(5)).await,
        "{}",
        wg.status().await
    );
    let status = wg.status().await;
    assert_eq!(status["warmups"], 2);
    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_within_100ms_and_exits_zero() {
    let sim = SimApp::start(Profile::Flat, 1.0, 0).await;
    let mut wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), READY_GATE));
    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/readyz", wg.base);
    wg.sigterm().expect("SIGTERM");
    let t0 = Instant::now();
    let mut first_503 = None;
    while t0.elapsed() < Duration::from_secs(1) {
        if let Ok(r) = client.get(&url).send().await {
            if r.status().as_u16() == 503 {
                first_503 = Some(t0.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = first_503.expect("no 503 after SIGTERM");
    assert!(took < Duration::from_millis(100), "503 after {took:?}");
    let status = wg
        .wait_exit(Duration::from_secs(5))
        .expect("did not exit within the grace period");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_bad_config_exits_2_naming_every_bad_field() {
    let dir = std::env::temp_dir().join(format!("warmgate-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(
        &path,
        "gate: {quantile: 2, window: soon, toleranse: 0.1}\ntraffic: {rate: fast}\nendpoints:\n  - {path: nope}\n",
    )
    .unwrap();
    for cmd in ["run", "check"] {
        let (code, _, err) = warmgate_cmd(&[cmd, "--config", path.to_str().unwrap()], &[]);
        assert_eq!(code, 2, "{cmd}: {err}");
        for field in [
            "gate.quantile",
            "gate.window",
            "gate.toleranse",
            "traffic.rate",
            "endpoints[0].path",
        ] {
            assert!(err.contains(field), "{cmd}: {field} not named in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = warmgate_cmd(&["check"], &[("WARMGATE_TRAFFIC__MAX_INFLIGHT", "lots")]);
    assert_eq!(code, 2);
    assert!(err.contains("traffic.max_inflight"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_non_loopback_target_is_refused_unless_allowed() {
    let yaml = "target: {url: \"http://192.0.2.10:8080\"}\n";
    let (code, _, err) = warmgate_cmd(&["run"], &[("WARMGATE_CONFIG_YAML", yaml)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("target.url") && err.contains("not loopback"),
        "{err}"
    );
    // Allowed: `check` validates it without sending anything.
    let yaml = "target: {url: \"http://192.0.2.10:8080\", allow_remote: true}\n";
    let (code, out, err) = warmgate_cmd(&["check"], &[("WARMGATE_CONFIG_YAML", yaml)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("allow_remote: true"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_fast_while_warmup_runs_at_2000_rps() {
    let sim = SimApp::start(Profile::Jit, 0.2, 0).await;
    let config = format!(
        "target: {{url: \"{}\"}}\ntraffic: {{rate: 2000, ramp: 0s, max_inflight: 256}}\n{FAST_GATE}",
        sim.url()
    );
    let wg = Warmgate::spawn(WARMGATE, &config);
    assert!(wg.wait_phase("warming", Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut times = Vec::new();
    for _ in 0..200 {
        // A new connection per probe, as the kubelet does.
        let (code, took) = raw_probe(&wg.base, "/readyz")
            .await
            .expect("probe answered");
        times.push(took);
        assert_eq!(code, 503, "jit at speed 0.2 cannot be warm yet");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = wg.status().await;
    assert_eq!(status["phase"], "warming");
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    eprintln!(
        "readyz under 2,000 rps warm-up: p50 {p50:?}, p99 {p99:?}, max {:?}",
        times[times.len() - 1]
    );
    assert!(
        p99 < Duration::from_millis(10),
        "readyz p99 {p99:?} (p50 {p50:?})"
    );
}

#[test]
fn the_demo_reaches_ready_and_exits_zero() {
    let port = free_port();
    let (code, out, err) = warmgate_cmd(&["demo", "--listen", &format!("127.0.0.1:{port}")], &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("READY"), "{out}");
    assert!(out.contains("/status"), "{out}");
    assert!(
        out.contains("fail:"),
        "the demo never showed a failing verdict:\n{out}"
    );
}
