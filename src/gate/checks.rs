//! The per-endpoint checks of one evaluation. Each records what failed, with its numbers, in
//! [`Findings`] and returns the numbers the verdict reports.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::format::{dur_ms, ms, pct, secs, signed_pct, thousands};
use super::history::History;
use super::judge::{rank, Findings};
use super::settings::GateSettings;
use super::stats::{
    interval_ranks, mann_kendall_z, noise_scale, slope_half_width, theil_sen_slope, value_at_rank,
};

/// Microseconds as milliseconds for reasons.
fn ms_of(us: u64) -> String {
    ms(us as f64 / 1000.0)
}

/// Error rate over the lookback (non-ok / completed; 0 without requests), checked against
/// `max_error_rate`.
pub(crate) fn errors(
    settings: &GateSettings,
    history: &History,
    index: usize,
    f: &mut Findings<'_>,
) -> f64 {
    let (mut completed, mut errors) = (0u64, 0u64);
    for w in history.windows() {
        if let Some(e) = w.endpoints.get(index) {
            completed += e.outcomes.total();
            errors += e.outcomes.errors();
        }
    }
    let rate = if completed > 0 {
        errors as f64 / completed as f64
    } else {
        0.0
    };
    if rate > settings.max_error_rate {
        f.fail(
            rank::ERRORS,
            format!(
                "error rate {} > {} ({} of {} requests)",
                pct(rate),
                pct(settings.max_error_rate),
                thousands(errors),
                thousands(completed)
            ),
        );
    }
    rate
}

/// The new half's quantile against the endpoint's ceiling, if any.
pub(crate) fn ceiling(ceiling: Option<Duration>, q_new: Option<u64>, f: &mut Findings<'_>) {
    if let (Some(c), Some(v)) = (ceiling, q_new) {
        if u128::from(v) > c.as_micros() {
            let text = format!("{} {} over ceiling {}", f.label, ms_of(v), dur_ms(c));
            f.fail(rank::CEILING, text);
        }
    }
}

/// The trend numbers of one evaluation.
pub(crate) struct Trend {
    /// Mann-Kendall z over the lookback's per-window log quantiles.
    pub z: Option<f64>,
    /// Theil-Sen slope over the lookback, projected over it, as a relative change.
    pub drift: Option<f64>,
    /// How far `drift` can be off by noise alone (the slope's 95% half-width, projected).
    pub drift_noise: Option<f64>,
    /// Theil-Sen slope over the long horizon, projected over one lookback.
    pub rise: Option<f64>,
}

/// `(position, ln quantile)` of the windows that had samples.
fn log_points(quantiles: impl Iterator<Item = (usize, u64)>) -> Vec<(f64, f64)> {
    quantiles
        .map(|(i, us)| (i as f64, (us.max(1) as f64).ln()))
        .collect()
}

/// The Theil-Sen slope of `points` (whose values are `ys`) projected over `windows` windows,
/// with its noise: `(change, noise, beyond noise)`. The change is `exp(slope * windows) - 1`; the noise is the
/// slope's 95% half-width ([`slope_half_width`], scatter from [`noise_scale`]) projected the same
/// way; "beyond noise" holds when the slope is at least that half-width away from 0, or when
/// there are too few points to tell (the point estimate is then all there is).
fn projected(points: &[(f64, f64)], ys: &[f64], windows: f64) -> Option<(f64, Option<f64>, bool)> {
    let slope = theil_sen_slope(points)?;
    let change = (slope * windows).exp() - 1.0;
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let half = noise_scale(ys).and_then(|sigma| slope_half_width(&xs, sigma));
    let noise = half.map(|h| (h * windows).exp() - 1.0);
    let resolved = half.is_none_or(|h| slope.abs() >= h);
    Some((change, noise, resolved))
}

/// `"+/-12%"`, or nothing without an interval.
fn noise_note(noise: Option<f64>) -> String {
    noise.map_or_else(String::new, |n| format!(", noise +/-{}", pct(n)))
}

