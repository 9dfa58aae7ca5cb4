//! Recorded requests through the real `warmgate run`: a HAR file (the shape browsers and
//! mitmproxy export) and a JSON Lines file, each replayed round-robin as one endpoint to a
//! loopback recording server, which sees each recorded method, path, header and body, on the
//! target's host whatever host was recorded. A bad recording is a configuration error naming the
//! file and the entry.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use warmgate_testkit::Recorder;

fn har() -> serde_json::Value {
    let entry = |method: &str, url: &str, headers: serde_json::Value, body: Option<&str>| {
        let mut request = json!({"method": method, "url": url, "httpVersion": "HTTP/1.1",
                                 "headers": headers, "queryString": [], "cookies": [],
                                 "headersSize": -1, "bodySize": -1});
        if let Some(text) = body {
            request["postData"] = json!({"mimeType": "application/json", "text": text});
        }
        json!({"startedDateTime": "2026-01-01T00:00:00Z", "time": 1, "request": request,
               "response": {"status": 200}, "cache": {}, "timings": {}})
    };
    json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        entry("GET", "https://shop.example.com/catalog?page=2",
              json!([{"name": "Host", "value": "shop.example.com"},
                     {"name": "Cookie", "value": "session=abc"},
                     {"name": ":authority", "value": "shop.example.com"}]), None),
        entry("POST", "https://shop.example.com/cart/add",
              json!([{"name": "Content-Type", "value": "application/json"},
                     {"name": "Content-Length", "value": "999"}]), Some("{\"sku\": 42}")),
        entry("DELETE", "http://other.example.org:8443/cart/items/7", json!([]), None),
    ]}})
}

#[test]
fn a_har_file_and_json_lines_replay_round_robin_on_the_target() {
    let recorder = Recorder::start().unwrap();
    let dir = std::env::temp_dir().join(format!("wg-har-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let har_path = dir.join("shop.har");
    std::fs::write(&har_path, serde_json::to_string_pretty(&har()).unwrap()).unwrap();
    let yaml = format!(
        "target: {{url: \"{}\", wait_timeout: 60s}}\n\
         traffic: {{rate: 150, ramp: 0s, max_inflight: 1, after_ready_rate: 150}}\n\
         gate: {{window: 1s, lookback: 10s, min_samples: 100, deadline: 300s}}\n\
         endpoints:\n  - requests_file: \"{}\"\n    headers: {{X-Warmup: \"1\"}}\n",
        recorder.url(),
        har_path.display()
    );
    let mut wg = Warmgate::spawn(WARMGATE, &yaml);
    let limit = Instant::now() + Duration::from_secs(120);
    while recorder.count() < 300 {
        if let Err(e) = wg.child.check_alive() {
            panic!("warmgate stopped: {e:#}; log:\n{}", wg.log_text());
        }
        assert!(
            Instant::now() < limit,
            "only {} requests; log:\n{}",
            recorder.count(),
            wg.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = warmgate_testkit::client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        metrics
            .get(format!("{}/metrics", wg.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    drop(wg);
    // One endpoint, named after the file: one label value whatever the recording holds.
    assert!(text.contains("endpoint=\"shop\""), "{text}");
    let got = recorder.arrivals();
    let host = recorder.addr.to_string();
    let first = got
        .iter()
        .position(|a| a.target == "/catalog?page=2")
        .unwrap();
    for (i, a) in got[first..first + 297].iter().enumerate() {
        assert_eq!(
            a.header("host"),
            Some(host.as_str()),
            "sent to the recorded host"
        );
        assert_eq!(a.header("x-warmup"), Some("1"));
        match i % 3 {
            0 => {
                assert_eq!(
                    (a.method.as_str(), a.target.as_str()),
                    ("GET", "/catalog?page=2")
                );
                assert_eq!(a.header("cookie"), Some("session=abc"));
            }
            1 => {
                assert_eq!(
                    (a.method.as_str(), a.target.as_str()),
                    ("POST", "/cart/add")
                );
                assert_eq!(a.body, b"{\"sku\": 42}");
                assert_eq!(a.header("content-type"), Some("application/json"));
                assert_eq!(a.header("content-length"), Some("11"));
            }
            _ => assert_eq!(
                (a.method.as_str(), a.target.as_str()),
                ("DELETE", "/cart/items/7")
            ),
        }
    }

    // JSON Lines, with a JSON body written as JSON.
    recorder.clear();
    let lines = dir.join("calls.jsonl");
    std::fs::write(
        &lines,
        "{\"method\": \"PUT\", \"path\": \"/u/1\", \"headers\": {\"X-A\": \"b\"}, \"body\": {\"n\": 1}}\n\
         \n{\"path\": \"/health\"}\n",
    )
    .unwrap();
    let yaml = yaml.replace(
        &har_path.display().to_string(),
        &lines.display().to_string(),
    );
    let mut wg = Warmgate::spawn(WARMGATE, &yaml);
    let limit = Instant::now() + Duration::from_secs(120);
    while recorder.count() < 40 {
        if let Err(e) = wg.child.check_alive() {
            panic!("warmgate stopped: {e:#}; log:\n{}", wg.log_text());
        }
        assert!(
            Instant::now() < limit,
            "only {} requests; log:\n{}",
            recorder.count(),
            wg.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(wg);
    let got = recorder.arrivals();
    let puts = got
        .iter()
        .filter(|a| a.method == "PUT" && a.target == "/u/1")
        .count();
    let gets = got
        .iter()
        .filter(|a| a.method == "GET" && a.target == "/health")
        .count();
    assert_eq!(puts + gets, got.len(), "{got:?}");
    assert!(
        puts.abs_diff(gets) <= 1,
        "not round-robin: {puts} PUT, {gets} GET"
    );
    let put = got.iter().find(|a| a.method == "PUT").unwrap();
    assert_eq!(put.body, b"{\"n\":1}");
    assert_eq!(put.header("x-a"), Some("b"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_recording_is_refused_naming_the_file_and_the_entry() {
    let dir =
        std::env::temp_dir().join(format!("wg-badhar-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut doc = har();
    doc["log"]["entries"][1]["request"]["url"] = json!("not a url");
    let bad = dir.join("bad.har");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let config = dir.join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "endpoints:\n  - requests_file: \"{}\"\n  - {{name: gone, requests_file: /no/such.har}}\n",
            bad.display()
        ),
    )
    .unwrap();
    let (code, _, err) = warmgate_cmd(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    for expected in [
        "endpoints[0].requests_file",
        "bad.har",
        "log.entries[1].request.url",
        "endpoints[1].requests_file",
        "/no/such.har",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
