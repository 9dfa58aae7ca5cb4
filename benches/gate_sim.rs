//! Simulates the gate on synthetic warm-ups over many seeds and prints a table for the README:
//! profile, time to ready, residual slowness at ready (how much slower than warm the app still
//! was when the gate opened), and how often the gate never opened.
//!
//! `cargo bench --bench gate_sim` (release) or `cargo bench --profile dev --bench gate_sim`.
//! Optional arguments: number of seeds (default 40), rate in rps (default 500), lognormal sigma
//! (default 1; loadgen's simulator uses 0.5). Latency: lognormal, median 5 ms, times a curve of
//! [`loadgen::model`] at the request's index and intended send time (the `loadgen` rows: the
//! simulator's own curves, their request constants scaled so that they keep the time shape they
//! have at the rate named); 5 s windows, default gate settings (60 s lookback, 3 consecutive
//! passes), 10 minute limit. Residual = the curve's multiplier at ready minus 1 (for drifts:
//! growth since the start). A drift of +10%/min equals `max_drift` per lookback: the gate
//! tolerates it by design. The naive rule is docs/FACTS.md's ("Steady-state detection") "p99 of
//! adjacent 10 s blocks within 10%", every 5 s, 3 in a row.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{Gate, GateSettings};

/// One row of the table.
struct Case {
    name: &'static str,
    curve: Curve,
    lookback: u64,
}

/// The simulated endpoint's traffic: rate (rps) and lognormal sigma of its latency.
#[derive(Clone, Copy)]
struct Load {
    rate: f64,
    sigma: f64,
}

impl Load {
    /// The one endpoint, named `home`, following `curve`.
    fn endpoint(self, curve: Curve) -> SynthEndpoint {
        SynthEndpoint {
            sigma: self.sigma,
            ..SynthEndpoint::new("home", self.rate, curve)
        }
    }

    /// The cold excess of `curve` at `t` seconds on this endpoint.
    fn residual(self, curve: Curve, t: f64) -> f64 {
        self.endpoint(curve).residual(t)
    }

    /// `profile`'s simulator curve with the time shape it has at `shape_rate` requests per
    /// second on a path, sampled at this load's rate (speed scales the request constants).
    fn shaped(self, profile: Profile, shape_rate: f64) -> Curve {
        Curve::new(profile, shape_rate / self.rate)
    }
}

/// Time spent in `Gate::observe` and the number of calls, for the cost line.
static OBSERVE: Mutex<(Duration, u64)> = Mutex::new((Duration::ZERO, 0));

/// Seconds until the gate said ready, or `None` within `limit` seconds.
fn time_to_ready(curve: Curve, seed: u64, load: Load, lookback: u64, limit: f64) -> Option<f64> {
    let settings = GateSettings {
        lookback: Duration::from_secs(lookback),
        ..GateSettings::default()
    };
    let mut synth = Synth::new(seed, settings.window, vec![load.endpoint(curve)]);
    let mut gate = Gate::new(settings, synth.names());
    while synth.elapsed() < limit {
        let snapshot = synth.next_snapshot();
        let started = Instant::now();
        let verdict = gate.observe(&snapshot);
        if let Ok(mut cost) = OBSERVE.lock() {
            cost.0 += started.elapsed();
            cost.1 += 1;
        }
        if verdict.ready {
            return Some(synth.elapsed());
        }
    }
    None
}

/// Seconds until the naive rule opens: every 5 s window, the p99 of the last 10 s within 10% of
/// the p99 of the 10 s before, 3 evaluations in a row.
fn naive_time_to_ready(curve: Curve, seed: u64, load: Load, limit: f64) -> Option<f64> {
    let mut synth = Synth::new(seed, Duration::from_secs(5), vec![load.endpoint(curve)]);
    let mut windows = Vec::new();
    let mut passes = 0;
    while synth.elapsed() < limit {
        windows.push(synth.next_snapshot().endpoints[0].latency.clone());
        if let [.., a, b, c, d] = &windows[..] {
            let p99 = |x: &Histogram<u64>, y: &Histogram<u64>| {
                let mut m = x.clone();
                let _ = m.add(y);
                m.value_at_quantile(0.99) as f64
            };
            let (old, new) = (p99(a, b), p99(c, d));
            passes = if (new / old - 1.0).abs() <= 0.10 {
                passes + 1
            } else {
                0
            };
            if passes >= 3 {
                return Some(synth.elapsed());
            }
        }
    }
    None
}

