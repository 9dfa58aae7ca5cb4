//! `warmgate webhook` end to end: real AdmissionReview JSON posted over TLS (a throwaway CA
//! made with the openssl CLI) to the real binary; the returned JSONPatch applied with the
//! `json-patch` crate and the result parsed as a `k8s_openapi` Pod, which must be the Pod
//! `warmgate inject` makes of the same input. Garbage gets 400 and the server lives on; a
//! rotated certificate is picked up without a restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value as Json};
use warmgate::inject::{inject_str, parse_documents, Options, CONTAINER_NAME};
use warmgate_testkit::{free_port, tool, ChildGuard};

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("warmgate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(tool("openssl", "openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `<tag>-ca.pem` and a leaf for 127.0.0.1 signed by it: `<tag>-cert.pem`, `<tag>-key.pem`.
fn make_certs(dir: &Path, tag: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca, ca_key) = (format!("{tag}-ca.pem"), format!("{tag}-ca.key"));
    let (cert, key, csr) = (
        format!("{tag}-cert.pem"),
        format!("{tag}-key.pem"),
        format!("{tag}.csr"),
    );
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", &ca_key, "-out", &ca, "-days", "1", "-subj"]);
    let subj = format!("/CN=warmgate-test-ca-{tag}");
    a.push(&subj);
    openssl(dir, &a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &a);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
        ],
    );
}

struct Webhook {
    _child: ChildGuard,
    port: u16,
}

fn start(dir: &Path) -> Webhook {
    make_certs(dir, "a");
    std::fs::copy(dir.join("a-cert.pem"), dir.join("tls.crt")).expect("copy");
    std::fs::copy(dir.join("a-key.pem"), dir.join("tls.key")).expect("copy");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.args(["webhook", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"));
    let mut child =
        ChildGuard::spawn("warmgate webhook", cmd, &dir.join("webhook.log")).expect("spawn");
    child
        .wait_for_line("Webhook listening", Duration::from_secs(30))
        .expect("webhook starts");
    Webhook {
        _child: child,
        port,
    }
}

/// An HTTPS client trusting one CA only, with blocking calls (a runtime of its own).
struct Client {
    rt: tokio::runtime::Runtime,
    inner: reqwest::Client,
}

impl Client {
    fn send(&self, req: reqwest::RequestBuilder) -> reqwest::Result<(u16, String)> {
        self.rt.block_on(async {
            let r = req.send().await?;
            let status = r.status().as_u16();
            Ok((status, r.text().await?))
        })
    }

    fn get(&self, url: &str) -> reqwest::Result<(u16, String)> {
        self.send(self.inner.get(url))
    }
}

fn client(ca_pem: &Path) -> Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_pem).expect("CA")).expect("PEM");
    let inner = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Client { rt, inner }
}

fn review(uid: &str, pod: &Json) -> Json {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": null,
            "dryRun": false
        }
    })
}

/// Posts `body` to /mutate: the status and the JSON (or text) body.
fn post(c: &Client, port: u16, body: Vec<u8>) -> (u16, String) {
    let req = c
        .inner
        .post(format!("https://127.0.0.1:{port}/mutate"))
        .header("content-type", "application/json")
        .body(body);
    c.send(req).expect("webhook answers")
}

/// The pod `warmgate inject` makes of `pod` (given as JSON), as JSON.
fn injected_by_cli(pod: &Json) -> Json {
    let yaml = yaml_serde::to_string(pod).expect("to YAML");
    let out = inject_str(&yaml, &Options::default()).expect("inject");
    let doc = parse_documents(&out).expect("parse").remove(0);
    serde_json::to_value(doc).expect("to JSON")
}

