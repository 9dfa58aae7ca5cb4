//! Simulates the gate on synthetic warm-ups over many seeds and prints two tables for the README:
//! first issue 9's goal rows (loadgen's profiles as a warmgate run sees them: two endpoints at the
//! default 100 rps each, and the noisiest regimes the goals name), then the classic synthetic
//! curves: time to ready, residual slowness at ready (how much slower than warm the app still
//! was when the gate opened), how often the gate never opened, and the naive rule.
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
}

/// Time spent in `Gate::observe` and the number of calls, for the cost line.
static OBSERVE: Mutex<(Duration, u64)> = Mutex::new((Duration::ZERO, 0));

/// One simulated run's outcome.
struct Run {
    /// Seconds until ready.
    ready: Option<f64>,
    /// Times a passing streak broke before ready (flapping a latch would have hidden).
    breaks: u32,
    /// The first endpoint's class at the end.
    class: &'static str,
}

/// Runs the gate on `endpoints` endpoints of `load` following `curve` until ready or `limit`.
fn run(curve: Curve, seed: u64, load: Load, endpoints: usize, lookback: u64, limit: f64) -> Run {
    let settings = GateSettings {
        lookback: Duration::from_secs(lookback),
        ..GateSettings::default()
    };
    let eps = (0..endpoints)
        .map(|i| SynthEndpoint {
            name: format!("e{i}"),
            ..load.endpoint(curve)
        })
        .collect();
    let mut synth = Synth::new(seed, settings.window, eps);
    let mut gate = Gate::new(settings, synth.names());
    let (mut breaks, mut streak) = (0, 0);
    let mut class = "collecting";
    while synth.elapsed() < limit {
        let snapshot = synth.next_snapshot();
        let started = Instant::now();
        let verdict = gate.observe(&snapshot);
        if let Ok(mut cost) = OBSERVE.lock() {
            cost.0 += started.elapsed();
            cost.1 += 1;
        }
        if verdict.streak == 0 && streak > 0 {
            breaks += 1;
        }
        streak = verdict.streak;
        class = verdict.endpoints[0].class.as_str();
        if std::env::var("GATE_SIM_TRACE")
            .is_ok_and(|v| v == format!("{:?}/{seed}/{endpoints}", curve.profile))
        {
            let e = &verdict.endpoints[0];
            println!(
                "t={:.0} pass={} class={} settle={:?} res={:?}/{:?} rise={:?}/{:?} q={:?} {:?}",
                synth.elapsed(),
                verdict.pass,
                class,
                e.settle_s,
                e.residual,
                e.residual_bound,
                e.rise_per_minute,
                e.rise_bound,
                e.q_ms,
                verdict.reasons.first()
            );
        }
        if verdict.ready {
            return Run {
                ready: Some(synth.elapsed()),
                breaks,
                class,
            };
        }
    }
    Run {
        ready: None,
        breaks,
        class,
    }
}

/// Seconds until the gate said ready on one endpoint, or `None` within `limit` seconds.
fn time_to_ready(curve: Curve, seed: u64, load: Load, lookback: u64, limit: f64) -> Option<f64> {
    run(curve, seed, load, 1, lookback, limit).ready
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

/// Every classic row, in table order.
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
        case("cold x10, tau 30 s", Curve::warmup(9.0, 30.0), 60),
        case("drift +20%/min", Curve::drift_per_minute(0.2), 60),
        case("drift +10%/min", Curve::drift_per_minute(0.1), 60),
        case(
            "slowdown (tau 20 s, +50%/min after 60 s)",
            Curve::slowdown_at_rate(1.0, 20.0, 60.0, 0.5, load.rate),
            60,
        ),
    ]
}

/// One goal row: a loadgen profile on `endpoints` endpoints at `rate` rps each.
struct Goal {
    name: String,
    profile: Profile,
    endpoints: usize,
    load: Load,
    /// Seconds watched.
    limit: f64,
    /// The goal, as the issue states it.
    goal: &'static str,
}

