//! The statistical verdict: decides from window snapshots whether every endpoint is warm.
//!
//! Pure code: no I/O, no clock, no async. The agent feeds one [`loadgen::Snapshot`] per window
//! to [`Gate::observe`] and gets a [`Verdict`] back. The question it answers per endpoint: **is
//! the app still getting faster, and how much slower than its steady state would users find it if
//! it opened now?** (docs/DESIGN.md, "The gate"; the statistics: docs/FACTS.md, "Quantile
//! statistics" and "Steady-state detection"):
//! - each window is reduced to a low-noise **level**: the trimmed mean of log latency (p10 to
//!   p90) and its standard error, from the window's own spread;
//! - the **settle point**: from the newest windows backwards, the segment grows while the window
//!   before it is within noise of the segment's level, and stops at two windows in a row clearly
//!   above it (the warm-up). Everything since is judged: confidence grows with time;
//! - **residual slowness**: the level's weighted least-squares slope since the settle point,
//!   projected over `horizon`: how much faster the app would still get at its current pace. Its
//!   one-sided `confidence` upper bound must be within `tolerance`;
//! - **no rise**: the slope's upper bound (one standard error) stays below `max_rise` per
//!   minute: an app getting slower is degrading, not warming;
//! - **the tail**: over the segment (at most `lookback` of histograms), the quantile of each half
//!   lies within the other half's 95% order-statistic interval widened by `tolerance` (or
//!   `noise_floor`): the tolerance is the larger of the configured one and what sampling noise
//!   explains, so a stationary jittery tail passes and a falling one does not; the span's
//!   interval lies within `+/- interval` of its estimate, with at least `min_samples` samples;
//! - **tier hold**: a warm-up that ended in a step (the median dropped 1.5x or more at once, as
//!   JIT tiers do) may be a plateau before the next tier: at least `tier_requests` requests first;
//! - error rate over the span `<= max_error_rate`; the quantile `<= ceiling` (if any); at least
//!   `min_requests` completed since the gate was created or reset;
//!
//! - with `gate.reference` (the fleet reference, [`mod@reference`]): an endpoint whose newest
//!   quantile is within tolerance of its warm peers' passes without the checks only time can
//!   satisfy; in `require` mode one above it fails;
//!
//! and the generator kept its schedule in every judged window (achieved rate `>= min_rate_ratio`
//! x target, p99 schedule lag `<= max_lag`): windows where it starved must not pass for stable
//! ones. `ready` needs `consecutive` passing evaluations in a row. Each endpoint is also given a
//! [`Class`]: `flat`, `warmed` (with the settle point), `warming`, `slowdown`, `no steady state`.
//!
//! Memory: one latency histogram per endpoint per window of the lookback (about 20 KiB each),
//! plus a few numbers per endpoint per window over 10 lookbacks. Each evaluation merges the
//! span's histograms into two halves and fits a line through a few dozen numbers.
//!
//! An endpoint that receives no traffic at all (weight 0) fails with "no samples": the gate never
//! vouches for latency it has not measured. Give it a weight or leave it out of the gate.
//!
//! # Layout
//! - [`settings`]: [`GateSettings`], the criterion's numbers.
//! - [`stats`]: order-statistic interval ranks and look-ups.
//! - [`mod@reference`]: the fleet reference's rule, the agent's [`Fleet`] input and its report.
//! - [`synth`]: seeded synthetic snapshots (lognormal latency times a warm-up curve) for tests
//!   and benchmarks.
//! - private: `history` (the bounded window memory and per-window levels), `segment` (settle
//!   point, slope, step), `judge` (one evaluation, reasons and their ranks, the generator, the
//!   class), `checks` (each per-endpoint check), `format` (numbers in reasons).

mod checks;
mod format;
mod history;
mod judge;
pub mod reference;
mod segment;
pub mod settings;
pub mod stats;
pub mod synth;

use serde::Serialize;

pub use reference::{Fleet, PeerLevel, ReferenceMode, ReferenceReport, ReferenceRule, Rule};
pub use settings::{EndpointSpec, GateSettings};

use history::{History, WindowRecord};
use judge::{collecting_reason, judge_endpoint, judge_generator};

/// Judges window after window; remembers only the lookback and the streak.
#[derive(Debug, Clone)]
pub struct Gate {
    settings: GateSettings,
    endpoints: Vec<String>,
    history: History,
    streak: u32,
}

/// The outcome of one evaluation, for /status, /readyz bodies, metrics and logs.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// This evaluation passed (every endpoint and the generator).
    pub pass: bool,
    /// Consecutive passing evaluations, this one included.
    pub streak: u32,
    /// Passing evaluations in a row needed (`settings.consecutive`).
    pub required: u32,
    /// `streak >= required` (and at least one passing evaluation), or this evaluation passed
    /// with every endpoint within tolerance of its fleet reference.
    pub ready: bool,
    /// Human one-liners, most important first; empty when `pass`.
    pub reasons: Vec<String>,
    /// One verdict per endpoint, in the gate's order.
    pub endpoints: Vec<EndpointVerdict>,
    /// Which rule let this evaluation pass: `reference` when any endpoint passed within tolerance
    /// of its fleet reference, else `stand_alone` (None when it failed).
    pub rule: Option<Rule>,
    /// The fleet reference, when `gate.reference` is set.
    pub reference: Option<ReferenceReport>,
}

