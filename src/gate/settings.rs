//! The gate's settings: plain data, validated by `config` before they get here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_text;

/// Every number the criterion uses (see docs/DESIGN.md, `gate:`). Plain data: `config` validates
/// it; the gate only guards against values that would make it divide by zero or loop.
///
/// The numbers are also the `gate:` section's keys, written once: the configuration schema
/// flattens this struct into that section (durations as `"5s"` text), so a new criterion setting
/// is a new field here and nowhere else. The per-endpoint specs are not keys (they come from
/// `endpoints[].ceiling`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateSettings {
    /// The judged quantile, in (0, 1) (0.99 = p99).
    pub quantile: f64,
    /// Length of one window (converts `lookback` into a number of windows).
    #[serde(with = "serde_text")]
    pub window: Duration,
    /// Most history the tail is judged over: the histograms of the newest windows since the
    /// settle point, up to this long, are kept (bounded memory) and merged for the quantile.
    #[serde(with = "serde_text")]
    pub lookback: Duration,
    /// Passing evaluations in a row needed for `ready`.
    pub consecutive: u32,
    /// Largest residual slowness allowed at opening (the upper bound of how much faster the app
    /// would still get over `horizon` at its current pace), and largest change of the quantile
    /// between the two halves of the judged span beyond what sampling explains.
    pub tolerance: f64,
    /// ... or this absolute change of the quantile.
    #[serde(with = "serde_text")]
    pub noise_floor: Duration,
    /// The judged span's 95% interval for the quantile must lie within +/- this fraction of its
    /// estimate.
    pub interval: f64,
    /// One-sided confidence of the residual slowness bound (0.95: the app is at most
    /// `tolerance` slower than steady with 95% confidence).
    pub confidence: f64,
    /// How far ahead the residual slowness is projected at the current pace of improvement.
    #[serde(with = "serde_text")]
    pub horizon: Duration,
    /// Largest rise of the latency level per minute allowed since the settle point (its upper
    /// bound at one standard error): a rising app is degrading, not warming.
    pub max_rise: f64,
    /// Largest allowed share of non-ok outcomes over the lookback.
    pub max_error_rate: f64,
    /// Latency samples needed in each half of the lookback, per endpoint.
    pub min_samples: u64,
    /// Completed requests needed per endpoint since the gate was created or reset.
    pub min_requests: u64,
    /// After a warm-up that ended in a step (a JIT tier-like drop), requests needed per endpoint
    /// since the gate was created or reset before it may pass: the next tier may still come
    /// (HotSpot's C2 thresholds are thousands to ~10k invocations). 0 turns the hold off.
    pub tier_requests: u64,
    /// After a warm-up, how long the latency must have held since the settle point before it
    /// may pass: the end of a warm-up can be the flat bottom of a U (a slowdown starting as the
    /// warm-up ends), and only time tells the two apart.
    /// Unset: 9 windows (45 s at the default 5 s window), so that sped-up test set-ups with
    /// short windows scale with it.
    #[serde(with = "crate::duration::serde_opt_text")]
    pub settle_hold: Option<Duration>,
    /// Achieved / target rate needed in every window of the lookback.
    pub min_rate_ratio: f64,
    /// Largest p99 schedule lag allowed in every window of the lookback.
    #[serde(with = "serde_text")]
    pub max_lag: Duration,
    /// What each endpoint is held to beyond the numbers above, matched by name (an endpoint
    /// without a spec has no ceiling).
    #[serde(skip)]
    pub endpoints: Vec<EndpointSpec>,
    /// The fleet reference's rule (`gate.reference`; its query is the agent's): not a key of
    /// its own here, `config` builds it from the `gate.reference` table.
    #[serde(skip)]
    pub reference: Option<super::ReferenceRule>,
}

/// One endpoint's own part of the criterion, found by the endpoint's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The endpoint's name, as in the plan and the snapshots.
    pub name: String,
    /// Absolute bound on the endpoint's new-half quantile (None: no bound).
    pub ceiling: Option<Duration>,
}

impl Default for GateSettings {
    /// The documented defaults (DESIGN.md), no endpoint specs (so no ceilings).
    fn default() -> Self {
        GateSettings {
            quantile: 0.99,
            window: Duration::from_secs(5),
            lookback: Duration::from_secs(60),
            consecutive: 3,
            tolerance: 0.10,
            noise_floor: Duration::from_millis(1),
            interval: 0.15,
            confidence: 0.95,
            horizon: Duration::from_secs(30),
            max_rise: 0.05,
            max_error_rate: 0.01,
            min_samples: 2000,
            min_requests: 0,
            tier_requests: 12_000,
            settle_hold: None,
            min_rate_ratio: 0.95,
            max_lag: Duration::from_millis(50),
            endpoints: Vec::new(),
            reference: None,
        }
    }
}

