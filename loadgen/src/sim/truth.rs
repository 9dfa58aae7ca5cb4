//! The simulator's ground truth: analytic steady-state percentiles and the `/sim/truth` JSON.

use serde_json::{json, Map, Value};

use super::pauses::{self, GC_PAUSE_S, GC_PERIOD_S, STALL_AFTER_S, STALL_S};
use super::state::{PathCounts, State};
use super::{Curve, Profile, SimOptions, Tuning};

/// Standard normal quantiles used for the closed-form lognormal percentiles.
const Z50: f64 = 0.0;
const Z99: f64 = 2.326_347_874_040_841;

/// Steady-state latency percentiles in milliseconds, `(p50, p99)`, of successful requests once
/// the curve's multiplier is 1. Closed form for a lognormal; for `gc`, where pauses add to the
/// tail, a deterministic quadrature over the pause phase and the latency quantiles.
/// For `drift`, `slowdown` and `creep`, which never settle, this is the best (multiplier 1)
/// latency; for `jittery`, the body's lognormal alone (hiccups and bursts add to the real tail).
pub fn steady_percentiles(profile: Profile, tuning: &Tuning) -> (f64, f64) {
    let sigma = if profile == Profile::Jittery {
        tuning.sigma.max(crate::model::JITTERY.sigma_min)
    } else {
        tuning.sigma
    };
    let lognormal = |z: f64| tuning.base_ms * (sigma * z).exp();
    if profile != Profile::Gc {
        return (lognormal(Z50), lognormal(Z99));
    }
    // Latency of a request arriving at phase `a` of the gc period with base latency `x`.
    const PHASES: usize = 2000;
    const QUANTILES: usize = 400;
    let mut samples = Vec::with_capacity(PHASES * QUANTILES);
    let xs: Vec<f64> = (0..QUANTILES)
        .map(|j| lognormal(inverse_normal((j as f64 + 0.5) / QUANTILES as f64)) / 1000.0)
        .collect();
    for i in 0..PHASES {
        // Phases over one period, away from the first (k = 0) period that has no pause.
        let a = GC_PERIOD_S * (1.0 + (i as f64 + 0.5) / PHASES as f64);
        for &x in &xs {
            let done = pauses::delay_by_pauses(a, a + x, pauses::gc_pauses(a));
            samples.push((done - a) * 1000.0);
        }
    }
    (quantile(&mut samples, 0.5), quantile(&mut samples, 0.99))
}

/// The `q` quantile of `v` (rank ceil(q * n), like an HDR histogram's value at percentile).
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, x, _) = v.select_nth_unstable_by(rank, f64::total_cmp);
    *x
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error about
/// 1e-9), for `p` in (0, 1).
pub fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Everything `/sim/truth` needs that does not change while serving.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The run's options.
    pub options: SimOptions,
    /// The latency settings.
    pub tuning: Tuning,
    /// The effective curve.
    pub curve: Curve,
    /// `(p50, p99)` in ms, from [`steady_percentiles`].
    pub steady: (f64, f64),
}

fn path_json(curve: &Curve, c: &PathCounts, t: f64) -> Value {
    json!({
        "served": c.served,
        "errors": c.errors,
        "multiplier": curve.multiplier(c.counted, t),
        "settled": curve.settled(c.counted, t),
    })
}

/// The `/sim/truth` document at `t` seconds after start.
pub fn truth_json(facts: &Facts, state: &State, t: f64) -> Value {
    let curve = &facts.curve;
    let mut paths = Map::new();
    for (path, c) in state.paths() {
        paths.insert(path.clone(), path_json(curve, c, t));
    }
    let used: Vec<&PathCounts> = state
        .paths()
        .map(|(_, c)| c)
        .chain(std::iter::once(state.untracked()))
        .filter(|c| c.served > 0)
        .collect();
    let settled = if used.is_empty() {
        curve.settled(0, t)
    } else {
        used.iter().all(|c| curve.settled(c.counted, t))
    };
    let (served, errors) = used
        .iter()
        .fold((0, 0), |(s, e), c| (s + c.served, e + c.errors));
    let mut doc = json!({
        "profile": facts.options.profile.name(),
        "seed": facts.options.seed,
        "speed": facts.options.speed,
        "served": served,
        "errors": errors,
        "elapsed_s": t,
        "settled": settled,
        "settle_after": curve.settle_after(),
        "steady_p50_ms": facts.steady.0,
        "steady_p99_ms": facts.steady.1,
        "base_ms": facts.tuning.base_ms,
        "sigma": facts.tuning.sigma,
        "error_rate": facts.tuning.error_rate,
        "constants": curve,
        "paths": paths,
        "untracked": path_json(curve, state.untracked(), t),
        "max_tracked_paths": super::state::MAX_PATHS,
    });
    match facts.options.profile {
        Profile::Gc => doc["gc"] = json!({ "period_s": GC_PERIOD_S, "pause_s": GC_PAUSE_S }),
        Profile::Stall => {
            doc["stall"] = json!({
                "after_first_request_s": STALL_AFTER_S,
                "duration_s": STALL_S,
                "start_s": state.stall_window().map(|(s, _)| s),
                "end_s": state.stall_window().map(|(s, len)| s + len),
            })
        }
        _ => {}
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_percentiles_are_closed_form() {
        let (p50, p99) = steady_percentiles(Profile::Jit, &Tuning::default());
        assert!((p50 - 10.0).abs() < 1e-9);
        assert!((p99 - 32.0).abs() < 0.01, "{p99}");
    }

    #[test]
    fn inverse_normal_matches_known_values() {
        assert!((inverse_normal(0.99) - Z99).abs() < 1e-7);
        assert!((inverse_normal(0.025) + 1.959_964).abs() < 1e-5);
        assert!(inverse_normal(0.5).abs() < 1e-9);
    }

    #[test]
    fn gc_pauses_raise_the_tail_not_the_median() {
        let t = Tuning::default();
        let (p50, p99) = steady_percentiles(Profile::Gc, &t);
        let (b50, b99) = steady_percentiles(Profile::Flat, &t);
        assert!((p50 / b50 - 1.0).abs() < 0.05, "{p50}");
        assert!(p99 > b99 * 1.1, "{p99} vs {b99}");
    }
}
