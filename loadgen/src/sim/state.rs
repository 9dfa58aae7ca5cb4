//! Per-path warm-up state, bounded so that garbage paths cannot grow memory.

use std::collections::HashMap;

use super::pauses::{self, STALL_AFTER_S, STALL_S};
use super::{Curve, Profile, Tuning};
use crate::model::{Noise, JITTERY};

/// At most this many distinct paths warm on their own; the rest share one state.
pub const MAX_PATHS: usize = 64;
/// No answer waits longer than this (seconds), whatever the curve says.
pub const MAX_DELAY_S: f64 = 3600.0;
/// Paths longer than this are never tracked on their own.
pub const MAX_PATH_LEN: usize = 256;

/// Counters of one path (or of every untracked path together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Requests received.
    pub served: u64,
    /// Requests that drive the warm-up curve (for `errors`: those after the error window).
    pub counted: u64,
    /// 5xx answers.
    pub errors: u64,
}

/// What to answer one request, decided when it arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    /// HTTP status.
    pub status: u16,
    /// The request's index in its path's warm-up count (`served` - 1 for most profiles).
    pub n: u64,
    /// Seconds from arrival to the answer.
    pub delay_s: f64,
}

/// The mutable state of one simulator: counters, the noise generator, the stall.
#[derive(Debug)]
pub struct State {
    noise: Noise,
    paths: HashMap<String, PathCounts>,
    untracked: PathCounts,
    first_request_s: Option<f64>,
}

impl State {
    /// Fresh state with noise seeded by `seed`.
    pub fn new(seed: u64) -> State {
        State {
            noise: Noise::new(seed),
            paths: HashMap::new(),
            untracked: PathCounts::default(),
            first_request_s: None,
        }
    }

    /// Tracked paths and their counters.
    pub fn paths(&self) -> impl Iterator<Item = (&String, &PathCounts)> {
        self.paths.iter()
    }

    /// The counters shared by every path beyond the bound.
    pub fn untracked(&self) -> &PathCounts {
        &self.untracked
    }

    /// The `stall` window `(start_s, length_s)` since start, once the first request arrived.
    pub fn stall_window(&self) -> Option<(f64, f64)> {
        self.first_request_s.map(|t| (t + STALL_AFTER_S, STALL_S))
    }

    fn counts(&mut self, path: &str) -> &mut PathCounts {
        if !self.paths.contains_key(path) {
            if self.paths.len() >= MAX_PATHS || path.len() > MAX_PATH_LEN {
                return &mut self.untracked;
            }
            self.paths.insert(path.to_owned(), PathCounts::default());
        }
        self.paths.get_mut(path).unwrap_or(&mut self.untracked)
    }

    /// Counts a request to `path` arriving `t` seconds after start and decides its answer.
    pub fn admit(&mut self, curve: &Curve, tuning: &Tuning, path: &str, t: f64) -> Admission {
        if self.first_request_s.is_none() {
            self.first_request_s = Some(t);
        }
        let jittery = curve.profile == Profile::Jittery;
        let sigma = if jittery {
            tuning.sigma.max(JITTERY.sigma_min)
        } else {
            tuning.sigma
        };
        let mut base_s = tuning.base_ms * self.noise.lognormal(sigma) / 1000.0;
        if jittery {
            base_s *= JITTERY.hiccup(&mut self.noise);
        }
        let failed = self.noise.chance(tuning.error_rate);
        let stall = self.stall_window();
        let counts = self.counts(path);
        counts.served += 1;
        let (status, n, latency_s) = if curve.is_error_window(t) {
            (503, counts.counted, base_s)
        } else {
            let n = counts.counted;
            counts.counted += 1;
            let status = if failed { 500 } else { 200 };
            (status, n, base_s * curve.multiplier(n, t))
        };
        if status >= 500 {
            counts.errors += 1;
        }
        let done = match curve.profile {
            Profile::Gc => pauses::delay_by_pauses(t, t + latency_s, pauses::gc_pauses(t)),
            Profile::Stall => pauses::delay_by_pauses(t, t + latency_s, stall.into_iter()),
            Profile::Jittery => pauses::delay_by_pauses(t, t + latency_s, JITTERY.bursts(t)),
            _ => t + latency_s,
        };
        Admission {
            status,
            n,
            delay_s: (done - t).clamp(0.0, MAX_DELAY_S),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_table_is_bounded() {
        let curve = Curve::new(Profile::Jit, 1.0);
        let tuning = Tuning::default();
        let mut s = State::new(1);
        for i in 0..1000 {
            s.admit(&curve, &tuning, &format!("/p{i}"), 0.0);
        }
        assert_eq!(s.paths().count(), MAX_PATHS);
        assert_eq!(s.untracked().served, 1000 - MAX_PATHS as u64);
        let long = "/".repeat(MAX_PATH_LEN + 1);
        s.admit(&curve, &tuning, &long, 0.0);
        assert_eq!(s.untracked().served, 1001 - MAX_PATHS as u64);
    }

    #[test]
    fn stall_delays_requests_until_it_ends() {
        let curve = Curve::new(Profile::Stall, 1.0);
        let tuning = Tuning::default();
        let mut s = State::new(1);
        s.admit(&curve, &tuning, "/", 10.0);
        let a = s.admit(&curve, &tuning, "/", 12.5);
        assert!(a.delay_s >= 0.5, "{a:?}");
        let b = s.admit(&curve, &tuning, "/", 14.0);
        assert!(b.delay_s < 0.5, "{b:?}");
    }
}