/// No trend in the lookback (Mann-Kendall and Theil-Sen) and no rise over the long horizon.
///
/// A drift fails when it reaches `max_drift` **and** stands out of its own noise (the slope is
/// at least half its 95% interval away from zero): at low per-endpoint rates a per-window
/// quantile moves by 15-30% from sampling alone, and a point estimate against a fixed 10%
/// bound would then fail a flat app more often than not.
pub(crate) fn trend(
    settings: &GateSettings,
    history: &History,
    index: usize,
    has_samples: bool,
    f: &mut Findings<'_>,
) -> Trend {
    let label = f.label.clone();
    let points = log_points(
        history
            .windows()
            .enumerate()
            .filter_map(|(i, w)| Some((i, w.endpoints.get(index)?.quantile_us?))),
    );
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    // All windows equal (ties throughout): no trend at all.
    let z = (points.len() >= 3).then(|| mann_kendall_z(&ys).unwrap_or(0.0));
    let n_windows = settings.lookback_windows() as f64;
    let fit = projected(&points, &ys, n_windows);
    if let (Some(z), Some((drift, noise, resolved))) = (z, fit) {
        let drifting = drift.abs() >= settings.max_drift && resolved;
        if z.abs() >= settings.trend_z || drifting {
            let moving = if drift < 0.0 || (drift == 0.0 && z < 0.0) {
                "falling"
            } else {
                "rising"
            };
            let text = format!(
                "{label} still {moving} (Mann-Kendall z={z:.1}, drift {} over {}{})",
                signed_pct(drift),
                secs(settings.lookback),
                noise_note(noise)
            );
            f.fail(rank::TREND, text);
        }
    } else if has_samples {
        let text = format!(
            "{label} trend needs 3 windows with samples, have {}",
            points.len()
        );
        f.fail(rank::TREND, text);
    }

    // Rise over the long horizon: a slow drift, or a slowdown, that one lookback cannot tell
    // from noise. One-sided: a warm-up only falls.
    let horizon = log_points(history.horizon_quantiles(index).into_iter());
    // Judged on its point estimate, without a noise allowance: over up to 3 lookbacks the slope
    // is 5x more precise than within one, and this check is what keeps drifts and slowdowns out.
    let rise = if horizon.len() > points.len() {
        theil_sen_slope(&horizon).map(|slope| (slope * n_windows).exp() - 1.0)
    } else {
        None
    };
    if let Some(r) = rise.filter(|&r| r >= settings.max_drift) {
        let text = format!(
            "{label} rising over the last {}: {} per {} (Theil-Sen)",
            secs(settings.window.saturating_mul(horizon.len() as u32)),
            signed_pct(r),
            secs(settings.lookback)
        );
        f.fail(rank::TREND, text);
    }
    Trend {
        z,
        drift: fit.map(|f| f.0),
        drift_noise: fit.and_then(|f| f.1),
        rise,
    }
}

/// The halves agree within `tolerance` or `noise_floor`; returns `q_new / q_old - 1`.
pub(crate) fn halves(
    settings: &GateSettings,
    q_old: Option<u64>,
    q_new: Option<u64>,
    f: &mut Findings<'_>,
) -> Option<f64> {
    let (o, n) = (q_old.filter(|&o| o > 0)?, q_new?);
    let change = n as f64 / o as f64 - 1.0;
    if change.abs() > settings.tolerance
        && u128::from(o.abs_diff(n)) > settings.noise_floor.as_micros()
    {
        let text = format!(
            "{} changed {} between halves ({} -> {}), allowed {} or {}",
            f.label,
            signed_pct(change),
            ms_of(o),
            ms_of(n),
            pct(settings.tolerance),
            dur_ms(settings.noise_floor)
        );
        f.fail(rank::CHANGE, text);
    }
    Some(change)
}

/// Both halves hold `min_samples` latency samples (or there are none at all).
pub(crate) fn samples(settings: &GateSettings, old: u64, new: u64, f: &mut Findings<'_>) {
    if old + new == 0 {
        let text = "no samples in the lookback (no traffic reached this endpoint)";
        f.fail(rank::SAMPLES, text.to_string());
        return;
    }
    let (short, half) = if new <= old {
        (new, "new")
    } else {
        (old, "old")
    };
    if short < settings.min_samples {
        let text = format!(
            "{} samples in the {half} half, need {}",
            thousands(short),
            thousands(settings.min_samples)
        );
        f.fail(rank::SAMPLES, text);
    }
}

/// The new half's distribution-free 95% interval for the quantile lies within `+/- interval`
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
            "{} not precise enough: {} samples in the new half give no 95% interval",
            f.label,
            thousands(new.len())
        );
        f.fail(rank::PRECISION, text);
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
        f.fail(rank::PRECISION, text);
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
