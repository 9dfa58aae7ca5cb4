//! The gate's statistical promises, reproduced on seeded synthetic warm-ups (docs/FACTS.md,
//! "Steady-state detection"): lognormal sigma 1 latency (median 5 ms) times a curve of
//! [`loadgen::model`] taken at each request's index and intended send time, 500 rps unless said
//! otherwise, 5 s windows, default settings. Pure and fast: no sockets, no clock.

use std::time::Duration;

use hdrhistogram::Histogram;

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{Gate, GateSettings};

/// Seconds until ready, or `None` within `limit` seconds.
fn time_to_ready(curve: Curve, seed: u64, rate: f64, limit: f64) -> Option<f64> {
    let settings = GateSettings::default();
    let mut synth = Synth::new(
        seed,
        settings.window,
        vec![SynthEndpoint::new("home", rate, curve)],
    );
    let mut gate = Gate::new(settings, synth.names());
    while synth.elapsed() < limit {
        if gate.observe(&synth.next_snapshot()).ready {
            return Some(synth.elapsed());
        }
    }
    None
}

/// The cold excess of `curve` at `t` seconds on an endpoint served at `rate` rps.
fn residual(curve: Curve, rate: f64, t: f64) -> f64 {
    SynthEndpoint::new("home", rate, curve).residual(t)
}

