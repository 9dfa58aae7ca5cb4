//! `warmgate inject` through the library API, on real-world shaped manifests in
//! tests/fixtures/inject/. Each test names the rule it guards.

use warmgate::config::{DEFAULT_DEADLINE, DEFAULT_WAIT_TIMEOUT};
use warmgate::inject::{
    inject_str, parse_documents, InjectError, Options, CONFIG_ENV, CONTAINER_NAME,
};
use yaml_serde::Value;

/// warmgate's port, as the probes and the container port carry it.
const PORT: u64 = warmgate::inject::PORT as u64;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/inject/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn inject(name: &str, opts: &Options) -> (Vec<Value>, Vec<Value>) {
    let input = fixture(name);
    let before = parse_documents(&input).expect("fixture parses");
    let out = inject_str(&input, opts).unwrap_or_else(|e| panic!("inject {name}: {e}"));
    let after = parse_documents(&out).expect("output parses");
    assert_eq!(before.len(), after.len(), "document count changed");
    (before, after)
}

fn pod_spec(doc: &Value) -> &Value {
    match doc["kind"].as_str() {
        Some("Pod") => &doc["spec"],
        Some("CronJob") => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &doc["spec"]["template"]["spec"],
    }
}

fn containers(doc: &Value) -> &Vec<Value> {
    pod_spec(doc)["containers"]
        .as_sequence()
        .expect("containers")
}

fn named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The warmgate container's inline configuration, parsed.
fn config_of(warmgate: &Value) -> Value {
    let env = warmgate["env"].as_sequence().expect("env");
    let var = env
        .iter()
        .find(|e| e["name"].as_str() == Some(CONFIG_ENV))
        .expect(CONFIG_ENV);
    yaml_serde::from_str(var["value"].as_str().expect("string value")).expect("config is YAML")
}

fn assert_http_probe(probe: &Value, path: &str, port: u64) {
    assert_eq!(probe["httpGet"]["path"].as_str(), Some(path), "{probe:?}");
    assert_eq!(probe["httpGet"]["port"].as_u64(), Some(port), "{probe:?}");
    for other in ["tcpSocket", "exec", "grpc"] {
        assert!(probe.get(other).is_none(), "{other} left in {probe:?}");
    }
}

/// Startup budget in seconds: periodSeconds x failureThreshold.
fn budget(probe: &Value) -> u64 {
    probe["periodSeconds"].as_u64().expect("period")
        * probe["failureThreshold"].as_u64().expect("threshold")
}

fn secs(v: &Value) -> u64 {
    let s = v.as_str().expect("duration string");
    s.strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("duration {s}"))
}

