//! Header values from a file (a mounted Secret, re-read when it changes) and from an environment
//! variable, through the real `warmgate run` to a loopback recording server: they arrive, a
//! rotated token file is sent from the next window on, a vanished file is logged by its path, and
//! no value ever shows in the log, /status, /metrics, `warmgate check` or an error message.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use warmgate_testkit::Recorder;

const FILE_SECRET: &str = "wgsecret-file-7f3a9c";
const ROTATED_SECRET: &str = "wgsecret-rotated-c0ffee";
const ENV_SECRET: &str = "wgsecret-env-51d2e8";
const TEXT_SECRET: &str = "wgsecret-text-99b0aa";
const ALL: [&str; 4] = [FILE_SECRET, ROTATED_SECRET, ENV_SECRET, TEXT_SECRET];
const RATE: usize = 200;

fn assert_no_secret(what: &str, text: &str) {
    for s in ALL {
        assert!(
            !text.contains(s),
            "{what} shows a secret value ({s}):\n{text}"
        );
    }
}

/// Replaces `path` the way the kubelet does: a new file renamed over the old one.
fn rotate(path: &Path, value: &str) {
    let next = path.with_extension("new");
    std::fs::write(&next, format!("{value}\n")).unwrap();
    std::fs::rename(&next, path).unwrap();
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(target: &str, token: &Path) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: 60s}}\n\
         log: {{level: info}}\n\
         traffic: {{rate: {RATE}, ramp: 0s, after_ready_rate: {RATE}}}\n\
         gate: {{window: 1s, lookback: 10s, min_samples: 100, deadline: 300s}}\n\
         endpoints:\n\
         \x20 - name: api\n\
         \x20   path: /api\n\
         \x20   headers:\n\
         \x20     Authorization: {{file: \"{}\", prefix: \"Bearer \"}}\n\
         \x20     X-Api-Key: {{env: WG_TEST_API_KEY}}\n\
         \x20     X-Static: \"{TEXT_SECRET}\"\n",
        token.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_arrive_rotate_within_a_window_and_never_show() {
    let recorder = Recorder::start().unwrap();
    let dir =
        std::env::temp_dir().join(format!("wg-secrets-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, format!("{FILE_SECRET}\n")).unwrap();
    let yaml = config(&recorder.url(), &token);
    let env = [("WG_TEST_API_KEY", ENV_SECRET)];
    let mut wg = Warmgate::start_with_env(
        WARMGATE,
        &yaml,
        &dir.join("warmgate.yaml"),
        &dir.join("warmgate.log"),
        &env,
    )
    .unwrap();

    wait_until("the first requests", Duration::from_secs(60), || {
        if let Err(e) = wg.child.check_alive() {
            panic!("warmgate stopped: {e:#}; log:\n{}", wg.log_text());
        }
        recorder.count() >= RATE
    });
    let first = recorder.arrivals();
    for a in &first {
        assert_eq!(
            a.header("authorization"),
            Some(format!("Bearer {FILE_SECRET}").as_str())
        );
        assert_eq!(a.header("x-api-key"), Some(ENV_SECRET));
        assert_eq!(a.header("x-static"), Some(TEXT_SECRET));
    }

    // Rotation: the engine re-reads the file at each window's end (1 s windows here).
    let before = recorder.count();
    rotate(&token, ROTATED_SECRET);
    let rotated = format!("Bearer {ROTATED_SECRET}");
    wait_until("the rotated token", Duration::from_secs(30), || {
        recorder.arrivals()[before..]
            .iter()
            .any(|a| a.header("authorization") == Some(&rotated))
    });
    std::thread::sleep(Duration::from_secs(1));
    let after = &recorder.arrivals()[before..];
    let old = after
        .iter()
        .filter(|a| a.header("authorization") != Some(&rotated))
        .count();
    // At most one window's requests (RATE), and those in flight, go out with the old token.
    assert!(
        old <= RATE + 64,
        "{old} requests sent the old token after the rotation"
    );
    let first_new = after
        .iter()
        .position(|a| a.header("authorization") == Some(&rotated))
        .unwrap();
    assert!(
        after[first_new..]
            .iter()
            .skip(64)
            .all(|a| a.header("authorization") == Some(&rotated)),
        "the old token came back after the new one"
    );

    // A vanished file: logged by its path, the last value still sent.
    std::fs::remove_file(&token).unwrap();
    let gone_at = recorder.count();
    wait_until(
        "the log line about the missing file",
        Duration::from_secs(30),
        || wg.log_text().contains(&token.display().to_string()),
    );
    wait_until(
        "requests after the file vanished",
        Duration::from_secs(30),
        || recorder.count() > gone_at + RATE,
    );
    assert!(recorder.arrivals()[gone_at..]
        .iter()
        .all(|a| a.header("authorization") == Some(&rotated)));
    rotate(&token, ROTATED_SECRET);

    let status = reqwest::get(format!("{}/status", wg.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = reqwest::get(format!("{}/metrics", wg.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        status.contains("api") && metrics.contains("api"),
        "status/metrics without the endpoint"
    );
    assert_no_secret("/status", &status);
    assert_no_secret("/metrics", &metrics);
    let (code, out, err) = warmgate_cmd(
        &[
            "check",
            "--config",
            dir.join("warmgate.yaml").to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("authorization") && out.contains("token"),
        "{out}"
    );
    assert_no_secret("warmgate check", &format!("{out}{err}"));
    drop(wg);
    let log = std::fs::read_to_string(dir.join("warmgate.log")).unwrap();
    assert_no_secret("the log", &log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_or_unset_secrets_are_errors_that_name_the_source_not_the_value() {
    let dir = std::env::temp_dir().join(format!(
        "wg-badsecrets-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    // A control character makes it an invalid header value.
    std::fs::write(&token, format!("{FILE_SECRET}\u{1}{ROTATED_SECRET}")).unwrap();
    let missing = dir.join("no-such-token");
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        format!(
            "endpoints:\n  - path: /a\n    headers:\n\
             \x20     Authorization: {{file: \"{}\", prefix: \"Bearer \"}}\n\
             \x20     X-Other: {{file: \"{}\"}}\n\
             \x20     X-Api-Key: {{env: WG_TEST_UNSET_KEY}}\n\
             \x20     X-Bad: {{file: 5, prefix: \"{TEXT_SECRET}\"}}\n",
            token.display(),
            missing.display()
        ),
    )
    .unwrap();
    let (code, out, err) = warmgate_cmd(
        &["check", "--config", config.to_str().unwrap()],
        &[("WG_SECRET_NOISE", ENV_SECRET)],
    );
    assert_eq!(code, 2, "{out}{err}");
    for expected in [
        "endpoints[0].headers",
        &token.display().to_string(),
        &missing.display().to_string(),
        "WG_TEST_UNSET_KEY",
        "not shown",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_no_secret("the configuration errors", &format!("{out}{err}"));
    std::fs::remove_dir_all(&dir).unwrap();
}
