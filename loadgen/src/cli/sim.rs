//! `loadgen sim --listen ADDR --profile NAME [--seed N] [--speed F] [--base-ms MS] [--sigma S]
//! [--error-rate P] [--threads N]`: serve a simulated cold app until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::sim::{Profile, Sim, SimOptions, Tuning};

/// Arguments of `loadgen sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Warm-up curve: flat, jit, tiered, cache, gc, drift, slowdown, errors or stall.
    #[arg(long, default_value = "flat")]
    pub profile: String,
    /// Seed of the latency noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Divide every warm-up constant (requests and seconds) by this (> 0).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Median of the base lognormal latency in ms (0 answers at once).
    #[arg(long, default_value_t = 10.0)]
    pub base_ms: f64,
    /// Sigma of the base lognormal latency (0 = fixed latency).
    #[arg(long, default_value_t = 0.5)]
    pub sigma: f64,
    /// Fraction of requests answered 500 at random, on top of the profile.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Runtime threads serving connections (1 serves thousands of rps; more for throughput
    /// benchmarks with --base-ms 0).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

impl SimArgs {
    /// Checks the flags into the simulator's options. Fails with a one-line message.
    pub fn options(&self) -> anyhow::Result<(SocketAddr, SimOptions, Tuning)> {
        let addr: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| anyhow::anyhow!("--listen: not an IP:PORT address: {:?}", self.listen))?;
        let profile: Profile = self
            .profile
            .parse()
            .map_err(|e| anyhow::anyhow!("--profile: {e}"))?;
        if !(self.speed.is_finite() && self.speed > 0.0) {
            anyhow::bail!("--speed: must be a finite number > 0, got {}", self.speed);
        }
        let tuning = Tuning {
            base_ms: self.base_ms,
            sigma: self.sigma,
            error_rate: self.error_rate,
        };
        tuning
            .check()
            .map_err(|e| anyhow::anyhow!("--base-ms/--sigma/--error-rate: {e}"))?;
        let options = SimOptions {
            profile,
            seed: self.seed,
            speed: self.speed,
        };
        Ok((addr, options, tuning))
    }
}

/// Runs `loadgen sim`; returns the exit code. Prints `listening on http://IP:PORT` first.
pub fn main(args: SimArgs) -> anyhow::Result<i32> {
    let (addr, options, tuning) = args.options()?;
    if !(1..=64).contains(&args.threads) {
        anyhow::bail!("--threads: must be 1..=64, got {}", args.threads);
    }
    let runtime = super::runtime(args.threads).context("starting the runtime")?;
    runtime.block_on(async move {
        let sim = Sim::bind(addr, options)
            .await
            .with_context(|| format!("binding {addr}"))?
            .with_tuning(tuning)?;
        let local = sim.local_addr().context("reading the bound address")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        drop(out);
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            trigger.cancel();
        });
        sim.serve(cancel).await.context("serving")?;
        Ok(0)
    })
}

/// Completes on SIGINT or SIGTERM (Kubernetes sends the latter).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
