//! `loadgen run --grpc` against the real Python grpcio test server (tests/apps/grpc/server.py):
//! the schema by reflection or `--descriptor-set`, the message as sent, status codes counted
//! under `grpc_error`, and a clear one-line error when the schema cannot be had.

#![allow(clippy::unwrap_used)]

mod engine_fixture;

use std::path::PathBuf;

use engine_fixture::bin::{loadgen_run, loadgen_run_json};
use warmgate_testkit::{free_port, GrpcApp};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lg-{tag}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn grpc_by_reflection_fixed_and_templated() {
    let dir = temp_dir("grpc-cli");
    let app = GrpcApp::start(&dir, true, false).unwrap();
    let url = app.url();
    let common = ["--grpc", "shop.Cart/Get", "-R", "40", "-d", "2s"];
    let mut args = vec![url.as_str()];
    args.extend(common);
    args.extend(["--message", r#"{"id": "12", "user": "cli"}"#]);
    let out = loadgen_run_json(&args);
    let ok = out["outcomes"]["ok"].as_u64().unwrap();
    let arrived = app.messages();
    assert!(ok >= 40, "{out}");
    assert_eq!(ok, out["requests"].as_u64().unwrap(), "{out}");
    assert_eq!(arrived.len() as u64, ok, "{out}");
    assert!(arrived
        .iter()
        .all(|m| m == &serde_json::json!({"id": "12", "user": "cli"})));

    // Ids 10 and 11 are NOT_FOUND and INVALID_ARGUMENT: every call is a gRPC error.
    let mut args = vec![url.as_str()];
    args.extend(common);
    args.extend(["--var", "id=range:10:11", "--message", r#"{{"id": {id}}}"#]);
    let out = loadgen_run_json(&args);
    let errors = out["outcomes"]["grpc_error"].as_u64().unwrap();
    assert!(errors >= 40, "{out}");
    assert_eq!(errors, out["requests"].as_u64().unwrap(), "{out}");
    assert_eq!(out["outcomes"]["ok"], 0, "{out}");
}

#[test]
fn grpc_by_descriptor_set_and_clear_errors() {
    let dir = temp_dir("grpc-cli-set");
    let app = GrpcApp::start(&dir, false, true).unwrap();
    let url = app.url();
    let set = app.descriptor_set.clone().unwrap();
    let set = set.to_str().unwrap();
    let base = [
        url.as_str(),
        "--grpc",
        "shop.Cart/Get",
        "-R",
        "20",
        "-d",
        "1s",
    ];
    let mut args = base.to_vec();
    args.extend(["--descriptor-set", set, "--message", r#"{"user": "set"}"#]);
    let out = loadgen_run_json(&args);
    // id 0 ends in 0: NOT_FOUND for every call.
    let errors = out["outcomes"]["grpc_error"].as_u64().unwrap();
    assert!(errors >= 20, "{out}");
    assert_eq!(app.messages().len() as u64, errors, "{out}");

    // Without reflection and without --descriptor-set: one line naming reflection, exit != 0.
    let out = loadgen_run(&base);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("reflection"), "{err}");
    // A message that does not fit: named type, no value echoed.
    let mut args = base.to_vec();
    args.extend([
        "--descriptor-set",
        set,
        "--message",
        r#"{"nope": "hunter2"}"#,
    ]);
    let out = loadgen_run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("shop.GetRequest") && !err.contains("hunter2"),
        "{err}"
    );
}
