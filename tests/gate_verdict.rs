//! The gate's verdict on seeded synthetic windows: what keeps it closed, what its reasons say,
//! streaks and resets, several endpoints, the classes, and the JSON it serialises to. Pure: no
//! sockets. Where an outcome depends on the noise, the test runs several seeds and asserts what
//! holds for each (the statistics behind the margins are in the comments).

use std::time::Duration;

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{Class, EndpointSpec, Gate, GateSettings, Verdict};

fn flat(name: &str, rate: f64) -> SynthEndpoint {
    SynthEndpoint {
        sigma: 0.5,
        ..SynthEndpoint::new(name, rate, Curve::new(Profile::Flat, 1.0))
    }
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

/// True if some reason of the verdict contains `text`.
fn says(v: &Verdict, text: &str) -> bool {
    v.reasons.iter().any(|r| r.contains(text))
}

/// Index of the first ready verdict.
fn ready_at(verdicts: &[Verdict]) -> Option<usize> {
    verdicts.iter().position(|v| v.ready)
}

#[test]
fn first_verdicts_explain_that_windows_are_being_collected() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], 1);
    let v = gate.observe(&synth.next_snapshot());
    assert!(!v.pass && !v.ready);
    assert_eq!((v.streak, v.required), (0, 3));
    assert_eq!(
        v.reasons.last().map(String::as_str),
        Some("collecting: 1 of 4 windows (5s of 20s)")
    );
    assert!(
        says(&v, "home: 2,000 samples since the settle point, need 2,000") || v.reasons.len() == 1,
        "{:?}",
        v.reasons
    );
    assert_eq!(v.endpoints[0].class, Class::Collecting);
    assert!(v.summary().starts_with("not ready: "), "{}", v.summary());
    // With 4 windows the segment exists: a settle point, a residual and a trend are reported.
    let v = run(&mut gate, &mut synth, 3).pop().expect("verdicts");
    let e = &v.endpoints[0];
    assert_eq!(e.settle_s, Some(0.0));
    assert!(e.residual.is_some() && e.residual_bound.is_some() && e.rise_bound.is_some());
}

#[test]
fn flat_opens_within_a_minute_at_400_rps_and_the_streak_counts_up() {
    // At 400 rps, sigma 0.5, the level's trend is known to +/-3%/min after ~35 s: every seed
    // must be ready within 60 s (12 windows), none before the 3rd window with a segment (30 s).
    for seed in 0..10 {
        let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], seed);
        let verdicts = run(&mut gate, &mut synth, 12);
        let at = ready_at(&verdicts).unwrap_or_else(|| {
            panic!(
                "seed {seed} not ready in 60 s: {:?}",
                verdicts.last().map(|v| &v.reasons)
            )
        });
        assert!(at >= 5, "seed {seed} ready at window {at}");
        let v = &verdicts[at];
        assert_eq!(v.streak, 3);
        assert!(verdicts[at - 1]
            .summary()
            .starts_with("stable, confirming: 2 of 3"));
        assert!(
            v.summary().starts_with("ready: stable for 3 evaluations"),
            "{}",
            v.summary()
        );
        let e = &v.endpoints[0];
        assert_eq!(e.class, Class::Flat, "seed {seed}");
        assert_eq!(e.settle_s, Some(0.0));
        assert!(e.residual_bound.expect("segment") <= 0.10);
        assert!(e.rise_bound.expect("segment") < 0.05);
        // p99 of lognormal(5 ms, sigma 0.5) = 5 e^1.163 = 16.0 ms.
        let q = e.q_ms.expect("samples");
        assert!((q / 16.0 - 1.0).abs() < 0.10, "p99 {q} ms");
        let [lo, hi] = e.interval_ms.expect("interval");
        assert!(
            lo < q && q < hi && lo > q * 0.85 && hi < q * 1.15,
            "{lo} {q} {hi}"
        );
        assert_eq!(e.requests, 2000 * (at as u64 + 1));
    }
}

#[test]
fn reset_forgets_windows_and_streak() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], 4);
    assert!(run(&mut gate, &mut synth, 30).iter().any(|v| v.ready));
    gate.reset();
    assert_eq!(gate.streak(), 0);
    let v = gate.observe(&synth.next_snapshot());
    assert!(!v.ready && v.streak == 0);
    assert!(says(&v, "collecting: 1 of 4 windows"), "{:?}", v.reasons);
    assert_eq!(v.endpoints[0].requests, 2000);
}

