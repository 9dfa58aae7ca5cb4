//! `gate.reference` end to end: real `warmgate run` peers warm a simulated app and export their
//! ready p99; a real Prometheus on loopback scrapes them (labelled as a PodMonitor would); new
//! warmgates ask it for the fleet's level. Checks: a flat app opens by the reference rule with
//! no confirming streak; a jit app opens by it only once near the fleet's level; in `require`
//! mode a `tiered` app is held on its C1 plateau while the stand-alone checks would pass it;
//! Prometheus stopped mid-warm-up makes the verdict fall back within a window or two, with the
//! reason; and a bad query, an empty answer and a slow answer each give their reason while the
//! windows keep their pace. Needs `prometheus` (Debian package); kills everything it starts.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::sim::{Profile, SimOptions};
use serde_json::Value as Json;
use warmgate_testkit::{Prometheus, SimThread, Warmgate};

const WARMGATE: &str = env!("CARGO_BIN_EXE_warmgate");

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn sim(profile: Profile, speed: f64) -> SimThread {
    SimThread::start(SimOptions {
        profile,
        seed: 7,
        speed,
    })
    .expect("start the simulator")
}

/// Peers and new pods alike: 400 rps on one endpoint, 1 s windows (the reference's default
/// query compares like with like: same rate, window and quantile).
fn config(target: &str, gate_extra: &str) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: 60s}}\n\
         shutdown_grace: 1s\n\
         traffic: {{rate: 400, ramp: 1s}}\n\
         gate: {{window: 1s, lookback: 10s, consecutive: 3, min_samples: 1000, deadline: 180s{gate_extra}}}\n"
    )
}

/// `warmgate run` as pod `pod` of workload `shop` in namespace `test` (the downward API env).
fn start(dir: &Path, pod: &str, yaml: &str) -> Warmgate {
    Warmgate::start_as_pod(WARMGATE, dir, pod, "test", "shop", yaml).expect("start warmgate")
}

/// Waits up to 120 s for `wg` to be ready: how long it took; panics with its log if never.
async fn ready_within_120_s(wg: &Warmgate, what: &str) -> Duration {
    let took = wg.wait_ready(Duration::from_secs(120)).await;
    took.unwrap_or_else(|| panic!("{what} never became ready:\n{}", wg.log_text()))
}