/// What an endpoint's latency is doing, after the classes of Barrett et al.'s warmup_stats,
/// read online (at each evaluation, from the segment since the settle point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Too few windows with samples to say.
    Collecting,
    /// No warm-up seen: the level has been steady since warming began.
    Flat,
    /// A warm-up was seen and has ended at the settle point.
    Warmed,
    /// Still getting faster (the level falls beyond its noise), or holding after a tier-like step.
    Warming,
    /// Getting slower: the level rises by `max_rise` per minute or more.
    Slowdown,
    /// The level is steady but the tail still moves between the halves of the judged span.
    NoSteadyState,
}

impl Class {
    /// Every class, for metrics (one series per class).
    pub const ALL: [Class; 6] = [
        Class::Collecting,
        Class::Flat,
        Class::Warmed,
        Class::Warming,
        Class::Slowdown,
        Class::NoSteadyState,
    ];

    /// The snake_case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Collecting => "collecting",
            Class::Flat => "flat",
            Class::Warmed => "warmed",
            Class::Warming => "warming",
            Class::Slowdown => "slowdown",
            Class::NoSteadyState => "no_steady_state",
        }
    }
}

/// One endpoint's numbers and reasons in one evaluation. Latencies in milliseconds; `None` where
/// a number is undefined (no samples, too few windows, too few samples for an interval).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointVerdict {
    /// The endpoint's name.
    pub name: String,
    /// Every criterion held for this endpoint (the generator is judged separately).
    pub pass: bool,
    /// What the latency is doing.
    pub class: Class,
    /// Why not, most important first (prefixed with the name); empty when `pass`.
    pub reasons: Vec<String>,
    /// Seconds since warming began at which the judged segment starts: the settle point (0 when
    /// no warm-up was seen).
    pub settle_s: Option<f64>,
    /// The warm-up ended in a step: the median dropped by this factor at once.
    pub step: Option<f64>,
    /// Seconds of histograms judged for the tail (the segment, at most the lookback).
    pub judged_s: f64,
    /// Latency samples in the judged span.
    pub samples: u64,
    /// The quantile over the judged span.
    pub q_ms: Option<f64>,
    /// Its 95% order-statistic interval.
    pub interval_ms: Option<[f64; 2]>,
    /// The quantile over the span's earlier half.
    pub q_early_ms: Option<f64>,
    /// The quantile over the span's later half.
    pub q_late_ms: Option<f64>,
    /// Residual slowness: how much faster the app would still get over `horizon` at its current
    /// pace (0.04 = users would find it 4% slower than it will be).
    pub residual: Option<f64>,
    /// Its one-sided `confidence` upper bound (the gate compares this with `tolerance`).
    pub residual_bound: Option<f64>,
    /// The level's change per minute since the settle point (-0.2 = 20% faster each minute).
    pub rise_per_minute: Option<f64>,
    /// Its upper bound at one standard error (compared with `max_rise`).
    pub rise_bound: Option<f64>,
    /// Non-ok outcomes / completed requests over the judged span (0 without requests).
    pub error_rate: f64,
    /// Completed requests since the gate was created or reset.
    pub requests: u64,
    /// The endpoint's ceiling, if any.
    pub ceiling_ms: Option<f64>,
    /// Which rule let it pass (None when it failed).
    pub rule: Option<Rule>,
    /// The fleet reference (the peers' median quantile), when one counts.
    pub reference_ms: Option<f64>,
    /// Peers behind it.
    pub reference_peers: Option<u32>,
    /// With a reference configured: the quantile over the newest windows holding `min_samples`
    /// samples, the one compared with the reference...
    pub recent_q_ms: Option<f64>,
    /// ... and the upper bound of its 95% interval (within tolerance of the reference: passes
    /// early).
    pub recent_upper_ms: Option<f64>,
    /// Why this endpoint is judged alone although a reference is configured.
    pub reference_note: Option<String>,
}

impl Gate {
    /// A gate for `endpoints` (names, in plan order; snapshots are matched by name).
    pub fn new(settings: GateSettings, endpoints: Vec<String>) -> Gate {
        let history = History::new(settings.lookback_windows(), endpoints.len());
        Gate {
            settings,
            endpoints,
            history,
            streak: 0,
        }
    }

    /// Adds one window and evaluates. Keeps only the windows the lookback needs (bounded memory).
    pub fn observe(&mut self, snapshot: &loadgen::Snapshot) -> Verdict {
        self.observe_with(snapshot, None)
    }

    /// [`Gate::observe`] with what is known of the fleet (`gate.reference`; ignored when the
    /// settings have no reference rule). `None` with a rule: no answer yet, judged alone.
    pub fn observe_with(&mut self, snapshot: &loadgen::Snapshot, fleet: Option<&Fleet>) -> Verdict {
        let record = WindowRecord::from_snapshot(snapshot, &self.endpoints);
        self.history.push(record);
        self.evaluate(fleet)
    }

