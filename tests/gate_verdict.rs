//! The gate's verdict on seeded synthetic windows: what keeps it closed, what its reasons say,
//! streaks and resets, several endpoints, and the JSON it serialises to. Pure: no sockets.
//!
//! Each test has its own seed. Some outcomes hold for most seeds, not all (a flat app opening at
//! the earliest point: about 87% of seeds; no false trend alarm in one given window: about 90%):
//! when the noise moved to `rand` (issue 15) the seeds of four tests were picked again. Over 40
//! seeds their pass rates were the same with the old and the new stream.

use std::time::Duration;

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{EndpointSpec, Gate, GateSettings, Verdict};

/// 2 lookbacks of history + K - 1 = 26 windows: the earliest a flat app can be ready.
const EARLIEST_READY: usize = 26;

fn flat(name: &str, rate: f64) -> SynthEndpoint {
    SynthEndpoint::new(name, rate, Curve::new(Profile::Flat, 1.0))
}

/// Feeds `windows` windows and returns every verdict.
fn run(gate: &mut Gate, synth: &mut Synth, windows: usize) -> Vec<Verdict> {
    (0..windows)
        .map(|_| gate.observe(&synth.next_snapshot()))
        .collect()
}

fn setup(settings: GateSettings, endpoints: Vec<SynthEndpoint>, seed: u64) -> (Gate, Synth) {
    let synth = Synth::new(seed, settings.window, endpoints);
    let gate = Gate::new(settings, synth.names());
    (gate, synth)
}

/// True if some reason of the last verdict contains `text`.
fn says(v: &Verdict, text: &str) -> bool {
    v.reasons.iter().any(|r| r.contains(text))
}

#[test]
fn first_verdicts_explain_that_the_lookback_is_filling() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 1);
    let v = gate.observe(&synth.next_snapshot());
    assert!(!v.pass && !v.ready);
    assert_eq!((v.streak, v.required), (0, 3));
    assert_eq!(
        v.reasons.last().map(String::as_str),
        Some("lookback 1 of 12 windows (5s of 60s)")
    );
    assert!(
        says(&v, "home: 0 samples in the old half, need 2,000"),
        "{:?}",
        v.reasons
    );
    assert!(v.summary().starts_with("not ready: "), "{}", v.summary());
    // Once the lookback is full, the history for the rise check is what is missing.
    let v = run(&mut gate, &mut synth, 14).pop().expect("verdicts");
    assert_eq!(
        v.reasons,
        vec!["history 75s of 120s needed to rule out a slow rise"]
    );
    assert!(!v.endpoints[0].pass);
}

#[test]
fn flat_opens_exactly_when_history_allows_and_the_streak_counts_up() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 18);
    let verdicts = run(&mut gate, &mut synth, EARLIEST_READY);
    assert!(verdicts[..EARLIEST_READY - 3].iter().all(|v| !v.pass));
    let last3: Vec<(bool, u32, bool)> = verdicts[EARLIEST_READY - 3..]
        .iter()
        .map(|v| (v.pass, v.streak, v.ready))
        .collect();
    assert_eq!(
        last3,
        vec![(true, 1, false), (true, 2, false), (true, 3, true)]
    );
    let v = &verdicts[EARLIEST_READY - 1];
    assert!(v.reasons.is_empty() && v.endpoints[0].reasons.is_empty());
    assert_eq!(gate.streak(), 3);
    assert!(
        v.summary().starts_with("ready: stable for 3 evaluations"),
        "{}",
        v.summary()
    );
    assert!(verdicts[EARLIEST_READY - 2]
        .summary()
        .starts_with("stable, confirming: 2 of 3"));
    // The numbers: p99 of lognormal(5 ms, sigma 1) is 51.2 ms; 15,000 samples per half.
    let e = &v.endpoints[0];
    assert_eq!((e.samples_old, e.samples_new), (15_000, 15_000));
    let q = e.q_new_ms.expect("samples");
    assert!((q / 51.2 - 1.0).abs() < 0.08, "p99 {q} ms");
    let [lo, hi] = e.interval_ms.expect("enough samples for an interval");
    assert!(
        lo < q && q < hi && lo > q * 0.85 && hi < q * 1.15,
        "{lo} {q} {hi}"
    );
    assert!(e.change.expect("both halves").abs() <= 0.10);
    assert!(e.trend_z.expect("12 windows").abs() < 1.96);
    assert!(e.drift.expect("12 windows").abs() < 0.10);
    assert!(e.rise.expect("longer horizon") < 0.10);
    assert_eq!(e.requests, 500 * 5 * EARLIEST_READY as u64);
}

