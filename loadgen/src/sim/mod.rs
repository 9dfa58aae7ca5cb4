//! `loadgen sim`: HTTP servers that behave like cold apps of known latency.
//!
//! Every path except `/health` and `/sim/truth` answers after `base * multiplier` where `base`
//! is a seeded lognormal (median [`Tuning::base_ms`], default 10 ms; sigma [`Tuning::sigma`],
//! default 0.5, so p99 = 32 ms) and `multiplier` is the profile's warm-up curve at that path's
//! request count and the time since start (see [`crate::model`] for every curve and constant).
//!
//! # Layout
//! - [`pauses`]: the `gc` and `stall` pause schedules, pure functions.
//! - [`state`]: per-path counters (at most [`state::MAX_PATHS`] paths) and the noise source.
//! - [`timer`]: a dedicated timer thread with ~0.1 ms precision (tokio's wheel has 1 ms).
//! - [`truth`]: analytic steady-state percentiles and the `/sim/truth` document.
//! - [`server`]: HTTP/1.1 + h2c serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub mod pauses;
pub mod server;
pub mod state;
pub mod timer;
pub mod truth;

pub use crate::model::{Curve, Profile, SettleAfter};

/// How to run a simulator.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    /// The warm-up curve.
    pub profile: Profile,
    /// Seed of the latency noise.
    pub seed: u64,
    /// Speed-up of every warm-up constant (requests and seconds are divided by it); 1.0 = the
    /// documented curves. Tests use larger values to run faster.
    pub speed: f64,
}

impl Default for SimOptions {
    /// `flat`, seed 0, speed 1.
    fn default() -> Self {
        SimOptions {
            profile: Profile::Flat,
            seed: 0,
            speed: 1.0,
        }
    }
}

/// The base latency and error settings shared by every profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tuning {
    /// Median of the base lognormal latency in ms (default 10; 0 answers at once).
    pub base_ms: f64,
    /// Sigma of the base lognormal (default 0.5: p99 = 3.2x the median; 0 = fixed latency).
    pub sigma: f64,
    /// Fraction of requests answered 500 at random, on top of the profile (default 0).
    pub error_rate: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            base_ms: 10.0,
            sigma: 0.5,
            error_rate: 0.0,
        }
    }
}

impl Tuning {
    /// Checks the ranges: base_ms in [0, 60000], sigma in [0, 3], error_rate in [0, 1].
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=60_000.0).contains(&self.base_ms) {
            return Err(format!(
                "base latency must be 0..=60000 ms, got {}",
                self.base_ms
            ));
        }
        if !(0.0..=3.0).contains(&self.sigma) {
            return Err(format!("sigma must be 0..=3, got {}", self.sigma));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!("error rate must be 0..=1, got {}", self.error_rate));
        }
        Ok(())
    }
}

/// A bound simulator, ready to serve.
#[derive(Debug)]
pub struct Sim {
    listener: tokio::net::TcpListener,
    options: SimOptions,
    tuning: Tuning,
    start: Instant,
}

impl Sim {
    /// Binds `addr` (port 0 picks a free port). Fails if the address cannot be bound or the
    /// speed is not a finite number > 0. The simulated app's clock starts now.
    pub async fn bind(addr: SocketAddr, options: SimOptions) -> std::io::Result<Sim> {
        if !(options.speed.is_finite() && options.speed > 0.0) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("speed must be a finite number > 0, got {}", options.speed),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Sim {
            listener,
            options,
            tuning: Tuning::default(),
            start: Instant::now(),
        })
    }

    /// Replaces the default base latency and error rate. Fails if `tuning` is out of range
    /// (see [`Tuning::check`]).
    pub fn with_tuning(mut self, tuning: Tuning) -> std::io::Result<Sim> {
        tuning
            .check()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.tuning = tuning;
        Ok(self)
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The effective curve (warm-up constants divided by the speed).
    pub fn curve(&self) -> Curve {
        Curve::new(self.options.profile, self.options.speed)
    }

    /// Analytic steady-state `(p50, p99)` latency in ms, as `/sim/truth` reports them.
    pub fn steady_percentiles(&self) -> (f64, f64) {
        truth::steady_percentiles(self.options.profile, &self.tuning)
    }

    /// Serves until `cancel` fires, then closes the listener and every connection. Fails only
    /// if the timer thread cannot be started.
    pub async fn serve(self, cancel: CancellationToken) -> std::io::Result<()> {
        let facts = truth::Facts {
            options: self.options,
            tuning: self.tuning,
            curve: self.curve(),
            steady: self.steady_percentiles(),
        };
        let app = Arc::new(server::App::new(facts, self.start, timer::Timer::start()?));
        server::serve(self.listener, app, cancel).await
    }
}
