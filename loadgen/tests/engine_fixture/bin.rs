//! Helpers that drive the real `loadgen` binary: a `loadgen sim` child process and
//! `loadgen run --json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};

/// The `loadgen` binary cargo built for these tests.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A `loadgen sim` child process, killed when dropped.
pub struct SimProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl SimProcess {
    /// Starts `loadgen sim --listen 127.0.0.1:0` with `args` and reads its URL.
    pub fn start(args: &[&str]) -> SimProcess {
        let mut child = Command::new(LOADGEN)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start loadgen sim");
        let stdout = child.stdout.take().expect("sim stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sim's first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        SimProcess { child, base }
    }

    /// GET `path` on the sim over a plain HTTP/1.0 connection; returns the body.
    pub fn get(&self, path: &str) -> String {
        let hostport = self.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(hostport).expect("connect to the sim");
        write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("write");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        raw.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// The sim's `/sim/truth` document.
    pub fn truth(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/sim/truth")).expect("truth is JSON")
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