/// Sends `pod`, checks the response, and returns the pod after the patch (if any).
fn mutate(c: &Client, port: u16, uid: &str, pod: &Json) -> (Json, bool) {
    let body = serde_json::to_vec(&review(uid, pod)).expect("JSON");
    let (status, text) = post(c, port, body);
    assert_eq!(status, 200, "{text}");
    let reply: Json = serde_json::from_str(&text).expect("reply is JSON");
    assert_eq!(reply["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(reply["kind"], "AdmissionReview");
    let resp = &reply["response"];
    assert_eq!(resp["uid"], uid);
    assert_eq!(resp["allowed"], true);
    let Some(patch) = resp.get("patch") else {
        assert!(resp.get("patchType").is_none(), "{resp}");
        return (pod.clone(), false);
    };
    assert_eq!(resp["patchType"], "JSONPatch");
    let bytes: k8s_openapi::ByteString = serde_json::from_value(patch.clone()).expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes.0).expect("a JSONPatch");
    let mut after = pod.clone();
    json_patch::patch(&mut after, &patch).expect("the patch applies");
    (after, true)
}

fn container(name: &str, port: Option<Json>) -> Json {
    let mut c = json!({"name": name, "image": format!("{name}:1")});
    if let Some(p) = port {
        c["ports"] = p;
    }
    c
}

fn pod(name: &str, annotations: Json, spec: Json) -> Json {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": format!("{name}-"), "namespace": "shop",
                        "labels": {"app": name}, "annotations": annotations},
           "spec": spec})
}

fn shapes() -> Vec<(&'static str, Json)> {
    let opt_in = json!({"warmgate.io/inject": "true"});
    let http = json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]);
    let mut probed = container("shop", Some(http.clone()));
    probed["readinessProbe"] =
        json!({"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 4});
    probed["startupProbe"] = json!({"tcpSocket": {"port": 8080}, "failureThreshold": 40});
    vec![
        (
            "probes",
            pod("probes", opt_in.clone(), json!({"containers": [probed]})),
        ),
        (
            "no-probes",
            pod(
                "plain",
                opt_in.clone(),
                json!({"containers": [container("plain", Some(json!([{"containerPort": 80}])))]}),
            ),
        ),
        (
            "named-port",
            pod(
                "named",
                json!({"warmgate.io/inject": "true", "warmgate.io/port": "web"}),
                json!({"containers": [container("named", Some(json!([{"name": "admin", "containerPort": 9000}, {"name": "web", "containerPort": 8000}])))]}),
            ),
        ),
        (
            "several-containers",
            pod(
                "multi",
                json!({"warmgate.io/inject": "true", "warmgate.io/container": "api", "warmgate.io/rate": "150"}),
                json!({"containers": [container("logs", None), container("api", Some(http.clone()))]}),
            ),
        ),
        (
            "init-containers",
            pod(
                "init",
                opt_in.clone(),
                json!({"initContainers": [container("migrate", None)], "containers": [container("init", Some(http.clone()))]}),
            ),
        ),
        (
            "job-pod",
            pod(
                "batch",
                opt_in.clone(),
                json!({"restartPolicy": "Never", "containers": [container("batch", Some(http.clone()))]}),
            ),
        ),
    ]
}

#[test]
fn webhook_patches_equal_inject_and_others_pass_untouched() {
    let dir = TempDir::new("webhook");
    let hook = start(&dir.0);
    let c = client(&dir.0.join("a-ca.pem"));
    for (i, (shape, input)) in shapes().into_iter().enumerate() {
        let uid = format!("uid-{i}-{shape}");
        let (after, patched) = mutate(&c, hook.port, &uid, &input);
        assert!(patched, "{shape}: no patch");
        let typed: Pod = serde_json::from_value(after.clone())
            .unwrap_or_else(|e| panic!("{shape}: not a Pod after the patch: {e}"));
        let spec = typed.spec.expect("spec");
        let in_containers = spec.containers.iter().any(|c| c.name == CONTAINER_NAME);
        let in_inits = spec
            .init_containers
            .unwrap_or_default()
            .iter()
            .any(|c| c.name == CONTAINER_NAME);
        assert!(in_containers ^ in_inits, "{shape}: warmgate once");
        assert_eq!(in_inits, shape == "job-pod", "{shape}: layout");
        assert_eq!(
            after,
            injected_by_cli(&input),
            "{shape}: webhook and inject differ"
        );

        // The injected pod again (a reinvocation): allowed, no patch.
        let (again, patched) = mutate(&c, hook.port, &format!("{uid}-again"), &after);
        assert!(!patched, "{shape}: re-patched an injected pod");
        assert_eq!(again, after);
    }
    // Not opted in, opted out: allowed unpatched.
    for anns in [json!({}), json!({"warmgate.io/inject": "false"})] {
        let p = pod(
            "other",
            anns,
            json!({"containers": [container("other", Some(json!([{"containerPort": 80}])))]}),
        );
        let (after, patched) = mutate(&c, hook.port, "uid-other", &p);
        assert!(!patched);
        assert_eq!(after, p);
    }
    // Opted in but impossible (no port): allowed unpatched, with a warning for the client.
    let p = pod(
        "noport",
        json!({"warmgate.io/inject": "true"}),
        json!({"containers": [container("noport", None)]}),
    );
    let (status, text) = post(
        &c,
        hook.port,
        serde_json::to_vec(&review("uid-np", &p)).expect("JSON"),
    );
    assert_eq!(status, 200);
    let reply: Json = serde_json::from_str(&text).expect("JSON");
    assert_eq!(reply["response"]["allowed"], true);
    assert!(reply["response"].get("patch").is_none());
    assert!(
        reply["response"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("containerPort")),
        "{text}"
    );
}

#[test]
fn malformed_reviews_get_400_and_the_server_lives_on() {
    let dir = TempDir::new("webhook-bad");
    let hook = start(&dir.0);
    let c = client(&dir.0.join("a-ca.pem"));
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"\xff\xfe not utf-8".to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#.to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#.to_vec(),
        br#"[1,2,3]"#.to_vec(),
    ];
    for body in garbage {
        let (status, text) = post(&c, hook.port, body.clone());
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(&body));
    }
    // Too large a body: refused, not buffered.
    let (status, _) = post(&c, hook.port, vec![b' '; warmgate::webhook::MAX_BODY + 1]);
    assert_eq!(status, 413);
    // A Pod-shaped object that is not a Pod: allowed unpatched.
    let weird = review(
        "uid-weird",
        &json!({"metadata": {"annotations": {"warmgate.io/inject": "true"}}, "spec": {"containers": "nope"}}),
    );
    let (status, text) = post(&c, hook.port, serde_json::to_vec(&weird).expect("JSON"));
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("\"patch\""), "{text}");
    // Still serving real reviews, and it logged each refusal.
    let (_, patched) = mutate(&c, hook.port, "uid-after", &shapes()[0].1);
    assert!(patched);
    let log = std::fs::read_to_string(dir.0.join("webhook.log")).expect("log");
    assert!(
        log.matches("Refused a malformed AdmissionReview").count() >= 5,
        "{log}"
    );
}

