//! gRPC endpoints against a real Python `grpcio` server (tests/apps/grpc/server.py): the schema
//! from server reflection (the server serves only `v1alpha`, so the `v1` fallback is exercised)
//! or from a descriptor-set file with reflection off; templated messages arriving as sent; and
//! gRPC status codes counted as outcomes, one per call, matched against what the server received;
//! and all of it over TLS.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use loadgen::grpc::{reflect, GrpcCall, GrpcError};
use loadgen::{Endpoint, HttpVersion, Plan, RateSchedule, Report, RequestTemplate, Template, Var};
use tokio_util::sync::CancellationToken;
use url::Url;
use warmgate_testkit::{free_port, GrpcApp};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wg-{tag}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `endpoint` open-loop at `rate` for `secs` seconds over h2c; the final report.
async fn run(endpoint: Endpoint, rate: f64, secs: u64) -> Report {
    run_with(
        endpoint,
        rate,
        secs,
        HttpVersion::Http2PriorKnowledge,
        false,
    )
    .await
}

/// [`run`] with the HTTP version and `accept_invalid_certs` (`target.insecure_tls`) given.
async fn run_with(
    endpoint: Endpoint,
    rate: f64,
    secs: u64,
    http: HttpVersion,
    accept_invalid_certs: bool,
) -> Report {
    let mut plan = Plan::try_new(
        vec![endpoint],
        RateSchedule::Constant(rate),
        32,
        Duration::from_secs(1),
    )
    .unwrap();
    plan.duration = Some(Duration::from_secs(secs));
    plan.http = http;
    plan.accept_invalid_certs = accept_invalid_certs;
    plan.seed = 13;
    let mut engine = loadgen::run(plan, CancellationToken::new()).unwrap();
    while engine.next_window().await.is_some() {}
    engine.finish().await
}

