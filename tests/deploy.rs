//! deploy/: `kubectl kustomize` of the base and the native-sidecar overlay, `helm lint` and
//! `helm template` of both chart layouts, and `warmgate inject`'s output all parse as Kubernetes
//! types (k8s-openapi, round-tripped so an unknown or misplaced field fails), and the probes are
//! wired as docs/DEPLOY.md says. Needs kubectl and helm: `scripts/install-helm.sh` installs helm
//! (and kubectl when missing) into target/tools.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use warmgate::config::ENV_FILE;
use warmgate::inject::{inject_str, parse_documents, Options, CONTAINER_NAME, PORT_NAME};
use yaml_serde::Value;

/// warmgate's port, as k8s-openapi types carry it.
const PORT: i32 = warmgate::inject::PORT as i32;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use warmgate_testkit::deploy_tool as tool;

/// Runs a command in the repository root; panics with its stderr when it fails.
fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {args:?} failed: {stderr}",
        program.display()
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn kustomize(dir: &str) -> Vec<Value> {
    parse_documents(&run(&tool("kubectl"), &["kustomize", dir])).expect("kustomize output parses")
}

fn helm_template(layout: &str) -> Vec<Value> {
    let chart = "deploy/helm/warmgate";
    let set = format!("layout={layout}");
    run(&tool("helm"), &["lint", "--strict", chart, "--set", &set]);
    parse_documents(&run(
        &tool("helm"),
        &["template", "demo", chart, "--set", &set],
    ))
    .expect("helm output parses")
}

/// Paths present in `want` but missing or different in `got`.
fn diff(want: &serde_json::Value, got: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value as J;
    match (want, got) {
        (J::Object(w), J::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(wv, gv, &format!("{path}.{k}"), out),
                    None if wv.is_null() => {}
                    None => out.push(format!("{path}.{k} dropped")),
                }
            }
        }
        (J::Array(w), J::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(wv, gv, &format!("{path}[{i}]"), out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: {want} became {got}")),
    }
}

/// Deserialises `doc` as `T` and back: a field `T` does not know is dropped, and fails here.
/// `allow`: field names a fixture carries on purpose (inject must keep unknown fields).
fn typed<T: DeserializeOwned + Serialize>(doc: &Value, what: &str, allow: &[&str]) -> T {
    let json = serde_json::to_value(doc).expect("YAML value converts to JSON");
    let obj: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{what}: not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&obj).expect("typed object serialises");
    let mut problems = Vec::new();
    diff(&json, &back, "", &mut problems);
    problems.retain(|p| !allow.iter().any(|a| p.contains(&format!(".{a} "))));
    assert!(
        problems.is_empty(),
        "{what}: unknown or misplaced fields: {problems:#?}"
    );
    obj
}

/// Checks every document by kind; returns the pod specs of the workloads found.
fn check_documents(docs: &[Value], what: &str, allow: &[&str]) -> Vec<(String, PodSpec)> {
    let mut pods = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let at = format!("{what} document {} ({kind})", i + 1);
        let spec = match kind {
            "Deployment" => typed::<Deployment>(doc, &at, allow)
                .spec
                .and_then(|s| s.template.spec),
            "StatefulSet" => typed::<StatefulSet>(doc, &at, allow)
                .spec
                .and_then(|s| s.template.spec),
            "DaemonSet" => typed::<DaemonSet>(doc, &at, allow)
                .spec
                .and_then(|s| s.template.spec),
            "ReplicaSet" => typed::<ReplicaSet>(doc, &at, allow)
                .spec
                .and_then(|s| s.template)
                .and_then(|t| t.spec),
            "Job" => typed::<Job>(doc, &at, allow)
                .spec
                .and_then(|s| s.template.spec),
            "CronJob" => typed::<CronJob>(doc, &at, allow)
                .spec
                .and_then(|s| s.job_template.spec)
                .and_then(|s| s.template.spec),
            "Pod" => typed::<Pod>(doc, &at, allow).spec,
            "Service" => {
                typed::<Service>(doc, &at, allow);
                None
            }
            "ConfigMap" => {
                typed::<ConfigMap>(doc, &at, allow);
                None
            }
            "PodMonitor" => {
                check_pod_monitor(doc, &at);
                None
            }
            other => panic!("{at}: unexpected kind {other:?}"),
        };
        if let Some(spec) = spec {
            pods.push((at, spec));
        }
    }
    pods
}