#[test]
fn errors_above_the_limit_keep_it_closed_with_their_numbers() {
    let mut endpoint = flat("home", 400.0);
    endpoint.error_rate = 0.05;
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![endpoint], 20);
    let verdicts = run(&mut gate, &mut synth, 40);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    // The most important reason comes first.
    assert!(
        v.reasons[0].starts_with("home: error rate 5"),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons[0].contains("% > 1% ("), "{:?}", v.reasons);
    // Which failures, by kind (the synthetic errors are 503s).
    assert!(
        v.reasons[0].contains(" requests: ") && v.reasons[0].ends_with(" http_error)"),
        "{:?}",
        v.reasons
    );
    let rate = v.endpoints[0].error_rate;
    assert!((rate - 0.05).abs() < 0.01, "error rate {rate}");
}

#[test]
fn a_starved_generator_keeps_it_closed_with_its_numbers() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], 5);
    synth.achieved_ratio = 0.5;
    let verdicts = run(&mut gate, &mut synth, 20);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    assert_eq!(
        v.reasons[0],
        "generator: achieved 200 rps of 400 (50%), need 95%"
    );
    // The endpoint itself is fine: only the generator is blamed.
    assert!(v.endpoints[0].pass, "{:?}", v.endpoints[0].reasons);
    synth.achieved_ratio = 1.0;
    synth.lag = Duration::from_millis(80);
    let v = run(&mut gate, &mut synth, 5).pop().expect("verdicts");
    assert!(
        says(&v, "generator: schedule lag p99 80"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_ceiling_below_the_quantile_keeps_it_closed() {
    let settings = GateSettings {
        endpoints: vec![EndpointSpec {
            name: "home".to_string(),
            ceiling: Some(Duration::from_millis(12)),
        }],
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 400.0)], 6);
    let verdicts = run(&mut gate, &mut synth, 30);
    assert!(verdicts.iter().all(|v| !v.pass));
    let v = verdicts.last().expect("verdicts");
    assert!(says(v, "over ceiling 12 ms"), "{:?}", v.reasons);
    assert_eq!(v.endpoints[0].ceiling_ms, Some(12.0));
}

#[test]
fn a_creeping_endpoint_keeps_the_verdict_failing_while_the_other_passes() {
    let creep = SynthEndpoint {
        sigma: 0.5,
        ..SynthEndpoint::new("api", 400.0, Curve::new(Profile::Creep, 1.0))
    };
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0), creep], 7);
    let verdicts = run(&mut gate, &mut synth, 48);
    assert!(verdicts.iter().all(|v| !v.pass));
    let late = &verdicts[20..];
    assert!(late.iter().all(|v| !v.endpoints[1].pass));
    assert!(late.iter().all(|v| v.endpoints[1].class == Class::Slowdown));
    assert!(late.iter().filter(|v| v.endpoints[0].pass).count() > late.len() / 2);
    let v = verdicts.last().expect("verdicts");
    assert!(says(v, "api: getting slower: latency +"), "{:?}", v.reasons);
}

#[test]
fn an_endpoint_without_traffic_fails_with_no_samples() {
    let (mut gate, mut synth) = setup(
        GateSettings::default(),
        vec![flat("home", 400.0), flat("idle", 0.0)],
        8,
    );
    let verdicts = run(&mut gate, &mut synth, 20);
    assert!(verdicts.iter().all(|v| !v.pass));
    let e = &verdicts.last().expect("verdicts").endpoints[1];
    assert_eq!(
        e.reasons,
        vec!["idle: no samples (no traffic reached this endpoint)"]
    );
    assert_eq!((e.samples, e.q_ms, e.residual), (0, None, None));
    assert_eq!(e.class, Class::Collecting);
}

#[test]
fn min_requests_holds_back_a_stable_plateau() {
    let settings = GateSettings {
        min_requests: 40_000,
        ..GateSettings::default()
    };
    let (mut gate, mut synth) = setup(settings, vec![flat("home", 400.0)], 9);
    let verdicts = run(&mut gate, &mut synth, 30);
    assert!(says(
        &verdicts[10],
        "home: 22,000 requests since warming began, need 40,000"
    ));
    // 40,000 requests at 400 rps = 100 s = 20 windows.
    let first_pass = verdicts
        .iter()
        .position(|v| v.pass)
        .expect("passes eventually");
    assert!(first_pass >= 19, "passed at window {first_pass}");
}

