//! The `warmgate` command line.

/// Parses the command line and runs it. Returns the process exit code.
pub fn main() -> i32 {
    0
}
