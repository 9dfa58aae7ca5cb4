//! The real `warmgate` binary (`warmgate demo --keep`) scraped for real: every metric the
//! Grafana dashboard and the alert rules query exists in its /metrics, and a real Prometheus
//! server on loopback scrapes it, loads the rules and answers `warmgate_ready` and every
//! dashboard query through its HTTP API. Needs `prometheus` (Debian package); kills everything
//! it starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use warmgate_testkit::prometheus::{encode, get};
use warmgate_testkit::{free_port, ChildGuard};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `f` every 250 ms until it gives a value or `limit` passes; then panics with `what`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `warmgate demo --keep` on a free loopback port, once its probe server answers.
fn start_demo(log: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.args([
        "demo",
        "--keep",
        "--profile",
        "flat",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let demo = ChildGuard::spawn("warmgate demo", cmd, log).expect("start warmgate demo");
    wait_for(Duration::from_secs(30), "warmgate demo's /livez", || {
        get(port, "/livez").ok().filter(|(s, _)| *s == 200)
    });
    (demo, port)
}

fn dashboard() -> Json {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/warmgate-dashboard.json"))
        .expect("dashboard");
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// Every PromQL text the dashboard (panel targets, variable queries) and the rules hold.
fn all_queries() -> Vec<String> {
    let d = dashboard();
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.extend(t["expr"].as_str().map(str::to_string));
        }
    }
    for v in d["templating"]["list"].as_array().expect("variables") {
        out.extend(v["query"]["query"].as_str().map(str::to_string));
    }
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/warmgate-rules.yaml"))
        .expect("rules");
    let rules: yaml_serde::Value = yaml_serde::from_str(&rules).expect("rules YAML");
    for g in rules["spec"]["groups"].as_sequence().expect("groups") {
        for r in g["rules"].as_sequence().expect("rules") {
            out.extend(r["expr"].as_str().map(str::to_string));
        }
    }
    out
}

/// `warmgate_*` metric names in a query, each with its exact (`=`) label matchers.
fn selectors(query: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(i) = rest.find("warmgate_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut matchers = Vec::new();
        if let Some(body) = tail[end..]
            .strip_prefix('{')
            .and_then(|b| b.split_once('}'))
            .map(|(b, _)| b)
        {
            for m in body.split(',') {
                if let Some((label, value)) = m.split_once('=') {
                    let (label, value) = (label.trim(), value.trim());
                    if !label.ends_with('!') && !value.starts_with('~') {
                        matchers.push((label.to_string(), value.trim_matches('"').to_string()));
                    }
                }
            }
        }
        out.push((name, matchers));
        rest = &tail[end..];
    }
    out
}

/// Is there a series `name{...label="value"...}` in the exposition text?
fn has_series(metrics: &str, name: &str, matchers: &[(String, String)]) -> bool {
    metrics.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let series = l.split_whitespace().next().unwrap_or_default();
        let bare = series.split('{').next().unwrap_or_default();
        bare == name
            && matchers
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
    })
}

/// Series that exist only once the pod was ready.
const AFTER_READY: [&str; 3] = [
    "warmgate_time_to_ready_seconds",
    "warmgate_ready_timestamp_seconds",
    "warmgate_ready_rule",
];

/// Series that exist only with `gate.reference` (the demo has none; tests/fleet_reference.rs
/// checks them against a real Prometheus and real peers).
const WITH_REFERENCE: [&str; 2] = [
    "warmgate_reference_latency_seconds",
    "warmgate_reference_peers",
];

