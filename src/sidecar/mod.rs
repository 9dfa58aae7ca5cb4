//! The sidecar's lifecycle as a type: validated [`Settings`] -> [`Sidecar::spawn`] (the probe
//! server on a thread of its own, the agent on the traffic runtime) -> [`Sidecar::drain`].
//! `warmgate run` ([`run`]) and `warmgate demo` both go through it; the command line only
//! wires them.
//!
//! - `signal`: [`Signals`] (installed first: SIGTERM/SIGINT stop, SIGHUP is logged and
//!   ignored) and [`shutdown_signal`].
//! - `logging`: [`init_logging`].

mod logging;
mod signal;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use loadgen::runtime::Threads;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

pub use logging::init_logging;
pub use signal::{shutdown_signal, Signals};

use crate::agent::{Agent, WindowEvent};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::phase::Phase;
use crate::server::ProbeServer;
use crate::state::StatusBoard;

/// Exit code for bad configuration or usage.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code for a runtime failure (cannot bind the probe port, ...).
pub const EXIT_RUNTIME: i32 = 1;

/// The runtime the agent and its traffic run on. Fails if the OS refuses the thread.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One worker: a few thousand requests/s need less than a core, and the probe server's own
    // thread must find CPU even under a 500m limit.
    loadgen::runtime::build("warmgate-traffic", Threads::Workers(1))
}

/// `warmgate run` once the settings are valid: logging, the runtime, the signal handlers, the
/// sidecar until SIGTERM/SIGINT, the drain. Returns the exit code: 0 after a drain,
/// [`EXIT_RUNTIME`] if the runtime, the signal handlers or the sidecar cannot start.
pub fn run(settings: Settings) -> i32 {
    init_logging(settings.log_format, &settings.log_level);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "Cannot start the runtime.");
            return EXIT_RUNTIME;
        }
    };
    // The handlers before the sidecar: a SIGTERM while it starts (building the agent takes
    // milliseconds) is then kept for the drain instead of killing the process (rc 143).
    let signals = {
        let _entered = rt.enter();
        match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "Cannot install the signal handlers.");
                return EXIT_RUNTIME;
            }
        }
    };
    rt.block_on(serve(settings, signals))
}

/// Spawns the sidecar and runs it until SIGTERM/SIGINT, then drains with the probe server
/// lingering. Returns the exit code.
async fn serve(settings: Settings, mut signals: Signals) -> i32 {
    let sidecar = match Sidecar::spawn(settings) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %format!("{e:#}"), "Cannot start.");
            eprintln!("warmgate: {e:#}");
            return EXIT_RUNTIME;
        }
    };
    let signal = signals.stop().await;
    sidecar.drain(signal, Linger::UntilGrace).await;
    0
}

/// What the probe server does once the agent has stopped in a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger {
    /// Stop at once (the demo).
    No,
    /// Keep answering (`/readyz` 503, `/livez` 200) until `shutdown_grace` has passed since
    /// the drain began, so the kubelet's readiness probes during pod deletion see "unready"
    /// rather than a refused connection. A second signal ends the wait.
    UntilGrace,
}

/// A running sidecar: the probe server and the agent, with the handles to drain them.
#[derive(Debug)]
pub struct Sidecar {
    board: Arc<StatusBoard>,
    server: ProbeServer,
    stop: CancellationToken,
    server_stop: CancellationToken,
    agent: tokio::task::JoinHandle<()>,
    grace: Duration,
}

impl Sidecar {
    /// Binds the probe server and spawns the agent. Fails if the metrics cannot register, the
    /// agent's HTTP client cannot be built, or the listen address cannot be bound. Must be
    /// called within a tokio runtime ([`runtime`]): the agent is spawned on it.
    pub fn spawn(settings: Settings) -> anyhow::Result<Sidecar> {
        Sidecar::start(settings, None)
    }

    /// [`Sidecar::spawn`], also sending every window and verdict to `events` (the demo's
    /// display; dropped when the receiver lags). Fails as [`Sidecar::spawn`] does.
    pub fn spawn_with_events(
        settings: Settings,
        events: mpsc::Sender<WindowEvent>,
    ) -> anyhow::Result<Sidecar> {
        Sidecar::start(settings, Some(events))
    }

    fn start(
        settings: Settings,
        events: Option<mpsc::Sender<WindowEvent>>,
    ) -> anyhow::Result<Sidecar> {
        let names: Vec<String> = settings.endpoints.iter().map(|e| e.name.clone()).collect();
        let board = StatusBoard::new(Metrics::new()?, &names, &settings.gate.criterion);
        let listen = settings.listen;
        let grace = settings.shutdown_grace;
        // The agent first: if it cannot be built, no server thread is left behind.
        let mut agent = Agent::new(settings, board.clone())?;
        if let Some(tx) = events {
            agent = agent.with_events(tx);
        }
        let stop = CancellationToken::new();
        let server_stop = CancellationToken::new();
        let server = ProbeServer::start(listen, board.clone(), server_stop.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        info!(addr = %server.addr, "Probe server listening (/readyz /startupz /livez /metrics /status).");
        let agent = tokio::spawn(agent.run(stop.clone()));
        Ok(Sidecar {
            board,
            server,
            stop,
            server_stop,
            agent,
            grace,
        })
    }

    /// The probe server's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The state the probes answer from.
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// Drains because of `why` (a signal's name, "demo finished"): `/readyz` fails at once,
    /// traffic stops, the agent gets `shutdown_grace` to end, then the probe server stops,
    /// after lingering if `linger` says so.
    pub async fn drain(self, why: &str, linger: Linger) {
        let deadline = tokio::time::Instant::now() + self.grace;
        self.board
            .set_phase(Phase::Draining, format!("shutting down ({why})"));
        info!(signal = why, phase = "draining", "Shutting down.");
        self.stop.cancel();
        if tokio::time::timeout_at(deadline, self.agent).await.is_err() {
            error!(
                grace_s = self.grace.as_secs_f64(),
                "Agent did not stop within the grace period."
            );
        }
        if linger == Linger::UntilGrace {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = shutdown_signal() => {}
            }
        }
        self.server_stop.cancel();
        let server = self.server;
        let _ = tokio::task::spawn_blocking(move || server.join()).await;
        info!("Stopped.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Sources};

    /// Settings for an app that never comes up (nothing listens on port 1 of loopback).
    fn settings() -> Settings {
        let sources = Sources {
            yaml: Some(
                "listen: \"127.0.0.1:0\"\nshutdown_grace: 2s\ntarget: {url: \"http://127.0.0.1:1\"}\n"
                    .into(),
            ),
            ..Sources::default()
        };
        config::load(&sources).expect("valid settings")
    }

    #[tokio::test]
    async fn a_drain_is_unready_at_once_and_ends_without_lingering() {
        let sidecar = Sidecar::spawn(settings()).expect("spawns");
        assert_ne!(sidecar.addr().port(), 0, "the bound port is reported");
        assert!(sidecar.board().readyz().is_err());
        let started = tokio::time::Instant::now();
        let board = sidecar.board.clone();
        sidecar.drain("test", Linger::No).await;
        assert_eq!(
            board.phase_and_reason(),
            (Phase::Draining, "shutting down (test)".to_string())
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "Linger::No does not wait for shutdown_grace: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_taken_port_fails_to_spawn_naming_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let mut s = settings();
        s.listen = taken.local_addr().expect("addr");
        let e = Sidecar::spawn(s).expect_err("port in use");
        assert!(e.to_string().contains("cannot listen on 127.0.0.1:"), "{e}");
    }
}