#[test]
fn a_rotated_certificate_is_picked_up_without_a_restart() {
    let dir = TempDir::new("webhook-rotate");
    let hook = start(&dir.0);
    let old = client(&dir.0.join("a-ca.pem"));
    let url = format!("https://127.0.0.1:{}/healthz", hook.port);
    assert_eq!(old.get(&url).expect("old CA works").0, 200);
    make_certs(&dir.0, "b");
    let new = client(&dir.0.join("b-ca.pem"));
    assert!(
        new.get(&url).is_err(),
        "the new CA must not work before the rotation"
    );
    // Rotate as a Secret update does: each file replaced whole.
    for (from, to) in [("b-key.pem", "tls.key"), ("b-cert.pem", "tls.crt")] {
        std::fs::copy(dir.0.join(from), dir.0.join("tmp")).expect("copy");
        std::fs::rename(dir.0.join("tmp"), dir.0.join(to)).expect("rename");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while new.get(&url).is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A fresh client (no TLS session to resume) trusting only the old CA is refused now.
    let old_fresh = client(&dir.0.join("a-ca.pem"));
    assert!(
        old_fresh.get(&url).is_err(),
        "the old certificate is still served"
    );
    let (_, patched) = mutate(&new, hook.port, "uid-rotated", &shapes()[0].1);
    assert!(patched);
}

#[test]
fn an_unreadable_or_mismatched_pair_exits_2_naming_the_file_not_its_contents() {
    let dir = TempDir::new("webhook-badcert");
    make_certs(&dir.0, "a");
    make_certs(&dir.0, "b");
    let key = std::fs::read_to_string(dir.0.join("a-key.pem")).expect("key");
    for (cert, key_file, names) in [
        ("missing.pem", "a-key.pem", "missing.pem"),
        ("a-cert.pem", "a-cert.pem", "a-cert.pem"),
        ("a-cert.pem", "b-key.pem", "do not match"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_warmgate"))
            .args(["webhook", "--listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(dir.0.join(cert))
            .arg("--tls-key")
            .arg(dir.0.join(key_file))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cert}/{key_file}: {err}");
        assert!(err.contains(names), "{cert}/{key_file}: {err}");
        assert!(
            !err.contains(key.lines().nth(1).unwrap_or("-")),
            "key material in: {err}"
        );
    }
}