#[test]
fn every_metric_the_dashboard_and_rules_query_is_exported() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-names");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (_demo, port) = start_demo(&dir.join("demo.log"));
    let mut wanted: Vec<(String, Vec<(String, String)>)> =
        all_queries().iter().flat_map(|q| selectors(q)).collect();
    wanted.sort();
    wanted.dedup();
    assert!(wanted.len() >= 15, "too few selectors found: {wanted:?}");
    // Labelled series appear once traffic flows and the gate has evaluated: give it time.
    let start = Instant::now();
    loop {
        let (status, text) = get(port, "/metrics").expect("GET /metrics");
        assert_eq!(status, 200, "/metrics answered {status}");
        // A time to ready has no series (never a NaN sample) until the first ready.
        let ready = text.lines().any(|l| l == "warmgate_ready 1");
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(n, m)| !has_series(&text, n, m))
            .filter(|(n, _)| ready || !AFTER_READY.contains(&n.as_str()))
            .filter(|(n, _)| !WITH_REFERENCE.contains(&n.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "after 60 s of traffic, /metrics still lacks series the dashboard or rules query: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn prometheus() -> PathBuf {
    warmgate_testkit::tool("prometheus", "prometheus")
}

/// A Prometheus API call: the `data` of a `success` answer.
fn api(port: u16, path: &str) -> Option<Json> {
    let (status, body) = get(port, path).ok()?;
    let v: Json = serde_json::from_str(&body).ok()?;
    (status == 200 && v["status"] == "success").then(|| v["data"].clone())
}

fn query(port: u16, promql: &str) -> Option<Vec<Json>> {
    let data = api(port, &format!("/api/v1/query?query={}", encode(promql)))?;
    data["result"].as_array().cloned()
}

#[test]
fn prometheus_scrapes_warmgate_and_answers_the_dashboard() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prometheus-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("scratch dir");
    let (_demo, wg_port) = start_demo(&dir.join("demo.log"));

    // The PrometheusRule's groups as the rule file; labels as a PodMonitor would add them.
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/warmgate-rules.yaml"))
        .expect("rules");
    let rules: yaml_serde::Value = yaml_serde::from_str(&rules).expect("rules YAML");
    std::fs::write(
        dir.join("rules.yaml"),
        yaml_serde::to_string(&rules["spec"]).expect("yaml"),
    )
    .expect("write rules");
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yaml]\n\
         scrape_configs:\n  - job_name: warmgate\n    static_configs:\n      - targets: ['127.0.0.1:{wg_port}']\n        \
         labels: {{namespace: test, pod: demo-0}}\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("write config");
    let prom_port = free_port();
    let mut cmd = Command::new(prometheus());
    cmd.current_dir(&dir).args([
        "--config.file=prometheus.yml",
        "--storage.tsdb.path=data",
        &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        "--log.level=warn",
    ]);
    let _prom = ChildGuard::spawn("prometheus", cmd, &dir.join("prometheus.log"))
        .expect("start prometheus");

    // The first scrape can take a while after start: poll the targets, never sleep blindly.
    wait_for(
        Duration::from_secs(90),
        "the warmgate target to be up",
        || {
            let data = api(prom_port, "/api/v1/targets")?;
            let t = data["activeTargets"].as_array()?.first()?.clone();
            (t["health"] == "up").then_some(())
        },
    );

    // warmgate_ready read back through Prometheus equals what warmgate itself exports.
    wait_for(
        Duration::from_secs(30),
        "warmgate_ready through Prometheus to match /metrics",
        || {
            let result = query(prom_port, "warmgate_ready")?;
            let sample = result.first()?;
            assert_eq!(sample["metric"]["pod"], "demo-0");
            let via_prom = sample["value"][1].as_str()?.to_string();
            assert!(
                via_prom == "0" || via_prom == "1",
                "warmgate_ready = {via_prom}"
            );
            let (_, text) = get(wg_port, "/metrics").ok()?;
            let direct = text
                .lines()
                .find_map(|l| l.strip_prefix("warmgate_ready "))?
                .trim()
                .to_string();
            (direct == via_prom).then_some(())
        },
    );

    // The rules load and evaluate without errors.
    let groups = wait_for(Duration::from_secs(20), "rule groups", || {
        let g = api(prom_port, "/api/v1/rules")?["groups"]
            .as_array()?
            .clone();
        (!g.is_empty()).then_some(g)
    });
    for g in &groups {
        for r in g["rules"].as_array().expect("rules") {
            assert_ne!(
                r["health"], "err",
                "rule {} failed: {}",
                r["name"], r["lastError"]
            );
        }
    }

    // Every dashboard query is accepted; the core panels have data for this pod.
    let subst = |q: &str| {
        q.replace("$cluster", ".*")
            .replace("$namespace", "test")
            .replace("$pod", "demo-0")
            .replace("$__rate_interval", "15s")
            .replace("$__range", "1m")
    };
    let d = dashboard();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            let q = subst(t["expr"].as_str().expect("expr"));
            let title = p["title"].as_str().unwrap_or_default();
            let result = query(prom_port, &q)
                .unwrap_or_else(|| panic!("panel {title:?}: query refused: {q}"));
            let needs_data = [
                "Phase per pod",
                "Window p99 per endpoint",
                "Gate verdict per endpoint",
                "Requests by outcome",
            ];
            if needs_data.contains(&title) && result.is_empty() {
                wait_for(
                    Duration::from_secs(30),
                    &format!("data for panel {title:?}"),
                    || query(prom_port, &q).filter(|r| !r.is_empty()),
                );
            }
        }
    }
}

/// The gauge a value of the first line of `name` in the exposition text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `WarmgateStuckWarming` compares these two gauges: the time in the current phase must grow,
/// the deadline must be the configured one. A phase clock stuck at 0 would silence the alert.
#[test]
fn stuck_warming_alert_inputs_are_live() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("alert-inputs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (_demo, port) = start_demo(&dir.join("demo.log"));
    let start = Instant::now();
    let text = loop {
        let (_, text) = get(port, "/metrics").expect("GET /metrics");
        let warming = text
            .lines()
            .any(|l| l == "warmgate_phase{phase=\"warming\"} 1");
        let since = gauge(&text, "warmgate_phase_duration_seconds");
        if warming && since.is_some_and(|s| s >= 5.0) {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "after 30 s: warming={warming}, warmgate_phase_duration_seconds={since:?} \
             (must count the seconds spent in the current phase)"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // demo.yaml: `gate.deadline: 3m`.
    assert_eq!(
        gauge(&text, "warmgate_deadline_seconds"),
        Some(180.0),
        "{text}"
    );
}