/// `opened/seeds` and the median residual at opening, for the table.
fn naive_column(curve: Curve, seeds: u64, load: Load, limit: f64) -> String {
    let mut residuals: Vec<f64> = (0..seeds)
        .filter_map(|seed| naive_time_to_ready(curve, seed, load, limit))
        .map(|t| load.residual(curve, t))
        .collect();
    residuals.sort_by(f64::total_cmp);
    if residuals.is_empty() {
        format!("0/{seeds}")
    } else {
        format!(
            "{}/{seeds}, {:.1}%",
            residuals.len(),
            pick(&residuals, 0.5) * 100.0
        )
    }
}

/// The `p`-quantile (nearest rank) of sorted `xs`.
fn pick(xs: &[f64], p: f64) -> f64 {
    let i = ((xs.len() as f64 * p).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[i]
}

/// Every row, in table order.
fn cases(load: Load) -> Vec<Case> {
    let case = |name, curve, lookback| Case {
        name,
        curve,
        lookback,
    };
    vec![
        case("flat", Curve::new(Profile::Flat, 1.0), 60),
        case("warmup tau 20 s", Curve::warmup(1.0, 20.0), 60),
        case("warmup tau 60 s", Curve::warmup(1.0, 60.0), 60),
        case("warmup tau 120 s", Curve::warmup(1.0, 120.0), 60),
        case(
            "warmup tau 120 s, lookback 120 s",
            Curve::warmup(1.0, 120.0),
            120,
        ),
        case("cold x10, tau 30 s", Curve::warmup(9.0, 30.0), 60),
        case("drift +20%/min", Curve::drift_per_minute(0.2), 60),
        case("drift +10%/min", Curve::drift_per_minute(0.1), 60),
        case(
            "slowdown (tau 20 s, +50%/min after 60 s)",
            Curve::slowdown_at_rate(1.0, 20.0, 60.0, 0.5, load.rate),
            60,
        ),
        // The simulator's curves as a warmgate run sees them: at the default 200 rps on one
        // path, or at 100 rps per path (the honesty benchmark's full mode: 200 rps, 2 paths).
        case(
            "loadgen jit (200 rps shape)",
            load.shaped(Profile::Jit, 200.0),
            60,
        ),
        case(
            "loadgen jit (100 rps/path shape)",
            load.shaped(Profile::Jit, 100.0),
            60,
        ),
        case(
            "loadgen tiered (200 rps shape)",
            load.shaped(Profile::Tiered, 200.0),
            60,
        ),
        // Time-based: the same at every rate.
        case("loadgen drift", Curve::new(Profile::Drift, 1.0), 60),
        case(
            "loadgen slowdown (200 rps shape)",
            load.shaped(Profile::Slowdown, 200.0),
            60,
        ),
        case(
            "loadgen slowdown (100 rps/path shape)",
            load.shaped(Profile::Slowdown, 100.0),
            60,
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seeds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500.0);
    let sigma: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let limit = 600.0;
    let load = Load { rate, sigma };
    let cases = cases(load);
    println!(
        "gate simulation: {seeds} seeds, {rate} rps, lognormal sigma {sigma}, 5 s windows, limit {limit} s"
    );
    println!(
        "| case | opened | time to ready s (min / median / max) | residual at ready (median / max) | naive rule: opened, median residual |"
    );
    println!("|---|---|---|---|---|");
    for case in &cases {
        let mut times = Vec::new();
        for seed in 0..seeds {
            if let Some(t) = time_to_ready(case.curve, seed, load, case.lookback, limit) {
                times.push(t);
            }
        }
        times.sort_by(f64::total_cmp);
        let mut residuals: Vec<f64> = times
            .iter()
            .map(|&t| load.residual(case.curve, t))
            .collect();
        residuals.sort_by(f64::total_cmp);
        let (ttr, res) = if times.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    times[0],
                    pick(&times, 0.5),
                    pick(&times, 1.0)
                ),
                format!(
                    "{:.1}% / {:.1}%",
                    pick(&residuals, 0.5) * 100.0,
                    pick(&residuals, 1.0) * 100.0
                ),
            )
        };
        println!(
            "| {} | {}/{} | {} | {} | {} |",
            case.name,
            times.len(),
            seeds,
            ttr,
            res,
            naive_column(case.curve, seeds, load, limit)
        );
    }
    if let Ok(cost) = OBSERVE.lock() {
        let per = cost.0.as_secs_f64() * 1e6 / cost.1.max(1) as f64;
        println!(
            "Gate::observe: {per:.0} us per call over {} calls (one endpoint, this build profile)",
            cost.1
        );
    }
}
