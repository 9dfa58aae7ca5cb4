//! The `warmgate` command line: `run`, `check`, `demo`, `inject`, `uninject`, `webhook`. Parses and dispatches; the
//! lifecycle itself is [`crate::sidecar`]'s.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings, Sources};
use crate::sidecar;
/// The exit codes (they live with the lifecycle, which the demo shares).
pub use crate::sidecar::{EXIT_CONFIG, EXIT_RUNTIME};

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
    /// Take warmgate out of injected manifests, restoring the original probes.
    Uninject(crate::inject::UninjectArgs),
    /// Serve the mutating admission webhook that injects warmgate into new Pods.
    Webhook(crate::webhook::WebhookArgs),
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
        Command::Run { config } => match load(config) {
            Ok(settings) => sidecar::run(settings),
            Err(code) => code,
        },
        Command::Check { config } => check(config),
        Command::Demo(args) => crate::demo::main(args),
        Command::Inject(args) => crate::inject::run(args),
        Command::Uninject(args) => crate::inject::run_uninject(args),
        Command::Webhook(args) => crate::webhook::run(args),
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
