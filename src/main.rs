//! The `warmgate` binary.

fn main() {
    std::process::exit(warmgate::cli::main());
}