#[test]
fn reset_forgets_windows_and_streak() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 4);
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().any(|v| v.ready));
    gate.reset();
    assert_eq!(gate.streak(), 0);
    let v = gate.observe(&synth.next_snapshot());
    assert!(!v.ready && v.streak == 0);
    assert!(says(&v, "lookback 1 of 12 windows"), "{:?}", v.reasons);
    assert_eq!(v.endpoints[0].requests, 2500);
}

#[test]
fn errors_above_the_limit_keep_it_closed_until_the_lookback_rate_falls_under_it() {
    let mut endpoint = flat("home", 500.0);
    endpoint.error_rate = 0.05;
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![endpoint], 20);
    let verdicts = run(&mut gate, &mut synth, 60);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    // The most important reason comes first.
    assert!(
        v.reasons[0].starts_with("home: error rate 5"),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons[0].contains("% > 1% ("), "{:?}", v.reasons);
    let rate = v.endpoints[0].error_rate;
    assert!((rate - 0.05).abs() < 0.01, "error rate {rate}");
    // Errors stop: the rate over the lookback falls to 5% x 2/12 = 0.83% after 10 clean
    // windows (index 9); K = 3 passes later at the earliest, index 11.
    synth.endpoints[0].error_rate = 0.0;
    let verdicts = run(&mut gate, &mut synth, 24);
    assert!(verdicts[..9]
        .iter()
        .all(|v| !v.pass && says(v, "home: error rate")));
    let first_ready = verdicts
        .iter()
        .position(|v| v.ready)
        .expect("opens once clean");
    assert!(
        first_ready >= 9 + 2,
        "opened {first_ready} windows after the errors stopped"
    );
}

#[test]
fn a_starved_generator_keeps_it_closed_with_its_numbers() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 6);
    synth.achieved_ratio = 0.9;
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    assert_eq!(
        v.reasons[0],
        "generator: achieved 450 rps of 500 (90%), need 95%"
    );
    // The app itself looked fine: the endpoint passes, the verdict does not.
    assert!(v.endpoints[0].pass, "{:?}", v.endpoints[0].reasons);
}

#[test]
fn one_starved_window_in_the_lookback_is_enough_to_fail() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 23);
    run(&mut gate, &mut synth, 30);
    synth.lag = Duration::from_millis(120);
    let v = gate.observe(&synth.next_snapshot());
    assert!(!v.pass);
    assert_eq!(
        v.reasons,
        vec!["generator: schedule lag p99 120 ms > 50 ms"]
    );
    synth.lag = Duration::from_micros(200);
    // The bad window stays in the lookback for 12 windows.
    let verdicts = run(&mut gate, &mut synth, 11);
    assert!(verdicts.iter().all(|v| !v.pass));
    let verdicts = run(&mut gate, &mut synth, 10);
    assert!(verdicts.iter().any(|v| v.ready));
}

#[test]
fn a_ceiling_below_the_quantile_keeps_it_closed() {
    let settings = GateSettings {
        endpoints: vec![EndpointSpec {
            name: "home".to_string(),
            ceiling: Some(Duration::from_millis(30)),
        }],
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 500.0)], 8);
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    assert!(
        v.reasons[0].starts_with("home: p99 ") && v.reasons[0].ends_with(" ms over ceiling 30 ms"),
        "{:?}",
        v.reasons
    );
    assert_eq!(v.endpoints[0].ceiling_ms, Some(30.0));
    // A ceiling above it does not get in the way.
    let settings = GateSettings {
        endpoints: vec![EndpointSpec {
            name: "home".to_string(),
            ceiling: Some(Duration::from_millis(100)),
        }],
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 500.0)], 8);
    assert!(run(&mut gate, &mut synth, 40).iter().any(|v| v.ready));
}