/// loadgen's profile curve at its documented (speed 1) constants.
fn profile(p: Profile) -> Curve {
    Curve::new(p, 1.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[test]
fn flat_latency_is_ready_after_two_lookbacks_and_two_more_windows_at_the_earliest() {
    // 2 lookbacks of history (24 windows), then K = 3 passes: windows 24, 25, 26 -> 130 s.
    let times: Vec<f64> = (0..8)
        .map(|seed| time_to_ready(profile(Profile::Flat), seed, 500.0, 600.0).expect("flat opens"))
        .collect();
    for &t in &times {
        assert!(
            t >= 130.0,
            "ready at {t} s, before 2 lookbacks + 2 windows: {times:?}"
        );
        // Simulated over 30 seeds: at most 165 s.
        assert!(t <= 200.0, "flat took {t} s: {times:?}");
    }
    assert!(
        times.iter().filter(|&&t| t == 130.0).count() >= 4,
        "flat should usually open at the earliest point: {times:?}"
    );
}

#[test]
fn warmup_tau_20s_opens_with_residual_slowness_under_1_4_percent() {
    let curve = Curve::warmup(1.0, 20.0);
    for seed in 0..8 {
        let t = time_to_ready(curve, seed, 500.0, 600.0).expect("a 20 s warm-up opens");
        let residual = residual(curve, 500.0, t);
        // docs/FACTS.md, "Steady-state detection": <= 1.4%. Simulated here: at most 0.2% over 30 seeds.
        assert!(
            residual <= 0.014,
            "seed {seed}: ready at {t} s, residual {residual:.4}"
        );
    }
}

#[test]
fn warmup_tau_60s_opens_with_residual_slowness_near_ten_percent() {
    let curve = Curve::warmup(1.0, 60.0);
    let residuals: Vec<f64> = (0..10)
        .map(|seed| {
            let t = time_to_ready(curve, seed, 500.0, 600.0).expect("a 60 s warm-up opens");
            residual(curve, 500.0, t)
        })
        .collect();
    // docs/FACTS.md, "Steady-state detection": ~8-10%. Simulated here over 30 seeds: median 6.4%, max 11.5%.
    assert!(median(residuals.clone()) <= 0.10, "residuals {residuals:?}");
    assert!(
        residuals.iter().all(|&r| r <= 0.16),
        "residuals {residuals:?}"
    );
}

#[test]
fn a_ten_times_cold_start_opens_only_once_within_a_few_percent_of_warm() {
    let curve = Curve::warmup(9.0, 30.0);
    // benches/gate_sim.rs over 40 seeds: residual median 1.6%, max 6.1% (ready 150-235 s).
    let residuals: Vec<f64> = (0..8)
        .map(|seed| {
            let t = time_to_ready(curve, seed, 500.0, 600.0).expect("opens");
            residual(curve, 500.0, t)
        })
        .collect();
    assert!(
        residuals.iter().all(|&r| r <= 0.08),
        "residuals {residuals:?}"
    );
    assert!(median(residuals.clone()) <= 0.03, "residuals {residuals:?}");
}

#[test]
fn drift_of_20_percent_a_minute_never_opens_in_ten_minutes() {
    for seed in 0..6 {
        let t = time_to_ready(Curve::drift_per_minute(0.2), seed, 500.0, 600.0);
        assert_eq!(t, None, "seed {seed} opened on a drift");
    }
}

#[test]
fn slowdown_after_warming_never_opens_in_ten_minutes() {
    // Warms (tau 20 s), then degrades +50%/min from 60 s: the bottom of the U looks flat.
    let curve = Curve::slowdown_at_rate(1.0, 20.0, 60.0, 0.5, 500.0);
    for seed in 0..6 {
        assert_eq!(
            time_to_ready(curve, seed, 500.0, 600.0),
            None,
            "seed {seed} opened"
        );
    }
}

/// loadgen's `drift` (e-fold 300 s: +22%/min) and `slowdown` (its `jit` warm-up, then +65%/min
/// from 8,000 requests) at the default 200 rps.
#[test]
fn loadgen_drift_and_slowdown_shapes_never_open_at_200_rps() {
    for seed in 0..6 {
        for p in [Profile::Drift, Profile::Slowdown] {
            let t = time_to_ready(profile(p), seed, 200.0, 600.0);
            assert_eq!(t, None, "{}, seed {seed}", p.name());
        }
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
            vec![SynthEndpoint::new("home", rate, profile(Profile::Flat))],
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

/// loadgen's `tiered` at 200 rps (n = 200 t): 15x for 1,000 requests, 2.5x until 10,000, then
/// warm. Two plateaus: the gate must not stop on the first.
#[test]
fn tiered_warmup_opens_only_on_the_last_plateau() {
    for seed in 0..6 {
        let tiered = profile(Profile::Tiered);
        let t = time_to_ready(tiered, seed, 200.0, 600.0).expect("tiered settles at 50 s");
        assert_eq!(residual(tiered, 200.0, t), 0.0, "seed {seed}: {t} s");
    }
}

/// loadgen's `errors` at 200 rps: 503s for 20 s, then `jit`; here the 503s are fast (a fifth of
/// warm latency).
#[test]
fn fast_errors_then_a_jit_warmup_open_once_errors_are_gone_and_latency_settled() {
    let curve = profile(Profile::Errors);
    for seed in 0..6 {
        let settings = GateSettings::default();
        let endpoint = SynthEndpoint {
            error_latency: 0.2,
            ..SynthEndpoint::new("home", 200.0, curve)
        };
        let mut synth = Synth::new(seed, settings.window, vec![endpoint.clone()]);
        let mut gate = Gate::new(settings, synth.names());
        let mut ready_at = None;
        while synth.elapsed() < 600.0 && ready_at.is_none() {
            if gate.observe(&synth.next_snapshot()).ready {
                ready_at = Some(synth.elapsed());
            }
        }
        let t = ready_at.expect("opens once the errors are gone");
        // Errors leave the lookback's rate under 1% at 20 + 60 s at the earliest; the low
        // latency of the fast 503s must not read as a rise that blocks the gate for long.
        assert!((80.0..=300.0).contains(&t), "seed {seed}: ready at {t} s");
        assert!(
            residual(curve, 500.0, t) < 0.01,
            "seed {seed}: residual at {t} s"
        );
    }
}

#[test]
fn at_100_rps_a_flat_app_is_not_held_back_by_drift_within_its_noise() {
    // 100 rps, sigma 0.5 (loadgen's simulator): 500 samples per window, so the per-window p99
    // moves about +/-8% and the Theil-Sen drift over 12 windows about as much. Measured over
    // 20 seeds x 94 evaluations: |drift| >= 10% in 26% of evaluations, the trend check failing
    // in 13% (Mann-Kendall's 5% included), and every seed ready by 165 s.
    let (mut evaluations, mut big_drift, mut trend_failures) = (0u32, 0u32, 0u32);
    for seed in 0..10 {
        let settings = GateSettings::default();
        let endpoint = SynthEndpoint {
            sigma: 0.5,
            ..SynthEndpoint::new("home", 100.0, profile(Profile::Flat))
        };
        let mut synth = Synth::new(seed, settings.window, vec![endpoint]);
        let mut gate = Gate::new(settings, synth.names());
        let mut ready_at = None;
        while synth.elapsed() < 600.0 {
            let v = gate.observe(&synth.next_snapshot());
            if v.ready && ready_at.is_none() {
                ready_at = Some(synth.elapsed());
            }
            if synth.elapsed() < 135.0 {
                continue;
            }
            evaluations += 1;
            let e = &v.endpoints[0];
            if e.drift.expect("12 windows").abs() >= 0.10 {
                big_drift += 1;
            }
            if e.reasons.iter().any(|r| r.contains("still")) {
                trend_failures += 1;
            }
        }
        let t = ready_at.unwrap_or_else(|| panic!("seed {seed}: flat app never ready"));
        assert!(t <= 300.0, "seed {seed}: ready only at {t} s");
    }
    let share = |n: u32| f64::from(n) / f64::from(evaluations);
    // The point estimate alone would hold a flat app back often...
    assert!(
        share(big_drift) > 0.15,
        "|drift| >= 10% in {:.2}",
        share(big_drift)
    );
    // ... the noise-aware check rarely does.
    assert!(
        share(trend_failures) < 0.20,
        "trend failed {:.2}",
        share(trend_failures)
    );
}
