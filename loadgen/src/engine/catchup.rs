//! How fast the backlog may be sent: a token bucket over late requests.
//!
//! When the app hangs, due requests pile up in the backlog (see `cap`). Without a bound, the
//! moment the app answers again every place under the cap would send overdue requests as fast
//! as answers come back: a hang of 20 s at 400 rps released ~6,700 requests in one second onto
//! a recovering app. Late requests therefore take a token each; tokens accrue at
//! [`CATCH_UP`] times the target rate of the moment, and at most [`BURST`] worth of them are
//! kept. Sending is then at most `CATCH_UP x rate` (plus one burst) while a backlog exists, so
//! the backlog shrinks at `(CATCH_UP - 1) x rate` and a hang of `h` s is caught up in about
//! `h / (CATCH_UP - 1)` s. Accounting does not change: a late request keeps its intended time,
//! so its latency includes all of its wait (open loop), however long pacing made it.

use std::time::{Duration, Instant};

use crate::engine::schedule::Schedule;

/// Sending while a backlog exists is at most this many times the target rate.
pub(crate) const CATCH_UP: f64 = 2.0;
/// The largest burst of late requests, in seconds of the target rate (at least one request).
pub(crate) const BURST: Duration = Duration::from_millis(250);

/// Tokens for late requests, refilled from the schedule's rate of the moment.
#[derive(Debug)]
pub(crate) struct Bucket {
    schedule: Schedule,
    t0: Instant,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for a run on `schedule` that started at `t0`.
    pub(crate) fn new(schedule: Schedule, t0: Instant) -> Bucket {
        let mut b = Bucket {
            schedule,
            t0,
            tokens: 0.0,
            last: t0,
        };
        b.tokens = b.capacity(t0);
        b
    }

    /// The most tokens kept at `now`: [`BURST`] of the target rate, at least one.
    fn capacity(&self, now: Instant) -> f64 {
        let rate = self
            .schedule
            .rate_at(now.saturating_duration_since(self.t0));
        (rate * BURST.as_secs_f64()).max(1.0)
    }

    /// Takes one token at `now` if there is one (after adding what accrued since the last call).
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let rate = self
            .schedule
            .rate_at(now.saturating_duration_since(self.t0));
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * rate * CATCH_UP).min(self.capacity(now));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RateSchedule;

    /// Tokens granted by calling `take` every `step` for `over` after `start`.
    fn granted(b: &mut Bucket, start: Instant, step: Duration, over: Duration) -> u32 {
        let mut n = 0;
        let mut t = start;
        while t < start + over {
            while b.take(t) {
                n += 1;
            }
            t += step;
        }
        n
    }

    #[test]
    fn a_full_bucket_is_one_burst_then_catch_up_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Schedule::new(RateSchedule::Constant(400.0)), t0);
        // At once: one burst, 0.25 s of 400 rps.
        let burst = granted(
            &mut b,
            t0,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!(burst, 100);
        // Then 2 x 400 per second, however eagerly asked.
        let start = t0 + Duration::from_millis(1);
        let second = granted(
            &mut b,
            start,
            Duration::from_micros(100),
            Duration::from_secs(1),
        );
        assert!((799..=801).contains(&second), "{second}");
    }

    #[test]
    fn an_idle_bucket_keeps_only_one_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Schedule::new(RateSchedule::Constant(400.0)), t0);
        let later = t0 + Duration::from_secs(60);
        let n = granted(
            &mut b,
            later,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!(n, 100);
    }

    #[test]
    fn slow_rates_still_get_one_request() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Schedule::new(RateSchedule::Constant(0.5)), t0);
        assert!(b.take(t0));
        assert!(!b.take(t0));
        // 0.5 rps x 2 = one token per second.
        assert!(b.take(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn time_going_backwards_grants_nothing_extra() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Schedule::new(RateSchedule::Constant(4.0)), t0);
        assert!(b.take(t0 + Duration::from_secs(10)));
        assert!(!b.take(t0));
    }
}
