//! The statistical verdict: decides from window snapshots whether every endpoint is warm.
//!
//! Pure code: no I/O, no clock, no async. The agent feeds one [`loadgen::Snapshot`] per window
//! to [`Gate::observe`] and gets a [`Verdict`] back. The criterion (the statistics behind it:
//! docs/FACTS.md, "Quantile statistics" and "Steady-state detection"), per endpoint, over the last
//! `lookback` windows split into an old and a new half:
//! - the lookback is full and both halves hold `min_samples` latency samples;
//! - the new half's distribution-free 95% interval for the quantile (order statistics of rank
//!   `nq -/+ 1.96 sqrt(nq(1-q))`) lies within `+/- interval` of its estimate;
//! - `|q_new/q_old - 1| <= tolerance` or `|q_new - q_old| <= noise_floor`;
//! - no trend: Mann-Kendall `|z| < trend_z` on the per-window log quantiles, and the Theil-Sen
//!   slope projected over the lookback changes the quantile by less than `max_drift`, unless the
//!   slope lies within its 95% half-width of zero (its noise: the scatter of the per-window log
//!   quantiles, from successive differences). At 100 rps per endpoint a flat app's point
//!   estimate passes 10% in a quarter to half of all evaluations (docs/DESIGN.md, "Trend checks
//!   and noise");
//! - no rise over a longer horizon: the Theil-Sen slope of the per-window log quantiles over up
//!   to 3 lookbacks, projected over one lookback, stays below `max_drift` (one-sided: a warm-up
//!   only falls), and no evaluation passes before 2 lookbacks of history (130 s to ready by
//!   default, flat apps included). This is our addition to the composite above: alone, that
//!   opened on a +20%/min drift in 9 of 10 simulated 10-minute runs at 500 rps (one lookback's
//!   per-window p99s cannot tell it from noise); with it, 0 of 40 (`benches/gate_sim.rs`);
//! - error rate over the lookback `<= max_error_rate`; `q_new <= ceiling` (if any); at least
//!   `min_requests` completed since the gate was created or reset;
//!
//! and the generator kept its schedule in every window of the lookback (achieved rate
//! `>= min_rate_ratio` x target, p99 schedule lag `<= max_lag`): windows where it starved must
//! not pass for stable ones. `ready` needs `consecutive` passing evaluations in a row.
//!
//! Memory: one latency histogram per endpoint per window of the lookback (about 20 KiB each),
//! plus one number per endpoint per window over 3 lookbacks. Each evaluation merges the lookback's
//! histograms into two halves and makes a few quantile look-ups per endpoint: no per-sample work.
//!
//! An endpoint that receives no traffic at all (weight 0) fails with "no samples": the gate never
//! vouches for latency it has not measured. Give it a weight or leave it out of the gate.
//!
//! # Layout
//! - [`settings`]: [`GateSettings`], the criterion's numbers.
//! - [`stats`]: order-statistic interval ranks, Mann-Kendall, Theil-Sen, noise scale and slope
//!   half-width.
//! - [`synth`]: seeded synthetic snapshots (lognormal latency times a warm-up curve) for tests
//!   and benchmarks.
//! - private: `history` (the bounded window memory), `judge` (one evaluation, reasons and their
//!   ranks, the generator), `checks` (each per-endpoint check), `format` (numbers in reasons).

mod checks;
mod format;
mod history;
mod judge;
pub mod settings;
pub mod stats;
pub mod synth;

use serde::Serialize;

pub use settings::{EndpointSpec, GateSettings};

use history::{History, WindowRecord};
use judge::{history_reason, judge_endpoint, judge_generator, lookback_reason};

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
    /// `streak >= required` (and at least one passing evaluation).
    pub ready: bool,
    /// Human one-liners, most important first; empty when `pass`.
    pub reasons: Vec<String>,
    /// One verdict per endpoint, in the gate's order.
    pub endpoints: Vec<EndpointVerdict>,
}

/// One endpoint's numbers and reasons in one evaluation. Latencies in milliseconds; `None` where
/// a number is undefined (no samples, too few windows, too few samples for an interval).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointVerdict {
    /// The endpoint's name.
    pub name: String,
    /// Every criterion held for this endpoint (the generator is judged separately).
    pub pass: bool,
    /// Why not, most important first (prefixed with the name); empty when `pass`.
    pub reasons: Vec<String>,
    /// Latency samples in the old half of the lookback.
    pub samples_old: u64,
    /// Latency samples in the new half of the lookback.
    pub samples_new: u64,
    /// The quantile over the old half.
    pub q_old_ms: Option<f64>,
    /// The quantile over the new half.
    pub q_new_ms: Option<f64>,
    /// The new half's 95% order-statistic interval for the quantile.
    pub interval_ms: Option<[f64; 2]>,
    /// `q_new / q_old - 1`.
    pub change: Option<f64>,
    /// Mann-Kendall z of the per-window log quantiles (negative = falling).
    pub trend_z: Option<f64>,
    /// Theil-Sen slope projected over the lookback, as a relative change (-0.25 = 25% faster).
    pub drift: Option<f64>,
    /// How far `drift` can be off by sampling noise alone: the slope's 95% half-width for the
    /// scatter of the per-window log quantiles (estimated from successive differences),
    /// projected the same way. A drift fails only when it reaches `max_drift` and is at least
    /// this far from zero.
    pub drift_noise: Option<f64>,
    /// Theil-Sen slope over the long horizon (up to 3 lookbacks of per-window quantiles),
    /// projected over one lookback; `None` until the horizon is longer than the lookback.
    /// Only a rise fails (>= `max_drift`): it catches drifts and slowdowns too slow for one
    /// lookback to tell from noise, and a warm-up never rises.
    pub rise: Option<f64>,
    /// Non-ok outcomes / completed requests over the lookback (0 without requests).
    pub error_rate: f64,
    /// Completed requests since the gate was created or reset.
    pub requests: u64,
    /// The endpoint's ceiling, if any.
    pub ceiling_ms: Option<f64>,
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
        let record = WindowRecord::from_snapshot(snapshot, &self.endpoints, self.settings.q());
        self.history.push(record);
        self.evaluate()
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
    fn evaluate(&mut self) -> Verdict {
        let shared = lookback_reason(&self.settings, &self.history)
            .or_else(|| history_reason(&self.settings, &self.history));
        let mut reasons = judge_generator(&self.settings, &self.history);
        if let Some(s) = &shared {
            reasons.push(s.clone());
        }
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for (index, name) in self.endpoints.iter().enumerate() {
            let (verdict, own) =
                judge_endpoint(&self.settings, &self.history, index, name, shared.as_ref());
            endpoints.push(verdict);
            reasons.extend(own);
        }
        if self.endpoints.is_empty() {
            reasons.push(judge::Reason {
                rank: judge::rank::SAMPLES,
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
        Verdict {
            pass,
            streak: self.streak,
            required,
            // A streak of 0 is never ready, whatever `consecutive` says.
            ready: self.streak >= required.max(1),
            reasons: reasons.into_iter().map(|r| r.text).collect(),
            endpoints,
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
                .filter_map(|e| e.q_new_ms.map(|q| format!("{} {}", e.name, format::ms(q))))
                .collect();
            format!(
                "ready: stable for {} evaluations in a row ({})",
                self.streak,
                qs.join(", ")
            )
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
            format!("not ready: {first}{more}")
        }
    }
}
