use std::time::Duration;

use super::*;
use crate::gate::Gate;

fn board_for(quantile: f64) -> Arc<StatusBoard> {
    let gate = GateSettings {
        quantile,
        ..GateSettings::default()
    };
    StatusBoard::new(Metrics::new().expect("metrics"), &["home".into()], &gate)
}

fn board() -> Arc<StatusBoard> {
    board_for(0.99)
}

fn row(start_s: f64) -> WindowRow {
    WindowRow {
        name: "home".into(),
        start_s,
        count: 100,
        p50_ms: 3.0,
        q_ms: 40.0,
        errors: 0,
    }
}

/// A real (failing: one window is never enough) verdict.
fn verdict() -> Verdict {
    let snap = loadgen::Snapshot {
        index: 0,
        start: Duration::ZERO,
        length: Duration::from_secs(5),
        target_rate: 100.0,
        achieved_rate: 100.0,
        inflight: 0,
        endpoints: vec![loadgen::EndpointWindow::empty("home")],
    };
    Gate::new(GateSettings::default(), vec!["home".into()]).observe(&snap)
}

#[test]
fn readyz_only_in_ready_and_app_ready() {
    let s = board();
    assert!(s.readyz().is_err());
    s.set_phase(Phase::Warming, "p99 still falling");
    assert_eq!(s.readyz().unwrap_err(), "warming: p99 still falling");
    assert!(s.startupz().is_err());
    s.set_phase(Phase::Ready, "warm");
    assert!(s.readyz().is_ok());
    assert!(s.startupz().is_ok());
    s.set_app_unready("app's readiness /ready answered 503".into());
    assert!(s.readyz().is_err());
    assert!(
        s.startupz().is_ok(),
        "startup is not about the app's own readiness"
    );
    assert_eq!(s.metrics().ready.get(), 0);
    s.set_app_ready();
    assert!(s.readyz().is_ok());
    assert_eq!(s.metrics().ready.get(), 1);
}

#[test]
fn draining_is_final_and_failed_is_left_only_for_waiting() {
    let s = board();
    s.set_phase(Phase::Failed, "deadline");
    s.set_phase(Phase::Ready, "late");
    s.set_phase(Phase::Warming, "late");
    assert_eq!(s.phase(), Phase::Failed);
    assert!(s.startupz().is_err());
    s.set_phase(Phase::Waiting, "the app restarted");
    assert_eq!(
        s.phase(),
        Phase::Waiting,
        "a restarted app gets a fresh try"
    );
    s.set_phase(Phase::Draining, "SIGTERM");
    s.set_phase(Phase::Warming, "x");
    s.set_phase(Phase::Waiting, "x");
    assert_eq!(s.phase(), Phase::Draining);
}

#[test]
fn a_final_phase_keeps_its_reason() {
    let s = board();
    s.set_phase(Phase::Draining, "shutting down (SIGTERM)");
    s.set_app_unready("app's readiness /ready answered 503".into());
    s.set_verdict(verdict());
    assert_eq!(
        s.phase_and_reason(),
        (Phase::Draining, "shutting down (SIGTERM)".to_string())
    );
}

#[test]
fn while_warming_the_reason_is_the_verdicts_summary() {
    let s = board();
    s.set_phase(Phase::Warming, "warming: collecting the first windows");
    let v = verdict();
    let summary = v.summary();
    s.set_verdict(v);
    assert_eq!(s.reason(), summary);
    assert!(summary.starts_with("not ready: "), "{summary}");
}

#[test]
fn app_restart_resets_startup() {
    let s = board();
    s.set_phase(Phase::Ready, "warm");
    s.set_phase(Phase::Waiting, "app stopped accepting connections");
    assert!(s.startupz().is_err());
    assert!(s.time_to_ready_s().is_some(), "first time to ready is kept");
}

#[test]
fn status_keeps_the_last_windows_and_resets_with_the_app() {
    let s = board();
    s.begin_warmup();
    for i in 0..STATUS_WINDOWS + 3 {
        s.record_window(&[row(i as f64 * 5.0)]);
    }
    s.set_verdict(verdict());
    let doc = s.status();
    assert_eq!(doc.warmups, 1);
    assert_eq!(s.metrics().warmups.get(), 1);
    assert!(doc.verdict.is_some());
    let windows = &doc.endpoints[0].windows;
    assert_eq!(windows.len(), STATUS_WINDOWS);
    assert_eq!(windows[0].start_s, 15.0, "the oldest windows are dropped");
    s.reset_windows();
    let doc = s.status();
    assert!(doc.verdict.is_none());
    assert!(doc.endpoints[0].windows.is_empty());
    assert_eq!(doc.endpoints[0].name, "home");
}

#[test]
fn status_json_has_the_documented_fields() {
    let s = board();
    let json = serde_json::to_value(s.status()).expect("serialises");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "endpoints",
            "phase",
            "phase_s",
            "ready",
            "reason",
            "started",
            "time_to_ready_s",
            "uptime_s",
            "verdict",
            "version",
            "warmups"
        ]
    );
    assert_eq!(json["phase"], "waiting");
    assert_eq!(json["verdict"], serde_json::Value::Null);
    assert_eq!(json["time_to_ready_s"], serde_json::Value::Null);
    assert_eq!(
        json["endpoints"],
        serde_json::json!([{"name": "home", "windows": []}])
    );
    s.set_verdict(verdict());
    let json = serde_json::to_value(s.status()).expect("serialises");
    assert_eq!(json["verdict"]["pass"], false);
    assert_eq!(json["verdict"]["endpoints"][0]["name"], "home");
}

#[test]
fn quantile_labels() {
    for (q, key) in [(0.99, "p99_ms"), (0.999, "p99.9_ms"), (0.5, "p50_ms")] {
        let s = board_for(q);
        s.record_window(&[row(0.0)]);
        let json = serde_json::to_value(s.status()).expect("serialises");
        assert_eq!(json["endpoints"][0]["windows"][0][key], 40.0, "{q}");
    }
}
