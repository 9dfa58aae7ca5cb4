//! One evaluation: judges each endpoint and the generator over the remembered windows, and says
//! why in human one-liners with their numbers.

use super::format::{dur_ms, ms, pct, secs, signed_pct, thousands};
use super::history::{History, MIN_HISTORY_LOOKBACKS};
use super::settings::GateSettings;
use super::stats::{interval_ranks, mann_kendall_z, theil_sen_slope, value_at_rank};
use super::EndpointVerdict;

/// A reason with its importance: lower `rank` comes first in the verdict.
#[derive(Debug, Clone)]
pub(crate) struct Reason {
    /// 0 = most important.
    pub rank: u8,
    /// The human one-liner.
    pub text: String,
}

/// Reason ranks, most important first.
pub(crate) mod rank {
    /// The generator could not keep its schedule: nothing measured can be trusted.
    pub const GENERATOR: u8 = 0;
    /// Too many failed requests.
    pub const ERRORS: u8 = 1;
    /// The quantile is above its absolute ceiling.
    pub const CEILING: u8 = 2;
    /// The quantile is still moving (trend test or slope).
    pub const TREND: u8 = 3;
    /// The halves disagree.
    pub const CHANGE: u8 = 4;
    /// Not enough samples (or none at all).
    pub const SAMPLES: u8 = 5;
    /// The new half's interval is too wide.
    pub const PRECISION: u8 = 6;
    /// Not enough requests since warming began.
    pub const REQUESTS: u8 = 7;
    /// The lookback is not full yet.
    pub const LOOKBACK: u8 = 8;
}

/// Rounds to `decimals` decimals (keeps the status JSON readable).
fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Microseconds to milliseconds, rounded to the microsecond.
fn us_to_ms(us: u64) -> f64 {
    round(us as f64 / 1000.0, 3)
}

/// The reason shared by every endpoint while the lookback fills, if it is not full.
pub(crate) fn lookback_reason(settings: &GateSettings, history: &History) -> Option<Reason> {
    let need = settings.lookback_windows();
    (!history.is_full()).then(|| Reason {
        rank: rank::LOOKBACK,
        text: format!(
            "lookback {} of {} windows ({} of {})",
            history.len(),
            need,
            secs(settings.window * history.len() as u32),
            secs(settings.lookback)
        ),
    })
}

/// The reason shared by every endpoint until the history is long enough for the rise check
/// ([`MIN_HISTORY_LOOKBACKS`] lookbacks), if it is not.
pub(crate) fn history_reason(settings: &GateSettings, history: &History) -> Option<Reason> {
    let need = settings.lookback_windows() * MIN_HISTORY_LOOKBACKS;
    let have = history.horizon_len();
    (history.is_full() && have < need).then(|| Reason {
        rank: rank::LOOKBACK,
        text: format!(
            "history {} of {} needed to rule out a slow rise",
            secs(settings.window * have as u32),
            secs(settings.window * need as u32)
        ),
    })
}

/// Judges the generator over every remembered window: rate and schedule lag, worst window shown.
pub(crate) fn judge_generator(settings: &GateSettings, history: &History) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let starved = history
        .windows()
        .map(|w| w.generator)
        .filter(|g| g.target_rate > 0.0)
        .map(|g| (g.achieved_rate / g.target_rate, g))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((ratio, g)) = starved {
        if ratio < settings.min_rate_ratio {
            reasons.push(Reason {
                rank: rank::GENERATOR,
                text: format!(
                    "generator: achieved {} rps of {} ({}), need {}",
                    g.achieved_rate.round(),
                    g.target_rate.round(),
                    pct(ratio),
                    pct(settings.min_rate_ratio)
                ),
            });
        }
    }
    let worst_lag = history
        .windows()
        .map(|w| w.generator.lag_p99_us)
        .max()
        .unwrap_or(0);
    if u128::from(worst_lag) > settings.max_lag.as_micros() {
        reasons.push(Reason {
            rank: rank::GENERATOR,
            text: format!(
                "generator: schedule lag p99 {} > {}",
                ms(worst_lag as f64 / 1000.0),
                dur_ms(settings.max_lag)
            ),
        });
    }
    reasons
}

