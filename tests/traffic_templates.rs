//! Templated requests from the real `warmgate run`, as a loopback recording server receives them:
//! one endpoint spread over thousands of distinct keys with the configured distributions
//! (chi-square at p = 1e-4 for each variable), a file variable, headers and a body drawn with the
//! path (one draw per variable per request), literal braces, and a seed that replays the same
//! requests in the same order.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use warmgate_testkit::{Arrival, Recorder};

/// The 0.9999 quantile of chi-square with `df` degrees of freedom (Wilson-Hilferty: within 1%
/// for df >= 2). A fair sample exceeds it once in 10,000 tests.
fn chi_square_limit(df: usize) -> f64 {
    let df = df as f64;
    let z = 3.719; // the standard normal's 0.9999 quantile
    let a = 2.0 / (9.0 * df);
    df * (1.0 - a + z * a.sqrt()).powi(3)
}

fn chi_square(observed: &[u64], shares: &[f64]) -> f64 {
    let n: u64 = observed.iter().sum();
    observed
        .iter()
        .zip(shares)
        .map(|(&o, &p)| {
            let e = n as f64 * p;
            (o as f64 - e).powi(2) / e
        })
        .sum()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wg-{tag}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs warmgate on `endpoint` (YAML of one list entry) speaking `http` (http1, h2c) until `n`
/// requests arrived; returns them.
fn collect(
    recorder: &Recorder,
    http: &str,
    traffic: &str,
    endpoint: &str,
    n: usize,
) -> Vec<Arrival> {
    recorder.clear();
    let yaml = format!(
        "target: {{url: \"{}\", http: {http}, wait_timeout: 60s}}\n\
         log: {{level: info}}\n\
         traffic: {traffic}\n\
         gate: {{window: 1s, lookback: 10s, min_samples: 100, deadline: 300s}}\n\
         endpoints:\n{endpoint}",
        recorder.url()
    );
    let mut wg = Warmgate::spawn(WARMGATE, &yaml);
    let limit = Instant::now() + Duration::from_secs(180);
    while recorder.count() < n {
        if let Err(e) = wg.child.check_alive() {
            panic!("warmgate stopped: {e:#}; log:\n{}", wg.log_text());
        }
        assert!(
            Instant::now() < limit,
            "only {} of {n} requests arrived in 180 s; log:\n{}",
            recorder.count(),
            wg.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(wg);
    let mut got = recorder.arrivals();
    got.truncate(n);
    got
}

#[test]
fn a_template_spreads_over_thousands_of_keys_with_the_configured_distributions() {
    let recorder = Recorder::start().unwrap();
    let dir = temp_dir("vars");
    let skus = dir.join("skus.txt");
    let lines: Vec<String> = (0..20).map(|i| format!("SKU-{i:03}")).collect();
    // A blank line and trailing spaces are not values.
    std::fs::write(&skus, format!("{}\n\n", lines.join("  \n"))).unwrap();
    let endpoint = format!(
        "  - name: product\n    method: POST\n\
         \x20   path: \"/api/product/{{id}}?lang={{lang}}&sku={{sku}}\"\n\
         \x20   headers: {{X-Request-Id: \"{{rid}}\", X-Literal: \"{{{{not a var}}}}\"}}\n\
         \x20   body: '{{{{\"id\": {{id}}, \"lang\": \"{{lang}}\"}}}}'\n\
         \x20   vars:\n\
         \x20     id: {{range: [1, 5000]}}\n\
         \x20     lang: {{one_of: [en, de, fr], weights: [6, 3, 1]}}\n\
         \x20     sku: {{file: \"{}\"}}\n\
         \x20     rid: uuid\n",
        skus.display()
    );
    let n = 20_000;
    let got = collect(
        &recorder,
        "http1",
        "{rate: 2000, ramp: 1s, seed: 7, after_ready_rate: 2000}",
        &endpoint,
        n,
    );

    let mut ids = Vec::with_capacity(n);
    let mut langs: HashMap<String, u64> = HashMap::new();
    let mut sku_counts: HashMap<String, u64> = HashMap::new();
    let mut uuids = HashSet::new();
    for a in &got {
        assert_eq!(a.method, "POST");
        let (path, query) = a.target.split_once('?').unwrap();
        let id: i64 = path.strip_prefix("/api/product/").unwrap().parse().unwrap();
        assert!((1..=5000).contains(&id), "{}", a.target);
        let q: HashMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        *langs.entry(q["lang"].to_string()).or_default() += 1;
        *sku_counts.entry(q["sku"].to_string()).or_default() += 1;
        // The body was drawn with the path: one draw per variable per request.
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["id"], id, "{}", a.target);
        assert_eq!(body["lang"], q["lang"], "{}", a.target);
        assert_eq!(a.header("x-literal"), Some("{not a var}"));
        let rid = a.header("x-request-id").unwrap();
        let parts: Vec<&str> = rid.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{rid}"
        );
        assert!(parts[2].starts_with('4'), "not a version 4 UUID: {rid}");
        uuids.insert(rid.to_string());
        ids.push(id);
    }
    assert_eq!(uuids.len(), n, "UUIDs repeat");

    // Distinct keys: E = K(1 - (1 - 1/K)^n), standard deviation below 10 here.
    let distinct = ids.iter().collect::<HashSet<_>>().len() as f64;
    let k: f64 = 5000.0;
    let expected = k * (1.0 - (1.0 - 1.0 / k).powi(n as i32));
    assert!(
        (distinct - expected).abs() < 100.0,
        "{distinct} distinct ids, expected {expected:.0}"
    );
    // Uniform over 1..=5000: 10 bins of 500 ids.
    let mut bins = [0u64; 10];
    for id in &ids {
        bins[((id - 1) / 500) as usize] += 1;
    }
    let x = chi_square(&bins, &[0.1; 10]);
    assert!(
        x < chi_square_limit(9),
        "id bins {bins:?}: chi-square {x:.1}"
    );
    // Weights 6:3:1.
    let observed: Vec<u64> = ["en", "de", "fr"]
        .iter()
        .map(|l| langs.get(*l).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        observed.iter().sum::<u64>(),
        n as u64,
        "unexpected languages: {langs:?}"
    );
    let x = chi_square(&observed, &[0.6, 0.3, 0.1]);
    assert!(
        x < chi_square_limit(2),
        "languages {observed:?}: chi-square {x:.1}"
    );
    // The file's 20 lines, uniform, and nothing else.
    let observed: Vec<u64> = lines
        .iter()
        .map(|l| sku_counts.get(l).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        observed.iter().sum::<u64>(),
        n as u64,
        "values not from the file: {sku_counts:?}"
    );
    let x = chi_square(&observed, &[0.05; 20]);
    assert!(
        x < chi_square_limit(19),
        "file values {observed:?}: chi-square {x:.1}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_seed_replays_the_same_requests_and_another_seed_does_not() {
    let recorder = Recorder::start().unwrap();
    let endpoint =
        "  - name: item\n    path: \"/item/{id}/{tag}\"\n    headers: {X-Trace: \"{u}\"}\n\
                    \x20   vars: {id: {range: [1, 1000000]}, tag: {one_of: [a, b, c]}, u: uuid}\n";
    // One request in flight: requests are rendered and arrive in the same order. Over h2c, where
    // a templated request's target is absolute.
    let run = |seed: u64| {
        let traffic = format!("{{rate: 100, ramp: 0s, max_inflight: 1, seed: {seed}}}");
        collect(&recorder, "h2c", &traffic, endpoint, 150)
            .into_iter()
            .map(|a| {
                assert_eq!(a.version, "HTTP/2.0", "{}", a.target);
                format!("{} {}", a.target, a.header("x-trace").unwrap_or(""))
            })
            .collect::<Vec<_>>()
    };
    let first = run(11);
    let again = run(11);
    let other = run(12);
    assert_eq!(first, again, "the same seed sent different requests");
    let same = first.iter().zip(&other).filter(|(a, b)| a == b).count();
    assert_eq!(same, 0, "another seed repeated {same} of 150 requests");
}

#[test]
fn template_mistakes_are_reported_at_their_keys() {
    let dir = temp_dir("badvars");
    let config = dir.join("bad.yaml");
    let missing = dir.join("no-such-skus.txt");
    std::fs::write(
        &config,
        format!(
            "endpoints:\n  - path: \"/p/{{nope}}\"\n    vars:\n      a: {{range: [5, 1]}}\n\
             \x20     b: {{file: \"{}\"}}\n      c: {{one_of: [x], weights: [1, 2]}}\n      d: maybe\n\
             \x20   body: \"{{a\"\n",
            missing.display()
        ),
    )
    .unwrap();
    let (code, _, err) = warmgate_cmd(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    for expected in [
        "endpoints[0].path: placeholder {nope} names no variable",
        "endpoints[0].vars.a: range [5, 1] is empty",
        "endpoints[0].vars.b: cannot read",
        "no-such-skus.txt",
        "endpoints[0].vars.c: 2 weights for 1 values",
        "endpoints[0].vars.d",
        "endpoints[0].body: a '{' opens no valid placeholder",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