/// A CRD: apiVersion, kind and the fields the Prometheus Operator requires, by hand.
fn check_pod_monitor(doc: &Value, at: &str) {
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1"),
        "{at}"
    );
    assert!(
        doc["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{at}: name"
    );
    assert!(
        doc["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .is_some_and(|m| !m.is_empty()),
        "{at}: selector"
    );
    let endpoints = doc["spec"]["podMetricsEndpoints"]
        .as_sequence()
        .expect("podMetricsEndpoints");
    assert_eq!(endpoints.len(), 1, "{at}");
    assert_eq!(endpoints[0]["port"].as_str(), Some(PORT_NAME), "{at}: port");
    assert_eq!(
        endpoints[0]["path"].as_str(),
        Some("/metrics"),
        "{at}: path"
    );
}

fn http(probe: &Option<Probe>) -> Option<(String, IntOrString)> {
    let get = probe.as_ref()?.http_get.as_ref()?;
    Some((get.path.clone().unwrap_or_default(), get.port.clone()))
}

fn budget_s(probe: &Option<Probe>) -> u64 {
    let p = probe.as_ref().expect("probe");
    let period = p.period_seconds.unwrap_or(10) as u64;
    p.initial_delay_seconds.unwrap_or(0) as u64 + period * p.failure_threshold.unwrap_or(3) as u64
}

fn warmgate_in(list: &[Container]) -> Option<&Container> {
    list.iter().find(|c| c.name == CONTAINER_NAME)
}

fn inits(spec: &PodSpec) -> &[Container] {
    spec.init_containers.as_deref().unwrap_or_default()
}

/// The warmgate container's hardening, resources and liveness, in either layout.
fn check_warmgate_container(c: &Container, at: &str) {
    let port = c
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .expect("warmgate port");
    assert_eq!(
        (port.container_port, port.name.as_deref()),
        (PORT, Some(PORT_NAME)),
        "{at}"
    );
    assert_eq!(
        http(&c.liveness_probe).map(|p| p.0).as_deref(),
        Some("/livez"),
        "{at}: liveness"
    );
    let sc = c.security_context.as_ref().expect("securityContext");
    assert_eq!(sc.run_as_non_root, Some(true), "{at}");
    assert_eq!(sc.run_as_user, Some(65532), "{at}");
    assert_eq!(sc.read_only_root_filesystem, Some(true), "{at}");
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{at}");
    let drop = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.clone())
        .unwrap_or_default();
    assert_eq!(drop, ["ALL"], "{at}");
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{at}"
    );
    let res = c.resources.as_ref().expect("resources");
    for key in ["cpu", "memory"] {
        assert!(
            res.requests.as_ref().is_some_and(|r| r.contains_key(key)),
            "{at}: requests.{key}"
        );
        assert!(
            res.limits.as_ref().is_some_and(|r| r.contains_key(key)),
            "{at}: limits.{key}"
        );
    }
    // Never a startupProbe that waits for warm-up on warmgate itself.
    assert_ne!(
        http(&c.startup_probe).map(|p| p.0).as_deref(),
        Some("/startupz"),
        "{at}"
    );
}

/// wait_timeout + deadline of the configuration in the rendered ConfigMap.
fn config_budget_s(docs: &[Value]) -> u64 {
    let cm = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("ConfigMap");
    let text = cm["data"]["warmgate.yaml"]
        .as_str()
        .expect("data.warmgate.yaml");
    let cfg: Value = yaml_serde::from_str(text).expect("config is YAML");
    assert_eq!(
        cfg["target"]["url"]
            .as_str()
            .map(|u| u.starts_with("http://127.0.0.1:")),
        Some(true)
    );
    let secs = |v: &Value| -> u64 {
        let s = v.as_str().unwrap_or_else(|| panic!("duration {v:?}"));
        humantime::parse_duration(s)
            .map(|d: Duration| d.as_secs())
            .expect("duration")
    };
    secs(&cfg["target"]["wait_timeout"]) + secs(&cfg["gate"]["deadline"])
}

/// Container layout: the app's readiness and startup ask warmgate; startup covers the budget.
fn check_container_layout(docs: &[Value], what: &str) {
    let pods = check_documents(docs, what, &[]);
    assert_eq!(pods.len(), 1, "{what}: one workload");
    let (at, spec) = &pods[0];
    assert!(
        warmgate_in(inits(spec)).is_none(),
        "{at}: warmgate must be a regular container"
    );
    let wg = warmgate_in(&spec.containers)
        .cloned()
        .expect("warmgate container");
    check_warmgate_container(&wg, at);
    assert!(
        wg.readiness_probe.is_none(),
        "{at}: the app's readinessProbe already carries /readyz"
    );
    let app = spec
        .containers
        .iter()
        .find(|c| c.name != CONTAINER_NAME)
        .expect("app container");
    assert_eq!(
        http(&app.readiness_probe),
        Some(("/readyz".into(), IntOrString::Int(PORT))),
        "{at}"
    );
    assert_eq!(
        http(&app.startup_probe),
        Some(("/startupz".into(), IntOrString::Int(PORT))),
        "{at}"
    );
    let need = config_budget_s(docs);
    assert!(
        budget_s(&app.startup_probe) >= need + 30,
        "{at}: startup budget {} < wait + deadline {need} + margin",
        budget_s(&app.startup_probe)
    );
    check_config_mount(spec, docs, at);
}