#[test]
fn deployment_with_probes_gets_container_config_and_rewired_probes() {
    let (before, after) = inject("deployment-probes.yaml", &Options::default());
    let cs = containers(&after[0]);
    assert_eq!(cs.len(), 2);
    let app = named(cs, "shop");
    let wg = named(cs, CONTAINER_NAME);
    assert_eq!(wg["image"].as_str(), Some(warmgate::inject::DEFAULT_IMAGE));
    assert_eq!(wg["ports"][0]["containerPort"].as_u64(), Some(PORT));
    assert_eq!(
        wg["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/livez")
    );
    assert_eq!(wg["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(
        wg["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );

    let cfg = config_of(wg);
    // Named port `http` resolves to 8080; the readiness path is carried over.
    assert_eq!(cfg["target"]["url"].as_str(), Some("http://127.0.0.1:8080"));
    assert_eq!(
        cfg["target"]["readiness_path"].as_str(),
        Some("/actuator/health/readiness")
    );
    assert_eq!(cfg["traffic"]["rate"].as_u64(), Some(300));
    let paths: Vec<&str> = cfg["endpoints"]
        .as_sequence()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["/", "/api/products", "/api/products?page=2"]);
    let names: Vec<&str> = cfg["endpoints"]
        .as_sequence()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.iter().all(|n| !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')));
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "endpoint names must be unique: {names:?}"
    );

    // Readiness -> /readyz on warmgate's port, keeping the app's own timing.
    let ready = &app["readinessProbe"];
    assert_http_probe(ready, "/readyz", PORT);
    assert_eq!(ready["periodSeconds"].as_u64(), Some(5));
    assert_eq!(ready["failureThreshold"].as_u64(), Some(2));
    assert_eq!(ready["timeoutSeconds"].as_u64(), Some(2));
    // Startup -> /startupz, covering wait + deadline; the app's own 600 s startup budget
    // becomes warmgate's wait so a slow start is not cut short.
    let start = &app["startupProbe"];
    assert_http_probe(start, "/startupz", PORT);
    assert_eq!(secs(&cfg["target"]["wait_timeout"]), 600);
    assert!(budget(start) >= secs(&cfg["target"]["wait_timeout"]) + secs(&cfg["gate"]["deadline"]));
    // Liveness and unknown fields are the app's own.
    assert_eq!(
        app["livenessProbe"],
        containers(&before[0])[0]["livenessProbe"]
    );
    assert_eq!(app["futureField"]["keep"].as_str(), Some("me"));
}

#[test]
fn only_the_injected_parts_change() {
    let (before, after) = inject("deployment-probes.yaml", &Options::default());
    let strip = |doc: &Value| {
        let mut d = doc.clone();
        let spec = &mut d["spec"]["template"]["spec"];
        let cs = spec["containers"].as_sequence_mut().expect("containers");
        cs.retain(|c| c["name"].as_str() != Some(CONTAINER_NAME));
        for key in ["readinessProbe", "startupProbe"] {
            cs[0].as_mapping_mut().expect("container").shift_remove(key);
        }
        // The marker and the record of what was replaced (for uninject), and the rollout's
        // progress deadline raised to the startup budget.
        let meta = d["spec"]["template"]["metadata"]
            .as_mapping_mut()
            .expect("metadata");
        meta.shift_remove("annotations");
        d["spec"]
            .as_mapping_mut()
            .expect("spec")
            .shift_remove("progressDeadlineSeconds");
        d
    };
    assert_eq!(strip(&before[0]), strip(&after[0]));
}

#[test]
fn reinjecting_changes_nothing() {
    for name in [
        "deployment-probes.yaml",
        "multi.yaml",
        "cronjob.yaml",
        "deployment-noprobes.yaml",
    ] {
        let once = inject_str(&fixture(name), &Options::default()).expect("first inject");
        let twice = inject_str(&once, &Options::default()).expect("second inject");
        assert_eq!(once, twice, "{name}: second inject changed the text");
        let all = Options {
            all: true,
            ..Options::default()
        };
        let thrice = inject_str(&twice, &all).expect("third inject");
        assert_eq!(
            parse_documents(&once).expect("parse"),
            parse_documents(&thrice).expect("parse"),
            "{name}: --all on injected output changed an injected workload"
        );
    }
}

#[test]
fn deployment_without_probes_gets_default_probes_and_no_readiness_path() {
    let (_, after) = inject("deployment-noprobes.yaml", &Options::default());
    let cs = containers(&after[0]);
    let cfg = config_of(named(cs, CONTAINER_NAME));
    assert_eq!(cfg["target"]["url"].as_str(), Some("http://127.0.0.1:80"));
    assert!(cfg["target"].get("readiness_path").is_none());
    assert_eq!(cfg["endpoints"][0]["path"].as_str(), Some("/"));
    assert!(
        cfg.get("traffic").is_none(),
        "no rate annotation: warmgate's default rate applies"
    );
    assert_eq!(
        secs(&cfg["target"]["wait_timeout"]),
        DEFAULT_WAIT_TIMEOUT.as_secs()
    );
    assert_http_probe(&cs[0]["readinessProbe"], "/readyz", PORT);
    assert_http_probe(&cs[0]["startupProbe"], "/startupz", PORT);
    assert!(
        budget(&cs[0]["startupProbe"])
            >= DEFAULT_WAIT_TIMEOUT.as_secs() + DEFAULT_DEADLINE.as_secs()
    );
}

#[test]
fn multi_document_file_touches_only_opted_in_workloads() {
    let (before, after) = inject("multi.yaml", &Options::default());
    // ConfigMap, annotated Service (not a workload), opted-out Deployment: equal in content.
    for i in 0..3 {
        assert_eq!(before[i], after[i], "document {} changed", i + 1);
    }
    // The annotated app container is the second one; the log shipper is untouched.
    let api = containers(&after[3]);
    assert_eq!(api.len(), 3);
    assert_eq!(api[0], containers(&before[3])[0]);
    let cfg = config_of(named(api, CONTAINER_NAME));
    assert_eq!(cfg["target"]["url"].as_str(), Some("http://127.0.0.1:8000"));
    assert_eq!(cfg["target"]["readiness_path"].as_str(), Some("/ready"));
    assert_eq!(cfg["endpoints"][0]["path"].as_str(), Some("/v1/items"));
    assert_http_probe(&named(api, "api")["readinessProbe"], "/readyz", PORT);

    // StatefulSet: tcpSocket readiness and exec startup replaced, no readiness_path,
    // period kept, exec startup budget (900 s) carried into the wait.
    let search = containers(&after[4]);
    let app = named(search, "search");
    assert_http_probe(&app["readinessProbe"], "/readyz", PORT);
    assert_eq!(app["readinessProbe"]["periodSeconds"].as_u64(), Some(3));
    assert_http_probe(&app["startupProbe"], "/startupz", PORT);
    let cfg = config_of(named(search, CONTAINER_NAME));
    assert!(cfg["target"].get("readiness_path").is_none());
    assert_eq!(cfg["traffic"]["rate"].as_u64(), Some(80));
    assert_eq!(secs(&cfg["target"]["wait_timeout"]), 900);
    assert_eq!(
        after[4]["spec"]["volumeClaimTemplates"],
        before[4]["spec"]["volumeClaimTemplates"]
    );
}

#[test]
fn cronjob_gets_a_native_sidecar_so_its_jobs_still_finish() {
    let (before, after) = inject("cronjob.yaml", &Options::default());
    let spec = pod_spec(&after[0]);
    let cs = containers(&after[0]);
    assert_eq!(
        cs.len(),
        1,
        "a regular warmgate container would keep every Job pod running"
    );
    let inits = spec["initContainers"]
        .as_sequence()
        .expect("initContainers");
    let wg = named(inits, CONTAINER_NAME);
    assert_eq!(wg["restartPolicy"].as_str(), Some("Always"));
    // Never a startupProbe that waits for the app: the kubelet starts the app after it passes.
    assert_eq!(
        wg["startupProbe"]["httpGet"]["path"].as_str(),
        Some("/livez")
    );
    assert_eq!(
        wg["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        config_of(wg)["target"]["url"].as_str(),
        Some("http://127.0.0.1:8080")
    );
    assert_http_probe(&cs[0]["readinessProbe"], "/readyz", PORT);
    assert_eq!(after[0]["spec"]["schedule"], before[0]["spec"]["schedule"]);
    assert_eq!(spec["restartPolicy"].as_str(), Some("OnFailure"));
}

#[test]
fn native_sidecar_option_moves_warmgate_to_init_containers() {
    let opts = Options {
        native_sidecar: true,
        ..Options::default()
    };
    let (_, after) = inject("deployment-noprobes.yaml", &opts);
    assert_eq!(containers(&after[0]).len(), 1);
    let inits = pod_spec(&after[0])["initContainers"]
        .as_sequence()
        .expect("initContainers");
    let wg = named(inits, CONTAINER_NAME);
    assert_ne!(
        wg["startupProbe"]["httpGet"]["path"].as_str(),
        Some("/startupz")
    );
    assert_eq!(wg["restartPolicy"].as_str(), Some("Always"));
}

#[test]
fn unannotated_workloads_pass_through_unless_all() {
    let (before, after) = inject("unannotated.yaml", &Options::default());
    assert_eq!(before, after);
    let all = Options {
        all: true,
        ..Options::default()
    };
    let (_, after) = inject("unannotated.yaml", &all);
    for doc in &after {
        let spec = pod_spec(doc);
        let in_containers = containers(doc)
            .iter()
            .any(|c| c["name"].as_str() == Some(CONTAINER_NAME));
        let in_inits = spec["initContainers"]
            .as_sequence()
            .is_some_and(|l| l.iter().any(|c| c["name"].as_str() == Some(CONTAINER_NAME)));
        assert!(
            in_containers ^ in_inits,
            "{:?} not injected exactly once",
            doc["kind"]
        );
        assert_eq!(
            in_inits,
            doc["kind"].as_str() == Some("Job"),
            "{:?}",
            doc["kind"]
        );
    }
}

#[test]
fn impossible_requests_name_document_and_field_and_produce_no_output() {
    let errors = inject_str(&fixture("bad-multi.yaml"), &Options::default())
        .expect_err("must fail")
        .0;
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{text:#?}");
    assert!(
        text[0].starts_with("document 2 (Deployment/fast): metadata.annotations.warmgate.io/rate:"),
        "{}",
        text[0]
    );
    assert!(
        text[1]
            .starts_with("document 3 (StatefulSet/named): metadata.annotations.warmgate.io/port:"),
        "{}",
        text[1]
    );
    assert!(text[1].contains("\"web\""), "{}", text[1]);
    assert!(
        text[2].starts_with("document 4 (Pod/empty): spec.containers:"),
        "{}",
        text[2]
    );
    // Numeric but too low for the gate: warmgate's own config loader refuses it, so inject does.
    assert!(
        text[3]
            .starts_with("document 5 (Deployment/trickle): metadata.annotations.warmgate.io/rate:"),
        "{}",
        text[3]
    );
    assert!(text[3].contains("min_samples"), "{}", text[3]);
}

#[test]
fn bad_yaml_names_the_document() {
    let errors = inject_str(&fixture("bad-yaml.yaml"), &Options::default())
        .expect_err("must fail")
        .0;
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(errors[0], InjectError::Yaml { index: 2, .. }),
        "{errors:?}"
    );
}

#[test]
fn other_impossible_requests_are_refused() {
    let deployment = |anns: &str, container: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  annotations: {{warmgate.io/inject: \"true\"{anns}}}\n\
             spec:\n  selector: {{matchLabels: {{app: d}}}}\n  template:\n    metadata: {{labels: {{app: d}}}}\n    spec:\n      containers:\n{container}"
        )
    };
    let cases = [
        // No port anywhere.
        (deployment("", "      - {name: a, image: a}\n"), "containers[0].ports"),
        // The app already uses warmgate's port.
        (deployment("", &format!("      - {{name: a, image: a, ports: [{{containerPort: {PORT}}}]}}\n")), "warmgate.io/port"),
        // Unknown container.
        (deployment(", warmgate.io/container: b", "      - {name: a, image: a, ports: [{containerPort: 80}]}\n"), "warmgate.io/container"),
        // Readiness on another port than warm-up: readiness_path would be checked on the wrong port.
        (
            deployment("", "      - {name: a, image: a, ports: [{containerPort: 80}, {name: mgmt, containerPort: 81}], readinessProbe: {httpGet: {path: /r, port: mgmt}}}\n"),
            "readinessProbe.httpGet.port",
        ),
        // An annotation value that is not even a scalar (a YAML `true` or `100` is read as text).
        (deployment(", warmgate.io/rate: [100]", "      - {name: a, image: a, ports: [{containerPort: 80}]}\n"), "warmgate.io/rate"),
        // A reference mode without a reference, an unknown mode, credentials in the URL.
        (deployment(", warmgate.io/reference-mode: require", "      - {name: a, image: a, ports: [{containerPort: 80}]}\n"), "warmgate.io/reference-mode"),
        (deployment(", warmgate.io/reference: \"http://p:9090\", warmgate.io/reference-mode: strict", "      - {name: a, image: a, ports: [{containerPort: 80}]}\n"), "warmgate.io/reference-mode"),
        (deployment(", warmgate.io/reference: \"http://u:hunter2@p:9090\"", "      - {name: a, image: a, ports: [{containerPort: 80}]}\n"), "warmgate.io/reference"),
    ];
    for (input, field) in cases {
        let errors = inject_str(&input, &Options::default()).expect_err(field).0;
        assert!(!errors[0].to_string().contains("hunter2"), "{}", errors[0]);
        assert!(
            errors[0].to_string().contains(field),
            "want {field}: {}",
            errors[0]
        );
        assert!(
            errors[0]
                .to_string()
                .starts_with("document 1 (Deployment/d)"),
            "{}",
            errors[0]
        );
    }
}

#[test]
fn https_readiness_probe_targets_https_with_insecure_tls() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {warmgate.io/inject: \"true\"}\nspec:\n  containers:\n  - name: a\n    image: a\n    ports: [{containerPort: 8443}]\n    readinessProbe: {httpGet: {path: /healthz, port: 8443, scheme: HTTPS}}\n";
    let out =
        parse_documents(&inject_str(input, &Options::default()).expect("inject")).expect("parse");
    let cfg = config_of(named(containers(&out[0]), CONTAINER_NAME));
    assert_eq!(
        cfg["target"]["url"].as_str(),
        Some("https://127.0.0.1:8443")
    );
    assert_eq!(cfg["target"]["insecure_tls"].as_bool(), Some(true));
}

#[test]
fn list_items_are_injected_and_errors_name_the_item() {
    let item = |name: &str, rate: &str| {
        format!(
            "  - apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: {name}\n      \
             annotations: {{warmgate.io/inject: \"true\", warmgate.io/rate: \"{rate}\"}}\n    spec:\n      \
             selector: {{matchLabels: {{app: {name}}}}}\n      template:\n        metadata: {{labels: {{app: {name}}}}}\n        \
             spec:\n          containers: [{{name: {name}, image: {name}, ports: [{{containerPort: 80}}]}}]\n"
        )
    };
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        item("a", "200"),
        item("b", "300")
    );
    let out =
        parse_documents(&inject_str(&list, &Options::default()).expect("inject")).expect("parse");
    let items = out[0]["items"].as_sequence().expect("items");
    for it in items {
        assert!(containers(it)
            .iter()
            .any(|c| c["name"].as_str() == Some(CONTAINER_NAME)));
    }
    let bad = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        item("a", "200"),
        item("b", "lots")
    );
    let errors = inject_str(&bad, &Options::default())
        .expect_err("bad rate")
        .0;
    let text = errors[0].to_string();
    assert!(
        text.starts_with(
            "document 1 (List): items[1] (Deployment/b).metadata.annotations.warmgate.io/rate:"
        ),
        "{text}"
    );
}

#[test]
fn a_reference_annotation_turns_on_the_fleet_reference_and_names_the_pod() {
    let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n  annotations: {warmgate.io/inject: \"true\", warmgate.io/reference: \"http://prometheus.monitoring:9090\", warmgate.io/reference-mode: require}\n\
        spec:\n  selector: {matchLabels: {app.kubernetes.io/name: shop}}\n  template:\n    metadata: {labels: {app.kubernetes.io/name: shop}}\n    spec:\n      containers:\n      - {name: a, image: a, ports: [{containerPort: 80}]}\n";
    let out =
        parse_documents(&inject_str(input, &Options::default()).expect("inject")).expect("parse");
    let wg = named(containers(&out[0]), CONTAINER_NAME);
    let cfg = config_of(wg);
    assert_eq!(
        cfg["gate"]["reference"]["prometheus_url"].as_str(),
        Some("http://prometheus.monitoring:9090")
    );
    assert_eq!(cfg["gate"]["reference"]["mode"].as_str(), Some("require"));
    // Who the pod is, from the downward API: its exported p99 and its queries depend on it.
    let env = wg["env"].as_sequence().expect("env");
    let field = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["valueFrom"]["fieldRef"]["fieldPath"].as_str())
            .unwrap_or_else(|| panic!("no {name} from the downward API in {env:?}"))
    };
    assert_eq!(field("POD_NAMESPACE"), "metadata.namespace");
    assert_eq!(field("POD_NAME"), "metadata.name");
    assert_eq!(
        field("POD_WORKLOAD"),
        "metadata.labels['app.kubernetes.io/name']"
    );
    // The inline configuration loads as warmgate would, with the pod's identity filled in.
    let yaml = wg["env"][0]["value"].as_str().expect("config text");
    let env: std::collections::HashMap<String, String> = [
        ("POD_NAMESPACE", "prod"),
        ("POD_NAME", "shop-7d9f-x2"),
        ("POD_WORKLOAD", "shop"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = warmgate::config::load(&warmgate::config::Sources {
        yaml: Some(yaml.to_string()),
        env,
        ..Default::default()
    })
    .expect("loads");
    let q = s.gate.reference.expect("gate.reference");
    assert_eq!(
        (q.namespace.as_str(), q.pod.as_str(), q.workload.as_str()),
        ("prod", "shop-7d9f-x2", "shop")
    );
    let rule = s.gate.criterion.reference.expect("the rule");
    assert_eq!(rule.mode, warmgate::gate::ReferenceMode::Require);
}
