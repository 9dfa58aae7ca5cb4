//! `warmgate inject` follows the conventions platform teams use: opt-in on the pod template
//! (`helm create`'s `podAnnotations`, through a real `helm`), Argo Rollouts and Knative
//! Services, native sidecars for pods that run to completion, one stderr line per document,
//! `--image` updating an injected workload, `warmgate uninject` restoring it exactly,
//! `progressDeadlineSeconds` covering the startup budget, JSON logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use warmgate::inject::{
    inject_str, parse_documents, render_documents, uninject_str, Options, ANN_ORIGINAL,
    ANN_VERSION, CONFIG_ENV, CONTAINER_NAME,
};
use yaml_serde::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn helm() -> PathBuf {
    warmgate_testkit::deploy_tool("helm")
}

fn warmgate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warmgate");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    pipe.write_all(stdin.as_bytes()).expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("warmgate ends")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `helm template` of a fresh `helm create demo` chart, with `args`.
fn helm_create_stream(tag: &str, args: &[&str]) -> String {
    let dir =
        std::env::temp_dir().join(format!("warmgate-helm-create-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = Command::new(helm())
        .args(["create", "demo"])
        .current_dir(&dir)
        .output()
        .expect("helm create runs");
    assert!(out.status.success(), "helm create: {}", text(&out.stderr));
    let out = Command::new(helm())
        .args(["template", "demo", "./demo"])
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("helm template runs");
    assert!(out.status.success(), "helm template: {}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    text(&out.stdout)
}

fn pod_spec(doc: &Value) -> &Value {
    match doc["kind"].as_str() {
        Some("Pod") => &doc["spec"],
        Some("CronJob") => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &doc["spec"]["template"]["spec"],
    }
}

fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_sequence()?
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
}

fn warmgate_of(doc: &Value) -> Option<&Value> {
    let spec = pod_spec(doc);
    find(&spec["containers"], CONTAINER_NAME)
        .or_else(|| find(&spec["initContainers"], CONTAINER_NAME))
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn helm_create_pod_annotations_opt_in_and_every_document_gets_a_line() {
    let stream = helm_create_stream(
        "annotated",
        &["--set", "podAnnotations.warmgate\\.io/inject=true"],
    );
    let out = warmgate(&["inject"], &stream);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let docs = parse_documents(&text(&out.stdout)).expect("output parses");
    let deployment = by_kind(&docs, "Deployment");
    let wg = warmgate_of(deployment).expect("the Deployment is injected");
    assert_eq!(wg["image"].as_str(), Some(warmgate::inject::DEFAULT_IMAGE));
    // helm --set wrote an unquoted `true`, which the API server refuses: it comes out quoted.
    let anns = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(anns["warmgate.io/inject"].as_str(), Some("true"));
    assert_eq!(anns[ANN_VERSION].as_str(), Some(env!("CARGO_PKG_VERSION")));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), docs.len(), "one line per document: {err}");
    assert!(lines.contains(&"deployment/demo injected"), "{err}");
    assert!(
        lines.contains(&"service/demo skipped: not a workload"),
        "{err}"
    );
    assert!(
        lines.contains(&"pod/demo-test-connection skipped: not opted in (warmgate.io/inject)"),
        "{err}"
    );
    // And uninject gives back helm's stream exactly (as documents).
    let back = warmgate(&["uninject"], &text(&out.stdout));
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert_eq!(
        parse_documents(&text(&back.stdout)).expect("parses"),
        parse_documents(&stream).expect("parses")
    );
}

#[test]
fn helm_create_with_all_skips_the_portless_test_pod_and_exits_0() {
    let stream = helm_create_stream("all", &[]);
    let out = warmgate(&["inject", "--all"], &stream);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("deployment/demo injected"), "{err}");
    assert!(
        err.contains("pod/demo-test-connection skipped: no containerPort, pass --port"),
        "{err}"
    );
    // With --port it is injected, and as a native sidecar: the test pod must still complete.
    let out = warmgate(&["inject", "--all", "--port", "80"], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let docs = parse_documents(&text(&out.stdout)).expect("parses");
    let pod = by_kind(&docs, "Pod");
    let wg = find(&pod["spec"]["initContainers"], CONTAINER_NAME).expect("native sidecar");
    assert_eq!(wg["restartPolicy"].as_str(), Some("Always"));
    assert_eq!(
        pod["spec"]["containers"].as_sequence().map(Vec::len),
        Some(1)
    );
}

const ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  \
    selector: {matchLabels: {app: r}}\n  template:\n    metadata:\n      labels: {app: r}\n      \
    annotations: {warmgate.io/inject: \"true\"}\n    spec:\n      containers:\n      \
    - {name: app, image: app, ports: [{containerPort: 8080}]}\n  strategy: {canary: {steps: [{setWeight: 20}]}}\n";

const KNATIVE: &str = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: k\n  \
    annotations: {warmgate.io/inject: \"true\"}\nspec:\n  template:\n    spec:\n      containers:\n      \
    - {name: app, image: app, ports: [{containerPort: 8080}]}\n---\napiVersion: v1\nkind: Service\n\
    metadata:\n  name: core\n  annotations: {warmgate.io/inject: \"true\"}\nspec:\n  ports: [{port: 80}]\n";

#[test]
fn argo_rollout_is_injected_and_its_progress_deadline_covers_the_startup_budget() {
    let docs =
        parse_documents(&inject_str(ROLLOUT, &Options::default()).expect("inject")).expect("parse");
    let app = find(&pod_spec(&docs[0])["containers"], "app").expect("app");
    let budget = app["startupProbe"]["periodSeconds"]
        .as_u64()
        .expect("period")
        * app["startupProbe"]["failureThreshold"]
            .as_u64()
            .expect("threshold");
    let deadline = docs[0]["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .expect("raised");
    assert!(deadline > budget, "{deadline} <= {budget}");
    assert!(warmgate_of(&docs[0]).is_some());
    // A deadline already long enough is the user's: kept.
    let long = ROLLOUT.replace(
        "spec:\n  selector",
        "spec:\n  progressDeadlineSeconds: 7200\n  selector",
    );
    let docs =
        parse_documents(&inject_str(&long, &Options::default()).expect("inject")).expect("parse");
    assert_eq!(
        docs[0]["spec"]["progressDeadlineSeconds"].as_u64(),
        Some(7200)
    );
}

#[test]
fn knative_service_is_injected_without_a_second_port_and_core_service_is_not() {
    let docs =
        parse_documents(&inject_str(KNATIVE, &Options::default()).expect("inject")).expect("parse");
    let wg = warmgate_of(&docs[0]).expect("Knative Service injected");
    assert!(
        wg.get("ports").is_none(),
        "Knative allows ports on one container only"
    );
    assert_eq!(
        wg["livenessProbe"]["httpGet"]["port"].as_u64(),
        Some(u64::from(warmgate::inject::PORT))
    );
    assert_eq!(
        docs[1],
        parse_documents(KNATIVE).expect("parse")[1],
        "core Service untouched"
    );
}

#[test]
fn pods_that_run_to_completion_get_a_native_sidecar() {
    for policy in ["Never", "OnFailure"] {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: batch\n  annotations: {{warmgate.io/inject: \"true\"}}\n\
             spec:\n  restartPolicy: {policy}\n  containers:\n  - {{name: a, image: a, ports: [{{containerPort: 80}}]}}\n"
        );
        let docs = parse_documents(&inject_str(&pod, &Options::default()).expect("inject"))
            .expect("parse");
        let spec = &docs[0]["spec"];
        assert_eq!(
            spec["containers"].as_sequence().map(Vec::len),
            Some(1),
            "{policy}"
        );
        let wg = find(&spec["initContainers"], CONTAINER_NAME).expect("native sidecar");
        assert_eq!(wg["restartPolicy"].as_str(), Some("Always"), "{policy}");
    }
}

#[test]
fn a_bad_document_is_named_and_nothing_is_written() {
    let stream = format!(
        "{ROLLOUT}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  \
         template:\n    metadata:\n      annotations: {{warmgate.io/inject: \"true\", warmgate.io/rate: fast}}\n    \
         spec:\n      containers: [{{name: a, image: a, ports: [{{containerPort: 80}}]}}]\n"
    );
    let out = warmgate(&["inject"], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "partial output: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "document 2 (Deployment/bad): spec.template.metadata.annotations.warmgate.io/rate"
        ),
        "{err}"
    );
    assert!(
        !err.contains("rollout/r injected"),
        "no success lines on failure: {err}"
    );
}

fn fixtures() -> Vec<(String, String)> {
    let dir = repo().join("tests/fixtures/inject");
    let mut out: Vec<(String, String)> = warmgate_testkit::manifests::INJECT_FIXTURES
        .iter()
        .map(|n| {
            (
                n.to_string(),
                std::fs::read_to_string(dir.join(n)).expect("fixture"),
            )
        })
        .collect();
    out.push(("rollout".into(), ROLLOUT.into()));
    out.push(("knative".into(), KNATIVE.into()));
    out
}

#[test]
fn uninject_restores_every_fixture_exactly() {
    let all = Options {
        all: true,
        native_sidecar: false,
        ..Options::default()
    };
    for (name, input) in fixtures() {
        for opts in [Options::default(), all.clone()] {
            let injected = inject_str(&input, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
            let back = uninject_str(&injected).unwrap_or_else(|e| panic!("{name}: {e}"));
            let original = parse_documents(&input).expect("parse");
            assert_eq!(parse_documents(&back).expect("parse"), original, "{name}");
            // Text too: key order is kept, nothing is left behind.
            assert_eq!(back, render_documents(&original).expect("render"), "{name}");
            assert!(
                !back.contains(ANN_ORIGINAL) && !back.contains("startupz"),
                "{name}"
            );
        }
    }
}

#[test]
fn image_on_an_injected_workload_updates_it_and_nothing_else_changes() {
    let input =
        std::fs::read_to_string(repo().join("tests/fixtures/inject/deployment-probes.yaml"))
            .expect("fixture");
    let once = inject_str(&input, &Options::default()).expect("inject");
    let out = warmgate(&["inject", "--image", "registry.local/warmgate:2"], &once);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("deployment/shop updated"),
        "{}",
        text(&out.stderr)
    );
    let updated = parse_documents(&text(&out.stdout)).expect("parse");
    let wg = warmgate_of(&updated[0]).expect("still injected");
    assert_eq!(wg["image"].as_str(), Some("registry.local/warmgate:2"));
    // Without --image the injected image stays, and the line says nothing changed.
    let again = warmgate(&["inject"], &text(&out.stdout));
    assert_eq!(text(&again.stdout), text(&out.stdout));
    assert!(text(&again.stderr).contains("deployment/shop unchanged: already injected"));
    // Uninjecting the updated one still gives back the original.
    let back = uninject_str(&text(&out.stdout)).expect("uninject");
    assert_eq!(
        parse_documents(&back).expect("parse"),
        parse_documents(&input).expect("parse")
    );
}

#[test]
fn deployment_progress_deadline_is_raised_and_logs_are_json() {
    let input =
        std::fs::read_to_string(repo().join("tests/fixtures/inject/deployment-noprobes.yaml"))
            .expect("fixture");
    let docs =
        parse_documents(&inject_str(&input, &Options::default()).expect("inject")).expect("parse");
    let spec = pod_spec(&docs[0]);
    let app = &spec["containers"][0];
    let budget = app["startupProbe"]["periodSeconds"]
        .as_u64()
        .expect("period")
        * app["startupProbe"]["failureThreshold"]
            .as_u64()
            .expect("threshold");
    assert!(
        budget > warmgate::inject::DEFAULT_PROGRESS_DEADLINE_S,
        "the default would be too short"
    );
    let deadline = docs[0]["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .expect("raised");
    assert!(deadline > budget, "{deadline} <= {budget}");
    let wg = warmgate_of(&docs[0]).expect("injected");
    let env = find(&wg["env"], CONFIG_ENV).expect(CONFIG_ENV);
    let cfg: Value = yaml_serde::from_str(env["value"].as_str().expect("string")).expect("YAML");
    assert_eq!(cfg["log"]["format"].as_str(), Some("json"));
}

#[test]
fn uninject_refuses_a_workload_injected_without_a_record() {
    let input =
        std::fs::read_to_string(repo().join("tests/fixtures/inject/deployment-noprobes.yaml"))
            .expect("fixture");
    let once = inject_str(&input, &Options::default()).expect("inject");
    let mut docs = parse_documents(&once).expect("parse");
    docs[0]["spec"]["template"]["metadata"]["annotations"]
        .as_mapping_mut()
        .expect("annotations")
        .shift_remove(ANN_ORIGINAL);
    let stripped = render_documents(&docs).expect("render");
    let out = warmgate(&["uninject"], &stripped);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(ANN_ORIGINAL),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_pod_made_from_an_injected_template_is_left_as_it_is() {
    // What the webhook sees when a Deployment injected by the CLI creates its Pods.
    let input = ROLLOUT
        .replace("kind: Rollout", "kind: Deployment")
        .replace("argoproj.io/v1alpha1", "apps/v1")
        .replace(
            "  strategy: {canary: {steps: [{setWeight: 20}]}}\n",
            "  progressDeadlineSeconds: 300\n",
        );
    let docs =
        parse_documents(&inject_str(&input, &Options::default()).expect("inject")).expect("parse");
    assert!(docs[0]["spec"]["progressDeadlineSeconds"].as_u64() > Some(300));
    let template = &docs[0]["spec"]["template"];
    let mut pod = yaml_serde::Mapping::new();
    pod.insert("apiVersion".into(), "v1".into());
    pod.insert("kind".into(), "Pod".into());
    pod.insert("metadata".into(), template["metadata"].clone());
    pod.insert("spec".into(), template["spec"].clone());
    let pod = render_documents(&[Value::Mapping(pod)]).expect("render");
    let again = inject_str(&pod, &Options::default()).expect("inject the pod");
    assert_eq!(
        parse_documents(&again).expect("parse"),
        parse_documents(&pod).expect("parse")
    );
    assert!(!again.contains("progressDeadlineSeconds"), "{again}");
}

#[test]
fn a_workload_injected_with_all_is_updated_by_image_alone() {
    let input = std::fs::read_to_string(repo().join("tests/fixtures/inject/unannotated.yaml"))
        .expect("fixture");
    let all = Options {
        all: true,
        ..Options::default()
    };
    let once = inject_str(&input, &all).expect("inject --all");
    let out = warmgate(&["inject", "--image", "registry.local/warmgate:3"], &once);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let docs = parse_documents(&text(&out.stdout)).expect("parse");
    for doc in &docs {
        let wg = warmgate_of(doc).expect("still injected");
        assert_eq!(
            wg["image"].as_str(),
            Some("registry.local/warmgate:3"),
            "{:?}",
            doc["kind"]
        );
    }
}