#[test]
fn one_drifting_endpoint_keeps_the_verdict_failing_while_the_other_passes() {
    let endpoints = vec![
        flat("home", 300.0),
        SynthEndpoint::new("search", 300.0, Curve::drift_per_minute(0.3)),
    ];
    let (mut gate, mut synth) = setup(GateSettings::default(), endpoints, 9);
    let verdicts = run(&mut gate, &mut synth, 80);
    assert!(verdicts.iter().all(|v| !v.pass));
    let late = &verdicts[40..];
    assert!(late.iter().all(|v| !v.endpoints[1].pass));
    assert!(late
        .iter()
        .all(|v| v.reasons.iter().any(|r| r.starts_with("search: "))));
    assert!(late.iter().filter(|v| v.endpoints[0].pass).count() > late.len() / 2);
    let v = verdicts.last().expect("verdicts");
    assert!(
        says(v, "search: p99 rising over the last 180s: +"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn an_endpoint_without_traffic_fails_with_no_samples() {
    let (mut gate, mut synth) = setup(
        GateSettings::default(),
        vec![flat("home", 500.0), flat("idle", 0.0)],
        10,
    );
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().all(|v| !v.pass));
    let e = &verdicts.last().expect("verdicts").endpoints[1];
    assert_eq!(
        e.reasons,
        vec!["idle: no samples in the lookback (no traffic reached this endpoint)"]
    );
    assert_eq!((e.samples_old, e.q_new_ms, e.trend_z), (0, None, None));
}

#[test]
fn too_few_samples_per_half_keep_it_closed() {
    // 50 rps: 1,500 samples per half of 30 s.
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 50.0)], 11);
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().all(|v| !v.pass));
    assert!(says(
        verdicts.last().expect("verdicts"),
        "home: 1,500 samples in the new half, need 2,000"
    ));
}

#[test]
fn min_requests_holds_back_a_stable_plateau() {
    let settings = GateSettings {
        min_requests: 100_000,
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 500.0)], 12);
    let verdicts = run(&mut gate, &mut synth, 45);
    assert!(says(
        &verdicts[30],
        "home: 77,500 requests since warming began, need 100,000"
    ));
    // 100,000 requests at 2,500 per window: window 40 onwards.
    let first_pass = verdicts.iter().position(|v| v.pass).expect("passes");
    assert!(first_pass >= 39, "passed at window {first_pass}");
}

#[test]
fn snapshots_are_matched_by_name_not_position() {
    // The plan has an endpoint the gate does not judge, before the one it does.
    let mut synth = Synth::new(
        13,
        Duration::from_secs(5),
        vec![flat("other", 100.0), flat("home", 500.0)],
    );
    let mut gate = Gate::new(GateSettings::default(), vec!["home".to_string()]);
    let v = run(&mut gate, &mut synth, 12).pop().expect("verdicts");
    assert_eq!(v.endpoints.len(), 1);
    assert_eq!(v.endpoints[0].name, "home");
    assert_eq!(v.endpoints[0].samples_new, 15_000);
    assert_eq!(v.endpoints[0].requests, 30_000);
}

#[test]
fn the_verdict_serialises_with_the_status_field_names() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 500.0)], 14);
    let v = run(&mut gate, &mut synth, 3).pop().expect("verdicts");
    let json = serde_json::to_value(&v).expect("serialisable");
    for key in [
        "pass",
        "streak",
        "required",
        "ready",
        "reasons",
        "endpoints",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    let e = &json["endpoints"][0];
    for key in [
        "name",
        "pass",
        "reasons",
        "samples_old",
        "samples_new",
        "q_old_ms",
        "q_new_ms",
        "interval_ms",
        "change",
        "trend_z",
        "drift",
        "rise",
        "error_rate",
        "requests",
        "ceiling_ms",
    ] {
        assert!(e.get(key).is_some(), "missing endpoints[0].{key}: {e}");
    }
    assert_eq!(e["ceiling_ms"], serde_json::Value::Null);
    assert!(
        e["interval_ms"].as_array().is_some_and(|a| a.len() == 2),
        "{e}"
    );
}

