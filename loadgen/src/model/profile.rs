//! The simulator profiles by name: which warm-up shape a `loadgen sim` (or a synthetic
//! endpoint) follows.

use std::str::FromStr;

use serde::Serialize;

/// A simulated app's warm-up shape; [`super::Curve::new`] gives its documented constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Already warm.
    Flat,
    /// Cold factor decaying with requests served, tens of x at first.
    Jit,
    /// Two plateaus by request count (C1, then C2).
    Tiered,
    /// Cold factor decaying with wall time.
    Cache,
    /// Warm, with periodic stop-the-world pauses.
    Gc,
    /// Never settles: latency creeps up steadily.
    Drift,
    /// Warms, then degrades.
    Slowdown,
    /// 5xx for a while, then warms like `jit`.
    Errors,
    /// No warm-up, with one 1 s stall starting 2 s after the first request.
    Stall,
    /// Never settles: the whole distribution creeps up gently, +10% a minute.
    Creep,
    /// Warm from the start with a jittery heavy tail: a wide lognormal body (sigma at least
    /// 1), rare hiccups of 3-10x, and short bursts of queueing (see [`super::jitter`]).
    Jittery,
}

impl Profile {
    /// Every profile, in documentation order.
    pub const ALL: [Profile; 11] = [
        Profile::Flat,
        Profile::Jit,
        Profile::Tiered,
        Profile::Cache,
        Profile::Gc,
        Profile::Drift,
        Profile::Slowdown,
        Profile::Errors,
        Profile::Stall,
        Profile::Creep,
        Profile::Jittery,
    ];

    /// The profile's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Flat => "flat",
            Profile::Jit => "jit",
            Profile::Tiered => "tiered",
            Profile::Cache => "cache",
            Profile::Gc => "gc",
            Profile::Drift => "drift",
            Profile::Slowdown => "slowdown",
            Profile::Errors => "errors",
            Profile::Stall => "stall",
            Profile::Creep => "creep",
            Profile::Jittery => "jittery",
        }
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown profile {s:?} (one of: {})", names.join(", "))
            })
    }
}
