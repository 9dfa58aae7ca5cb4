//! The fleet reference (`gate.reference`): the warm p99 of the pod's peers, measured on the same
//! synthetic requests, as the yardstick a new pod is held to (docs/DESIGN.md, "The fleet
//! reference").
//!
//! Pure data and arithmetic: the agent asks Prometheus (`crate::reference`) and hands the gate
//! what it knows as a [`Fleet`] at each evaluation; the gate never waits for it. Per endpoint:
//! - **accelerate** (both modes): the upper bound of the 95% interval of the quantile over the
//!   newest windows holding `min_samples` samples is within `(1 + tolerance) x reference`:
//!   checks that only time can satisfy (the settle point's windows, the residual slowness and its
//!   precision, the tail's halves, the holds after a warm-up or a step) are waived; errors, the
//!   ceiling, a measured rise, `min_requests`, the generator and `consecutive` still apply;
//! - **require**: besides, the quantile over those newest windows above `(1 + tolerance) x
//!   reference` fails the endpoint, whatever the stand-alone checks say: a stable JIT plateau
//!   (C1 before C2) or a stable but cold cache is not warm while the fleet is faster.
//!
//! Without a usable reference (none configured, Prometheus down or slow, no or too few peers)
//! the stand-alone criterion decides, and the verdict says why.

use serde::{Deserialize, Serialize};

/// `gate.reference.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceMode {
    /// A pod at the fleet's level passes early; otherwise the stand-alone criterion decides.
    #[default]
    Accelerate,
    /// As `accelerate`, and no endpoint passes while above the fleet's level.
    Require,
}

impl ReferenceMode {
    /// The name used in configuration, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceMode::Accelerate => "accelerate",
            ReferenceMode::Require => "require",
        }
    }
}

/// The gate's part of `gate.reference` (the query's part is the agent's).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRule {
    /// What a reference does to the verdict.
    pub mode: ReferenceMode,
    /// How far above the reference the pod may be: `(1 + tolerance) x reference`.
    pub tolerance: f64,
    /// Peers needed before the reference counts.
    pub min_peers: u32,
}

/// The fleet's level for one endpoint: the median of the peers' exported quantiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeerLevel {
    /// The reference latency, seconds.
    pub seconds: f64,
    /// Peers it was taken over.
    pub peers: u32,
}

/// What the agent knows of the fleet at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Per gate endpoint, in the gate's order: the level, or why there is none ("prometheus
    /// unreachable (connection refused)", "no peers: the query returned no series").
    pub endpoints: Vec<Result<PeerLevel, String>>,
    /// Seconds since the answer was received (None: no answer yet).
    pub age_s: Option<f64>,
}

impl Fleet {
    /// No endpoint has a reference, for one reason (Prometheus down, no answer yet).
    pub fn unavailable(endpoints: usize, why: &str) -> Fleet {
        Fleet {
            endpoints: vec![Err(why.to_string()); endpoints],
            age_s: None,
        }
    }
}

/// Which rule let an endpoint (or the gate) pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The stand-alone criterion (the endpoint's own statistics).
    StandAlone,
    /// Within tolerance of the fleet reference.
    Reference,
}

impl Rule {
    /// Every rule, for metrics.
    pub const ALL: [Rule; 2] = [Rule::StandAlone, Rule::Reference];

    /// The snake_case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::StandAlone => "stand_alone",
            Rule::Reference => "reference",
        }
    }
}

/// The reference as the verdict reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceReport {
    /// `accelerate` or `require`.
    pub mode: ReferenceMode,
    /// `gate.reference.tolerance`.
    pub tolerance: f64,
    /// `gate.reference.min_peers`.
    pub min_peers: u32,
    /// Seconds since Prometheus answered (None: no answer yet).
    pub age_s: Option<f64>,
    /// Why some endpoint is judged alone, if one is: the first endpoint's reason.
    pub note: Option<String>,
}

/// One endpoint's reference at one evaluation, as the judge uses it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndpointReference<'a> {
    /// The rule.
    pub rule: &'a ReferenceRule,
    /// The fleet's level, or why there is none.
    pub level: &'a Result<PeerLevel, String>,
}

impl EndpointReference<'_> {
    /// The level in microseconds, when it counts (enough peers); else why not.
    pub fn usable_us(&self) -> Result<(f64, u32), String> {
        match self.level {
            Ok(p) if p.peers >= self.rule.min_peers.max(1) && p.seconds > 0.0 => {
                Ok((p.seconds * 1e6, p.peers))
            }
            Ok(p) if p.seconds > 0.0 => Err(format!(
                "{} of the {} peers gate.reference.min_peers asks for",
                p.peers, self.rule.min_peers
            )),
            Ok(_) => Err("the peers' level is not a positive latency".to_string()),
            Err(why) => Err(why.clone()),
        }
    }

    /// The largest latency (microseconds) within tolerance of `level_us`.
    pub fn allowed_us(&self, level_us: f64) -> f64 {
        level_us * (1.0 + self.rule.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_counts_only_with_enough_positive_peers() {
        let rule = ReferenceRule {
            mode: ReferenceMode::Accelerate,
            tolerance: 0.1,
            min_peers: 2,
        };
        let one = Ok(PeerLevel {
            seconds: 0.012,
            peers: 1,
        });
        let r = EndpointReference {
            rule: &rule,
            level: &one,
        };
        let why = r.usable_us().expect_err("one peer of two");
        assert!(why.contains("1 of the 2 peers"), "{why}");
        let two = Ok(PeerLevel {
            seconds: 0.012,
            peers: 2,
        });
        let r = EndpointReference {
            rule: &rule,
            level: &two,
        };
        let (us, peers) = r.usable_us().expect("two peers");
        assert!((us - 12_000.0).abs() < 1e-6 && peers == 2);
        assert!((r.allowed_us(us) - 13_200.0).abs() < 1e-6);
        let down: Result<PeerLevel, String> = Err("prometheus unreachable".into());
        let r = EndpointReference {
            rule: &rule,
            level: &down,
        };
        assert_eq!(r.usable_us().unwrap_err(), "prometheus unreachable");
    }
}
