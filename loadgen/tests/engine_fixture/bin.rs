//! Helpers that drive the real `loadgen` binary: a `loadgen sim` child process and
//! `loadgen run --json`.

use std::process::{Command, Output};

/// The `loadgen` binary cargo built for these tests.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A `loadgen sim` child process ([`warmgate_testkit::SimProcess`]: `base`, `get`, `truth`),
/// killed and reaped when dropped.
pub struct SimProcess(warmgate_testkit::SimProcess);

impl SimProcess {
    /// Starts `loadgen sim --listen 127.0.0.1:0` with `args` and reads its URL (20 s at most).
    pub fn start(args: &[&str]) -> SimProcess {
        SimProcess(warmgate_testkit::SimProcess::start(LOADGEN, args))
    }
}

impl std::ops::Deref for SimProcess {
    type Target = warmgate_testkit::SimProcess;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Runs `loadgen run` with `args` and returns its output.
pub fn loadgen_run(args: &[&str]) -> Output {
    Command::new(LOADGEN)
        .arg("run")
        .args(args)
        .output()
        .expect("run loadgen")
}

/// Runs `loadgen run --json` with `args`; asserts success and parses the one JSON object.
pub fn loadgen_run_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = loadgen_run(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loadgen run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON line: {stdout}");
    serde_json::from_str(stdout.trim()).expect("stdout is JSON")
}

/// `v[a][b]` as f64.
pub fn num(v: &serde_json::Value, a: &str, b: &str) -> f64 {
    v[a][b]
        .as_f64()
        .unwrap_or_else(|| panic!("{a}.{b} missing in {v}"))
}
