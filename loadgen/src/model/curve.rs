//! The warm-up curves: pure functions of a path's request count and the time since start.
//!
//! Every curve is a latency *multiplier* applied to the base lognormal latency (see
//! [`crate::sim::Tuning`] and [`super::Noise`]). "Settled" means the multiplier is at most [`SETTLED_MULTIPLIER`] (cold
//! excess <= 5%). Constants below are the documented speed-1 values; [`Curve::new`] divides every
//! warm-up constant (request counts and seconds) by the speed. The `gc` and `stall` timings are
//! not warm-up constants and live with the simulator ([`crate::sim::pauses`]).

use serde::Serialize;

use super::Profile;

/// Multipliers are capped here, so that a curve that grows without end stays a finite number.
pub const MAX_MULTIPLIER: f64 = 1e6;

/// A curve has settled once its multiplier is at most this (cold excess <= 5%).
pub const SETTLED_MULTIPLIER: f64 = 1.05;

/// `jit`: initial cold excess (the first request is 1 + 30 = 31x slower).
pub const JIT_EXCESS: f64 = 30.0;
/// `jit`: requests per e-fold of the cold excess (speed 1); settles after 2000 * ln(600) = 12,794
/// requests on a path, 64 s at 200 rps.
pub const JIT_REQUESTS: f64 = 2000.0;
/// `tiered`: interpreter plateau multiplier.
pub const TIERED_INTERP: f64 = 15.0;
/// `tiered`: requests until C1 (speed 1).
pub const TIERED_C1_AT: f64 = 1000.0;
/// `tiered`: C1 plateau multiplier.
pub const TIERED_C1: f64 = 2.5;
/// `tiered`: requests until C2, the steady state (speed 1).
pub const TIERED_C2_AT: f64 = 10_000.0;
/// `cache`: initial cold excess (21x at start).
pub const CACHE_EXCESS: f64 = 20.0;
/// `cache`: seconds per e-fold of the cold excess (speed 1); settles after 10 * ln(400) = 59.9 s.
pub const CACHE_SECONDS: f64 = 10.0;
/// `drift`: seconds per e-fold of latency (speed 1): +22% a minute, forever.
pub const DRIFT_SECONDS: f64 = 300.0;
/// `slowdown`: requests after which degradation starts (speed 1).
pub const SLOWDOWN_AT: f64 = 8000.0;
/// `slowdown`: requests per e-fold of the degradation (speed 1): +65% a minute at 200 rps.
pub const SLOWDOWN_REQUESTS: f64 = 24_000.0;
/// `creep`: seconds per e-fold of latency (speed 1): 60 / ln 1.1, +10% a minute, forever.
pub const CREEP_SECONDS: f64 = 629.523_521_235_423_7;
/// `errors`: seconds of 503 answers after start (speed 1).
pub const ERRORS_SECONDS: f64 = 20.0;

/// When a curve settles, per path: after `requests` requests on that path and/or `seconds`
/// since start (both must hold when both are given).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettleAfter {
    /// Requests on a path before it is settled (None: not count-based).
    pub requests: Option<u64>,
    /// Seconds since start before the app is settled (None: not time-based).
    pub seconds: Option<f64>,
}

/// A profile's curve with its effective (speed-scaled) constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Curve {
    /// The shape: the profile whose formula applies (with the constants below).
    pub profile: Profile,
    /// Cold excess of the first request (`jit`, `slowdown`, `errors`): it is `1 + excess` times
    /// slower than warm.
    pub jit_excess: f64,
    /// Requests per e-fold of the cold excess (`jit`, `slowdown`, `errors`).
    pub jit_requests: f64,
    /// Requests until C1 (`tiered`).
    pub tiered_c1_at: f64,
    /// Requests until C2 (`tiered`).
    pub tiered_c2_at: f64,
    /// Cold excess at start (`cache`).
    pub cache_excess: f64,
    /// Seconds per e-fold of the cold excess (`cache`).
    pub cache_seconds: f64,
    /// Seconds per e-fold of latency growth (`drift`).
    pub drift_seconds: f64,
    /// Requests before degradation starts (`slowdown`).
    pub slowdown_at: f64,
    /// Requests per e-fold of degradation (`slowdown`).
    pub slowdown_requests: f64,
    /// Seconds of 503 answers after start (`errors`).
    pub errors_seconds: f64,
    /// Seconds per e-fold of latency growth (`creep`).
    pub creep_seconds: f64,
}

