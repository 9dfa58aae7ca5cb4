//! deploy/progressive: the Argo Rollouts AnalysisTemplate and the Flagger MetricTemplates have
//! the shape their controllers read, and each of their queries, its template variables filled
//! in, returns through `promtool query instant` what two real warmgates (`warmgate demo
//! --keep`, one as the stable pod, one as the new) export, from a real Prometheus scraping
//! them under the pod names Argo and Flagger give. The Istio DestinationRule's shape and ramp
//! are checked too. Needs `prometheus` and `promtool` (Debian package `prometheus`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use warmgate_testkit::{free_port, ChildGuard};
use yaml_serde::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` is not on PATH: apt-get install prometheus"))
}

/// The YAML documents of `deploy/progressive/NAME`.
fn documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("deploy/progressive").join(name)).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// A plain HTTP/1.0 GET on loopback: the body, if the answer was 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

/// Polls `f` every 500 ms until it gives a value or `limit` passes; then panics with `what`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `warmgate demo --keep` on a free port (wait for it with [`wait_ready`]).
fn start_demo(dir: &Path, name: &str) -> (ChildGuard, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.args(["demo", "--keep", "--profile", "flat", "--listen"])
        .arg(format!("127.0.0.1:{port}"));
    let demo = ChildGuard::spawn(name, cmd, &dir.join(format!("{name}.log"))).unwrap();
    (demo, port)
}

/// Waits until the demo on `port` answers /readyz 200.
fn wait_ready(port: u16, name: &str) {
    wait_for(Duration::from_secs(180), &format!("{name} ready"), || {
        get(port, "/readyz")
    });
}

/// The largest value of `name` series whose labels contain `matcher`, in exposition text.
fn max_gauge(metrics: &str, name: &str, matcher: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(matcher))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .reduce(f64::max)
}

/// `promtool query instant` of `expr`: the samples' values, or what promtool said.
fn promtool_query(prom_port: u16, expr: &str) -> Result<Vec<f64>, String> {
    let out = Command::new(tool("promtool"))
        .args(["query", "instant", "-o", "json"])
        .arg(format!("http://127.0.0.1:{prom_port}"))
        .arg(expr)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["value"][1].as_str()?.parse().ok())
        .collect())
}

/// Pod names as the controllers make them: Argo ROLLOUT-HASH-RANDOM, Flagger's canary
/// TARGET-HASH-RANDOM and primary TARGET-primary-HASH-RANDOM.
const CANARY_HASH: &str = "5c4b6d9f";
const STABLE_HASH: &str = "7d9f8b6c";

fn argo_query(q: &str) -> String {
    q.replace("{{args.namespace}}", "argo")
        .replace("{{args.rollout}}", "shop")
        .replace("{{args.canary-hash}}", CANARY_HASH)
        .replace("{{args.stable-hash}}", STABLE_HASH)
}

fn flagger_query(q: &str) -> String {
    q.replace("{{ namespace }}", "flagger")
        .replace("{{ target }}", "shop")
}

#[test]
fn the_istio_ramp_is_short_and_on_a_policy_that_supports_it() {
    let docs = documents("istio-destinationrule.yaml");
    assert_eq!(docs.len(), 1);
    let dr = &docs[0];
    assert_eq!(dr["apiVersion"], "networking.istio.io/v1");
    assert_eq!(dr["kind"], "DestinationRule");
    assert!(dr["spec"]["host"].as_str().is_some());
    let lb = &dr["spec"]["trafficPolicy"]["loadBalancer"];
    assert!(
        ["ROUND_ROBIN", "LEAST_REQUEST"].contains(&lb["simple"].as_str().unwrap()),
        "warmupDurationSecs needs ROUND_ROBIN or LEAST_REQUEST: {lb:?}"
    );
    let ramp = humantime::parse_duration(lb["warmupDurationSecs"].as_str().unwrap()).unwrap();
    assert!(
        ramp >= Duration::from_secs(5) && ramp <= Duration::from_secs(60),
        "{ramp:?}"
    );
}

#[test]
fn rollout_gates_return_what_warmgate_exports() {
    let argo = documents("argo-analysistemplate.yaml");
    assert_eq!(argo.len(), 1);
    let at = &argo[0];
    assert_eq!(at["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(at["kind"], "AnalysisTemplate");
    let args: Vec<&str> = at["spec"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let mut argo_queries = Vec::new();
    for m in at["spec"]["metrics"].as_sequence().unwrap() {
        let name = m["name"].as_str().unwrap().to_string();
        assert!(
            m["successCondition"]
                .as_str()
                .unwrap()
                .contains("result[0]"),
            "{name}"
        );
        let q = m["provider"]["prometheus"]["query"].as_str().unwrap();
        for used in q.split("{{args.").skip(1) {
            let arg = used.split("}}").next().unwrap();
            assert!(args.contains(&arg), "{name} uses undeclared arg {arg}");
        }
        argo_queries.push((name, argo_query(q)));
    }
    let flagger = documents("flagger-metrictemplates.yaml");
    let mut flagger_queries = Vec::new();
    for mt in &flagger {
        assert_eq!(mt["apiVersion"], "flagger.app/v1beta1");
        assert_eq!(mt["kind"], "MetricTemplate");
        assert_eq!(mt["spec"]["provider"]["type"], "prometheus");
        let name = mt["metadata"]["name"].as_str().unwrap().to_string();
        flagger_queries.push((name, flagger_query(mt["spec"]["query"].as_str().unwrap())));
    }
    assert_eq!((argo_queries.len(), flagger_queries.len()), (3, 3));

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prometheus-progressive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let (_stable, stable_port) = start_demo(&dir, "stable");
    let (_canary, canary_port) = start_demo(&dir, "canary");
    wait_ready(stable_port, "stable");
    wait_ready(canary_port, "canary");

    // Each warmgate scraped twice, under Argo's and under Flagger's pod names.
    let target = |port: u16, ns: &str, pod: &str| {
        format!("      - targets: ['127.0.0.1:{port}']\n        labels: {{namespace: {ns}, pod: {pod}}}\n")
    };
    let config = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: warmgate\n    static_configs:\n{}{}{}{}",
        target(stable_port, "argo", &format!("shop-{STABLE_HASH}-p4m7z")),
        target(canary_port, "argo", &format!("shop-{CANARY_HASH}-x2k9q")),
        target(stable_port, "flagger", &format!("shop-primary-{STABLE_HASH}-p4m7z")),
        target(canary_port, "flagger", &format!("shop-{CANARY_HASH}-x2k9q")),
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let prom_port = free_port();
    let mut cmd = Command::new(tool("prometheus"));
    cmd.current_dir(&dir).args([
        "--config.file=prometheus.yml",
        "--storage.tsdb.path=data",
        &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        "--log.level=warn",
    ]);
    let _prom = ChildGuard::spawn("prometheus", cmd, &dir.join("prometheus.log")).unwrap();
    wait_for(
        Duration::from_secs(90),
        "every target's time to ready in Prometheus",
        || {
            let n = promtool_query(prom_port, "count(warmgate_time_to_ready_seconds)").ok()?;
            (n == [4.0]).then_some(())
        },
    );

    // What the two warmgates export; after ready these gauges no longer move.
    let exported = |port: u16| {
        let m = get(port, "/metrics").unwrap();
        (
            max_gauge(&m, "warmgate_time_to_ready_seconds", "").unwrap(),
            max_gauge(&m, "warmgate_window_latency_seconds{", "q=\"0.99\"").unwrap(),
        )
    };
    let (canary_ttr, canary_p99) = exported(canary_port);
    let (_, stable_p99) = exported(stable_port);
    let expected = [canary_ttr, 0.0, canary_p99 / stable_p99];
    for queries in [&argo_queries, &flagger_queries] {
        for ((name, q), want) in queries.iter().zip(expected) {
            let got = match promtool_query(prom_port, q) {
                Ok(v) if v.len() == 1 => v[0],
                other => panic!("{name}: {other:?} from {q}"),
            };
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}: {got} from Prometheus, {want} from warmgate; query {q}"
            );
        }
    }
    assert_eq!(
        exported(canary_port).1,
        canary_p99,
        "window p99 moved after ready"
    );
}
