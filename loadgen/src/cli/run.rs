//! `loadgen run URL --rate R --duration D ...`

use clap::Args;

/// Arguments of `loadgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URL (http:// or https://).
    pub url: String,
}

/// Runs `loadgen run`; returns the exit code.
pub fn main(args: RunArgs) -> anyhow::Result<i32> {
    anyhow::bail!("loadgen run is not implemented yet ({})", args.url)
}
