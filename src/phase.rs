//! [`Phase`]: where the agent is in its life. A module of its own because the state, the
//! metrics and the demo all name it, and none of them should depend on another for it.

use serde::Serialize;

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The app is not accepting connections yet, or its own readiness fails.
    Waiting,
    /// Synthetic traffic runs; the gate has not passed yet.
    Warming,
    /// The gate passed (or the deadline passed with `open`).
    Ready,
    /// The deadline (or wait timeout) passed with `on_deadline: fail`. Left only for `waiting`,
    /// when the app restarts (or its own readiness goes down and up), and for `draining`.
    Failed,
    /// SIGTERM/SIGINT received: unready, shutting down. Final.
    Draining,
}

impl Phase {
    /// Every phase, in life order.
    pub const ALL: [Phase; 5] = [
        Phase::Waiting,
        Phase::Warming,
        Phase::Ready,
        Phase::Failed,
        Phase::Draining,
    ];

    /// The phase's lowercase name (metric label and status field).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Warming => "warming",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Draining => "draining",
        }
    }

    /// `failed` and `draining`: the agent has stopped warming, and their reason (why) is kept
    /// until the phase changes. `draining` is never left; `failed` only as [`Phase::Failed`] says.
    pub fn is_halted(self) -> bool {
        matches!(self, Phase::Failed | Phase::Draining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialised_form() {
        for p in Phase::ALL {
            let json = serde_json::to_value(p).expect("serialises");
            assert_eq!(json, p.name());
        }
    }
}