/// The expected status of an id, as the server decides it.
fn expect_error(id: i64) -> bool {
    id % 10 == 0 || id % 10 == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_templated_messages_and_status_codes() {
    let dir = temp_dir("grpc-reflect");
    let app = GrpcApp::start(&dir, true, false).unwrap();
    let url = Url::parse(&app.url()).unwrap();
    let call = reflect(&url, "shop.Cart", "Get", false).await.unwrap();
    assert_eq!(call.path, "/shop.Cart/Get");
    assert_eq!(call.input.full_name(), "shop.GetRequest");
    // An unknown method is a clear error, not a call that fails later.
    let missing = reflect(&url, "shop.Cart", "Put", false).await.unwrap_err();
    assert!(matches!(missing, GrpcError::NotFound(_)), "{missing}");

    let names = ["id"];
    let message = r#"{{"id": {id}, "user": "u{id}", "tags": ["a", "b"]}}"#;
    let template = RequestTemplate {
        vars: vec![Var::range(1, 200).unwrap()],
        path: Template::parse("/", &names).unwrap(),
        headers: Vec::new(),
        body: Some(Template::parse(message, &names).unwrap()),
    };
    let mut endpoint = Endpoint::get("cart", url);
    endpoint.timeout = Duration::from_secs(5);
    endpoint.template = Some(std::sync::Arc::new(template));
    endpoint.set_grpc(call, message).unwrap();
    let report = run(endpoint, 100.0, 3).await;

    let got = app.messages();
    let o = report.total.outcomes;
    assert!(got.len() >= 200, "only {} calls arrived: {o:?}", got.len());
    // Every call ended with a gRPC status, and each arrived exactly as templated.
    assert_eq!(o.total(), got.len() as u64, "{o:?}");
    assert_eq!(o.ok + o.grpc_error, o.total(), "{o:?}");
    let mut errors = 0u64;
    let mut ids = std::collections::HashSet::new();
    for m in &got {
        // int64 is a string in protobuf's JSON mapping.
        let id: i64 = m["id"].as_str().unwrap().parse().unwrap();
        assert!((1..=200).contains(&id), "{m}");
        assert_eq!(m["user"], format!("u{id}"), "{m}");
        assert_eq!(m["tags"], serde_json::json!(["a", "b"]), "{m}");
        errors += u64::from(expect_error(id));
        ids.insert(id);
    }
    // NOT_FOUND and INVALID_ARGUMENT answers are counted as gRPC errors, one per call.
    assert_eq!(o.grpc_error, errors, "{o:?}");
    assert!(errors > 0 && o.ok > 0, "{o:?}");
    assert!(ids.len() > 50, "ids barely vary: {}", ids.len());
    // The per-endpoint histogram holds every call, errors included.
    assert_eq!(report.total.latency.len(), o.total());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_set_without_reflection() {
    let dir = temp_dir("grpc-descset");
    let app = GrpcApp::start(&dir, false, true).unwrap();
    let url = Url::parse(&app.url()).unwrap();
    // Reflection is off: asking for it fails clearly.
    let err = reflect(&url, "shop.Cart", "Get", false).await.unwrap_err();
    assert!(matches!(err, GrpcError::Reflection(_)), "{err}");
    assert!(err.to_string().contains("reflection"), "{err}");

    let set = app.descriptor_set.clone().unwrap();
    let call = GrpcCall::from_descriptor_set(&set, "shop.Cart", "Get").unwrap();
    let mut endpoint = Endpoint::get("cart", url);
    let message = r#"{"id": "7", "user": "fixed", "tags": ["x"]}"#;
    endpoint.set_grpc(call.clone(), message).unwrap();
    let report = run(endpoint, 50.0, 2).await;
    let got = app.messages();
    let o = report.total.outcomes;
    assert!(got.len() >= 50, "only {} calls arrived: {o:?}", got.len());
    assert_eq!(o.ok, got.len() as u64, "{o:?}");
    assert_eq!(o.errors(), 0, "{o:?}");
    for m in &got {
        assert_eq!(
            m,
            &serde_json::json!({"id": "7", "user": "fixed", "tags": ["x"]})
        );
    }

    // A message that does not fit the type is refused up front, without quoting it.
    let bad = call
        .encode(br#"{"id": "7", "secret-field": "hunter2"}"#)
        .unwrap_err();
    assert!(matches!(bad, GrpcError::BadMessage { .. }), "{bad}");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
    // So is a descriptor set that is not one, naming the path.
    let junk = dir.join("junk.binpb");
    std::fs::write(&junk, b"not a descriptor set").unwrap();
    let e = GrpcCall::from_descriptor_set(&junk, "shop.Cart", "Get").unwrap_err();
    assert!(e.to_string().contains("junk.binpb"), "{e}");
}

/// gRPC over TLS (a throwaway self-signed certificate for 127.0.0.1): reflection and calls
/// negotiate HTTP/2 by ALPN, with prior knowledge (`target.http: h2c`) and with `auto`; without
/// `accept_invalid_certs` (`target.insecure_tls`) the unknown issuer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_reflection_and_calls() {
    let dir = temp_dir("grpc-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new(warmgate_testkit::tool("openssl", "openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = GrpcApp::start_tls(&dir, &cert, &key).unwrap();
    let url = Url::parse(&app.url()).unwrap();
    assert_eq!(url.scheme(), "https");

    let refused = reflect(&url, "shop.Cart", "Get", false).await.unwrap_err();
    assert!(matches!(refused, GrpcError::Reflection(_)), "{refused}");
    assert!(
        refused.to_string().contains("TLS handshake failed")
            && refused.to_string().contains("target.insecure_tls"),
        "{refused}"
    );
    println!("self-signed, without accept_invalid_certs: {refused}");
    let call = reflect(&url, "shop.Cart", "Get", true).await.unwrap();
    assert_eq!(call.path, "/shop.Cart/Get");

    let message = r#"{"id": "7", "user": "tls", "tags": ["x"]}"#;
    let mut sent = 0;
    for http in [HttpVersion::Http2PriorKnowledge, HttpVersion::Auto] {
        let mut endpoint = Endpoint::get("cart", url.clone());
        endpoint.timeout = Duration::from_secs(5);
        endpoint.set_grpc(call.clone(), message).unwrap();
        let o = run_with(endpoint, 50.0, 2, http, true).await.total.outcomes;
        assert!(o.ok >= 50, "{http:?}: {o:?}");
        assert_eq!(o.errors(), 0, "{http:?}: {o:?}");
        sent += o.ok;
    }
    let got = app.messages();
    assert_eq!(got.len() as u64, sent);
    assert!(got
        .iter()
        .all(|m| m == &serde_json::json!({"id": "7", "user": "tls", "tags": ["x"]})));

    // Without accept_invalid_certs the engine's calls fail too: none reaches the server.
    let mut endpoint = Endpoint::get("cart", url.clone());
    endpoint.timeout = Duration::from_secs(5);
    endpoint.set_grpc(call, message).unwrap();
    let o = run_with(endpoint, 20.0, 1, HttpVersion::Http2PriorKnowledge, false)
        .await
        .total
        .outcomes;
    println!("engine without accept_invalid_certs: {o:?}");
    assert_eq!(o.ok, 0, "{o:?}");
    assert!(o.errors() > 0, "{o:?}");
    assert_eq!(app.messages().len() as u64, sent);
}

/// The value of the `warmgate_requests_total` series of `endpoint` and `outcome` in `metrics`.
fn requests_total(metrics: &str, endpoint: &str, outcome: &str) -> f64 {
    let series =
        format!("warmgate_requests_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}}");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmgate_warms_a_grpc_endpoint_by_reflection() {
    let dir = temp_dir("grpc-warmgate");
    let app = GrpcApp::start(&dir, true, false).unwrap();
    let yaml = format!(
        "target: {{url: \"{}\", http: h2c, wait_timeout: 60s}}\n\
         traffic: {{rate: 200, seed: 5, after_ready_rate: 200}}\n\
         gate: {{window: 1s, lookback: 10s, min_samples: 100, deadline: 300s}}\n\
         endpoints:\n\
         \x20 - {{grpc: {{service: shop.Cart, method: Get, \
         message: '{{{{\"id\": {{id}}, \"user\": \"wg\"}}}}'}}, \
         vars: {{id: {{range: [1, 100]}}}}}}\n",
        app.url()
    );
    let wg = common::Warmgate::spawn(common::WARMGATE, &yaml);
    let limit = std::time::Instant::now() + Duration::from_secs(120);
    while app.messages().len() < 600 {
        assert!(
            std::time::Instant::now() < limit,
            "only {} calls arrived in 120 s; log:\n{}",
            app.messages().len(),
            wg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let a window close after these calls, so the counters include them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (code, metrics) = common::http_get(&format!("{}/metrics", wg.base))
        .await
        .unwrap();
    assert_eq!(code, 200);
    // The name comes from the method; 1 in 5 ids ends in 0 or 1 (NOT_FOUND, INVALID_ARGUMENT).
    let ok = requests_total(&metrics, "shop_Cart_Get", "ok");
    let errors = requests_total(&metrics, "shop_Cart_Get", "grpc_error");
    let share = errors / (ok + errors);
    assert!(ok + errors >= 400.0, "ok {ok}, grpc_error {errors}");
    // Binomial with p = 0.2 over >= 400 calls: sd <= 0.02, so +-0.1 is 5 sd.
    assert!(
        (share - 0.2).abs() < 0.1,
        "share of gRPC errors {share}: ok {ok}, errors {errors}"
    );
    for m in app.messages() {
        let id: i64 = m["id"].as_str().unwrap().parse().unwrap();
        assert!((1..=100).contains(&id) && m["user"] == "wg", "{m}");
    }
}

#[test]
fn grpc_config_mistakes_are_named_by_key() {
    let python = warmgate_testkit::grpc::python_with_grpc();
    let dir = temp_dir("grpc-check");
    let set = dir.join("shop.binpb");
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/grpc");
    let made = std::process::Command::new(python)
        .args(["-m", "grpc_tools.protoc", &format!("-I{proto_dir}")])
        .arg(format!("--descriptor_set_out={}", set.display()))
        .arg(format!("{proto_dir}/shop.proto"))
        .status()
        .unwrap();
    assert!(made.success());
    let check = |grpc: &str, http: &str| {
        let yaml = format!(
            "target: {{url: \"http://127.0.0.1:9\", http: {http}}}\n\
             endpoints:\n  - grpc: {grpc}\n"
        );
        let config = dir.join("warmgate.yaml");
        std::fs::write(&config, yaml).unwrap();
        let args = ["check", "--config", config.to_str().unwrap()];
        common::warmgate_cmd(&args, &[])
    };
    let good = format!(
        "{{service: shop.Cart, method: Get, message: '{{\"id\": \"3\"}}', descriptor_set: \"{}\"}}",
        set.display()
    );
    let (code, out, err) = check(&good, "h2c");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shop_Cart_Get"), "{out}");
    // HTTP/1.1 cannot carry gRPC.
    let (code, _, err) = check(&good, "http1");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("endpoints[0].grpc") && err.contains("HTTP/2"),
        "{err}"
    );
    // A missing file, an unknown method, a message that does not fit (not echoed).
    for (grpc, key, hint) in [
        (
            "{service: shop.Cart, method: Get, descriptor_set: /nonexistent/x.binpb}".to_string(),
            "endpoints[0].grpc.descriptor_set",
            "/nonexistent/x.binpb",
        ),
        (
            good.replace("method: Get", "method: Put"),
            "endpoints[0].grpc.descriptor_set",
            "Put",
        ),
        (
            good.replace(r#"{"id": "3"}"#, r#"{"pin": "hunter2"}"#),
            "endpoints[0].grpc.message",
            "shop.GetRequest",
        ),
    ] {
        let (code, _, err) = check(&grpc, "h2c");
        assert_eq!(code, 2, "{grpc}: {err}");
        assert!(err.contains(key) && err.contains(hint), "{grpc}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