/// Judges endpoint `index` named `name`. `shared` is the lookback reason, repeated in the
/// endpoint's own reasons but returned only once by the caller.
pub(crate) fn judge_endpoint(
    settings: &GateSettings,
    history: &History,
    index: usize,
    name: &str,
    shared: Option<&Reason>,
) -> (EndpointVerdict, Vec<Reason>) {
    let q = settings.q();
    let label = settings.quantile_label();
    let mut reasons: Vec<Reason> = Vec::new();
    let mut fail = |rank: u8, text: String| {
        reasons.push(Reason {
            rank,
            text: format!("{name}: {text}"),
        })
    };

    let (old, new) = history.merged_halves(index);
    let (samples_old, samples_new) = (old.len(), new.len());
    let q_old = (!old.is_empty()).then(|| old.value_at_quantile(q));
    let q_new = (!new.is_empty()).then(|| new.value_at_quantile(q));

    // Errors and request counts over the lookback.
    let (mut completed, mut errors) = (0u64, 0u64);
    for w in history.windows() {
        if let Some(e) = w.endpoints.get(index) {
            completed += e.outcomes.total();
            errors += e.outcomes.errors();
        }
    }
    let error_rate = if completed > 0 {
        errors as f64 / completed as f64
    } else {
        0.0
    };
    if error_rate > settings.max_error_rate {
        fail(
            rank::ERRORS,
            format!(
                "error rate {} > {} ({} of {} requests)",
                pct(error_rate),
                pct(settings.max_error_rate),
                thousands(errors),
                thousands(completed)
            ),
        );
    }

    // Ceiling on the new half's quantile.
    let ceiling = settings.ceiling(index);
    if let (Some(c), Some(v)) = (ceiling, q_new) {
        if u128::from(v) > c.as_micros() {
            fail(
                rank::CEILING,
                format!(
                    "{label} {} over ceiling {}",
                    ms(v as f64 / 1000.0),
                    dur_ms(c)
                ),
            );
        }
    }

    // Trend: Mann-Kendall on per-window log quantiles, Theil-Sen slope projected over the lookback.
    let points: Vec<(f64, f64)> = history
        .windows()
        .enumerate()
        .filter_map(|(i, w)| {
            let us = w.endpoints.get(index)?.quantile_us?;
            Some((i as f64, (us.max(1) as f64).ln()))
        })
        .collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let z = if points.len() >= 3 {
        // All windows equal (a tie throughout): no trend at all.
        Some(mann_kendall_z(&ys).unwrap_or(0.0))
    } else {
        None
    };
    let n_windows = settings.lookback_windows() as f64;
    let drift = theil_sen_slope(&points).map(|slope| (slope * n_windows).exp() - 1.0);
    match (z, drift) {
        (Some(z), Some(drift)) => {
            if z.abs() >= settings.trend_z || drift.abs() >= settings.max_drift {
                let moving = if drift < 0.0 || (drift == 0.0 && z < 0.0) {
                    "falling"
                } else {
                    "rising"
                };
                fail(
                    rank::TREND,
                    format!(
                        "{label} still {moving} (Mann-Kendall z={z:.1}, drift {} over {})",
                        signed_pct(drift),
                        secs(settings.lookback)
                    ),
                );
            }
        }
        _ if samples_old + samples_new > 0 => fail(
            rank::TREND,
            format!(
                "{label} trend needs 3 windows with samples, have {}",
                points.len()
            ),
        ),
        _ => {}
    }

    // Rise over the long horizon (up to HORIZON_LOOKBACKS lookbacks): a slow drift or a
    // slowdown that one lookback cannot tell from noise. One-sided: a warm-up only falls.
    let horizon: Vec<(f64, f64)> = history
        .horizon_quantiles(index)
        .into_iter()
        .map(|(i, us)| (i as f64, (us.max(1) as f64).ln()))
        .collect();
    let rise = if horizon.len() > points.len() {
        theil_sen_slope(&horizon).map(|slope| (slope * n_windows).exp() - 1.0)
    } else {
        None
    };
    if let Some(r) = rise {
        if r >= settings.max_drift {
            fail(
                rank::TREND,
                format!(
                    "{label} rising over the last {}: {} per {} (Theil-Sen)",
                    secs(settings.window * horizon.len() as u32),
                    signed_pct(r),
                    secs(settings.lookback)
                ),
            );
        }
    }

    // The halves agree within tolerance or the noise floor.
    let change = match (q_old, q_new) {
        (Some(o), Some(n)) if o > 0 => Some(n as f64 / o as f64 - 1.0),
        _ => None,
    };
    if let (Some(o), Some(n), Some(ch)) = (q_old, q_new, change) {
        let floor = settings.noise_floor.as_micros();
        if ch.abs() > settings.tolerance && u128::from(o.abs_diff(n)) > floor {
            fail(
                rank::CHANGE,
                format!(
                    "{label} changed {} between halves ({} -> {}), allowed {} or {}",
                    signed_pct(ch),
                    ms(o as f64 / 1000.0),
                    ms(n as f64 / 1000.0),
                    pct(settings.tolerance),
                    dur_ms(settings.noise_floor)
                ),
            );
        }
    }

    // Enough samples in both halves.
    if samples_old + samples_new == 0 {
        fail(
            rank::SAMPLES,
            "no samples in the lookback (no traffic reached this endpoint)".to_string(),
        );
    } else {
        let (short, half) = if samples_new <= samples_old {
            (samples_new, "new")
        } else {
            (samples_old, "old")
        };
        if short < settings.min_samples {
            fail(
                rank::SAMPLES,
                format!(
                    "{} samples in the {half} half, need {}",
                    thousands(short),
                    thousands(settings.min_samples)
                ),
            );
        }
    }

    // Precision: the new half's 95% order-statistic interval around its estimate.
    let interval = interval_ranks(samples_new, q)
        .map(|(lo, hi)| (value_at_rank(&new, lo), value_at_rank(&new, hi)));
    if let Some(est) = q_new {
        let est = est.max(1) as f64;
        match interval {
            Some((lo, hi)) => {
                let (below, above) = (lo as f64 / est - 1.0, hi as f64 / est - 1.0);
                if below < -settings.interval || above > settings.interval {
                    fail(
                        rank::PRECISION,
                        format!(
                            "{label} not precise enough: 95% interval {}-{} is {}/{} of {}, allowed {}",
                            trim_unit(ms(lo as f64 / 1000.0)),
                            ms(hi as f64 / 1000.0),
                            signed_pct(below),
                            signed_pct(above),
                            ms(est / 1000.0),
                            pct(settings.interval)
                        ),
                    );
                }
            }
            None => fail(
                rank::PRECISION,
                format!(
                    "{label} not precise enough: {} samples in the new half give no 95% interval",
                    thousands(samples_new)
                ),
            ),
        }
    }

    // Requests since warming began.
    let requests = history.requests(index);
    if requests < settings.min_requests {
        fail(
            rank::REQUESTS,
            format!(
                "{} requests since warming began, need {}",
                thousands(requests),
                thousands(settings.min_requests)
            ),
        );
    }

    let mut own = reasons;
    let pass = own.is_empty() && shared.is_none();
    own.sort_by_key(|r| r.rank);
    let mut texts: Vec<String> = own.iter().map(|r| r.text.clone()).collect();
    if let Some(s) = shared {
        texts.push(s.text.clone());
    }
    let verdict = EndpointVerdict {
        name: name.to_string(),
        pass,
        reasons: texts,
        samples_old,
        samples_new,
        q_old_ms: q_old.map(us_to_ms),
        q_new_ms: q_new.map(us_to_ms),
        interval_ms: interval.map(|(lo, hi)| [us_to_ms(lo), us_to_ms(hi)]),
        change: change.map(|c| round(c, 4)),
        trend_z: z.map(|z| round(z, 3)),
        drift: drift.map(|d| round(d, 4)),
        rise: rise.map(|r| round(r, 4)),
        error_rate: round(error_rate, 5),
        requests,
        ceiling_ms: ceiling.map(|c| round(c.as_secs_f64() * 1000.0, 3)),
    };
    (verdict, own)
}

/// `9.1 ms` -> `9.1` (the first bound of a range carries no unit).
fn trim_unit(text: String) -> String {
    text.trim_end_matches(" ms").to_string()
}
