//! The per-endpoint checks of one evaluation. Each records what failed, with its numbers, in
//! [`Findings`] and returns the numbers the verdict reports.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::format::{dur_ms, ms, pct, secs, signed_pct, thousands};
use super::history::WindowRecord;
use super::judge::{rank, Findings};
use super::segment::{Segment, MIN_WINDOWS};
use super::settings::GateSettings;
use super::stats::{interval_ranks, value_at_rank};

/// Microseconds as milliseconds for reasons.
fn ms_of(us: u64) -> String {
    ms(us as f64 / 1000.0)
}

/// Error rate over the judged windows (non-ok / completed; 0 without requests), checked against
/// `max_error_rate`.
pub(crate) fn errors<'w>(
    settings: &GateSettings,
    windows: impl Iterator<Item = &'w WindowRecord>,
    index: usize,
    f: &mut Findings<'_>,
) -> f64 {
    let mut counts = loadgen::OutcomeCounts::default();
    for w in windows {
        if let Some(e) = w.endpoints.get(index) {
            counts.merge(&e.outcomes);
        }
    }
    let (completed, errors) = (counts.total(), counts.errors());
    let rate = if completed > 0 {
        errors as f64 / completed as f64
    } else {
        0.0
    };
    if rate > settings.max_error_rate {
        f.fail(
            rank::ERRORS,
            format!(
                "error rate {} > {} ({} of {} requests: {})",
                pct(rate),
                pct(settings.max_error_rate),
                thousands(errors),
                thousands(completed),
                error_kinds(&counts)
            ),
        );
    }
    rate
}