impl GateSettings {
    /// Most windows a lookback may span: each holds a histogram per endpoint (~20 KiB), so this
    /// bounds the gate's memory (~20 MiB per endpoint). `config` should refuse more.
    pub const MAX_LOOKBACK_WINDOWS: usize = 1000;

    /// Number of windows in the lookback: `lookback / window` rounded, at least 2 (one per half),
    /// at most [`GateSettings::MAX_LOOKBACK_WINDOWS`].
    pub fn lookback_windows(&self) -> usize {
        let window = self.window.as_secs_f64();
        if window <= 0.0 {
            return 2;
        }
        let n = (self.lookback.as_secs_f64() / window).round();
        if n.is_finite() && n >= 2.0 {
            // Bounded so that a silly configuration cannot make the gate hoard memory.
            (n as usize).min(Self::MAX_LOOKBACK_WINDOWS)
        } else {
            2
        }
    }

    /// The quantile, clamped into a range where the statistics are defined.
    pub(crate) fn q(&self) -> f64 {
        if self.quantile.is_finite() {
            self.quantile.clamp(1e-6, 1.0 - 1e-6)
        } else {
            0.99
        }
    }

    /// z of the one-sided `confidence` bound (1.645 at 0.95); confidence is clamped into
    /// [0.5, 0.9999].
    pub(crate) fn z(&self) -> f64 {
        let c = if self.confidence.is_finite() {
            self.confidence.clamp(0.5, 0.9999)
        } else {
            0.95
        };
        loadgen::sim::truth::inverse_normal(c)
    }

    /// Windows per minute and per `horizon`, as factors from a per-window slope.
    pub(crate) fn per_window(&self, span: Duration) -> f64 {
        let w = self.window.as_secs_f64();
        if w > 0.0 {
            span.as_secs_f64() / w
        } else {
            0.0
        }
    }

    /// `settle_hold`, or 9 windows when unset.
    pub(crate) fn settle_hold(&self) -> Duration {
        self.settle_hold
            .unwrap_or_else(|| self.window.saturating_mul(9))
    }

    /// The ceiling of the endpoint named `name`, if it has one.
    pub(crate) fn ceiling(&self, name: &str) -> Option<Duration> {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.ceiling)
    }

    /// `p99`, `p99.9`, `p50`: the quantile's usual short name.
    pub fn quantile_label(&self) -> String {
        let pct = self.q() * 100.0;
        let mut text = format!("{pct:.4}");
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
        format!("p{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lookback_is_twelve_windows() {
        assert_eq!(GateSettings::default().lookback_windows(), 12);
    }

    #[test]
    fn lookback_windows_never_below_two_even_for_zero_window() {
        let s = GateSettings {
            window: Duration::ZERO,
            ..GateSettings::default()
        };
        assert_eq!(s.lookback_windows(), 2);
        let s = GateSettings {
            lookback: Duration::from_secs(1),
            ..GateSettings::default()
        };
        assert_eq!(s.lookback_windows(), 2);
        let s = GateSettings {
            window: Duration::from_millis(1),
            lookback: Duration::from_secs(3600),
            ..GateSettings::default()
        };
        assert_eq!(s.lookback_windows(), GateSettings::MAX_LOOKBACK_WINDOWS);
    }

    #[test]
    fn ceilings_are_found_by_endpoint_name_not_position() {
        let spec = |name: &str, ms| EndpointSpec {
            name: name.to_string(),
            ceiling: Some(Duration::from_millis(ms)),
        };
        let s = GateSettings {
            endpoints: vec![spec("search", 80), spec("home", 30)],
            ..GateSettings::default()
        };
        assert_eq!(s.ceiling("home"), Some(Duration::from_millis(30)));
        assert_eq!(s.ceiling("search"), Some(Duration::from_millis(80)));
        assert_eq!(s.ceiling("other"), None);
    }

    #[test]
    fn quantile_labels() {
        let label = |q| {
            GateSettings {
                quantile: q,
                ..GateSettings::default()
            }
            .quantile_label()
        };
        assert_eq!(label(0.99), "p99");
        assert_eq!(label(0.999), "p99.9");
        assert_eq!(label(0.5), "p50");
        assert_eq!(label(0.95), "p95");
    }
}
