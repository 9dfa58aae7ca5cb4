//! Seeded synthetic [`Snapshot`]s for tests and benchmarks of the gate: each request's latency is
//! lognormal around a warm median, times a warm-up [`Curve`] taken at its index and intended
//! send time: the model of `loadgen sim` ([`loadgen::model`]), without sockets or clock, so a
//! simulated hour takes milliseconds.

use std::time::Duration;

use loadgen::model::{Curve, Noise, Profile, JITTERY};
use loadgen::sim::pauses::{delay_by_pauses, gc_pauses, STALL_AFTER_S, STALL_S};
use loadgen::snapshot::MAX_TRACKABLE_US;
use loadgen::{EndpointWindow, Outcome, Snapshot};

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
    /// The warm-up curve; request `k` is the curve's request `k` (an `errors` curve answers
    /// 503 in its error window and counts only the requests after it, as `loadgen sim` does).
    pub curve: Curve,
    /// Probability that a request ends in an HTTP error (its latency is still recorded).
    pub error_rate: f64,
    /// Latency factor of the answers in the curve's error window (1: as warm, like `loadgen
    /// sim`; below 1: errors that fail fast).
    pub error_latency: f64,
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
            error_latency: 1.0,
        }
    }

    /// Requests due before the curve's error window ends (0 for curves without one).
    fn error_window_requests(&self) -> u64 {
        if self.curve.profile == Profile::Errors {
            (self.curve.errors_seconds * self.rate).ceil() as u64
        } else {
            0
        }
    }

    /// The curve's request count for the `k`-th request sent (0-based).
    fn counted(&self, k: u64) -> u64 {
        k.saturating_sub(self.error_window_requests())
    }

    /// The cold excess at `t` seconds, for the next request due then: what users would pay
    /// over warm if the app were called ready at `t` (see [`Curve::residual`]).
    pub fn residual(&self, t: f64) -> f64 {
        let k = (t * self.rate).ceil().max(0.0) as u64;
        self.curve.residual(self.counted(k), t)
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
    noise: Noise,
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
            noise: Noise::new(seed),
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
                let jittery = e.curve.profile == Profile::Jittery;
                let sigma = if jittery {
                    e.sigma.max(JITTERY.sigma_min)
                } else {
                    e.sigma
                };
                for k in first..last {
                    let t = k as f64 / e.rate;
                    let in_error_window = e.curve.is_error_window(t);
                    let factor = if in_error_window {
                        e.error_latency
                    } else {
                        e.curve.multiplier(e.counted(k), t)
                    };
                    let mut us = median_us * self.noise.lognormal(sigma) * factor;
                    if jittery {
                        us *= JITTERY.hiccup(&mut self.noise);
                    }
                    // Stop-the-world pauses and bursts, as `loadgen sim` applies them.
                    let paused = |pauses: &mut dyn Iterator<Item = (f64, f64)>| {
                        (delay_by_pauses(t, t + us / 1e6, pauses) - t) * 1e6
                    };
                    us = match e.curve.profile {
                        Profile::Gc => paused(&mut gc_pauses(t)),
                        Profile::Stall => paused(&mut std::iter::once((STALL_AFTER_S, STALL_S))),
                        Profile::Jittery => paused(&mut JITTERY.bursts(t)),
                        _ => us,
                    };
                    let us = (us.round() as u64).clamp(1, MAX_TRACKABLE_US);
                    win.latency.saturating_record(us);
                    win.service.saturating_record(us);
                    win.lag.saturating_record(lag_us);
                    let outcome = if self.noise.chance(e.error_rate) || in_error_window {
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

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::snapshot::new_histogram;

    #[test]
    fn windows_hold_the_scheduled_requests_and_the_lognormal_p99() {
        let mut s = Synth::new(
            1,
            Duration::from_secs(5),
            vec![SynthEndpoint::new(
                "a",
                500.0,
                Curve::new(Profile::Flat, 1.0),
            )],
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
    fn an_errors_curve_answers_503_then_counts_from_the_end_of_its_window() {
        let e = SynthEndpoint::new("a", 200.0, Curve::new(Profile::Errors, 1.0));
        let mut s = Synth::new(1, Duration::from_secs(5), vec![e]);
        for _ in 0..4 {
            assert_eq!(s.next_snapshot().endpoints[0].outcomes.errors(), 1000);
        }
        assert_eq!(s.next_snapshot().endpoints[0].outcomes.errors(), 0);
        // At 20 s the first counted request is as cold as the simulator's first: 31x.
        assert!((s.endpoints[0].residual(20.0) - 30.0).abs() < 1e-9);
    }
}
