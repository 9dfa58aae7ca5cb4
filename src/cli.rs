//! The `warmgate` command line: `run`, `check`, `demo`, `inject`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::agent::Agent;
use crate::config::{self, LogFormat, Settings, Sources};
use crate::metrics::Metrics;
use crate::server::ProbeServer;
use crate::state::{Phase, Shared};

/// Exit code for bad configuration or usage.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code for a runtime failure (cannot bind the probe port, ...).
pub const EXIT_RUNTIME: i32 = 1;

/// warmgate: reports ready only once the app's tail latency is warm.
#[derive(Debug, Parser)]
#[command(name = "warmgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `warmgate` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Warm the app and serve /readyz, /startupz, /livez, /metrics, /status.
    Run {
        /// Configuration file (YAML or TOML); else $WARMGATE_CONFIG_FILE, $WARMGATE_CONFIG_YAML
        /// or the defaults. `WARMGATE_<SECTION>__<KEY>` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and print the effective settings, or every problem (exit 2).
    Check {
        /// Configuration file (YAML or TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Warm a simulated cold app (the `jit` profile) and show how the verdict is reached.
    Demo(crate::demo::DemoArgs),
    /// Add warmgate to Kubernetes manifests.
    Inject(crate::inject::InjectArgs),
}

/// Parses the command line and runs it. Returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Run { config } => run(config),
        Command::Check { config } => check(config),
        Command::Demo(args) => crate::demo::main(args),
        Command::Inject(args) => crate::inject::run(args),
    }
}

fn load(config: Option<PathBuf>) -> Result<Settings, i32> {
    config::load(&Sources::from_process(config)).map_err(|e| {
        eprintln!("warmgate: {e}");
        EXIT_CONFIG
    })
}

fn check(config: Option<PathBuf>) -> i32 {
    match load(config) {
        Ok(s) => {
            let value = config::effective(&s);
            match yaml_serde::to_string(&value) {
                Ok(text) => {
                    println!("# configuration is valid; effective settings:\n{text}");
                    0
                }
                Err(e) => {
                    eprintln!("warmgate: cannot print the configuration: {e}");
                    EXIT_RUNTIME
                }
            }
        }
        Err(code) => code,
    }
}

/// Installs the tracing subscriber (text or JSON lines on stderr). `RUST_LOG` wins over
/// `log.level`.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One worker: a few thousand requests/s need less than a core, and the probe server's own
    // thread must find CPU even under a 500m limit.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("warmgate-traffic")
        .enable_all()
        .build()
}

fn run(config: Option<PathBuf>) -> i32 {
    let settings = match load(config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    init_logging(settings.log_format, &settings.log_level);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "Cannot start the runtime.");
            return EXIT_RUNTIME;
        }
    };
    rt.block_on(serve(settings))
}

/// Starts the probe server and the agent, and runs until SIGTERM/SIGINT. Returns the exit code.
pub async fn serve(settings: Settings) -> i32 {
    let started = match start(settings) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %format!("{e:#}"), "Cannot start.");
            eprintln!("warmgate: {e:#}");
            return EXIT_RUNTIME;
        }
    };
    let signal = shutdown_signal().await;
    started.drain(signal, true).await;
    0
}

/// A started agent and probe server.
#[derive(Debug)]
pub struct Started {
    /// Shared state (for the demo's display).
    pub shared: Arc<Shared>,
    /// The probe server.
    pub server: ProbeServer,
    stop: CancellationToken,
    server_stop: CancellationToken,
    agent: tokio::task::JoinHandle<()>,
    grace: std::time::Duration,
}

/// Binds the probe server and spawns the agent. Fails if the listen address cannot be bound.
pub fn start(settings: Settings) -> anyhow::Result<Started> {
    start_with(settings, |a| a)
}

/// [`start`], letting the caller adjust the agent (e.g. attach an event channel).
pub fn start_with(
    settings: Settings,
    adjust: impl FnOnce(Agent) -> Agent,
) -> anyhow::Result<Started> {
    let names: Vec<String> = settings.endpoints.iter().map(|e| e.name.clone()).collect();
    let shared = Shared::new(Metrics::new()?, &names, settings.gate.criterion.quantile);
    let stop = CancellationToken::new();
    let server_stop = CancellationToken::new();
    let server = ProbeServer::start(settings.listen, shared.clone(), server_stop.clone())
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    info!(addr = %server.addr, "Probe server listening (/readyz /startupz /livez /metrics /status).");
    let grace = settings.shutdown_grace;
    let agent = adjust(Agent::new(settings, shared.clone())?);
    let agent = tokio::spawn(agent.run(stop.clone()));
    Ok(Started {
        shared,
        server,
        stop,
        server_stop,
        agent,
        grace,
    })
}

impl Started {
    /// Drains: /readyz fails at once, traffic stops, the agent gets `shutdown_grace` to end,
    /// then the probe server stops.
    pub async fn shutdown(self, why: &str) {
        self.drain(why, false).await;
    }

    /// Like [`Started::shutdown`]; with `linger`, the probe server keeps answering (`/readyz`
    /// 503, `/livez` 200) until `shutdown_grace` has passed since the signal, so the kubelet's
    /// readiness probes during pod deletion see "unready" rather than a refused connection. A
    /// second signal ends the wait.
    pub async fn drain(self, why: &str, linger: bool) {
        let deadline = tokio::time::Instant::now() + self.grace;
        self.shared
            .set_phase(Phase::Draining, format!("shutting down ({why})"));
        info!(signal = why, phase = "draining", "Shutting down.");
        self.stop.cancel();
        if tokio::time::timeout_at(deadline, self.agent).await.is_err() {
            error!(
                grace_s = self.grace.as_secs_f64(),
                "Agent did not stop within the grace period."
            );
        }
        if linger {
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

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT; returns which.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
