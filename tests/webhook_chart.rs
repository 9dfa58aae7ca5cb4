//! deploy/helm/warmgate-webhook through a real `helm`: `lint --strict`, `template` with the
//! defaults and with other values (cert-manager and the Prometheus Operator present or not),
//! `kubernetes-validate --strict` (PyPI) on every rendered manifest, the generated CA really
//! signing the serving certificate (openssl), and typos or contradictory values refused with a
//! message naming them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use warmgate::inject::parse_documents;
use yaml_serde::Value;

const CHART: &str = "deploy/helm/warmgate-webhook";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn helm() -> PathBuf {
    warmgate_testkit::deploy_tool("helm")
}

fn run_helm(args: &[&str]) -> Output {
    Command::new(helm())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("helm runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `helm template` of `chart` with each case's arguments must fail, its message naming each of
/// the case's names.
fn assert_refused(release: &str, chart: &str, cases: &[(&[&str], &[&str])]) {
    for (args, names) in cases {
        let mut all = vec!["template", release, chart];
        all.extend(args.iter());
        let out = run_helm(&all);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} must be refused");
        for name in names.iter() {
            assert!(
                err.contains(name),
                "{args:?}: the message must name {name}: {err}"
            );
        }
    }
}

/// `helm template` with `args`; panics with helm's stderr when it fails.
fn render(args: &[&str]) -> (String, Vec<Value>) {
    let mut all = vec!["template", "wg", CHART, "--namespace", "warmgate-system"];
    all.extend(args);
    let out = run_helm(&all);
    assert!(out.status.success(), "helm {all:?}: {}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let docs = parse_documents(&yaml).expect("rendered YAML parses");
    (yaml, docs)
}

/// `kubernetes-validate --strict` on a rendered stream: every manifest must pass.
fn validate(yaml: &str, label: &str) {
    let program = "kubernetes-validate";
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    assert!(
        found,
        "`{program}` is not on PATH: pip install kubernetes-validate (scripts/test.sh does)"
    );
    let file = std::env::temp_dir().join(format!("wgw-{label}-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).expect("write manifest");
    let out = Command::new(program)
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let _ = std::fs::remove_file(&file);
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{label}: {report}");
    assert!(!report.contains("ERROR"), "{label}: {report}");
}

fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind}: {:?}", kinds(docs));
    found[0]
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(serde_json::to_value(v).expect("to JSON")).expect("typed object")
}

fn args_of(docs: &[Value]) -> Vec<String> {
    let d: Deployment = typed(one(docs, "Deployment"));
    let spec = d.spec.expect("spec").template.spec.expect("pod spec");
    spec.containers[0].args.clone().unwrap_or_default()
}

#[test]
fn lints_strictly_with_default_and_other_values() {
    for extra in [
        vec![],
        vec![
            "--set",
            "webhook.injectAll=true",
            "--set",
            "webhook.namespaceSelector.matchLabels.warmgate\\.io/inject=enabled",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend(extra);
        let out = run_helm(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[test]
fn defaults_render_a_generated_ca_two_replicas_a_pdb_and_no_rbac() {
    let (yaml, docs) = render(&[]);
    validate(&yaml, "defaults");
    let k = kinds(&docs);
    for want in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "MutatingWebhookConfiguration",
    ] {
        assert!(k.contains(&want), "{want} missing: {k:?}");
    }
    for never in [
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "PodMonitor",
        "Certificate",
    ] {
        assert!(!k.contains(&never), "{never} rendered: {k:?}");
    }
    let d: Deployment = typed(one(&docs, "Deployment"));
    let spec = d.spec.expect("spec");
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(
        spec.template
            .spec
            .as_ref()
            .and_then(|s| s.automount_service_account_token),
        Some(false)
    );

    let mwc: MutatingWebhookConfiguration = typed(one(&docs, "MutatingWebhookConfiguration"));
    let hook = &mwc.webhooks.expect("webhooks")[0];
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert_eq!(hook.admission_review_versions, vec!["v1"]);
    let svc = hook.client_config.service.as_ref().expect("service");
    assert_eq!(svc.path.as_deref(), Some("/mutate"));
    let ns = hook.namespace_selector.as_ref().expect("namespaceSelector");
    let expr = &ns.match_expressions.as_ref().expect("exprs")[0];
    assert!(expr
        .values
        .as_ref()
        .expect("values")
        .contains(&"warmgate-system".to_string()));

    // The caBundle is the CA that signed the serving certificate (checked by openssl).
    let secret = one(&docs, "Secret");
    let ca = hook
        .client_config
        .ca_bundle
        .as_ref()
        .expect("caBundle")
        .0
        .clone();
    let b64 = |key: &str| -> Vec<u8> {
        let v: k8s_openapi::ByteString = serde_json::from_value(serde_json::Value::from(
            secret["data"][key].as_str().expect("data"),
        ))
        .expect("base64");
        v.0
    };
    assert_eq!(b64("ca.crt"), ca);
    let dir = std::env::temp_dir().join(format!("wgw-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), &ca).expect("ca");
    std::fs::write(dir.join("tls.pem"), b64("tls.crt")).expect("cert");
    let out = Command::new(warmgate_testkit::tool("openssl", "openssl"))
        .args([
            "verify",
            "-CAfile",
            "ca.pem",
            "-verify_hostname",
            "wg-warmgate-webhook.warmgate-system.svc",
            "tls.pem",
        ])
        .current_dir(&dir)
        .output()
        .expect("openssl runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn cert_manager_and_the_prometheus_operator_are_used_when_installed() {
    let (yaml, docs) = render(&[
        "--api-versions",
        "cert-manager.io/v1",
        "--api-versions",
        "monitoring.coreos.com/v1/PodMonitor",
        "--set",
        "podMonitor.release=kube-prometheus-stack",
    ]);
    validate(&yaml, "cert-manager");
    let k = kinds(&docs);
    assert!(
        !k.contains(&"Secret"),
        "cert-manager writes the Secret: {k:?}"
    );
    let cert = one(&docs, "Certificate");
    assert_eq!(
        cert["spec"]["secretName"].as_str(),
        Some("wg-warmgate-webhook-tls")
    );
    assert_eq!(
        one(&docs, "Issuer")["spec"]["selfSigned"],
        Value::Mapping(Default::default())
    );
    let mwc = one(&docs, "MutatingWebhookConfiguration");
    assert_eq!(
        mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as_str(),
        Some("warmgate-system/wg-warmgate-webhook")
    );
    assert!(mwc["webhooks"][0]["clientConfig"].get("caBundle").is_none());
    let pm = one(&docs, "PodMonitor");
    assert_eq!(
        pm["metadata"]["labels"]["release"].as_str(),
        Some("kube-prometheus-stack")
    );
    assert_eq!(
        pm["spec"]["podMetricsEndpoints"][0]["port"].as_str(),
        Some("warmgate")
    );
}

#[test]
fn other_values_reach_the_manifests() {
    let (yaml, docs) = render(&[
        "--set",
        "webhook.injectAll=true",
        "--set",
        "webhook.namespaceSelector.matchLabels.warmgate\\.io/inject=enabled",
        "--set",
        "webhook.objectSelector.matchLabels.tier=web",
        "--set",
        "webhook.failurePolicy=Fail",
        "--set",
        "webhook.reinvocationPolicy=Never",
        "--set",
        "replicaCount=3",
        "--set",
        "injectImage=registry.local/warmgate:dev",
        "--set",
        "certs.mode=generate",
    ]);
    validate(&yaml, "non-default");
    let args = args_of(&docs);
    assert!(args.contains(&"--all".to_string()), "{args:?}");
    assert!(
        args.contains(&"--image=registry.local/warmgate:dev".to_string()),
        "{args:?}"
    );
    let mwc: MutatingWebhookConfiguration = typed(one(&docs, "MutatingWebhookConfiguration"));
    let hook = &mwc.webhooks.expect("webhooks")[0];
    assert_eq!(hook.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("Never"));
    let ns = hook
        .namespace_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .expect("labels");
    assert_eq!(
        ns.get("warmgate.io/inject").map(String::as_str),
        Some("enabled")
    );
    let obj = hook
        .object_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .expect("labels");
    assert_eq!(obj.get("tier").map(String::as_str), Some("web"));
}

#[test]
fn typos_and_contradictions_fail_naming_the_values() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--set", "webhook.failurPolicy=Fail"], &["failurPolicy"]),
        (&["--set", "replicas=3"], &["replicas"]),
        (
            &["--set", "webhook.injectAll=true"],
            &["webhook.injectAll", "webhook.namespaceSelector"],
        ),
        (
            &["--set", "certs.mode=certManager"],
            &["certs.mode=certManager", "cert-manager.io/v1"],
        ),
        (
            &["--set", "podDisruptionBudget.minAvailable=2"],
            &["podDisruptionBudget.minAvailable", "replicaCount"],
        ),
    ];
    assert_refused("wg", CHART, &cases);
}

/// The app-with-sidecar chart, deploy/helm/warmgate: every manifest validates, the PodMonitor
/// needs the Operator's API, and values that contradict what the probes are derived from fail.
const APP_CHART: &str = "deploy/helm/warmgate";

#[test]
fn app_chart_validates_guards_its_pod_monitor_and_covers_the_startup_budget() {
    for layout in ["container", "nativeSidecar"] {
        let set = format!("layout={layout}");
        let out = run_helm(&["lint", "--strict", APP_CHART, "--set", &set]);
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        for extra in [
            vec![],
            vec!["--api-versions", "monitoring.coreos.com/v1/PodMonitor"],
        ] {
            let mut args = vec![
                "template",
                "demo",
                APP_CHART,
                "--kube-version",
                "1.33.0",
                "--set",
                &set,
            ];
            args.extend(extra.iter().copied());
            let out = run_helm(&args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            let yaml = text(&out.stdout);
            validate(&yaml, &format!("app-{layout}"));
            let docs = parse_documents(&yaml).expect("parses");
            assert_eq!(
                kinds(&docs).contains(&"PodMonitor"),
                !extra.is_empty(),
                "{args:?}"
            );
            let d: Deployment = typed(one(&docs, "Deployment"));
            let spec = d.spec.expect("spec");
            let pod = spec.template.spec.expect("pod spec");
            let app = pod
                .containers
                .iter()
                .find(|c| c.name == "app")
                .expect("app");
            let sp = app.startup_probe.as_ref().expect("startupProbe");
            let budget = sp.period_seconds.unwrap_or(10) * sp.failure_threshold.unwrap_or(3);
            let deadline = spec.progress_deadline_seconds.unwrap_or(600);
            assert!(
                deadline > budget,
                "{layout}: progressDeadlineSeconds {deadline} <= startup budget {budget}"
            );
        }
    }
}

#[test]
fn app_chart_refuses_typos_contradictions_and_native_sidecars_before_1_29() {
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--set", "warmgate.deadlinSeconds=10"],
            &["deadlinSeconds"],
        ),
        (
            &["--set", "warmgate.config.gate.deadline=15m"],
            &["warmgate.config.gate.deadline", "warmgate.deadlineSeconds"],
        ),
        (
            &["--set", "warmgate.config.listen=0.0.0.0:9999"],
            &["warmgate.config.listen", "warmgate.port"],
        ),
        (
            &["--set", "warmgate.config.target.url=http://127.0.0.1:1"],
            &["warmgate.config.target.url", "app.port"],
        ),
        (&["--set", "podMonitor.enable=false"], &["enable"]),
        (
            &["--set", "layout=nativeSidecar", "--kube-version", "1.27.0"],
            &["layout=nativeSidecar", "1.29"],
        ),
    ];
    assert_refused("demo", APP_CHART, &cases);
}