#[test]
fn a_warmup_in_progress_is_reported_as_falling_with_its_numbers() {
    let curve = Curve::warmup(3.0, 30.0);
    let (mut gate, mut synth) = setup(
        GateSettings::default(),
        vec![SynthEndpoint::new("home", 500.0, curve)],
        15,
    );
    let v = run(&mut gate, &mut synth, 12).pop().expect("verdicts");
    assert!(!v.pass);
    let trend = v
        .reasons
        .iter()
        .find(|r| r.starts_with("home: p99 still falling (Mann-Kendall z=-"))
        .unwrap_or_else(|| panic!("no falling reason: {:?}", v.reasons));
    assert!(trend.contains("% over 60s, noise +/-"), "{trend}");
    let e = &v.endpoints[0];
    assert!(e.trend_z.expect("12 windows") < -3.0, "z {:?}", e.trend_z);
    // Over 60 s the factor falls from 4 to 1.4: the slope says far more than -10%, and far more
    // than the noise of 500 samples per window (sigma 1: about +/-7% per window quantile).
    let drift = e.drift.expect("12 windows");
    let noise = e.drift_noise.expect("12 windows");
    assert!(drift < -0.3, "drift {drift}");
    assert!(
        noise > 0.05 && noise < drift.abs(),
        "noise {noise} vs drift {drift}"
    );
    let change = e.change.expect("both halves");
    assert!(change < -0.10, "change {change}");
    assert!(
        says(&v, "home: p99 changed -") && says(&v, "between halves ("),
        "{:?}",
        v.reasons
    );
    assert!(says(&v, ", allowed 10% or 1 ms"), "{:?}", v.reasons);
    // Trend ranks before the change between halves.
    let pos = |text: &str| v.reasons.iter().position(|r| r.contains(text));
    assert!(
        pos("still falling") < pos("between halves"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_wide_interval_is_reported_as_not_precise_enough() {
    // 50 rps: 1,500 samples per half; min_samples lowered so that only precision fails.
    // Relative 95% interval of a lognormal p99 at n = 1,500 is about -15%/+25%.
    let settings = GateSettings {
        min_samples: 1000,
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 50.0)], 21);
    let verdicts = run(&mut gate, &mut synth, 30);
    let v = verdicts.last().expect("verdicts");
    let reason = v
        .reasons
        .iter()
        .find(|r| r.starts_with("home: p99 not precise enough: 95% interval "))
        .unwrap_or_else(|| panic!("no precision reason: {:?}", v.reasons));
    assert!(reason.ends_with(" ms, allowed 15%"), "{reason}");
    let e = &v.endpoints[0];
    let [lo, hi] = e
        .interval_ms
        .expect("1,500 samples are enough for an interval");
    let q = e.q_new_ms.expect("samples");
    assert!(lo < q * 0.85 || hi > q * 1.15, "{lo} {q} {hi}");
    assert!(verdicts.iter().all(|v| !v.pass));
}

#[test]
fn the_summary_names_the_first_reason_and_counts_the_others() {
    let mut endpoint = flat("home", 50.0);
    endpoint.error_rate = 0.5;
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![endpoint], 17);
    synth.achieved_ratio = 0.5;
    let v = run(&mut gate, &mut synth, 3).pop().expect("verdicts");
    let summary = v.summary();
    assert!(
        summary.starts_with("not ready: generator: achieved 25 rps of 50 (50%), need 95% (+"),
        "{summary}"
    );
    assert!(summary.ends_with(" more)"), "{summary}");
    assert!(!summary.contains('\n'));
}
