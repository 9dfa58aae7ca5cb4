//! `loadgen sim --listen ADDR --profile NAME [--seed N]`

use clap::Args;

/// Arguments of `loadgen sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
}

/// Runs `loadgen sim`; returns the exit code.
pub fn main(args: SimArgs) -> anyhow::Result<i32> {
    anyhow::bail!("loadgen sim is not implemented yet ({})", args.listen)
}
