//! The `loadgen` command line: `loadgen run` (a wrk2-like open-loop client) and `loadgen sim`.

use clap::{Parser, Subcommand};

pub mod run;
pub mod sim;

/// Open-loop HTTP load generator and cold-app simulator.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `loadgen` subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the larger variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Send open-loop traffic to a URL and print latency percentiles.
    Run(run::RunArgs),
    /// Serve a simulated cold app.
    Sim(sim::SimArgs),
}

/// The runtime of `loadgen run` and `loadgen sim`: `threads` threads of work, on the calling
/// thread for 1 ([`crate::runtime::Threads::count`]). Fails if the OS refuses the threads.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    crate::runtime::build("loadgen", crate::runtime::Threads::count(threads))
}

/// Parses the command line and runs it. Returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line: the first line of clap's message, without its usage block.
            let text = e.render().to_string();
            let head: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = head.join(" ");
            eprintln!(
                "loadgen: {} (see loadgen --help)",
                line.trim_start_matches("error: ")
            );
            return 2;
        }
        Err(e) => {
            let _ = e.print();
            return 0;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Sim(args) => sim::main(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            1
        }
    }
}
