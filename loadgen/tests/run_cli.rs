//! `loadgen run` as a command: bad input gets one line and a non-zero exit; output never
//! echoes header values; `--json` is exactly one object with the documented keys.

mod engine_fixture;

use engine_fixture::bin::{loadgen_run, loadgen_run_json, SimProcess};
use engine_fixture::{closed_port, Fixture};

fn stderr_of(args: &[&str]) -> (i32, String) {
    let out = loadgen_run(args);
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn a_bad_url_gets_one_line_and_a_non_zero_exit() {
    for url in ["not a url", "ftp://127.0.0.1/", "http://"] {
        let (code, err) = stderr_of(&[url, "--rate", "10", "--duration", "1s"]);
        assert_ne!(code, 0, "{url}");
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(err.contains("URL"), "{url}: {err}");
    }
}

#[test]
fn bad_flags_exit_2() {
    let url = "http://127.0.0.1:9/";
    for args in [
        vec![url, "--rate", "abc", "--duration", "1s"],
        vec![url, "--rate", "10", "--duration", "soon"],
        vec![url, "--rate", "10"],
        vec![url, "--rate", "10", "--duration", "1s", "--bogus"],
    ] {
        let (code, err) = stderr_of(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("loadgen: "), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
    }
}

#[test]
fn bad_values_get_one_line_without_the_header_value() {
    let url = "http://127.0.0.1:9/";
    for (args, needle) in [
        (vec!["--rate", "0"], "rate"),
        (vec!["--rate", "10", "-c", "0"], "max_inflight"),
        (vec!["--rate", "10", "-X", "GE T"], "method"),
        (
            vec!["--rate", "10", "-H", "X-Token hunter2secret"],
            "header",
        ),
        (
            vec!["--rate", "10", "-H", "X-Token: hunter2\u{1}secret"],
            "header",
        ),
    ] {
        let mut all = vec![url, "--duration", "1s"];
        all.extend(args.iter().copied());
        let (code, err) = stderr_of(&all);
        assert_eq!(code, 1, "{all:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{all:?}: {err}");
        assert!(err.contains(needle), "{all:?}: {err}");
        assert!(!err.contains("hunter2"), "a header value leaked: {err}");
    }
}

#[test]
fn json_output_has_the_documented_keys_and_no_header_value() {
    let fixture = Fixture::start();
    let url = fixture.url("/").to_string();
    let args = [
        url.as_str(),
        "--rate",
        "100",
        "--duration",
        "1s",
        "-H",
        "Authorization: Bearer topsecret-token",
    ];
    let v = loadgen_run_json(&args);
    for key in [
        "requests",
        "achieved_rate",
        "duration_s",
        "late",
        "scheduled",
    ] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    for h in ["latency_ms", "service_ms", "lag_ms"] {
        for q in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v[h][q].is_number(), "{h}.{q} in {v}");
        }
    }
    for o in [
        "ok",
        "http_error",
        "timeout",
        "connect_error",
        "connection_lost",
        "protocol_error",
        "other",
        "body_too_large",
        "grpc_error",
    ] {
        assert!(v["outcomes"][o].is_number(), "outcomes.{o} in {v}");
    }
    assert_eq!(v["requests"], 100);
    assert_eq!(v["outcomes"]["ok"], 100);
    assert!(!v.to_string().contains("topsecret"));
    // The human table does not show it either.
    let out = loadgen_run(&args[..5]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        table.contains("p99.9") && table.contains("latency"),
        "{table}"
    );
    let with_header = loadgen_run(&args);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&with_header.stdout),
        String::from_utf8_lossy(&with_header.stderr)
    );
    assert!(!all.contains("topsecret"), "{all}");
}

#[test]
fn refused_connections_are_reported_not_fatal() {
    let url = format!("http://{}/", closed_port());
    let v = loadgen_run_json(&[&url, "--rate", "50", "--duration", "1s"]);
    assert_eq!(v["outcomes"]["connect_error"], 50, "{v}");
}

#[test]
fn http2_prior_knowledge_talks_h2c_to_the_sim() {
    let sim = SimProcess::start(&["--profile", "flat", "--base-ms", "1"]);
    let url = format!("{}/h2", sim.base);
    let v = loadgen_run_json(&[&url, "--rate", "50", "--duration", "1s", "--http2"]);
    assert_eq!(v["outcomes"]["ok"], 50, "{v}");
}
