//! Seeded synthetic [`Snapshot`]s for tests and benchmarks of the gate: each request's latency is
//! lognormal around a warm median, times a warm-up [`Curve`] taken at its intended send time.
//! No sockets, no clock: a simulated hour takes milliseconds.

use std::time::Duration;

use loadgen::snapshot::MAX_TRACKABLE_US;
use loadgen::{EndpointWindow, Outcome, Snapshot};

/// How latency moves with time: the factor applied to the warm latency at `t` seconds.
#[derive(Debug, Clone, Copy)]
pub enum Curve {
    /// Already warm: factor 1.
    Flat,
    /// `1 + amplitude * exp(-t / tau)`: cold at first, settling with time constant `tau` s.
    Warmup {
        /// Excess slowness at t = 0 (1.0 = twice the warm latency).
        amplitude: f64,
        /// Seconds per e-fold of the excess.
        tau: f64,
    },
    /// `(1 + per_minute)^(t / 60)`: never settles.
    Drift {
        /// Relative growth per minute (0.2 = +20%/min).
        per_minute: f64,
    },
    /// Warms like [`Curve::Warmup`], then from `after` seconds on degrades like [`Curve::Drift`].
    Slowdown {
        /// Excess slowness at t = 0.
        amplitude: f64,
        /// Seconds per e-fold of the excess.
        tau: f64,
        /// When degradation starts, seconds.
        after: f64,
        /// Relative growth per minute once degrading.
        per_minute: f64,
    },
    /// Any factor of time in seconds (e.g. a request-count curve at a constant rate).
    Custom(fn(f64) -> f64),
}

impl Curve {
    /// The latency factor at `t` seconds (1.0 = warm).
    pub fn factor(&self, t: f64) -> f64 {
        match *self {
            Curve::Flat => 1.0,
            Curve::Warmup { amplitude, tau } => 1.0 + amplitude * (-t / tau).exp(),
            Curve::Drift { per_minute } => (1.0 + per_minute).powf(t / 60.0),
            Curve::Slowdown {
                amplitude,
                tau,
                after,
                per_minute,
            } => {
                let warm = 1.0 + amplitude * (-t / tau).exp();
                warm * (1.0 + per_minute).powf((t - after).max(0.0) / 60.0)
            }
            Curve::Custom(f) => f(t),
        }
    }

    /// The residual slowness at `t`: `factor(t) - 1` (what users would pay if ready then).
    pub fn residual(&self, t: f64) -> f64 {
        self.factor(t) - 1.0
    }
}

/// One synthetic endpoint.
#[derive(Debug, Clone)]
pub struct SynthEndpoint {
    /// The endpoint's name.
    pub name: String,
    /// Requests per second sent to it.
    pub rate: f64,
    /// Median latency once warm.
    pub median: Duration,
    /// Lognormal sigma of the latency (1.0 = heavy tail, p99 about 10x the median).
    pub sigma: f64,
    /// The warm-up curve.
    pub curve: Curve,
    /// Probability that a request ends in an HTTP error (its latency is still recorded).
    pub error_rate: f64,
}

impl SynthEndpoint {
    /// An endpoint `name` at `rate` rps, median 5 ms, sigma 1, following `curve`, no errors.
    pub fn new(name: &str, rate: f64, curve: Curve) -> SynthEndpoint {
        SynthEndpoint {
            name: name.to_string(),
            rate,
            median: Duration::from_millis(5),
            sigma: 1.0,
            curve,
            error_rate: 0.0,
        }
    }
}

/// A source of synthetic windows. Fields are public so tests can change them between windows.
#[derive(Debug, Clone)]
pub struct Synth {
    /// The endpoints, in plan order.
    pub endpoints: Vec<SynthEndpoint>,
    /// Window length.
    pub window: Duration,
    /// Achieved / target rate reported for the next windows (1.0 = healthy generator).
    pub achieved_ratio: f64,
    /// Schedule lag recorded for every request of the next windows.
    pub lag: Duration,
    index: u64,
    rng: SplitMix64,
}

