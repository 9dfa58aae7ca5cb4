//! One evaluation: judges each endpoint and the generator over the remembered windows, and says
//! why in human one-liners with their numbers.

use super::checks::{self, Trend};
use super::format::{dur_ms, ms, pct, secs};
use super::history::History;
use super::reference::{EndpointReference, ReferenceMode, Rule};
use super::segment::{Segment, MIN_WINDOWS};
use super::settings::GateSettings;
use super::stats::{interval_ranks, value_at_rank};
use super::{Class, EndpointVerdict};
use hdrhistogram::Histogram;

/// A reason with its importance: lower `rank` comes first in the verdict.
#[derive(Debug, Clone)]
pub(crate) struct Reason {
    /// 0 = most important.
    pub rank: u8,
    /// The human one-liner.
    pub text: String,
    /// Only more time can satisfy this check (windows, samples, holds, the trend's precision):
    /// an endpoint already within tolerance of its fleet reference has it waived.
    pub waivable: bool,
}

/// Reason ranks, most important first.
pub(crate) mod rank {
    /// The generator could not keep its schedule: nothing measured can be trusted.
    pub const GENERATOR: u8 = 0;
    /// Too many failed requests.
    pub const ERRORS: u8 = 1;
    /// The quantile is above its absolute ceiling.
    pub const CEILING: u8 = 2;
    /// The level is still falling or rising (residual slowness or rise).
    pub const TREND: u8 = 3;
    /// The tail moved between the halves of the judged span.
    pub const CHANGE: u8 = 4;
    /// Not enough samples (or none at all).
    pub const SAMPLES: u8 = 5;
    /// The new half's interval is too wide.
    pub const PRECISION: u8 = 6;
    /// Not enough requests since warming began (or the tier hold).
    pub const REQUESTS: u8 = 7;
    /// Too few windows yet.
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

/// The reason shared by every endpoint while fewer than [`MIN_WINDOWS`] windows are in, if so.
pub(crate) fn collecting_reason(settings: &GateSettings, history: &History) -> Option<Reason> {
    let have = history.len();
    (have < MIN_WINDOWS).then(|| Reason {
        rank: rank::LOOKBACK,
        waivable: true,
        text: format!(
            "collecting: {have} of {MIN_WINDOWS} windows ({} of {})",
            secs(settings.window.saturating_mul(have as u32)),
            secs(settings.window.saturating_mul(MIN_WINDOWS as u32))
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

/// Judges the generator over the newest `span` windows (those the endpoints are judged on): rate
/// and schedule lag, worst window shown. Windows where it starved must not pass for stable ones.
pub(crate) fn judge_generator(
    settings: &GateSettings,
    history: &History,
    span: usize,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let starved = history
        .recent(span)
        .map(|w| w.generator)
        .filter(|g| g.target_rate > 0.0)
        .map(|g| (g.achieved_rate / g.target_rate, g))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((ratio, g)) = starved {
        if ratio < settings.min_rate_ratio {
            reasons.push(Reason {
                rank: rank::GENERATOR,
                waivable: false,
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
        .recent(span)
        .map(|w| w.generator.lag_p99_us)
        .max()
        .unwrap_or(0);
    if u128::from(worst_lag) > settings.max_lag.as_micros() {
        reasons.push(Reason {
            rank: rank::GENERATOR,
            waivable: false,
            text: format!(
                "generator: schedule lag p99 {} > {}{}",
                ms(worst_lag as f64 / 1000.0),
                dur_ms(settings.max_lag),
                cap_note(history.recent(span).map(|w| w.generator.late).sum())
            ),
        });
    }
    reasons
}

/// One endpoint's judgement: its verdict, its own reasons, and whether the shared collecting
/// reason holds it back too (not when its fleet reference waived it).
pub(crate) struct Judged {
    /// The verdict.
    pub verdict: EndpointVerdict,
    /// Its own failed checks.
    pub reasons: Vec<Reason>,
    /// The collecting reason applies to it.
    pub collecting: bool,
}

/// Judges endpoint `index` named `name` on its segment since the settle point (`seg`, `None`
/// while too few windows have samples), and against its fleet reference (`reference`, if
/// `gate.reference` is set). `shared` is the collecting reason, repeated in the endpoint's own
/// reasons but returned only once by the caller.
pub(crate) fn judge_endpoint(
    settings: &GateSettings,
    history: &History,
    index: usize,
    name: &str,
    seg: Option<&Segment>,
    shared: Option<&Reason>,
    reference: Option<EndpointReference<'_>>,
) -> Judged {
    let q = settings.q();
    let mut f = Findings::new(name, settings.quantile_label());
    // The judged span: the segment's windows, at most the lookback's histograms.
    let span = seg
        .map_or(history.held(), |s| s.windows)
        .min(history.held());
    let (early, late) = history.merged_halves(index, span);
    let mut all = early.clone();
    // Same bounds (loadgen's constructor): `add` cannot fail.
    let _ = all.add(&late);
    let q_all = (!all.is_empty()).then(|| all.value_at_quantile(q));

    let error_rate = checks::errors(settings, history.recent(span), index, &mut f);
    let ceiling = settings.ceiling(name);
    checks::ceiling(ceiling, q_all, &mut f);
    let trend = seg.map(|s| checks::trend(settings, s, &mut f));
    if seg.is_none() && !all.is_empty() && shared.is_none() {
        let text = format!("{} windows with samples, need {MIN_WINDOWS}", span);
        f.fail_time(rank::SAMPLES, text);
    }
    let (q_early, q_late, tail_moved) = checks::tail(settings, span, &early, &late, &mut f);
    checks::samples(settings, all.len(), &mut f);
    let interval = checks::precision(settings, &all, q_all, &mut f);
    let requests = history.requests(index);
    let held = seg.is_some_and(|s| checks::tier_hold(settings, s, requests, &mut f))
        | seg.is_some_and(|s| checks::settle_hold(settings, s, &mut f));
    checks::requests(settings, requests, &mut f);
    let segment_span = seg.map(|_| (&all, span));
    let fleet = reference.map(|r| against_fleet(settings, history, index, segment_span, r, &mut f));
    let matched = fleet.as_ref().is_some_and(|x| x.matched);

    let class = if matched {
        // At the fleet's level: warm by the fleet's measure, unless a rise is measured.
        match (trend.as_ref(), seg) {
            (Some(t), _) if t.rise_measured => Class::Slowdown,
            (_, Some(s)) if s.warmed => Class::Warmed,
            _ => Class::Flat,
        }
    } else {
        classify(seg, trend.as_ref(), tail_moved, held, settings.tolerance)
    };
    let mut own = f.reasons;
    if matched {
        own.retain(|r| !r.waivable);
    }
    let collecting = shared.is_some() && !matched;
    let pass = own.is_empty() && !collecting;
    own.sort_by_key(|r| r.rank);
    let mut texts: Vec<String> = own.iter().map(|r| r.text.clone()).collect();
    if let (Some(s), true) = (shared, collecting) {
        texts.push(s.text.clone());
    }
    let rule = pass.then_some(if matched {
        Rule::Reference
    } else {
        Rule::StandAlone
    });
    let window_s = settings.window.as_secs_f64();
    let verdict = EndpointVerdict {
        name: name.to_string(),
        pass,
        class,
        reasons: texts,
        settle_s: seg.map(|s| round(s.settle_index as f64 * window_s, 3)),
        step: seg.and_then(|s| s.step).map(|x| round(x, 2)),
        judged_s: round(span as f64 * window_s, 3),
        samples: all.len(),
        q_ms: q_all.map(us_to_ms),
        interval_ms: interval.map(|(lo, hi)| [us_to_ms(lo), us_to_ms(hi)]),
        q_early_ms: q_early.map(us_to_ms),
        q_late_ms: q_late.map(us_to_ms),
        residual: trend.map(|t| round(t.residual, 4)),
        residual_bound: trend.map(|t| round(t.residual_bound, 4)),
        rise_per_minute: trend.map(|t| round(t.per_minute, 4)),
        rise_bound: trend.map(|t| round(t.per_minute_bound, 4)),
        error_rate: round(error_rate, 5),
        requests,
        ceiling_ms: ceiling.map(|c| round(c.as_secs_f64() * 1000.0, 3)),
        rule,
        reference_ms: fleet
            .as_ref()
            .and_then(|x| x.level_us)
            .map(|us| round(us / 1000.0, 3)),
        reference_peers: fleet.as_ref().and_then(|x| x.peers),
        recent_q_ms: fleet.as_ref().and_then(|x| x.recent_q_us).map(us_to_ms),
        recent_upper_ms: fleet.as_ref().and_then(|x| x.recent_upper_us).map(us_to_ms),
        reference_note: fleet.and_then(|x| x.note),
    };
    Judged {
        verdict,
        reasons: own,
        collecting,
    }
}

/// What the fleet reference said of one endpoint.
struct AgainstFleet {
    /// The reference, microseconds (None: not usable, see `note`).
    level_us: Option<f64>,
    /// Peers behind it.
    peers: Option<u32>,
    /// The quantile over the newest windows holding `min_samples` samples.
    recent_q_us: Option<u64>,
    /// The upper bound of its 95% interval.
    recent_upper_us: Option<u64>,
    /// Within tolerance: the checks only time can satisfy are waived.
    matched: bool,
    /// Why the endpoint is judged alone, when it is.
    note: Option<String>,
}

/// Holds endpoint `index`'s newest windows to its fleet reference: `matched` when the upper
/// bound of their quantile's 95% interval is within tolerance of it (with `min_samples`
/// samples); in `require` mode a quantile above tolerance of it fails the endpoint. The newest
/// windows are those holding `min_samples` samples, or the segment since the settle point
/// (`segment`: its merged histogram and windows) when it holds more and its bound is lower: a
/// steady segment's longer span gives a tighter bound.
fn against_fleet(
    settings: &GateSettings,
    history: &History,
    index: usize,
    segment: Option<(&Histogram<u64>, usize)>,
    reference: EndpointReference<'_>,
    f: &mut Findings<'_>,
) -> AgainstFleet {
    let q = settings.q();
    let (newest, newest_windows) = history.merged_recent(index, settings.min_samples);
    let upper_of =
        |h: &Histogram<u64>| interval_ranks(h.len(), q).map(|(_, hi)| value_at_rank(h, hi));
    let mut pick = (&newest, newest_windows, upper_of(&newest));
    if let Some((h, w)) = segment.filter(|(h, _)| h.len() > newest.len()) {
        let u = upper_of(h);
        if u.is_some() && (pick.2.is_none() || u < pick.2) {
            pick = (h, w, u);
        }
    }
    let (recent, windows, upper) = pick;
    let recent_q = (!recent.is_empty()).then(|| recent.value_at_quantile(q));
    let mut out = AgainstFleet {
        level_us: None,
        peers: None,
        recent_q_us: recent_q,
        recent_upper_us: upper,
        matched: false,
        note: None,
    };
    let (level, peers) = match reference.usable_us() {
        Ok(x) => x,
        Err(why) => {
            out.note = Some(format!("reference: {why}, judging alone"));
            return out;
        }
    };
    out.level_us = Some(level);
    out.peers = Some(peers);
    let allowed = reference.allowed_us(level);
    let enough = recent.len() >= settings.min_samples;
    out.matched = enough && upper.is_some_and(|u| u as f64 <= allowed);
    if !out.matched {
        out.note = Some(match (enough, upper) {
            (true, Some(u)) => format!(
                "reference: {} upper bound {} over the last {} is above {} ({} of {} peers' {}): judging alone",
                f.label,
                ms(u as f64 / 1000.0),
                secs(settings.window.saturating_mul(windows as u32)),
                ms(allowed / 1000.0),
                pct(1.0 + reference.rule.tolerance),
                peers,
                ms(level / 1000.0)
            ),
            _ => format!(
                "reference: {} samples of the {} needed to compare, judging alone",
                recent.len(),
                settings.min_samples
            ),
        });
    }
    if reference.rule.mode == ReferenceMode::Require {
        if let Some(v) = recent_q.filter(|&v| v as f64 > allowed) {
            let text = format!(
                "{} {} is {} above the fleet's {} ({} peers), allowed {} (gate.reference.mode: require)",
                f.label,
                ms(v as f64 / 1000.0),
                pct(v as f64 / level - 1.0),
                ms(level / 1000.0),
                peers,
                pct(reference.rule.tolerance)
            );
            f.fail(rank::CEILING, text);
        }
    }
    out
}

/// The endpoint's class (after warmup_stats' classes, read online): see [`Class`].
fn classify(
    seg: Option<&Segment>,
    trend: Option<&Trend>,
    tail_moved: bool,
    held: bool,
    tolerance: f64,
) -> Class {
    let (Some(seg), Some(trend)) = (seg, trend) else {
        return Class::Collecting;
    };
    if trend.rising {
        Class::Slowdown
    } else if held || (trend.falling && trend.residual_bound > tolerance) {
        Class::Warming
    } else if tail_moved {
        Class::NoSteadyState
    } else if seg.warmed {
        Class::Warmed
    } else {
        Class::Flat
    }
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
        self.push(rank, text, false);
    }

    /// Records a failed check that only more time can satisfy (see [`Reason::waivable`]).
    pub fn fail_time(&mut self, rank: u8, text: String) {
        self.push(rank, text, true);
    }

    fn push(&mut self, rank: u8, text: String, waivable: bool) {
        self.reasons.push(Reason {
            rank,
            text: format!("{}: {text}", self.name),
            waivable,
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