fn port_of(wg: &Warmgate) -> u16 {
    wg.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// The newest window in /status: its index since the warm-up began (1 s windows: its start in
/// seconds), from the first endpoint's rows.
fn windows(status: &Json) -> usize {
    status["endpoints"][0]["windows"]
        .as_array()
        .and_then(|rows| rows.last())
        .and_then(|row| row["start_s"].as_f64())
        .map_or(0, |s| s.round() as usize)
}

fn note(status: &Json) -> String {
    status["verdict"]["reference"]["note"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_status(
    wg: &Warmgate,
    limit: Duration,
    what: &str,
    mut ok: impl FnMut(&Json) -> bool,
) -> Json {
    let t0 = std::time::Instant::now();
    loop {
        let s = wg.status().await;
        if ok(&s) {
            return s;
        }
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; last /status verdict: {}\nlog:\n{}",
            s["verdict"],
            wg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A scrape job for warmgates, each labelled `namespace`/`pod` as Kubernetes discovery does;
/// `honor_labels` as the chart's PodMonitor sets it (warmgate's own `endpoint` label wins).
fn scrape_job(targets: &[(u16, &str)]) -> String {
    let mut out =
        String::from("  - job_name: warmgate\n    honor_labels: true\n    static_configs:\n");
    for (port, pod) in targets {
        out.push_str(&format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{namespace: test, pod: {pod}}}\n"
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_pods_are_judged_against_their_warm_peers_through_prometheus() {
    let dir = scratch("peers");
    // Two warm peers. A lax max_rise lets a flat app pass alone in seconds.
    let apps = [sim(Profile::Flat, 1.0), sim(Profile::Flat, 1.0)];
    let peers: Vec<Warmgate> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            start(
                &dir,
                &format!("peer-{i}"),
                &config(&a.url(), ", max_rise: 0.5"),
            )
        })
        .collect();
    for p in &peers {
        assert!(
            p.wait_ready(Duration::from_secs(120)).await.is_some(),
            "a peer never became ready:\n{}",
            p.log_text()
        );
    }
    let targets: Vec<(u16, String)> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (port_of(p), format!("peer-{i}")))
        .collect();
    let refs: Vec<(u16, &str)> = targets.iter().map(|(p, n)| (*p, n.as_str())).collect();
    let prom = Prometheus::start(&dir, &scrape_job(&refs)).expect("start prometheus");
    let t0 = std::time::Instant::now();
    while prom
        .query("warmgate_ready_latency_seconds{workload=\"shop\"}")
        .map_or(0, |r| r.len())
        < 2
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus never held both peers' ready latency: {}",
            prom.child.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let reference = format!(
        ", reference: {{prometheus_url: \"{}\", refresh: 1s, timeout: 1s}}",
        prom.url()
    );

    // A flat app at the fleet's level: ready by the reference rule, with no confirming streak.
    let app = sim(Profile::Flat, 1.0);
    let wg = start(&dir, "new-0", &config(&app.url(), &reference));
    let took = Some(ready_within_120_s(&wg, "the flat pod").await);
    let s = wg.status().await;
    println!(
        "flat with the reference: ready after {took:?}, verdict {}",
        s["verdict"]["endpoints"][0]
    );
    let v = &s["verdict"];
    assert_eq!(v["rule"], "reference", "{v}");
    assert!(v["streak"].as_u64().unwrap() < 3, "{v}");
    assert_eq!(v["endpoints"][0]["reference_peers"], 2, "{v}");
    assert_eq!(v["endpoints"][0]["class"], "flat", "{v}");
    let reference_ms = v["endpoints"][0]["reference_ms"].as_f64().unwrap();
    let upper = v["endpoints"][0]["recent_upper_ms"].as_f64().unwrap();
    assert!(
        upper <= reference_ms * 1.15 + 1e-6,
        "{upper} vs {reference_ms}"
    );
    let metrics = warmgate_testkit::http_get(&format!("{}/metrics", wg.base))
        .await
        .expect("/metrics")
        .1;
    for series in [
        "warmgate_ready_rule{rule=\"reference\"} 1",
        "warmgate_reference_peers{endpoint=\"root\"} 2",
        "warmgate_ready_latency_seconds{endpoint=\"root\",q=\"0.99\",workload=\"shop\"}",
        "warmgate_ready_rate_per_second{endpoint=\"root\",workload=\"shop\"} 400",
        "warmgate_reference_latency_seconds{endpoint=\"root\"}",
    ] {
        assert!(metrics.contains(series), "no {series} in\n{metrics}");
    }
    let lint = warmgate_testkit::prometheus::promtool_check_metrics(&metrics);
    assert!(lint.is_empty(), "promtool check metrics: {lint}");
    drop(wg);
    drop(app);

    // A jit app (31x cold, within 15% after ~10,600 requests: ~26 s at 400 rps) opens by the
    // reference only once it is near the fleet's level: never while cold.
    let app = sim(Profile::Jit, 1.0);
    let wg = start(&dir, "new-jit", &config(&app.url(), &reference));
    let took = Some(ready_within_120_s(&wg, "the jit pod").await);
    let truth = warmgate_testkit::truth::fetch(&warmgate_testkit::client(), &app.url())
        .await
        .expect("/sim/truth");
    let multiplier = truth["paths"]["/"]["multiplier"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let s = wg.status().await;
    println!("jit with the reference: ready after {took:?}, true multiplier then {multiplier:.3}");
    assert_eq!(s["verdict"]["rule"], "reference", "{}", s["verdict"]);
    assert!(
        multiplier <= 1.3,
        "opened a jit app still {multiplier:.2}x slower than warm: {}",
        s["verdict"]
    );
    drop(wg);
    drop(app);

    // `require`: a tiered app (C1 at 2.5x from ~12 s to ~125 s) with the tier hold off and a lax
    // max_rise would pass alone on its plateau; the fleet holds it there.
    let app = sim(Profile::Tiered, 0.2);
    let extra = format!(
        "{}, mode: require}}, tier_requests: 0, min_requests: 0, max_rise: 0.5",
        reference.trim_end_matches('}')
    );
    let wg = start(&dir, "new-1", &config(&app.url(), &extra));
    let mut held = 0;
    let mut last_window = 0;
    wait_status(
        &wg,
        Duration::from_secs(100),
        "3 windows held by the require rule alone",
        |s| {
            assert_ne!(
                s["phase"], "ready",
                "require opened on the plateau: {}",
                s["verdict"]
            );
            let reasons: Vec<&str> = s["verdict"]["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let n = windows(s);
            if n != last_window {
                last_window = n;
                let only_require = reasons.len() == 1
                    && reasons[0].contains("above the fleet's")
                    && reasons[0].contains("gate.reference.mode: require");
                held = if only_require { held + 1 } else { 0 };
            }
            held >= 3
        },
    )
    .await;
    println!("tiered, require: held by the reference alone for 3 windows by window {last_window}");
    drop(wg);
    drop(app);

    // Prometheus stopped mid-warm-up: a slow jit app, judged with a reference, then alone.
    let app = sim(Profile::Jit, 0.05);
    let wg = start(&dir, "new-2", &config(&app.url(), &reference));
    wait_status(&wg, Duration::from_secs(60), "the reference in use", |s| {
        s["verdict"]["endpoints"][0]["reference_peers"] == 2
    })
    .await;
    let at_stop = windows(&wg.status().await);
    drop(prom);
    let s = wait_status(
        &wg,
        Duration::from_secs(30),
        "the fallback after Prometheus stopped",
        |s| note(s).contains("prometheus unreachable"),
    )
    .await;
    let after = windows(&s) - at_stop;
    println!("Prometheus stopped at window {at_stop}: judged alone {after} windows later");
    assert!(
        after <= 3,
        "the verdict fell back {after} windows after Prometheus stopped (1 s refresh, 1 s windows)"
    );
    assert!(
        note(&s).ends_with("judging alone"),
        "{}",
        s["verdict"]["reference"]
    );
    assert_ne!(s["phase"], "ready");
}

/// Accepts connections and forwards each to `upstream` after `delay`: a slow Prometheus.
fn slow_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let (mut a, mut b) = (conn, up);
                let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a2, &mut b2);
                });
                let mut buf = [0u8; 16384];
                while let Ok(n) = b.read(&mut buf) {
                    if n == 0 || a.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_an_empty_answer_and_a_slow_answer_each_say_why() {
    let dir = scratch("answers");
    // Prometheus scrapes nothing: no peer exists.
    let prom = Prometheus::start(&dir, "  []\n").expect("start prometheus");
    let slow = slow_proxy(prom.port, Duration::from_secs(3));
    let app = sim(Profile::Flat, 1.0);
    let at = |url: String, more: &str| {
        format!(", reference: {{prometheus_url: \"{url}\", refresh: 1s, timeout: 500ms{more}}}")
    };
    let cases = [
        (
            "bad",
            at(prom.url(), ", query: \"warmgate_ready_latency_seconds{\""),
            "prometheus refused the query for endpoint root (400 bad_data",
        ),
        (
            "empty",
            at(prom.url(), ""),
            "no peers: the query returned no series",
        ),
        (
            "slow",
            at(format!("http://127.0.0.1:{slow}"), ""),
            "prometheus did not answer within",
        ),
    ];
    let pods: Vec<(Warmgate, &str)> = cases
        .iter()
        .map(|(name, extra, why)| {
            // 200 rps each: three pods share the two cores.
            let yaml = config(&app.url(), extra).replace("rate: 400", "rate: 200");
            (start(&dir, name, &yaml), *why)
        })
        .collect();
    for (wg, why) in &pods {
        let s = wait_status(wg, Duration::from_secs(30), why, |s| note(s).contains(why)).await;
        assert!(note(&s).ends_with("judging alone"), "{}", note(&s));
        assert!(
            s["reason"].as_str().unwrap_or_default().contains(why) || s["phase"] == "ready",
            "the readiness reason does not say why: {}",
            s["reason"]
        );
    }
    // The slow one's windows keep their pace: a verdict every 1 s window, never one per 3 s
    // answer (expected ~5 windows in 5 s; at least 3 leaves room for a loaded machine).
    let (slow_pod, _) = &pods[2];
    let before = windows(&slow_pod.status().await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = windows(&slow_pod.status().await);
    assert!(
        after >= before + 3,
        "{} windows in 5 s with a 3 s-slow Prometheus",
        after - before
    );
}
