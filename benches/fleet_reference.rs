//! Time to ready alone vs with the fleet reference (issue 16's table), at the production
//! defaults: 5 s windows, two endpoints at 200 rps each, the default gate and
//! `gate.reference` (accelerate, tolerance 0.15, refresh 2 s).
//!
//! Two warm peers (`loadgen`'s `flat` simulator, real `warmgate run` processes) pass the gate
//! alone and export their ready p99; a real Prometheus on loopback scrapes them every second
//! (labelled `namespace`/`pod` as Kubernetes discovery does, `honor_labels` as the PodMonitor
//! sets it). Then, one at a time, new pods warm a fresh simulator: each case alone, then with
//! the reference (`require` for `tiered`). For each: seconds to ready, the rule that opened
//! it, and for warming apps the seconds after the simulator's true multiplier first came within
//! the reference tolerance (1.15) and within 1.05 (its settle point), polled from /sim/truth.
//!
//! `cargo bench --bench fleet_reference` (optional argument: `quick` runs flat and jit with the
//! reference only). Needs `prometheus` (Debian package). Sends traffic to loopback only.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loadgen::sim::{Profile, SimOptions};
use serde_json::Value as Json;
use warmgate_testkit::{Prometheus, SimThread, Warmgate};

const WARMGATE: &str = env!("CARGO_BIN_EXE_warmgate");
/// The reference tolerance (the default).
const TOLERANCE: f64 = 0.15;

fn config(target: &str, reference: &str) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: 60s}}\n\
         shutdown_grace: 1s\n\
         endpoints: [{{name: checkout, path: /api/checkout}}, {{name: search, path: /api/search}}]\n\
         gate: {{deadline: 10m{reference}}}\n"
    )
}

fn sim(profile: Profile) -> SimThread {
    SimThread::start(SimOptions {
        profile,
        seed: 11,
        speed: 1.0,
    })
    .expect("start the simulator")
}

fn start(dir: &Path, pod: &str, yaml: &str) -> Warmgate {
    Warmgate::start_as_pod(WARMGATE, dir, pod, "bench", "shop", yaml).expect("start warmgate")
}

/// Largest true multiplier over the simulator's paths now.
async fn multiplier(client: &reqwest::Client, app: &SimThread) -> Option<f64> {
    let t = warmgate_testkit::truth::fetch(client, &app.url())
        .await
        .ok()?;
    t["paths"]
        .as_object()?
        .values()
        .filter_map(|p| p["multiplier"].as_f64())
        .reduce(f64::max)
}

struct Outcome {
    ready_s: Option<f64>,
    rule: String,
    within_tolerance_s: Option<f64>,
    settled_s: Option<f64>,
}

/// Warms a fresh `profile` simulator with `reference` appended to the gate section; polls
/// /readyz and /sim/truth every 250 ms.
async fn case(dir: &Path, pod: &str, profile: Profile, reference: &str) -> Outcome {
    let client = warmgate_testkit::client();
    let app = sim(profile);
    let wg = start(dir, pod, &config(&app.url(), reference));
    let t0 = Instant::now();
    let (mut within, mut settled) = (None, None);
    let mut ready_s = None;
    while t0.elapsed() < Duration::from_secs(600) {
        if let Some(m) = multiplier(&client, &app).await {
            let now = t0.elapsed().as_secs_f64();
            if m <= 1.0 + TOLERANCE && within.is_none() {
                within = Some(now);
            }
            if m <= 1.05 && settled.is_none() {
                settled = Some(now);
            }
        }
        if wg.code("/readyz").await == Some(200) {
            ready_s = Some(t0.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status: Json = wg.status().await;
    Outcome {
        ready_s,
        rule: status["verdict"]["rule"]
            .as_str()
            .unwrap_or("-")
            .to_string(),
        within_tolerance_s: within,
        settled_s: settled,
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or("never".to_string(), |v| format!("{v:.0}"))
}

fn after(ready: Option<f64>, from: Option<f64>) -> String {
    match (ready, from) {
        (Some(r), Some(f)) => format!("{:+.0}", r - f),
        _ => "-".to_string(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let dir: PathBuf = std::env::temp_dir().join(format!("fleet-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");

    let apps = [sim(Profile::Flat), sim(Profile::Flat)];
    let peers: Vec<Warmgate> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| start(&dir, &format!("peer-{i}"), &config(&a.url(), "")))
        .collect();
    let t0 = Instant::now();
    for p in &peers {
        assert!(
            p.wait_ready(Duration::from_secs(300)).await.is_some(),
            "a peer never became ready:\n{}",
            p.log_text()
        );
    }
    println!(
        "2 warm peers (flat) ready alone after {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    let mut job =
        String::from("  - job_name: warmgate\n    honor_labels: true\n    static_configs:\n");
    for (i, p) in peers.iter().enumerate() {
        let port = p.base.rsplit(':').next().unwrap();
        job.push_str(&format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{namespace: bench, pod: peer-{i}}}\n"
        ));
    }
    let prom = Prometheus::start(&dir, &job).expect("start prometheus");
    while prom
        .query("warmgate_ready_latency_seconds{workload=\"shop\"}")
        .map_or(0, |r| r.len())
        < 4
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reference = |mode: &str| {
        format!(
            ", reference: {{prometheus_url: \"{}\", mode: {mode}}}",
            prom.url()
        )
    };

    let mut cases = vec![
        ("flat", Profile::Flat, "accelerate"),
        ("jit", Profile::Jit, "accelerate"),
    ];
    if !quick {
        cases.extend([
            ("cache", Profile::Cache, "accelerate"),
            ("tiered", Profile::Tiered, "require"),
        ]);
    }
    println!(
        "\n| app | alone: ready s | with the reference: ready s | rule | ready - within {:.0}% s | ready - settled s |",
        TOLERANCE * 100.0
    );
    println!("|---|---|---|---|---|---|");
    for (i, (name, profile, mode)) in cases.iter().enumerate() {
        let alone = if quick {
            None
        } else {
            Some(case(&dir, &format!("alone-{i}"), *profile, "").await)
        };
        let with = case(&dir, &format!("ref-{i}"), *profile, &reference(mode)).await;
        println!(
            "| `{name}` ({mode}) | {} | {} | {} | {} | {} |",
            alone.as_ref().map_or("-".to_string(), |a| fmt(a.ready_s)),
            fmt(with.ready_s),
            with.rule,
            after(with.ready_s, with.within_tolerance_s),
            after(with.ready_s, with.settled_s),
        );
    }
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}
