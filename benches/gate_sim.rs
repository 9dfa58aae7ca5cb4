//! Simulates the gate on synthetic warm-ups over many seeds and prints a table for the README:
//! profile, time to ready, residual slowness at ready (how much slower than warm the app still
//! was when the gate opened), and how often the gate never opened.
//!
//! `cargo bench --bench gate_sim` (release) or `cargo bench --profile dev --bench gate_sim`.
//! Optional arguments: number of seeds (default 40), rate in rps (default 500).
//! Latency: lognormal sigma 1, median 5 ms, times the profile's curve at the intended send time;
//! 5 s windows, default gate settings (60 s lookback, 3 consecutive passes), 10 minute limit.

use std::time::Duration;

use warmgate::gate::synth::{Curve, Synth, SynthEndpoint};
use warmgate::gate::{Gate, GateSettings};

/// One row of the table.
struct Case {
    name: &'static str,
    curve: Curve,
    lookback: u64,
}

/// Seconds until the gate said ready, or `None` within `limit` seconds.
fn time_to_ready(curve: Curve, seed: u64, rate: f64, lookback: u64, limit: f64) -> Option<f64> {
    let settings = GateSettings {
        lookback: Duration::from_secs(lookback),
        ..GateSettings::default()
    };
    let mut synth = Synth::new(
        seed,
        settings.window,
        vec![SynthEndpoint::new("home", rate, curve)],
    );
    let mut gate = Gate::new(settings, synth.names());
    while synth.elapsed() < limit {
        let verdict = gate.observe(&synth.next_snapshot());
        if verdict.ready {
            return Some(synth.elapsed());
        }
    }
    None
}

/// The `p`-quantile (nearest rank) of sorted `xs`.
fn pick(xs: &[f64], p: f64) -> f64 {
    let i = ((xs.len() as f64 * p).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[i]
}

/// loadgen's `slowdown` at 200 rps (n = 200 t): its `jit` warm-up (31x at first, 10 s e-fold)
/// plus a degradation from 40 s on, e-fold 120 s (+65%/min).
fn loadgen_slowdown(t: f64) -> f64 {
    30.0 * (-t / 10.0).exp() + ((t - 40.0).max(0.0) / 120.0).exp()
}

/// loadgen's `jit` at 200 rps: 31x at first, 10 s e-fold.
fn loadgen_jit(t: f64) -> f64 {
    1.0 + 30.0 * (-t / 10.0).exp()
}

/// loadgen's `drift`: +22%/min forever (e-fold 300 s).
fn loadgen_drift(t: f64) -> f64 {
    (t / 300.0).exp()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seeds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500.0);
    let limit = 600.0;
    let warm = |tau| Curve::Warmup {
        amplitude: 1.0,
        tau,
    };
    let cases = [
        Case {
            name: "flat",
            curve: Curve::Flat,
            lookback: 60,
        },
        Case {
            name: "warmup tau 20 s",
            curve: warm(20.0),
            lookback: 60,
        },
        Case {
            name: "warmup tau 60 s",
            curve: warm(60.0),
            lookback: 60,
        },
        Case {
            name: "warmup tau 120 s",
            curve: warm(120.0),
            lookback: 60,
        },
        Case {
            name: "warmup tau 120 s, lookback 120 s",
            curve: warm(120.0),
            lookback: 120,
        },
        Case {
            name: "cold x10, tau 30 s",
            curve: Curve::Warmup {
                amplitude: 9.0,
                tau: 30.0,
            },
            lookback: 60,
        },
        Case {
            name: "drift +20%/min",
            curve: Curve::Drift { per_minute: 0.2 },
            lookback: 60,
        },
        Case {
            name: "drift +10%/min",
            curve: Curve::Drift { per_minute: 0.1 },
            lookback: 60,
        },
        Case {
            name: "slowdown (tau 20 s, +50%/min after 60 s)",
            curve: Curve::Slowdown {
                amplitude: 1.0,
                tau: 20.0,
                after: 60.0,
                per_minute: 0.5,
            },
            lookback: 60,
        },
        Case {
            name: "loadgen jit (200 rps shape)",
            curve: Curve::Custom(loadgen_jit),
            lookback: 60,
        },
        Case {
            name: "loadgen drift",
            curve: Curve::Custom(loadgen_drift),
            lookback: 60,
        },
        Case {
            name: "loadgen slowdown (200 rps shape)",
            curve: Curve::Custom(loadgen_slowdown),
            lookback: 60,
        },
    ];
    println!("gate simulation: {seeds} seeds, {rate} rps, lognormal sigma 1, 5 s windows, limit {limit} s");
    println!(
        "| case | opened | time to ready s (min / median / max) | residual at ready (median / max) |"
    );
    println!("|---|---|---|---|");
    for case in &cases {
        let mut times = Vec::new();
        for seed in 0..seeds {
            if let Some(t) = time_to_ready(case.curve, seed, rate, case.lookback, limit) {
                times.push(t);
            }
        }
        times.sort_by(f64::total_cmp);
        let mut residuals: Vec<f64> = times.iter().map(|&t| case.curve.residual(t)).collect();
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
            "| {} | {}/{} | {} | {} |",
            case.name,
            times.len(),
            seeds,
            ttr,
            res
        );
    }
}