/// Issue 9's goal rows: two endpoints at the default 200 rps each with loadgen's sigma 0.5,
/// the simulator's curves at their documented constants; `creep`, `drift` and `slowdown` also on
/// one endpoint at 200 rps with sigma 1 and 0.5, and a flat app at 100 rps with sigma 1.
fn goals() -> Vec<Goal> {
    let default = Load {
        rate: 200.0,
        sigma: 0.5,
    };
    let goal = |profile: Profile, endpoints, load, limit, goal| Goal {
        name: profile.name().to_string(),
        profile,
        endpoints,
        load,
        limit,
        goal,
    };
    let mut out = vec![
        goal(Profile::Flat, 2, default, 600.0, "ready <= 45 s"),
        goal(Profile::Jit, 2, default, 600.0, "<= 30 s after settling"),
        goal(
            Profile::Tiered,
            2,
            default,
            600.0,
            "<= 30 s after settling, not on the C1 plateau",
        ),
        goal(Profile::Cache, 2, default, 600.0, "<= 30 s after settling"),
        goal(Profile::Stall, 2, default, 600.0, "<= 30 s after settling"),
        goal(Profile::Gc, 2, default, 600.0, "ready <= 60 s, no flapping"),
        goal(Profile::Jittery, 2, default, 600.0, "ready <= 90 s"),
        goal(Profile::Drift, 2, default, 240.0, "never (240 s)"),
        goal(Profile::Slowdown, 2, default, 240.0, "never (240 s)"),
        goal(Profile::Creep, 2, default, 240.0, "never (240 s)"),
    ];
    let hard = Load {
        rate: 200.0,
        sigma: 1.0,
    };
    let gentle = Load {
        rate: 200.0,
        sigma: 0.5,
    };
    for p in [Profile::Drift, Profile::Slowdown, Profile::Creep] {
        for load in [hard, gentle] {
            let mut g = goal(p, 1, load, 240.0, "never (240 s), 0 of 40");
            g.name = format!("{} (1 x 200 rps, sigma {})", p.name(), load.sigma);
            out.push(g);
        }
    }
    let mut g = goal(
        Profile::Flat,
        1,
        Load {
            rate: 100.0,
            sigma: 1.0,
        },
        600.0,
        "40/40, median <= 60 s",
    );
    g.name = "flat (1 x 100 rps, sigma 1)".to_string();
    out.push(g);
    out
}

/// Seconds after start at which `curve` settles on a path served at `rate` rps.
fn settle_s(curve: Curve, rate: f64) -> Option<f64> {
    let s = curve.settle_after()?;
    let by_requests = s.requests.map_or(0.0, |n| n as f64 / rate);
    let by_time = s.seconds.unwrap_or(0.0);
    Some(by_requests.max(by_time))
}

/// `median% / max%` of sorted fractions `xs`, or `-`.
fn median_max_pct(xs: &[f64]) -> String {
    if xs.is_empty() {
        "-".to_string()
    } else {
        format!(
            "{:.1}% / {:.1}%",
            pick(xs, 0.5) * 100.0,
            pick(xs, 1.0) * 100.0
        )
    }
}

/// `min / median / max` of sorted `xs`, or `-`.
fn spread(xs: &[f64]) -> String {
    if xs.is_empty() {
        "-".to_string()
    } else {
        format!("{:.0} / {:.0} / {:.0}", xs[0], pick(xs, 0.5), pick(xs, 1.0))
    }
}

fn print_goals(seeds: u64) {
    println!("issue 9 goal rows: {seeds} seeds, 5 s windows, default gate settings");
    println!(
        "| case | endpoints x rps, sigma | opened | time to ready s (min / median / max) | after settling s (median / max) | residual at ready (median / max) | streak breaks (median) | class at end | goal |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for g in goals() {
        // The simulator's documented constants, as a path served at this row's rate sees them.
        let curve = Curve::new(g.profile, 1.0);
        let mut times = Vec::new();
        let mut breaks = Vec::new();
        let mut classes: Vec<&str> = Vec::new();
        for seed in 0..seeds {
            let r = run(curve, seed, g.load, g.endpoints, 60, g.limit);
            if let Some(t) = r.ready {
                times.push(t);
            }
            breaks.push(f64::from(r.breaks));
            classes.push(r.class);
        }
        times.sort_by(f64::total_cmp);
        breaks.sort_by(f64::total_cmp);
        let settle = settle_s(curve, g.load.rate);
        let mut after: Vec<f64> = settle
            .map(|s| times.iter().map(|t| t - s).collect())
            .unwrap_or_default();
        after.sort_by(f64::total_cmp);
        let mut residuals: Vec<f64> = times.iter().map(|&t| g.load.residual(curve, t)).collect();
        residuals.sort_by(f64::total_cmp);
        classes.sort_unstable();
        let common = classes
            .chunk_by(|a, b| a == b)
            .max_by_key(|c| c.len())
            .map_or("-", |c| c[0]);
        println!(
            "| {} | {} x {:.0}, {} | {}/{} | {} | {} | {} | {:.0} | {} | {} |",
            g.name,
            g.endpoints,
            g.load.rate,
            g.load.sigma,
            times.len(),
            seeds,
            spread(&times),
            if after.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0} / {:.0}", pick(&after, 0.5), pick(&after, 1.0))
            },
            median_max_pct(&residuals),
            pick(&breaks, 0.5),
            common,
            g.goal
        );
    }
    println!();
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
    print_goals(seeds);
    let load = Load { rate, sigma };
    let cases = cases(load);
    println!(
        "classic curves: {seeds} seeds, {rate} rps, lognormal sigma {sigma}, 5 s windows, limit {limit} s"
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
        let res = median_max_pct(&residuals);
        println!(
            "| {} | {}/{} | {} | {} | {} |",
            case.name,
            times.len(),
            seeds,
            spread(&times),
            res,
            naive_column(case.curve, seeds, load, limit)
        );
    }
    if let Ok(cost) = OBSERVE.lock() {
        let per = cost.0.as_secs_f64() * 1e6 / cost.1.max(1) as f64;
        println!(
            "Gate::observe: {per:.0} us per call over {} calls (one or two endpoints, this build profile)",
            cost.1
        );
    }
}