#[test]
fn a_step_down_holds_until_the_tier_requests_then_opens_on_the_faster_level() {
    // JIT tiers at 200 rps: interpreter (15x) to 1,000 requests (5 s), C1 (2.5x) to 10,000
    // (50 s), then C2. Without the hold the C1 plateau would pass; with it nothing passes before
    // 12,000 requests (60 s), and the gate opens on C2.
    let tiered = SynthEndpoint {
        sigma: 0.5,
        ..SynthEndpoint::new("home", 200.0, Curve::new(Profile::Tiered, 1.0))
    };
    for seed in 0..5 {
        let (mut gate, mut synth) = setup(GateSettings::default(), vec![tiered.clone()], seed);
        let verdicts = run(&mut gate, &mut synth, 60);
        let at = ready_at(&verdicts).expect("opens on C2");
        assert!(at >= 13, "seed {seed} ready at window {at}, before C2 held");
        assert!(
            verdicts[5..10]
                .iter()
                .any(|v| says(v, "a faster JIT tier may follow")),
            "seed {seed}: {:?}",
            verdicts[8].reasons
        );
        let e = &verdicts[at].endpoints[0];
        assert_eq!(e.class, Class::Warmed);
        let settle = e.settle_s.expect("segment");
        assert!(
            settle >= 50.0,
            "seed {seed}: settled at {settle} s, on the C1 plateau"
        );
        assert!(e.step.expect("a step") > 1.5);
        // Opened on C2: p99 = 16 ms x 1.
        assert!(e.q_ms.expect("samples") < 20.0);
    }
}

#[test]
fn snapshots_are_matched_by_name_not_position() {
    let (mut gate, mut synth) = setup(
        GateSettings::default(),
        vec![flat("other", 400.0), flat("home", 400.0)],
        10,
    );
    let mut gate_home = Gate::new(GateSettings::default(), vec!["home".to_string()]);
    let mut v = gate.observe(&synth.next_snapshot());
    for _ in 0..5 {
        let snap = synth.next_snapshot();
        v = gate_home.observe(&snap);
        gate.observe(&snap);
    }
    assert_eq!(v.endpoints.len(), 1);
    assert_eq!(v.endpoints[0].name, "home");
    assert_eq!(v.endpoints[0].requests, 10_000);
}

#[test]
fn the_verdict_serialises_with_the_status_field_names() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], 11);
    let v = run(&mut gate, &mut synth, 6).pop().expect("verdicts");
    let json = serde_json::to_value(&v).expect("serialises");
    for key in [
        "pass",
        "streak",
        "required",
        "ready",
        "reasons",
        "endpoints",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    let e = &json["endpoints"][0];
    for key in [
        "name",
        "pass",
        "class",
        "reasons",
        "settle_s",
        "step",
        "judged_s",
        "samples",
        "q_ms",
        "interval_ms",
        "q_early_ms",
        "q_late_ms",
        "residual",
        "residual_bound",
        "rise_per_minute",
        "rise_bound",
        "error_rate",
        "requests",
        "ceiling_ms",
    ] {
        assert!(e.get(key).is_some(), "{key} missing: {e}");
    }
    assert_eq!(e["class"], "flat");
}

#[test]
fn a_warmup_in_progress_is_reported_as_still_improving_with_its_numbers() {
    let warming = SynthEndpoint {
        sigma: 0.5,
        ..SynthEndpoint::new("home", 400.0, Curve::warmup(4.0, 30.0))
    };
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![warming], 12);
    let verdicts = run(&mut gate, &mut synth, 8);
    let v = verdicts.last().expect("verdicts");
    let e = &v.endpoints[0];
    assert_eq!(e.class, Class::Warming, "{:?}", e.reasons);
    assert!(
        says(v, "home: still improving: users would find it up to"),
        "{:?}",
        v.reasons
    );
    // 5x cold, tau 30 s: at 40 s the level falls ~2.7%/s... far beyond the tolerance.
    assert!(e.residual.expect("segment") > 0.10);
    assert!(e.residual_bound.expect("segment") >= e.residual.expect("segment"));
    assert!(e.rise_per_minute.expect("segment") < -0.2);
}

#[test]
fn the_summary_names_the_first_reason_and_counts_the_others() {
    let (mut gate, mut synth) = setup(GateSettings::default(), vec![flat("home", 400.0)], 13);
    synth.achieved_ratio = 0.5;
    let v = gate.observe(&synth.next_snapshot());
    let summary = v.summary();
    assert!(
        summary.starts_with("not ready: generator: achieved 200 rps of 400 (50%), need 95% (+"),
        "{summary}"
    );
    assert!(summary.ends_with(" more)"), "{summary}");
}
