//! Every warmgate configuration that deploy/ ships or `warmgate inject` writes is accepted by
//! the real `warmgate check`, and the app's startupProbe budget covers the effective
//! `target.wait_timeout + gate.deadline` that check reports. Needs kubectl and helm
//! (`scripts/install-helm.sh`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use warmgate::config::ENV_YAML;
use warmgate::inject::{inject_str, parse_documents, Options, CONTAINER_NAME};
use yaml_serde::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use warmgate_testkit::deploy_tool as tool;

fn render(program: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(tool(program))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("render runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_documents(&String::from_utf8_lossy(&out.stdout)).expect("rendered YAML parses")
}

/// `warmgate check` on a configuration given inline (WARMGATE_CONFIG_YAML, as inject uses) or
/// as a file (WARMGATE_CONFIG_FILE's path through --config). Returns the effective settings.
fn check(config: &str, as_file: bool, what: &str) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.env_clear().arg("check");
    if as_file {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("check-{}.yaml", std::process::id()));
        std::fs::write(&path, config).expect("write config");
        cmd.arg("--config").arg(&path);
    } else {
        cmd.env(ENV_YAML, config);
    }
    let out = cmd.output().expect("warmgate check runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: warmgate check refused:\n{}\n{config}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_serde::from_str(&stdout).expect("check prints YAML")
}

fn secs(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("duration {v:?}"));
    humantime::parse_duration(s)
        .map(|d: Duration| d.as_secs())
        .expect("duration")
}

/// periodSeconds x failureThreshold (+ initialDelaySeconds) of a probe.
fn budget(probe: &Value) -> u64 {
    let get = |k: &str, d: u64| probe.get(k).and_then(Value::as_u64).unwrap_or(d);
    get("initialDelaySeconds", 0) + get("periodSeconds", 10) * get("failureThreshold", 3)
}

fn pod_spec(doc: &Value) -> &Value {
    match doc["kind"].as_str() {
        Some("Pod") => &doc["spec"],
        Some("CronJob") => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &doc["spec"]["template"]["spec"],
    }
}

/// The app container: the one whose startupProbe asks warmgate's /startupz.
fn app_startup(doc: &Value) -> &Value {
    let cs = pod_spec(doc)["containers"]
        .as_sequence()
        .expect("containers");
    cs.iter()
        .map(|c| &c["startupProbe"])
        .find(|p| p["httpGet"]["path"].as_str() == Some("/startupz"))
        .expect("an app startupProbe on /startupz")
}

/// Checks the ConfigMap's config of a rendered layout and the startup budget against it.
fn check_rendered(docs: &[Value], what: &str) {
    let cm = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("ConfigMap");
    let config = cm["data"]["warmgate.yaml"].as_str().expect("warmgate.yaml");
    let eff = check(config, true, what);
    let need = secs(&eff["target"]["wait_timeout"]) + secs(&eff["gate"]["deadline"]);
    let deployment = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("Deployment");
    let have = budget(app_startup(deployment));
    assert!(
        have >= need + 30,
        "{what}: startup budget {have}s < wait + deadline {need}s + margin"
    );
    assert!(
        have <= need + 120,
        "{what}: startup budget {have}s far above wait + deadline {need}s"
    );
}

#[test]
fn kustomize_configs_are_valid_and_budgeted() {
    check_rendered(
        &render("kubectl", &["kustomize", "deploy/base"]),
        "deploy/base",
    );
    check_rendered(
        &render("kubectl", &["kustomize", "deploy/native-sidecar"]),
        "deploy/native-sidecar",
    );
}

#[test]
fn helm_configs_are_valid_and_budgeted() {
    let chart = "deploy/helm/warmgate";
    for extra in [
        vec!["--set", "layout=container"],
        vec!["--set", "layout=nativeSidecar"],
        // A longer deadline must move the startup budget with it.
        vec![
            "--set",
            "warmgate.deadlineSeconds=900",
            "--set",
            "warmgate.config.traffic.rate=500",
        ],
    ] {
        let mut args = vec!["template", "demo", chart];
        args.extend(extra.iter().copied());
        check_rendered(&render("helm", &args), &format!("helm {extra:?}"));
    }
}

#[test]
fn inject_configs_are_valid_and_budgeted() {
    let all = Options {
        all: true,
        ..Options::default()
    };
    let mut checked = 0;
    for name in warmgate_testkit::manifests::INJECT_FIXTURES {
        let input = std::fs::read_to_string(repo().join("tests/fixtures/inject").join(name))
            .expect("fixture");
        let docs = parse_documents(&inject_str(&input, &all).expect("inject")).expect("parse");
        for doc in &docs {
            let spec = pod_spec(doc);
            let wg = ["containers", "initContainers"]
                .iter()
                .filter_map(|k| spec[*k].as_sequence())
                .flatten()
                .find(|c| c["name"].as_str() == Some(CONTAINER_NAME));
            let Some(wg) = wg else { continue };
            let env = wg["env"].as_sequence().expect("env");
            let config = env
                .iter()
                .find(|e| e["name"].as_str() == Some(ENV_YAML))
                .and_then(|e| e["value"].as_str())
                .expect(ENV_YAML);
            let what = format!("{name} {:?}/{:?}", doc["kind"], doc["metadata"]["name"]);
            let eff = check(config, false, &what);
            let need = secs(&eff["target"]["wait_timeout"]) + secs(&eff["gate"]["deadline"]);
            let have = budget(app_startup(doc));
            assert!(
                have >= need + 30,
                "{what}: startup budget {have}s < {need}s + margin"
            );
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} injected configs checked");
}