impl Curve {
    /// The curve of `profile` with every warm-up constant divided by `speed` (> 0, checked by
    /// the caller; a non-positive or non-finite speed is treated as 1).
    pub fn new(profile: Profile, speed: f64) -> Curve {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Curve {
            profile,
            jit_excess: JIT_EXCESS,
            jit_requests: JIT_REQUESTS / speed,
            tiered_c1_at: TIERED_C1_AT / speed,
            tiered_c2_at: TIERED_C2_AT / speed,
            cache_excess: CACHE_EXCESS,
            cache_seconds: CACHE_SECONDS / speed,
            drift_seconds: DRIFT_SECONDS / speed,
            slowdown_at: SLOWDOWN_AT / speed,
            slowdown_requests: SLOWDOWN_REQUESTS / speed,
            errors_seconds: ERRORS_SECONDS / speed,
            creep_seconds: CREEP_SECONDS / speed,
        }
    }

    /// A warm-up in time: `1 + excess * exp(-t / seconds)` (the `cache` shape with other
    /// constants). `seconds` must be > 0.
    pub fn warmup(excess: f64, seconds: f64) -> Curve {
        Curve {
            cache_excess: excess,
            cache_seconds: seconds,
            ..Curve::new(Profile::Cache, 1.0)
        }
    }

    /// Growth without end by `per_minute` (0.2 = +20% a minute): the `drift` shape with an
    /// e-fold of `60 / ln(1 + per_minute)` seconds. `per_minute` must be > 0.
    pub fn drift_per_minute(per_minute: f64) -> Curve {
        Curve {
            drift_seconds: 60.0 / per_minute.ln_1p(),
            ..Curve::new(Profile::Drift, 1.0)
        }
    }

    /// Warms like [`Curve::warmup`]`(excess, tau)`, then from `after` seconds on grows by
    /// `per_minute`, on a path served at a constant `rate` rps: the `slowdown` shape (cold
    /// excess plus growth) with its request constants converted at that rate. `tau`, `rate`
    /// and `per_minute` must be > 0.
    pub fn slowdown_at_rate(
        excess: f64,
        tau: f64,
        after: f64,
        per_minute: f64,
        rate: f64,
    ) -> Curve {
        Curve {
            jit_excess: excess,
            jit_requests: tau * rate,
            slowdown_at: after * rate,
            slowdown_requests: 60.0 / per_minute.ln_1p() * rate,
            ..Curve::new(Profile::Slowdown, 1.0)
        }
    }

    /// The cold excess left at request `n` and `t` seconds: `multiplier - 1`, what a user
    /// would pay over warm if the app were called ready then (for growing curves: the growth).
    pub fn residual(&self, n: u64, t: f64) -> f64 {
        self.multiplier(n, t) - 1.0
    }

    /// The latency multiplier of the `n`-th request (0-based) counted on a path, arriving `t`
    /// seconds after start. For `errors`, `n` counts only requests after the error window.
    /// Never above [`MAX_MULTIPLIER`].
    pub fn multiplier(&self, n: u64, t: f64) -> f64 {
        self.raw_multiplier(n, t).min(MAX_MULTIPLIER)
    }

    fn raw_multiplier(&self, n: u64, t: f64) -> f64 {
        let n = n as f64;
        let jit = 1.0 + self.jit_excess * (-n / self.jit_requests).exp();
        match self.profile {
            Profile::Flat | Profile::Gc | Profile::Stall | Profile::Jittery => 1.0,
            Profile::Creep => (t.max(0.0) / self.creep_seconds).exp(),
            Profile::Jit | Profile::Errors => jit,
            Profile::Tiered if n < self.tiered_c1_at => TIERED_INTERP,
            Profile::Tiered if n < self.tiered_c2_at => TIERED_C1,
            Profile::Tiered => 1.0,
            Profile::Cache => 1.0 + self.cache_excess * (-t.max(0.0) / self.cache_seconds).exp(),
            Profile::Drift => (t.max(0.0) / self.drift_seconds).exp(),
            Profile::Slowdown => {
                let degraded = ((n - self.slowdown_at).max(0.0) / self.slowdown_requests).exp();
                jit + degraded - 1.0
            }
        }
    }

    /// True when a request arriving `t` seconds after start gets a 503 (the `errors` window).
    pub fn is_error_window(&self, t: f64) -> bool {
        self.profile == Profile::Errors && t < self.errors_seconds
    }

