//! `loadgen sim`: HTTP servers that behave like cold apps of known latency.

use std::net::SocketAddr;
use std::str::FromStr;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// A simulated app's warm-up curve.
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
    /// Fixed latency with one 1 s stall.
    Stall,
}

impl Profile {
    /// Every profile, in documentation order.
    pub const ALL: [Profile; 9] = [
        Profile::Flat,
        Profile::Jit,
        Profile::Tiered,
        Profile::Cache,
        Profile::Gc,
        Profile::Drift,
        Profile::Slowdown,
        Profile::Errors,
        Profile::Stall,
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

/// A bound simulator, ready to serve.
#[derive(Debug)]
pub struct Sim {
    listener: tokio::net::TcpListener,
    options: SimOptions,
}

impl Sim {
    /// Binds `addr` (port 0 picks a free port). Fails if the address cannot be bound.
    pub async fn bind(addr: SocketAddr, options: SimOptions) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Sim { listener, options })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `cancel` fires, then closes the listener and every connection.
    pub async fn serve(self, cancel: CancellationToken) -> std::io::Result<()> {
        let _ = self.options;
        cancel.cancelled().await;
        Ok(())
    }
}
