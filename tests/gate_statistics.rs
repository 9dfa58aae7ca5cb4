//! The gate's statistical promises (issue 9), reproduced on seeded synthetic warm-ups
//! (docs/FACTS.md, "Steady-state detection"; docs/DESIGN.md, "The gate"): lognormal latency
//! (median 5 ms) times a curve of [`loadgen::model`] taken at each request's index and intended
//! send time, 5 s windows, default settings. Pure and fast: no sockets, no clock. Each claim runs
//! 20 seeds; benches/gate_sim.rs runs the same cases over 40 and prints their table.

use std::time::Duration;

use hdrhistogram::Histogram;

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{Class, Gate, GateSettings, Verdict};

const SEEDS: u64 = 20;

/// `n` endpoints at `rate` rps each with lognormal `sigma`, following `curve`.
fn endpoints(n: usize, rate: f64, sigma: f64, curve: Curve) -> Vec<SynthEndpoint> {
    (0..n)
        .map(|i| SynthEndpoint {
            sigma,
            ..SynthEndpoint::new(&format!("e{i}"), rate, curve)
        })
        .collect()
}

/// Every verdict for `limit` seconds (stops early once ready when `stop_at_ready`).
fn verdicts(eps: Vec<SynthEndpoint>, seed: u64, limit: f64, stop_at_ready: bool) -> Vec<Verdict> {
    let settings = GateSettings::default();
    let mut synth = Synth::new(seed, settings.window, eps);
    let mut gate = Gate::new(settings, synth.names());
    let mut out = Vec::new();
    while synth.elapsed() < limit {
        let v = gate.observe(&synth.next_snapshot());
        let ready = v.ready;
        out.push(v);
        if ready && stop_at_ready {
            break;
        }
    }
    out
}

/// Seconds (window ends) of the first passing evaluation, or `None`.
fn first_pass_s(vs: &[Verdict]) -> Option<f64> {
    vs.iter().position(|v| v.pass).map(|i| (i + 1) as f64 * 5.0)
}

/// Seconds of the first ready verdict, or `None`.
fn ready_s(vs: &[Verdict]) -> Option<f64> {
    vs.iter()
        .position(|v| v.ready)
        .map(|i| (i + 1) as f64 * 5.0)
}

/// Seconds until ready on one endpoint (sigma 1), or `None` within `limit` seconds.
fn time_to_ready(curve: Curve, seed: u64, rate: f64, limit: f64) -> Option<f64> {
    ready_s(&verdicts(endpoints(1, rate, 1.0, curve), seed, limit, true))
}