impl Synth {
    /// A source of windows of length `window` for `endpoints`, seeded with `seed`.
    pub fn new(seed: u64, window: Duration, endpoints: Vec<SynthEndpoint>) -> Synth {
        Synth {
            endpoints,
            window,
            achieved_ratio: 1.0,
            lag: Duration::from_micros(200),
            index: 0,
            rng: SplitMix64(seed),
        }
    }

    /// Time at the end of the last window produced, seconds.
    pub fn elapsed(&self) -> f64 {
        self.index as f64 * self.window.as_secs_f64()
    }

    /// The names of the endpoints, in plan order (what [`super::Gate::new`] takes).
    pub fn names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    /// Produces the next window.
    pub fn next_snapshot(&mut self) -> Snapshot {
        let w = self.window.as_secs_f64();
        let (start, end) = (self.index as f64 * w, (self.index + 1) as f64 * w);
        let lag_us = (self.lag.as_micros() as u64).clamp(1, MAX_TRACKABLE_US);
        let mut target = 0.0;
        let mut windows = Vec::with_capacity(self.endpoints.len());
        for e in &self.endpoints {
            let mut win = EndpointWindow::empty(e.name.clone());
            target += e.rate;
            if e.rate > 0.0 {
                // Request k is due at k / rate: those due in [start, end).
                let (first, last) = ((start * e.rate).ceil() as u64, (end * e.rate).ceil() as u64);
                let median_us = e.median.as_secs_f64() * 1e6;
                for k in first..last {
                    let t = k as f64 / e.rate;
                    let z = self.rng.normal();
                    let us = median_us * (e.sigma * z).exp() * e.curve.factor(t);
                    let us = (us.round() as u64).clamp(1, MAX_TRACKABLE_US);
                    win.latency.saturating_record(us);
                    win.service.saturating_record(us);
                    win.lag.saturating_record(lag_us);
                    let outcome = if self.rng.uniform() < e.error_rate {
                        Outcome::HttpStatus(503)
                    } else {
                        Outcome::Ok
                    };
                    win.outcomes.add(outcome);
                    win.scheduled += 1;
                    win.sent += 1;
                }
            }
            windows.push(win);
        }
        self.index += 1;
        Snapshot {
            index: self.index - 1,
            start: Duration::from_secs_f64(start),
            length: self.window,
            target_rate: target,
            achieved_rate: target * self.achieved_ratio,
            inflight: 0,
            endpoints: windows,
        }
    }
}

/// SplitMix64 (Steele et al.): a tiny, good-enough, seeded generator; keeps `rand` out of the
/// library.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller, one of the pair).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::snapshot::new_histogram;

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = SplitMix64(7);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: 0.0022 for the mean, 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.015, "var {var}");
    }

    #[test]
    fn windows_hold_the_scheduled_requests_and_the_lognormal_p99() {
        let mut s = Synth::new(
            1,
            Duration::from_secs(5),
            vec![SynthEndpoint::new("a", 500.0, Curve::Flat)],
        );
        let mut h = new_histogram();
        for i in 0..20 {
            let snap = s.next_snapshot();
            assert_eq!(snap.index, i);
            assert_eq!(snap.endpoints[0].outcomes.total(), 2500);
            h.add(&snap.endpoints[0].latency).expect("same bounds");
        }
        // p99 of lognormal(ln 5 ms, 1) = 5 ms * e^2.326 = 51.2 ms; 50,000 samples: within 5%.
        let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
        assert!((p99 / 51.2 - 1.0).abs() < 0.05, "p99 {p99} ms");
        assert!((s.elapsed() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn curves() {
        let w = Curve::Warmup {
            amplitude: 1.0,
            tau: 20.0,
        };
        assert!((w.factor(0.0) - 2.0).abs() < 1e-12);
        assert!((w.residual(20.0) - (-1.0f64).exp()).abs() < 1e-12);
        let d = Curve::Drift { per_minute: 0.2 };
        assert!((d.factor(60.0) - 1.2).abs() < 1e-12);
        let s = Curve::Slowdown {
            amplitude: 1.0,
            tau: 20.0,
            after: 60.0,
            per_minute: 0.5,
        };
        assert!((s.factor(120.0) / w.factor(120.0) - 1.5).abs() < 1e-12);
    }
}