/// The failed outcomes by kind, most first: `"40 timeout, 10 connection_lost"`.
fn error_kinds(counts: &loadgen::OutcomeCounts) -> String {
    let mut kinds: Vec<(&str, u64)> = counts
        .by_label()
        .into_iter()
        .filter(|&(label, n)| label != "ok" && n > 0)
        .collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    kinds
        .iter()
        .map(|(label, n)| format!("{} {label}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The judged span's quantile against the endpoint's ceiling, if any.
pub(crate) fn ceiling(ceiling: Option<Duration>, q_new: Option<u64>, f: &mut Findings<'_>) {
    if let (Some(c), Some(v)) = (ceiling, q_new) {
        if u128::from(v) > c.as_micros() {
            let text = format!("{} {} over ceiling {}", f.label, ms_of(v), dur_ms(c));
            f.fail(rank::CEILING, text);
        }
    }
}

/// The trend numbers of one evaluation, from the level's slope since the settle point.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Trend {
    /// Projected residual slowness: how much faster the app would get over `horizon` at its
    /// current pace of improvement (0 when it is not improving), as a fraction.
    pub residual: f64,
    /// Its one-sided `confidence` upper bound.
    pub residual_bound: f64,
    /// The level's change per minute (+0.05 = 5% slower each minute).
    pub per_minute: f64,
    /// Its upper bound at one standard error.
    pub per_minute_bound: f64,
    /// The slope is below zero by more than `z` standard errors: still getting faster.
    pub falling: bool,
    /// The rise check failed: the app is getting slower.
    pub rising: bool,
    /// The rise is measured, beyond `confidence` (not only not ruled out yet).
    pub rise_measured: bool,
}

/// z of the bound on the rise: one standard error. Tighter (a larger z) would hold a flat app
/// back for the noise of a short segment; looser would let a gentle creep of +10%/min open on a
/// lucky minute (benches/gate_sim.rs, the `creep` rows).
const RISE_Z: f64 = 1.0;

/// The rise's standard error must be below this share of `max_rise` (3%/min at the default)
/// before any pass: at +10%/min a creep then sits over 3 standard errors above the bound.
const RISE_PRECISION: f64 = 0.6;

/// Residual slowness and rise since the settle point: fails while the residual's upper bound is
/// above `tolerance` (still warming) or the rise's upper bound reaches `max_rise` per minute
/// (degrading).
pub(crate) fn trend(settings: &GateSettings, seg: &Segment, f: &mut Findings<'_>) -> Trend {
    let z = settings.z();
    let horizon = settings.per_window(settings.horizon);
    let minute = settings.per_window(Duration::from_secs(60));
    let gain = |slope: f64| ((-slope).max(0.0) * horizon).exp() - 1.0;
    let residual = gain(seg.slope);
    let residual_bound = gain(seg.slope - z * seg.slope_se);
    let per_minute = (seg.slope * minute).exp() - 1.0;
    let per_minute_bound = ((seg.slope + RISE_Z * seg.slope_se) * minute).exp() - 1.0;
    // The trend must be known well enough to tell a gentle creep from a flat app: a creep of
    // twice `max_rise` would otherwise pass on a lucky early minute.
    let known = (seg.slope_se * minute).exp() - 1.0;
    let guard = settings.max_rise * RISE_PRECISION;
    let falling = seg.slope + z * seg.slope_se < 0.0;
    // The windows after the segment's best run rising beyond their noise, by at least
    // `max_rise`: out of the bottom of a U.
    let significant_rise = |(slope, se): (f64, f64)| {
        let per_minute = (slope * minute).exp() - 1.0;
        (slope - z * se > 0.0 && per_minute >= settings.max_rise).then_some(per_minute)
    };
    // (A quadratic's end slope would also see a U, but it bends up at the end of a fast
    // warm-up's flat tail too: simulated, it held `cache` back by minutes.)
    let recent_rise = seg.after_best.and_then(significant_rise);
    // The newest windows clearly slower than the segment's best, by more than a quarter of the
    // tolerance beyond noise: a U whose bottom the linear and quadratic fits still blur.
    let off_best = seg.above_best.and_then(|(diff, se)| {
        (diff - z * se > (settings.tolerance / 4.0).ln_1p()).then(|| diff.exp() - 1.0)
    });
    let rise_measured = significant_rise((seg.slope, seg.slope_se)).is_some()
        || recent_rise.is_some()
        || off_best.is_some();
    let rising = per_minute_bound >= settings.max_rise || rise_measured;
    if residual_bound > settings.tolerance {
        let text = format!(
            "still improving: users would find it up to {} slower than it will be in {} (estimate {}; latency {} per minute over the last {}), allowed {}",
            pct(residual_bound),
            secs(settings.horizon),
            pct(residual),
            signed_pct(per_minute),
            secs(settings.window.saturating_mul(seg.windows as u32)),
            pct(settings.tolerance)
        );
        f.fail_time(rank::TREND, text);
    }
    if known > guard && !rising {
        let text = format!(
            "latency trend not yet known well enough: +/-{} per minute, need +/-{} to rule out a slow rise",
            pct(known),
            pct(guard)
        );
        f.fail_time(rank::PRECISION, text);
    }
    if per_minute_bound >= settings.max_rise {
        let text = format!(
            "getting slower: latency {} per minute since {} (up to {}), allowed {}",
            signed_pct(per_minute),
            settle_text(settings, seg),
            signed_pct(per_minute_bound),
            pct(settings.max_rise)
        );
        // A rise beyond its noise is measured; one within a standard error of the bound is
        // only not ruled out yet, which time settles (and a fleet reference may waive).
        if significant_rise((seg.slope, seg.slope_se)).is_some() {
            f.fail(rank::TREND, text);
        } else {
            f.fail_time(rank::TREND, text);
        }
    } else if let Some(d) = off_best {
        let text = format!(
            "getting slower: the newest {} are {} slower than the best since {}, allowed {} beyond noise",
            secs(settings.window.saturating_mul(MIN_WINDOWS as u32)),
            pct(d),
            settle_text(settings, seg),
            pct(settings.tolerance / 4.0)
        );
        f.fail(rank::TREND, text);
    } else if let Some(r) = recent_rise {
        let text = format!(
            "getting slower: latency {} per minute since its best, within the last {}, allowed {}",
            signed_pct(r),
            secs(settings.window.saturating_mul(seg.windows as u32)),
            pct(settings.max_rise)
        );
        f.fail(rank::TREND, text);
    }
    Trend {
        residual,
        residual_bound,
        per_minute,
        per_minute_bound,
        falling,
        rising,
        rise_measured,
    }
}

/// `"12s"` (the settle point) or `"warming began"`.
pub(crate) fn settle_text(settings: &GateSettings, seg: &Segment) -> String {
    if seg.settle_index == 0 {
        "warming began".to_string()
    } else {
        secs(settings.window.saturating_mul(seg.settle_index as u32))
    }
}

/// After a warm-up, the segment since the settle point must span `settle_hold`: the end of a
/// warm-up can be the flat bottom of a U (a slowdown that begins as the warm-up ends), which only
/// time tells apart from a steady state.
pub(crate) fn settle_hold(settings: &GateSettings, seg: &Segment, f: &mut Findings<'_>) -> bool {
    let hold = settings.settle_hold().as_secs_f64();
    let have = seg.windows as f64 * settings.window.as_secs_f64();
    if !seg.warmed || have >= hold {
        return false;
    }
    let text = format!(
        "warmed at {}: watching for {} after a warm-up (have {}; gate.settle_hold)",
        settle_text(settings, seg),
        secs(Duration::from_secs_f64(hold)),
        secs(Duration::from_secs_f64(have))
    );
    f.fail_time(rank::REQUESTS, text);
    true
}

/// After a step (a tier-like drop), at least `tier_requests` completed requests before passing.
pub(crate) fn tier_hold(
    settings: &GateSettings,
    seg: &Segment,
    requests: u64,
    f: &mut Findings<'_>,
) -> bool {
    let Some(step) = seg.step else {
        return false;
    };
    if settings.tier_requests == 0 || requests >= settings.tier_requests {
        return false;
    }
    let text = format!(
        "dropped {step:.1}x at {}: a faster JIT tier may follow, holding until {} requests (have {}; gate.tier_requests)",
        settle_text(settings, seg),
        thousands(settings.tier_requests),
        thousands(requests)
    );
    f.fail_time(rank::REQUESTS, text);
    true
}

/// The tail of the judged span's earlier and later halves agree: neither half's quantile lies
/// beyond the other's 95% interval widened by `tolerance` (and by more than `noise_floor`). So the
/// tolerance is the larger of the configured one and what sampling noise explains: a stationary
/// jittery tail passes, one that still falls (or rises) by more than both does not. Returns the
/// halves' quantiles in microseconds, and whether the tail moved.
pub(crate) fn tail(
    settings: &GateSettings,
    windows: usize,
    early: &Histogram<u64>,
    late: &Histogram<u64>,
    f: &mut Findings<'_>,
) -> (Option<u64>, Option<u64>, bool) {
    let q = settings.q();
    let at = |h: &Histogram<u64>| (!h.is_empty()).then(|| h.value_at_quantile(q));
    let (qe, ql) = (at(early), at(late));
    let bounds = |h: &Histogram<u64>| {
        interval_ranks(h.len(), q).map(|(lo, hi)| (value_at_rank(h, lo), value_at_rank(h, hi)))
    };
    let (Some(e), Some(l), Some((_, hi_e)), Some((_, hi_l))) =
        (qe, ql, bounds(early), bounds(late))
    else {
        return (qe, ql, false);
    };
    let floor = settings.noise_floor.as_micros();
    let widen = 1.0 + settings.tolerance;
    let moved = |from: u64, to: u64, to_hi: u64| {
        from as f64 > to_hi as f64 * widen && u128::from(from.abs_diff(to)) > floor
    };
    let (falling, rising) = (moved(e, l, hi_l), moved(l, e, hi_e));
    if falling || rising {
        let text = format!(
            "{} {} between the halves of the last {} ({} -> {}), beyond the 95% interval and {} or {}",
            f.label,
            if falling { "still falling" } else { "rising" },
            secs(settings.window.saturating_mul(windows as u32)),
            ms_of(e),
            ms_of(l),
            pct(settings.tolerance),
            dur_ms(settings.noise_floor)
        );
        f.fail_time(rank::CHANGE, text);
    }
    (qe, ql, falling || rising)
}

/// The judged span holds `min_samples` latency samples (or there are none at all).
pub(crate) fn samples(settings: &GateSettings, n: u64, f: &mut Findings<'_>) {
    if n == 0 {
        let text = "no samples (no traffic reached this endpoint)";
        f.fail(rank::SAMPLES, text.to_string());
    } else if n < settings.min_samples {
        let text = format!(
            "{} samples since the settle point, need {}",
            thousands(n),
            thousands(settings.min_samples)
        );
        f.fail_time(rank::SAMPLES, text);
    }
}

/// The judged span's distribution-free 95% interval for the quantile lies within `+/- interval`
/// of its estimate; returns the interval in microseconds.
pub(crate) fn precision(
    settings: &GateSettings,
    new: &Histogram<u64>,
    q_new: Option<u64>,
    f: &mut Findings<'_>,
) -> Option<(u64, u64)> {
    let interval = interval_ranks(new.len(), settings.q())
        .map(|(lo, hi)| (value_at_rank(new, lo), value_at_rank(new, hi)));
    let est = q_new?.max(1);
    let Some((lo, hi)) = interval else {
        let text = format!(
            "{} not precise enough: {} samples give no 95% interval",
            f.label,
            thousands(new.len())
        );
        f.fail_time(rank::PRECISION, text);
        return None;
    };
    let (below, above) = (lo as f64 / est as f64 - 1.0, hi as f64 / est as f64 - 1.0);
    if below < -settings.interval || above > settings.interval {
        let text = format!(
            "{} not precise enough: 95% interval {}-{} is {}/{} of {}, allowed {}",
            f.label,
            ms_of(lo).trim_end_matches(" ms"),
            ms_of(hi),
            signed_pct(below),
            signed_pct(above),
            ms_of(est),
            pct(settings.interval)
        );
        f.fail_time(rank::PRECISION, text);
    }
    interval
}

/// At least `min_requests` completed since the gate was created or reset.
pub(crate) fn requests(settings: &GateSettings, requests: u64, f: &mut Findings<'_>) {
    if requests < settings.min_requests {
        let text = format!(
            "{} requests since warming began, need {}",
            thousands(requests),
            thousands(settings.min_requests)
        );
        f.fail(rank::REQUESTS, text);
    }
}