/// The cold excess of `curve` at `t` seconds on an endpoint served at `rate` rps.
fn residual(curve: Curve, rate: f64, t: f64) -> f64 {
    SynthEndpoint::new("home", rate, curve).residual(t)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[test]
fn a_flat_app_passes_within_45_s_of_windows() {
    // Two endpoints at 400 rps each, sigma 0.5: the level's trend is known to +/-3%/min after
    // ~35 s. (At the default 100 rps per endpoint the same needs ~55 s: README, gate_sim.)
    // A pass needs the trend's upper bound under +5%/min: a flat app's own noise exceeds it in a
    // few percent of evaluations, so 18 of 20 seeds must pass by 45 s and every one by 60 s.
    let mut times = Vec::new();
    for seed in 0..SEEDS {
        let vs = verdicts(
            endpoints(2, 400.0, 0.5, Curve::new(Profile::Flat, 1.0)),
            seed,
            120.0,
            true,
        );
        let t = first_pass_s(&vs).unwrap_or(f64::INFINITY);
        assert!(
            t <= 60.0,
            "seed {seed}: first pass at {t} s: {:?}",
            vs.get(11).map(|v| &v.reasons)
        );
        let last = vs.last().expect("verdicts");
        assert!(last.ready, "seed {seed} never ready in 120 s");
        assert!(
            last.endpoints.iter().all(|e| e.class == Class::Flat),
            "seed {seed}"
        );
        times.push(t);
    }
    println!("flat 2 x 400 rps, first pass s: {times:?}");
    let within = times.iter().filter(|&&t| t <= 45.0).count();
    assert!(within >= 18, "{within} of 20 within 45 s: {times:?}");
    assert!(
        median(times.clone()) >= 25.0,
        "too fast to be honest: {times:?}"
    );
}

#[test]
fn a_jittery_stationary_app_passes_within_90_s() {
    // A wide lognormal body (sigma 1), 0.5% hiccups of 3-10x, a 150 ms burst of queueing every
    // ~4 s, at 200 rps per endpoint, two endpoints: nothing moves, so the tail must pass once its
    // interval is precise, although per-window p99s swing by tens of percent.
    let mut times = Vec::new();
    for seed in 0..SEEDS {
        let jittery = Curve::new(Profile::Jittery, 1.0);
        let vs = verdicts(endpoints(2, 200.0, 1.0, jittery), seed, 180.0, true);
        let t = first_pass_s(&vs).unwrap_or(f64::INFINITY);
        assert!(
            t <= 150.0,
            "seed {seed}: first pass at {t} s: {:?}",
            vs.get(29).map(|v| &v.reasons)
        );
        let v = vs.iter().find(|v| v.pass).expect("passed");
        assert!(
            v.endpoints.iter().all(|e| e.class == Class::Flat),
            "seed {seed}"
        );
        times.push(t);
    }
    println!("jittery 2 x 200 rps, first pass s: {times:?}");
    let within = times.iter().filter(|&&t| t <= 90.0).count();
    // Simulated: 15 of 20 within 90 s, median 87.5 s, all within 110 s.
    assert!(within >= 13, "{within} of 20 within 90 s: {times:?}");
    assert!(median(times.clone()) <= 90.0, "median over 90 s: {times:?}");
}

#[test]
fn creep_and_drift_never_open_within_240_s() {
    // +10%/min (creep) and +22%/min (drift), whole distribution: at 200 rps with sigma 1 on one
    // endpoint, and at the default 2 x 100 rps with loadgen's sigma 0.5. Never a single pass
    // after the first minute, and classed as slowdowns.
    for p in [Profile::Creep, Profile::Drift] {
        for (n, rate, sigma) in [(1, 200.0, 1.0), (2, 100.0, 0.5)] {
            for seed in 0..SEEDS {
                let vs = verdicts(
                    endpoints(n, rate, sigma, Curve::new(p, 1.0)),
                    seed,
                    240.0,
                    false,
                );
                assert!(
                    !vs.iter().any(|v| v.ready),
                    "{} {n}x{rate} seed {seed} opened",
                    p.name()
                );
                let late_passes = vs[12..].iter().filter(|v| v.pass).count();
                assert_eq!(late_passes, 0, "{} {n}x{rate} seed {seed}", p.name());
                let last = vs.last().expect("verdicts");
                assert!(
                    last.endpoints.iter().all(|e| e.class == Class::Slowdown),
                    "{} seed {seed}: {:?}",
                    p.name(),
                    last.reasons
                );
                assert!(last.reasons.iter().any(|r| r.contains("getting slower")));
            }
        }
    }
}

#[test]
fn a_slowdown_after_warming_never_opens_within_240_s() {
    // loadgen's `slowdown` with the time shape it has at 100 rps per path (the default): warms
    // like `jit`, then degrades from 80 s at +28%/min: a U whose flat bottom lasts ~20 s. Not
    // asserted: one endpoint at 200 rps with sigma 0.5, where gate_sim opens 2 of 40 runs at the
    // bottom of the U (README, "The gate in simulation").
    for (n, rate, sigma) in [(1, 200.0, 1.0), (2, 100.0, 0.5)] {
        let curve = Curve::new(Profile::Slowdown, 100.0 / rate);
        for seed in 0..SEEDS {
            let vs = verdicts(endpoints(n, rate, sigma, curve), seed, 240.0, false);
            assert!(
                !vs.iter().any(|v| v.ready),
                "{n}x{rate} sigma {sigma} seed {seed} opened"
            );
            let last = vs.last().expect("verdicts");
            assert_eq!(last.endpoints[0].class, Class::Slowdown, "seed {seed}");
        }
    }
}

#[test]
fn warm_ups_are_classed_warmed_with_their_settle_point() {
    // jit at 100 rps per path settles (cold excess <= 5%) after 12,794 requests = 128 s; cache
    // after 60 s. The settle point found must be near, and the gate open within 90 s after it
    // with a residual under 2%.
    for (p, settle) in [(Profile::Jit, 128.0), (Profile::Cache, 59.9)] {
        for seed in 0..SEEDS {
            let curve = Curve::new(p, 1.0);
            let vs = verdicts(endpoints(2, 100.0, 0.5, curve), seed, 600.0, true);
            let t = ready_s(&vs).unwrap_or_else(|| panic!("{} seed {seed} never ready", p.name()));
            println!("{} seed {seed}: ready {t} s", p.name());
            assert!(t <= settle + 180.0, "{} seed {seed}: ready {t} s", p.name());
            assert!(residual(curve, 100.0, t) < 0.02, "{} seed {seed}", p.name());
            let e = &vs.last().expect("verdicts").endpoints[0];
            assert_eq!(e.class, Class::Warmed, "{} seed {seed}", p.name());
            let found = e.settle_s.expect("settle point");
            assert!(
                (found - settle).abs() <= 45.0,
                "{} seed {seed}: settle found at {found} s, true {settle} s",
                p.name()
            );
        }
    }
}

#[test]
fn a_warm_up_in_progress_is_classed_warming() {
    let curve = Curve::warmup(4.0, 60.0);
    for seed in 0..5 {
        let vs = verdicts(endpoints(1, 200.0, 0.5, curve), seed, 60.0, false);
        let e = &vs.last().expect("verdicts").endpoints[0];
        assert_eq!(e.class, Class::Warming, "seed {seed}: {:?}", e.reasons);
        assert!(e.residual_bound.expect("segment") > 0.10);
    }
}

#[test]
fn the_naive_adjacent_blocks_rule_would_open_far_too_early_on_the_same_data() {
    // Guards the point of the whole gate. The naive rule of docs/FACTS.md, "Steady-state
    // detection", evaluated every 5 s window:
    // p99 of the last 10 s within 10% of the 10 s before, 3 times in a row. On tau 60 s it left
    // ~56% residual slowness (51% here over 40 seeds); the gate leaves ~6%.
    let curve = Curve::warmup(1.0, 60.0);
    let mut naive_residuals = Vec::new();
    for seed in 0..6 {
        let mut synth = Synth::new(
            seed,
            Duration::from_secs(5),
            vec![SynthEndpoint::new("home", 500.0, curve)],
        );
        let mut windows = Vec::new();
        let mut passes = 0;
        let mut opened = None;
        while synth.elapsed() < 600.0 && opened.is_none() {
            windows.push(synth.next_snapshot().endpoints[0].latency.clone());
            if let [.., a, b, c, d] = &windows[..] {
                let p99 = |x: &Histogram<u64>, y: &Histogram<u64>| {
                    let mut m = x.clone();
                    m.add(y).expect("same bounds");
                    m.value_at_quantile(0.99) as f64
                };
                let change = p99(c, d) / p99(a, b) - 1.0;
                passes = if change.abs() <= 0.10 { passes + 1 } else { 0 };
                if passes >= 3 {
                    opened = Some(synth.elapsed());
                }
            }
        }
        let t = opened.expect("the naive rule opens");
        naive_residuals.push(residual(curve, 500.0, t));
    }
    let gate_residuals: Vec<f64> = (0..6)
        .map(|seed| {
            residual(
                curve,
                500.0,
                time_to_ready(curve, seed, 500.0, 600.0).expect("opens"),
            )
        })
        .collect();
    assert!(
        median(naive_residuals.clone()) > 0.35,
        "naive {naive_residuals:?}"
    );
    assert!(
        median(naive_residuals.clone()) > 3.0 * median(gate_residuals.clone()),
        "naive {naive_residuals:?} vs gate {gate_residuals:?}"
    );
}

#[test]
fn interval_widths_match_the_facts_for_a_lognormal_tail() {
    use warmgate::gate::stats::{interval_ranks, value_at_rank};
    // docs/FACTS.md, "Quantile statistics": relative 95% width of p99 for lognormal sigma 1: -14/+22% at n = 2,000,
    // -9/+12% at n = 5,000. Averaged over 30 samples of each size.
    for (rate, below, above) in [(400.0, -0.14, 0.22), (1000.0, -0.09, 0.12)] {
        let mut synth = Synth::new(
            21,
            Duration::from_secs(5),
            vec![SynthEndpoint::new(
                "home",
                rate,
                Curve::new(Profile::Flat, 1.0),
            )],
        );
        let (mut lo_sum, mut hi_sum) = (0.0, 0.0);
        for _ in 0..30 {
            let h = synth.next_snapshot().endpoints[0].latency.clone();
            let (lo, hi) = interval_ranks(h.len(), 0.99).expect("enough samples");
            let q = h.value_at_quantile(0.99) as f64;
            lo_sum += value_at_rank(&h, lo) as f64 / q - 1.0;
            hi_sum += value_at_rank(&h, hi) as f64 / q - 1.0;
        }
        let (lo, hi) = (lo_sum / 30.0, hi_sum / 30.0);
        assert!(
            (lo - below).abs() < 0.04,
            "n = {}: below {lo:.3}",
            rate * 5.0
        );
        assert!(
            (hi - above).abs() < 0.05,
            "n = {}: above {hi:.3}",
            rate * 5.0
        );
    }
}
