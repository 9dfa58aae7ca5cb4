//! The `loadgen` binary: see [`loadgen::cli`].

fn main() {
    std::process::exit(loadgen::cli::main());
}
