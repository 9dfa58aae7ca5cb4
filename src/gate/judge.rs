//! One evaluation: judges each endpoint and the generator over the remembered windows, and says
//! why in human one-liners with their numbers.

use super::checks;
use super::format::{dur_ms, ms, pct, secs};
use super::history::{History, MIN_HISTORY_LOOKBACKS};
use super::settings::GateSettings;
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
            secs(settings.window.saturating_mul(history.len() as u32)),
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
            secs(settings.window.saturating_mul(have as u32)),
            secs(settings.window.saturating_mul(need as u32))
        ),
    })
}

/// Explains a starved window: requests that waited for the in-flight cap mean responses came
/// back too slowly, which a slow app and a CPU-starved warmgate (reading them late) both cause:
/// the note must not blame the app alone.
fn cap_note(late: u64) -> String {
    if late == 0 {
        String::new()
    } else {
        format!(" ({late} requests waited for traffic.max_inflight: responses come back too slowly for this rate, from a slow app or a CPU-starved warmgate: check warmgate's CPU throttling)")
    }
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
                    "generator: achieved {} rps of {} ({}), need {}{}",
                    g.achieved_rate.round(),
                    g.target_rate.round(),
                    pct(ratio),
                    pct(settings.min_rate_ratio),
                    cap_note(g.late)
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
                "generator: schedule lag p99 {} > {}{}",
                ms(worst_lag as f64 / 1000.0),
                dur_ms(settings.max_lag),
                cap_note(history.windows().map(|w| w.generator.late).sum())
            ),
        });
    }
    reasons
}

/// Judges endpoint `index` named `name`. `shared` is the lookback (or history) reason,
/// repeated in the endpoint's own reasons but returned only once by the caller.
pub(crate) fn judge_endpoint(
    settings: &GateSettings,
    history: &History,
    index: usize,
    name: &str,
    shared: Option<&Reason>,
) -> (EndpointVerdict, Vec<Reason>) {
    let q = settings.q();
    let mut f = Findings::new(name, settings.quantile_label());
    let (old, new) = history.merged_halves(index);
    let q_old = (!old.is_empty()).then(|| old.value_at_quantile(q));
    let q_new = (!new.is_empty()).then(|| new.value_at_quantile(q));

    let error_rate = checks::errors(settings, history, index, &mut f);
    let ceiling = settings.ceiling(name);
    checks::ceiling(ceiling, q_new, &mut f);
    let trend = checks::trend(settings, history, index, old.len() + new.len() > 0, &mut f);
    let change = checks::halves(settings, q_old, q_new, &mut f);
    checks::samples(settings, old.len(), new.len(), &mut f);
    let interval = checks::precision(settings, &new, q_new, &mut f);
    let requests = history.requests(index);
    checks::requests(settings, requests, &mut f);

    let mut own = f.reasons;
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
        samples_old: old.len(),
        samples_new: new.len(),
        q_old_ms: q_old.map(us_to_ms),
        q_new_ms: q_new.map(us_to_ms),
        interval_ms: interval.map(|(lo, hi)| [us_to_ms(lo), us_to_ms(hi)]),
        change: change.map(|c| round(c, 4)),
        trend_z: trend.z.map(|z| round(z, 3)),
        drift: trend.drift.map(|d| round(d, 4)),
        drift_noise: trend.drift_noise.map(|d| round(d, 4)),
        rise: trend.rise.map(|r| round(r, 4)),
        error_rate: round(error_rate, 5),
        requests,
        ceiling_ms: ceiling.map(|c| round(c.as_secs_f64() * 1000.0, 3)),
    };
    (verdict, own)
}

/// One endpoint's failed checks, each prefixed with its name.
pub(crate) struct Findings<'a> {
    name: &'a str,
    /// `p99`: the quantile's short name.
    pub label: String,
    /// What failed so far.
    pub reasons: Vec<Reason>,
}

impl<'a> Findings<'a> {
    fn new(name: &'a str, label: String) -> Findings<'a> {
        Findings {
            name,
            label,
            reasons: Vec::new(),
        }
    }

    /// Records a failed check.
    pub fn fail(&mut self, rank: u8, text: String) {
        self.reasons.push(Reason {
            rank,
            text: format!("{}: {text}", self.name),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::cap_note;

    #[test]
    fn requests_waiting_for_the_cap_do_not_blame_the_app_alone() {
        // Issue 10: a CPU-starved warmgate reads responses late, which fills the cap too.
        let note = cap_note(7);
        assert!(note.contains("7 requests waited"), "{note}");
        assert!(note.contains("CPU"), "{note}");
        assert!(!note.contains("the app answers too slowly"), "{note}");
        assert_eq!(cap_note(0), "");
    }
}
