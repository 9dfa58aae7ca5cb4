//! Issue 10, item 8: signals. SIGHUP is logged and ignored (it used to kill warmgate at once,
//! rc 129), and a SIGTERM in the first milliseconds still drains and exits 0 (it used to find
//! the default action, rc 143): the handlers are installed before the sidecar starts.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use warmgate_testkit::child::wait_exit;

/// An app that never comes up (nothing listens on port 1 of loopback): the signals, not the
/// app, decide what happens.
const NO_APP: &str = "target: {url: \"http://127.0.0.1:1\"}\nshutdown_grace: 1s\n";

/// warmgate on a free port with an app that never comes up, its log in `log`; the process
/// handle is the test's, to signal it by pid.
fn start(name: &str) -> (Child, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("warmgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = dir.join("warmgate.yaml");
    std::fs::write(&config, format!("listen: \"127.0.0.1:{port}\"\n{NO_APP}")).unwrap();
    let log = dir.join("warmgate.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(WARMGATE)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"), log)
}

fn read(log: &std::path::Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn kill(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill {signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_ignored() {
    let (mut child, base, log) = start("sighup");
    let t0 = Instant::now();
    while http_get(&format!("{base}/livez")).await.map(|r| r.0) != Some(200) {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", read(&log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill("-HUP", child.id());
    let early = wait_exit(&mut child, Duration::from_millis(500));
    assert!(early.is_none(), "SIGHUP killed warmgate: {early:?}");
    let livez = http_get(&format!("{base}/livez")).await.map(|r| r.0);
    assert_eq!(livez, Some(200));
    assert!(read(&log).contains("SIGHUP ignored"), "{}", read(&log));
    kill("-TERM", child.id());
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_sigterm_in_the_first_milliseconds_still_drains() {
    for delay_ms in [10, 20, 40] {
        let (mut child, _, log) = start(&format!("early-term-{delay_ms}"));
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill("-TERM", child.id());
        let status = wait_exit(&mut child, Duration::from_secs(5));
        let _ = child.kill();
        let status = status.expect("exits");
        assert_eq!(
            status.code(),
            Some(0),
            "SIGTERM {delay_ms} ms after start: {status:?}\n{}",
            read(&log)
        );
        assert!(read(&log).contains("Shutting down"), "{}", read(&log));
    }
}
