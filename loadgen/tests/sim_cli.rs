//! `loadgen sim` as a process: first line, /health, /sim/truth, flags, signals, h2c.

mod sim_support;

use std::process::Command;
use std::time::{Duration, Instant};

use sim_support::{client, get, start_sim, truth};

#[tokio::test]
async fn health_answers_at_once_while_the_app_is_cold() {
    let sim = start_sim(&["--profile", "jit", "--base-ms", "50", "--sigma", "0"]);
    let c = client();
    // The first profile request costs 31 x 50 ms; /health must not.
    let start = Instant::now();
    let res = c
        .get(format!("{}/health", sim.base))
        .send()
        .await
        .expect("health");
    assert_eq!(res.status(), 200);
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    let cold = get(&c, &format!("{}/", sim.base)).await;
    assert!(
        cold.ms > 31.0 * 50.0 * 0.5,
        "first jit request took {} ms",
        cold.ms
    );
    let start = Instant::now();
    let res = c
        .get(format!("{}/health", sim.base))
        .send()
        .await
        .expect("health");
    assert_eq!(res.status(), 200);
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn truth_reports_the_contract_fields() {
    let sim = start_sim(&["--profile", "jit", "--speed", "4", "--seed", "9"]);
    let c = client();
    let t0 = truth(&c, &sim.base).await;
    assert_eq!(t0["profile"], "jit");
    assert_eq!(t0["served"], 0);
    assert_eq!(t0["settled"], false, "jit is cold before any request");
    for _ in 0..3 {
        get(&c, &format!("{}/a", sim.base)).await;
    }
    get(&c, &format!("{}/b", sim.base)).await;
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["served"], 4);
    assert_eq!(t["paths"]["/a"]["served"], 3);
    assert_eq!(t["paths"]["/b"]["served"], 1);
    assert_eq!(t["seed"], 9);
    assert!(t["elapsed_s"].as_f64().expect("elapsed_s") > 0.0);
    // 2000 / 4 * ln(600), rounded up.
    assert_eq!(t["settle_after"]["requests"], 3199);
    assert!(t["settle_after"]["seconds"].is_null());
    assert_eq!(t["constants"]["jit_requests"], 500.0);
    let p50 = t["steady_p50_ms"].as_f64().expect("p50");
    let p99 = t["steady_p99_ms"].as_f64().expect("p99");
    assert!(
        (p50 - 10.0).abs() < 1e-6 && (p99 - 32.0).abs() < 0.01,
        "{p50} {p99}"
    );
    // /health and /sim/truth are not counted.
    assert_eq!(truth(&c, &sim.base).await["served"], 4);
}

#[tokio::test]
async fn never_settling_profiles_say_so() {
    for profile in ["drift", "slowdown"] {
        let sim = start_sim(&["--profile", profile]);
        let t = truth(&client(), &sim.base).await;
        assert!(t["settle_after"].is_null(), "{profile}: {t}");
        assert_eq!(t["settled"], false, "{profile}");
    }
    let sim = start_sim(&["--profile", "flat"]);
    let t = truth(&client(), &sim.base).await;
    assert_eq!(t["settled"], true);
}

#[test]
fn bad_flags_exit_non_zero_with_a_one_line_error() {
    let cases: [(&[&str], &str); 8] = [
        (&["--threads", "0"], "--threads"),
        (&["--profile", "warm"], "--profile"),
        (&["--speed", "0"], "--speed"),
        (&["--speed", "nan"], "--speed"),
        (&["--sigma", "9"], "sigma"),
        (&["--error-rate", "1.5"], "error rate"),
        (&["--listen", "localhost"], "--listen"),
        (&["--speed", "fast"], "--speed"),
    ];
    for (args, needle) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("sim")
            .args(args)
            .output()
            .expect("run loadgen");
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains(needle),
            "{args:?}: first stderr line {first:?}"
        );
    }
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut sim = start_sim(&["--profile", "flat"]);
    let pid = sim.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("the kill command is needed by this test");
    assert!(status.success());
    let code = sim
        .wait_exit(Duration::from_secs(5))
        .expect("still running 5 s after SIGTERM");
    assert!(code.success(), "exit status {code:?}");
}

#[tokio::test]
async fn serves_h2c_with_prior_knowledge() {
    let sim = start_sim(&["--profile", "flat", "--base-ms", "1"]);
    let c = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let res = c
        .get(format!("{}/x", sim.base))
        .send()
        .await
        .expect("h2c request");
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    assert_eq!(truth(&c, &sim.base).await["paths"]["/x"]["served"], 1);
}
