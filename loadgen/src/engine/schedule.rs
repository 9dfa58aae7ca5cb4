//! When each request is due, and which endpoint it goes to.
//!
//! Request `i` (from 0) is due at the time `t` where the integral of the rate from 0 to `t` equals
//! `i`: `i / R` for a constant rate, the inverse of a quadratic during a linear ramp. Both the
//! pacer and the window ticker use the same [`Schedule`], so "scheduled" and "target rate" agree.

use std::time::{Duration, Instant};

use crate::plan::RateSchedule;

/// The inverse of the cumulative rate: request index <-> due offset from t0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    rate: RateSchedule,
}

impl Schedule {
    /// A schedule for `rate` (already checked by `Plan::try_new`: finite, positive rates).
    pub(crate) fn new(rate: RateSchedule) -> Schedule {
        Schedule { rate }
    }

    /// Requests due in `[0, t)` as a real number: the integral of the rate over `[0, t]`.
    pub(crate) fn count_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        match self.rate {
            RateSchedule::Constant(r) => r * t,
            RateSchedule::Ramp { from, to, over } => {
                let len = over.as_secs_f64();
                if t <= len {
                    from * t + (to - from) * t * t / (2.0 * len)
                } else {
                    (from + to) * len / 2.0 + to * (t - len)
                }
            }
        }
    }

    /// The target rate at `t` after t0, requests per second.
    pub(crate) fn rate_at(&self, t: Duration) -> f64 {
        match self.rate {
            RateSchedule::Constant(r) => r,
            RateSchedule::Ramp { from, to, over } => {
                let len = over.as_secs_f64();
                let t = t.as_secs_f64();
                if t < len {
                    from + (to - from) * t / len
                } else {
                    to
                }
            }
        }
    }

    /// The due offset of request `i`, in seconds from t0.
    pub(crate) fn due_secs(&self, i: u64) -> f64 {
        let n = i as f64;
        match self.rate {
            RateSchedule::Constant(r) => n / r,
            RateSchedule::Ramp { from, to, over } => {
                let len = over.as_secs_f64();
                let ramp_total = (from + to) * len / 2.0;
                if n <= ramp_total {
                    // Solve a t^2 + from t - n = 0 with a = (to - from) / (2 len); this form is
                    // stable for a = 0 and for a ramp down (a < 0), where the root is real.
                    let a = (to - from) / (2.0 * len);
                    let disc = (from * from + 4.0 * a * n).max(0.0);
                    let denom = from + disc.sqrt();
                    if denom > 0.0 {
                        2.0 * n / denom
                    } else {
                        0.0
                    }
                } else {
                    len + (n - ramp_total) / to
                }
            }
        }
    }

    /// The due offset of request `i` as a [`Duration`] (saturating at about 584 years).
    pub(crate) fn due(&self, i: u64) -> Duration {
        Duration::try_from_secs_f64(self.due_secs(i)).unwrap_or(Duration::MAX)
    }

    /// The instant request `i` is due, for a run that started at `t0` (saturating far in the
    /// future instead of overflowing for absurdly slow rates).
    pub(crate) fn due_at(&self, t0: Instant, i: u64) -> Instant {
        later(t0, self.due(i))
    }
}

/// `t + d`, or about a century after `t` where that would overflow.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    t.checked_add(d)
        .or_else(|| t.checked_add(CENTURY))
        .unwrap_or(t)
}

/// Smooth weighted round-robin (as in nginx): over every `sum(weights)` consecutive requests each
/// endpoint gets exactly its weight, spread as evenly as possible. Deterministic; the seed only
/// rotates which endpoint wins ties, so different seeds interleave differently.
#[derive(Debug, Clone)]
pub(crate) struct Chooser {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
    order: Vec<usize>,
}

impl Chooser {
    /// A chooser over `weights` (at least one non-zero, checked by `Plan::try_new`).
    pub(crate) fn new(weights: &[u32], seed: u64) -> Chooser {
        let n = weights.len().max(1);
        let rot = (seed % n as u64) as usize;
        let order = (0..weights.len()).map(|k| (k + rot) % n).collect();
        Chooser {
            weights: weights.iter().map(|&w| i64::from(w)).collect(),
            current: vec![0; weights.len()],
            total: weights.iter().map(|&w| i64::from(w)).sum(),
            order,
        }
    }

    /// The endpoint index of the next request.
    pub(crate) fn next_index(&mut self) -> usize {
        let mut best: Option<usize> = None;
        for &k in &self.order {
            if self.weights[k] == 0 {
                continue;
            }
            self.current[k] += self.weights[k];
            if best.is_none_or(|b| self.current[k] > self.current[b]) {
                best = Some(k);
            }
        }
        let pick = best.unwrap_or(0);
        if let Some(c) = self.current.get_mut(pick) {
            *c -= self.total;
        }
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_due_times_are_i_over_r() {
        let s = Schedule::new(RateSchedule::Constant(200.0));
        assert_eq!(s.due(0), Duration::ZERO);
        assert!((s.due_secs(200) - 1.0).abs() < 1e-12);
        assert!((s.count_at(Duration::from_secs(3)) - 600.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_due_times_invert_the_integral() {
        for (from, to) in [(10.0, 100.0), (100.0, 10.0), (50.0, 50.0)] {
            let s = Schedule::new(RateSchedule::Ramp {
                from,
                to,
                over: Duration::from_secs(5),
            });
            for i in [0u64, 1, 7, 100, 274, 275, 276, 1000] {
                let t = s.due(i);
                let back = s.count_at(t);
                assert!((back - i as f64).abs() < 1e-6, "{from}->{to} i={i}: {back}");
            }
        }
    }

    #[test]
    fn rate_at_follows_the_ramp() {
        let s = Schedule::new(RateSchedule::Ramp {
            from: 20.0,
            to: 200.0,
            over: Duration::from_secs(10),
        });
        assert!((s.rate_at(Duration::ZERO) - 20.0).abs() < 1e-9);
        assert!((s.rate_at(Duration::from_secs(5)) - 110.0).abs() < 1e-9);
        assert!((s.rate_at(Duration::from_secs(30)) - 200.0).abs() < 1e-9);
        let c = Schedule::new(RateSchedule::Constant(400.0));
        assert!((c.rate_at(Duration::from_secs(3)) - 400.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_mean_rate_is_the_midpoint() {
        let s = Schedule::new(RateSchedule::Ramp {
            from: 20.0,
            to: 200.0,
            over: Duration::from_secs(10),
        });
        let r = s.count_at(Duration::from_secs(10)) / 10.0;
        assert!((r - 110.0).abs() < 1e-9, "{r}");
        let after = s.count_at(Duration::from_secs(12)) - s.count_at(Duration::from_secs(11));
        assert!((after - 200.0).abs() < 1e-9);
    }

    #[test]
    fn chooser_gives_each_endpoint_its_weight_per_period() {
        let mut c = Chooser::new(&[5, 1, 0, 2], 3);
        let mut counts = [0u32; 4];
        for _ in 0..8 * 100 {
            counts[c.next_index()] += 1;
        }
        assert_eq!(counts, [500, 100, 0, 200]);
    }

    #[test]
    fn chooser_interleaves_smoothly() {
        let mut c = Chooser::new(&[1, 1], 0);
        let seq: Vec<usize> = (0..6).map(|_| c.next_index()).collect();
        assert!(seq.windows(2).all(|w| w[0] != w[1]), "{seq:?}");
    }
}