/// Native sidecar: warmgate in initContainers with restartPolicy Always, a /livez startupProbe
/// (a /startupz one would deadlock the pod) and its own /readyz readinessProbe.
fn check_native_layout(docs: &[Value], what: &str) {
    let pods = check_documents(docs, what, &[]);
    assert_eq!(pods.len(), 1, "{what}: one workload");
    let (at, spec) = &pods[0];
    assert!(
        warmgate_in(&spec.containers).is_none(),
        "{at}: warmgate left in containers"
    );
    let wg = warmgate_in(inits(spec)).expect("warmgate in initContainers");
    check_warmgate_container(wg, at);
    assert_eq!(wg.restart_policy.as_deref(), Some("Always"), "{at}");
    assert_eq!(
        http(&wg.startup_probe).map(|p| p.0).as_deref(),
        Some("/livez"),
        "{at}: sidecar startupProbe"
    );
    assert_eq!(
        http(&wg.readiness_probe).map(|p| p.0).as_deref(),
        Some("/readyz"),
        "{at}: sidecar readinessProbe"
    );
    let app = &spec.containers[0];
    assert_eq!(
        http(&app.startup_probe),
        Some(("/startupz".into(), IntOrString::Int(PORT))),
        "{at}"
    );
    assert!(
        budget_s(&app.startup_probe) >= config_budget_s(docs) + 30,
        "{at}: startup budget"
    );
    check_config_mount(spec, docs, at);
}

/// The ConfigMap is mounted where WARMGATE_CONFIG_FILE points.
fn check_config_mount(spec: &PodSpec, docs: &[Value], at: &str) {
    let wg = warmgate_in(&spec.containers)
        .or_else(|| warmgate_in(inits(spec)))
        .expect("warmgate");
    let env = wg
        .env
        .as_ref()
        .and_then(|e| e.iter().find(|v| v.name == ENV_FILE));
    let file = env.and_then(|v| v.value.clone()).expect(ENV_FILE);
    let mount = wg
        .volume_mounts
        .as_ref()
        .and_then(|m| m.first())
        .expect("volumeMount");
    assert_eq!(file, format!("{}/warmgate.yaml", mount.mount_path), "{at}");
    let volume = spec
        .volumes
        .as_ref()
        .and_then(|v| v.iter().find(|v| v.name == mount.name))
        .expect("volume");
    let cm_name = volume
        .config_map
        .as_ref()
        .map(|c| c.name.clone())
        .expect("configMap volume");
    let cm = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("ConfigMap");
    assert_eq!(
        cm["metadata"]["name"].as_str(),
        Some(cm_name.as_str()),
        "{at}: volume names the ConfigMap"
    );
}

#[test]
fn kustomize_base_renders_container_layout() {
    check_container_layout(&kustomize("deploy/base"), "kustomize deploy/base");
}

#[test]
fn kustomize_native_sidecar_renders_without_deadlock() {
    check_native_layout(
        &kustomize("deploy/native-sidecar"),
        "kustomize deploy/native-sidecar",
    );
}

#[test]
fn helm_container_layout_lints_and_renders() {
    check_container_layout(&helm_template("container"), "helm template (container)");
}

#[test]
fn helm_native_sidecar_layout_lints_and_renders() {
    check_native_layout(
        &helm_template("nativeSidecar"),
        "helm template (nativeSidecar)",
    );
}

#[test]
fn helm_refuses_an_unknown_layout() {
    let out = Command::new(tool("helm"))
        .args([
            "template",
            "demo",
            "deploy/helm/warmgate",
            "--set",
            "layout=sidecar",
        ])
        .current_dir(repo())
        .output()
        .expect("helm runs");
    assert!(!out.status.success(), "layout=sidecar must be refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("layout"));
}

#[test]
fn inject_output_parses_as_kubernetes_types() {
    let dir = repo().join("tests/fixtures/inject");
    let all = Options {
        all: true,
        ..Options::default()
    };
    let mut workloads = 0;
    for name in warmgate_testkit::manifests::INJECT_FIXTURES {
        let input = std::fs::read_to_string(dir.join(name)).expect("fixture");
        for (opts, label) in [(Options::default(), "opt-in"), (all.clone(), "--all")] {
            let out = inject_str(&input, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
            let docs = parse_documents(&out).expect("output parses");
            for (at, spec) in
                check_documents(&docs, &format!("inject {label} {name}"), &["futureField"])
            {
                let wg = warmgate_in(&spec.containers).or_else(|| warmgate_in(inits(&spec)));
                if let Some(wg) = wg {
                    check_warmgate_container(wg, &at);
                    workloads += 1;
                }
            }
        }
    }
    assert!(
        workloads >= 12,
        "only {workloads} injected workloads checked"
    );
}