    /// Forgets every window and the streak (the app restarted).
    pub fn reset(&mut self) {
        self.history.clear();
        self.streak = 0;
    }

    /// Consecutive passing evaluations so far.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// The settings the gate judges by.
    pub fn settings(&self) -> &GateSettings {
        &self.settings
    }

    /// Judges the remembered windows and moves the streak.
    fn evaluate(&mut self, fleet: Option<&Fleet>) -> Verdict {
        let waiting;
        let fleet = match (&self.settings.reference, fleet) {
            (None, _) => None,
            (Some(_), Some(f)) => Some(f),
            (Some(_), None) => {
                waiting = Fleet::unavailable(self.endpoints.len(), "no answer from Prometheus yet");
                Some(&waiting)
            }
        };
        let shared = collecting_reason(&self.settings, &self.history);
        let segments: Vec<Option<segment::Segment>> = (0..self.endpoints.len())
            .map(|i| segment::find(&self.history, i))
            .collect();
        // The generator is judged on every window any endpoint is judged on.
        let span = segments
            .iter()
            .map(|s| s.map_or(segment::MIN_WINDOWS, |s| s.windows))
            .max()
            .unwrap_or(segment::MIN_WINDOWS);
        let mut reasons = judge_generator(&self.settings, &self.history, span);
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        let mut collecting = false;
        let missing: Result<PeerLevel, String> = Err("no answer for this endpoint".into());
        for (index, name) in self.endpoints.iter().enumerate() {
            let reference = match (&self.settings.reference, fleet) {
                (Some(rule), Some(f)) => Some(reference::EndpointReference {
                    rule,
                    level: f.endpoints.get(index).unwrap_or(&missing),
                }),
                _ => None,
            };
            let judged = judge_endpoint(
                &self.settings,
                &self.history,
                index,
                name,
                segments[index].as_ref(),
                shared.as_ref(),
                reference,
            );
            collecting |= judged.collecting;
            endpoints.push(judged.verdict);
            reasons.extend(judged.reasons);
        }
        if let (Some(s), true) = (&shared, collecting) {
            reasons.push(s.clone());
        }
        if self.endpoints.is_empty() {
            reasons.push(judge::Reason {
                rank: judge::rank::SAMPLES,
                waivable: false,
                text: "no endpoints to judge".to_string(),
            });
        }
        // Stable: endpoint order is kept within a rank.
        reasons.sort_by_key(|r| r.rank);
        let pass = reasons.is_empty();
        self.streak = if pass {
            self.streak.saturating_add(1)
        } else {
            0
        };
        let required = self.settings.consecutive;
        let rule = pass.then(|| {
            if endpoints.iter().any(|e| e.rule == Some(Rule::Reference)) {
                Rule::Reference
            } else {
                Rule::StandAlone
            }
        });
        let all_reference = pass
            && !endpoints.is_empty()
            && endpoints.iter().all(|e| e.rule == Some(Rule::Reference));
        let reference = self.settings.reference.as_ref().map(|r| ReferenceReport {
            mode: r.mode,
            tolerance: r.tolerance,
            min_peers: r.min_peers,
            age_s: fleet
                .and_then(|f| f.age_s)
                .map(|a| (a * 10.0).round() / 10.0),
            note: endpoints.iter().find_map(|e| e.reference_note.clone()),
        });
        Verdict {
            pass,
            streak: self.streak,
            required,
            // A streak of 0 is never ready, whatever `consecutive` says. Every endpoint within
            // tolerance of its fleet reference needs no confirming streak: that comparison is
            // on the upper bound of a 95% interval already, and confirming is waiting.
            ready: self.streak >= required.max(1) || all_reference,
            reasons: reasons.into_iter().map(|r| r.text).collect(),
            endpoints,
            rule,
            reference,
        }
    }
}

impl Verdict {
    /// One line for /readyz 503 bodies and logs: the state, the streak and the first reason.
    pub fn summary(&self) -> String {
        if self.ready {
            let qs: Vec<String> = self
                .endpoints
                .iter()
                .filter_map(|e| e.q_ms.map(|q| format!("{} {}", e.name, format::ms(q))))
                .collect();
            match self.rule {
                Some(Rule::Reference) => format!(
                    "ready: within tolerance of the fleet reference ({})",
                    qs.join(", ")
                ),
                _ => format!(
                    "ready: stable for {} evaluations in a row ({})",
                    self.streak,
                    qs.join(", ")
                ),
            }
        } else if self.pass {
            format!(
                "stable, confirming: {} of {} passing evaluations in a row",
                self.streak, self.required
            )
        } else {
            let first = self.reasons.first().map_or("failed", String::as_str);
            let more = match self.reasons.len() {
                0 | 1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            let alone = self
                .reference
                .as_ref()
                .and_then(|r| r.note.as_deref())
                .map_or(String::new(), |n| format!("; {n}"));
            format!("not ready: {first}{more}{alone}")
        }
    }
}