    /// When the curve settles; None for curves that never do (`drift`, `slowdown`).
    pub fn settle_after(&self) -> Option<SettleAfter> {
        // Smallest n with excess * exp(-n/N) <= 0.05 (0 when the excess is that small already).
        let jit_n = (self.jit_requests * (self.jit_excess / (SETTLED_MULTIPLIER - 1.0)).ln())
            .ceil()
            .max(0.0);
        match self.profile {
            Profile::Flat | Profile::Gc | Profile::Stall | Profile::Jittery => Some(SettleAfter {
                requests: Some(0),
                seconds: None,
            }),
            Profile::Jit => Some(SettleAfter {
                requests: Some(jit_n as u64),
                seconds: None,
            }),
            Profile::Tiered => Some(SettleAfter {
                requests: Some(self.tiered_c2_at.ceil() as u64),
                seconds: None,
            }),
            Profile::Cache => Some(SettleAfter {
                requests: None,
                seconds: Some(
                    (self.cache_seconds * (self.cache_excess / (SETTLED_MULTIPLIER - 1.0)).ln())
                        .max(0.0),
                ),
            }),
            Profile::Errors => Some(SettleAfter {
                requests: Some(jit_n as u64),
                seconds: Some(self.errors_seconds),
            }),
            Profile::Drift | Profile::Slowdown | Profile::Creep => None,
        }
    }

    /// True when a path that has counted `n` requests is settled at `t` seconds after start.
    pub fn settled(&self, n: u64, t: f64) -> bool {
        match self.settle_after() {
            None => false,
            Some(s) => s.requests.is_none_or(|r| n >= r) && s.seconds.is_none_or(|secs| t >= secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jit_settles_where_documented() {
        let c = Curve::new(Profile::Jit, 1.0);
        let n = c
            .settle_after()
            .and_then(|s| s.requests)
            .expect("jit settles");
        assert_eq!(n, 12_794);
        assert!(c.multiplier(n, 0.0) <= SETTLED_MULTIPLIER);
        assert!(c.multiplier(n - 1, 0.0) > SETTLED_MULTIPLIER);
        assert!((c.multiplier(0, 0.0) - 31.0).abs() < 1e-9);
    }

    #[test]
    fn speed_divides_constants() {
        let c = Curve::new(Profile::Cache, 10.0);
        let s = c
            .settle_after()
            .and_then(|s| s.seconds)
            .expect("cache settles");
        assert!((s - 5.99).abs() < 0.01, "{s}");
        assert!(c.multiplier(0, s) <= SETTLED_MULTIPLIER + 1e-9);
    }

    #[test]
    fn synthetic_shapes_follow_their_formulas() {
        let w = Curve::warmup(1.0, 20.0);
        assert!((w.multiplier(0, 0.0) - 2.0).abs() < 1e-12);
        assert!((w.residual(7, 20.0) - (-1.0f64).exp()).abs() < 1e-12);
        let d = Curve::drift_per_minute(0.2);
        assert!((d.multiplier(0, 60.0) - 1.2).abs() < 1e-12);
        assert!(Curve::warmup(0.01, 5.0).settled(0, 0.0));
        // 500 rps: 30,000 requests = 60 s, then +50% in the next minute (30,000 more).
        let s = Curve::slowdown_at_rate(1.0, 20.0, 60.0, 0.5, 500.0);
        assert!((s.multiplier(0, 0.0) - 2.0).abs() < 1e-12);
        let grown = s.multiplier(60_000, 120.0) - (-6.0f64).exp();
        assert!((grown - 1.5).abs() < 1e-9, "{grown}");
    }

    #[test]
    fn creep_is_ten_percent_a_minute() {
        let c = Curve::new(Profile::Creep, 1.0);
        assert!((c.multiplier(0, 60.0) - 1.1).abs() < 1e-9);
        assert!((c.multiplier(0, 240.0) - 1.1f64.powi(4)).abs() < 1e-9);
    }

    #[test]
    fn growth_stays_finite() {
        let c = Curve::new(Profile::Drift, 1.0);
        assert_eq!(c.multiplier(0, 1e9), MAX_MULTIPLIER);
    }

    #[test]
    fn never_settling_profiles_grow() {
        for p in [Profile::Drift, Profile::Slowdown, Profile::Creep] {
            let c = Curve::new(p, 1.0);
            assert!(c.settle_after().is_none());
            assert!(
                c.multiplier(100_000, 600.0) > 2.0 * c.multiplier(12_000, 60.0),
                "{p:?}"
            );
        }
    }
}
