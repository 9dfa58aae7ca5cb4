//! `warmgate inject` end to end through the real binary: file and stdin input, `--all`,
//! `--image`, `--native-sidecar`, exit code 2 with nothing on stdout for bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use warmgate::inject::{inject_str, parse_documents, Options, CONTAINER_NAME};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inject")
        .join(name)
}

fn warmgate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmgate"))
        .arg("inject")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warmgate inject");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(pipe);
    let out = child.wait_with_output().expect("warmgate inject ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unrecognized subcommand"),
        "the `inject` subcommand is not wired in src/cli.rs: {stderr}"
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[test]
fn file_input_matches_the_library_and_exits_0() {
    let path = fixture("multi.yaml");
    let out = warmgate(&["-f", path.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let input = std::fs::read_to_string(&path).expect("fixture");
    let expected = inject_str(&input, &Options::default()).expect("library inject");
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn stdin_input_with_all_and_image() {
    let input = std::fs::read_to_string(fixture("unannotated.yaml")).expect("fixture");
    let out = warmgate(
        &["--all", "--image", "registry.local/warmgate:dev"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let docs = parse_documents(&text(&out.stdout)).expect("output parses");
    assert_eq!(docs.len(), 4);
    let images: Vec<String> = docs
        .iter()
        .flat_map(|d| {
            let spec = if d["kind"].as_str() == Some("Pod") {
                &d["spec"]
            } else {
                &d["spec"]["template"]["spec"]
            };
            ["containers", "initContainers"]
                .iter()
                .filter_map(|k| spec[*k].as_sequence().cloned())
                .flatten()
                .filter(|c| c["name"].as_str() == Some(CONTAINER_NAME))
                .filter_map(|c| c["image"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(images, vec!["registry.local/warmgate:dev"; 4]);
}

#[test]
fn explicit_dash_reads_stdin_and_native_sidecar_flag_applies() {
    let input = std::fs::read_to_string(fixture("deployment-noprobes.yaml")).expect("fixture");
    let out = warmgate(&["-f", "-", "--native-sidecar"], Some(&input));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let docs = parse_documents(&text(&out.stdout)).expect("output parses");
    let spec = &docs[0]["spec"]["template"]["spec"];
    assert_eq!(
        spec["initContainers"][0]["name"].as_str(),
        Some(CONTAINER_NAME)
    );
    assert_eq!(
        spec["initContainers"][0]["restartPolicy"].as_str(),
        Some("Always")
    );
}

#[test]
fn reinjecting_through_the_binary_is_a_no_op() {
    let path = fixture("deployment-probes.yaml");
    let once = warmgate(&["-f", path.to_str().expect("utf-8 path")], None);
    assert_eq!(once.status.code(), Some(0));
    let twice = warmgate(&[], Some(&text(&once.stdout)));
    assert_eq!(twice.status.code(), Some(0));
    assert_eq!(text(&once.stdout), text(&twice.stdout));
}

#[test]
fn bad_input_exits_2_with_no_partial_output() {
    let bad = fixture("bad-multi.yaml");
    let out = warmgate(&["-f", bad.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "partial output: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("document 2 (Deployment/fast): metadata.annotations.warmgate.io/rate"),
        "{err}"
    );
    assert!(err.contains("document 3 (StatefulSet/named)"), "{err}");
    assert!(
        err.contains("document 4 (Pod/empty): spec.containers"),
        "{err}"
    );
    assert!(err.contains("document 5 (Deployment/trickle)"), "{err}");

    let out = warmgate(
        &["-f", fixture("bad-yaml.yaml").to_str().expect("utf-8 path")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("document 2: invalid YAML"),
        "{}",
        text(&out.stderr)
    );

    let out = warmgate(&["-f", "/nonexistent/manifest.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("/nonexistent/manifest.yaml"),
        "{}",
        text(&out.stderr)
    );
}
