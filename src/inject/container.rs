//! What `warmgate inject` adds: the warmgate container (carrying the [`InlineConfig`] as
//! text) and the probes that point the app's readiness and startup at warmgate.

use yaml_serde::{Mapping, Value};

use super::inline::{InlineConfig, STARTUP_PERIOD_S};
use crate::config::reference::{ENV_NAMESPACE, ENV_POD, ENV_WORKLOAD};

/// Name of the injected container; its presence marks a pod spec as already injected.
pub const CONTAINER_NAME: &str = "warmgate";
/// warmgate's probe, metrics and status port (DESIGN.md `listen`).
pub const PORT: u16 = crate::config::DEFAULT_PORT;
/// The name of warmgate's container port, which its own probes use.
pub const PORT_NAME: &str = "warmgate";
/// The image `warmgate inject` uses unless `--image` says otherwise.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/warmgate/warmgate:", env!("CARGO_PKG_VERSION"));
/// Environment variable carrying the whole configuration as YAML.
pub const CONFIG_ENV: &str = crate::config::ENV_YAML;
/// `periodSeconds` of the injected readinessProbe when the app had none.
pub const READY_PERIOD_S: u64 = 5;

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn http_get(path: &str, port: Value) -> Value {
    map(vec![("path", Value::from(path)), ("port", port)])
}

/// How warmgate joins the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A regular container beside the app; the app's readinessProbe carries warm-up.
    Container,
    /// A native sidecar (initContainers, `restartPolicy: Always`, Kubernetes >= 1.29): its own
    /// readinessProbe on /readyz counts toward Pod Ready, its startupProbe is /livez (never
    /// /startupz: the kubelet starts the app only after it passes, so that would deadlock), and
    /// it ends with the pod's other containers, which is what Jobs need.
    NativeSidecar,
}

/// The pod label that names its workload for the fleet reference (`$workload`): the
/// recommended `app.kubernetes.io/name`, the same on every pod of a Deployment whether injected
/// by `warmgate inject` or by the webhook.
pub const WORKLOAD_FIELD: &str = "metadata.labels['app.kubernetes.io/name']";

/// An env var from the downward API.
fn field_env(name: &str, field_path: &str) -> Value {
    map(vec![
        ("name", Value::from(name)),
        (
            "valueFrom",
            map(vec![(
                "fieldRef",
                map(vec![("fieldPath", Value::from(field_path))]),
            )]),
        ),
    ])
}

/// The container `warmgate inject` adds to the pod spec.
pub fn container(image: &str, config_yaml: &str, layout: Layout) -> Value {
    let mut c = base_container(image, config_yaml);
    if layout == Layout::NativeSidecar {
        if let Some(m) = c.as_mapping_mut() {
            m.insert(Value::from("restartPolicy"), Value::from("Always"));
            m.insert(
                Value::from("startupProbe"),
                map(vec![
                    ("httpGet", http_get("/livez", Value::from(PORT_NAME))),
                    ("periodSeconds", Value::from(1)),
                    ("failureThreshold", Value::from(30)),
                ]),
            );
            m.insert(
                Value::from("readinessProbe"),
                map(vec![
                    ("httpGet", http_get("/readyz", Value::from(PORT_NAME))),
                    ("periodSeconds", Value::from(READY_PERIOD_S)),
                    ("failureThreshold", Value::from(3)),
                ]),
            );
        }
    }
    c
}

fn base_container(image: &str, config_yaml: &str) -> Value {
    map(vec![
        ("name", Value::from(CONTAINER_NAME)),
        ("image", Value::from(image)),
        ("args", Value::Sequence(vec![Value::from("run")])),
        (
            "ports",
            Value::Sequence(vec![map(vec![
                ("name", Value::from(PORT_NAME)),
                ("containerPort", Value::from(PORT)),
                ("protocol", Value::from("TCP")),
            ])]),
        ),
        (
            "env",
            Value::Sequence(vec![
                map(vec![
                    ("name", Value::from(CONFIG_ENV)),
                    ("value", Value::from(config_yaml)),
                ]),
                // Who this pod is, for the fleet reference: its exported ready p99 is labelled
                // with the workload, and its queries leave itself out (docs/DESIGN.md).
                field_env(ENV_NAMESPACE, "metadata.namespace"),
                field_env(ENV_POD, "metadata.name"),
                field_env(ENV_WORKLOAD, WORKLOAD_FIELD),
            ]),
        ),
        (
            "livenessProbe",
            map(vec![
                ("httpGet", http_get("/livez", Value::from(PORT_NAME))),
                ("periodSeconds", Value::from(10)),
                ("timeoutSeconds", Value::from(1)),
                ("failureThreshold", Value::from(3)),
            ]),
        ),
        (
            "resources",
            map(vec![
                (
                    "requests",
                    map(vec![
                        ("cpu", Value::from("20m")),
                        ("memory", Value::from("32Mi")),
                    ]),
                ),
                (
                    "limits",
                    map(vec![
                        ("cpu", Value::from("500m")),
                        ("memory", Value::from("96Mi")),
                    ]),
                ),
            ]),
        ),
        (
            "securityContext",
            map(vec![
                ("runAsNonRoot", Value::Bool(true)),
                ("runAsUser", Value::from(65532)),
                ("runAsGroup", Value::from(65532)),
                ("readOnlyRootFilesystem", Value::Bool(true)),
                ("allowPrivilegeEscalation", Value::Bool(false)),
                (
                    "capabilities",
                    map(vec![("drop", Value::Sequence(vec![Value::from("ALL")]))]),
                ),
                (
                    "seccompProfile",
                    map(vec![("type", Value::from("RuntimeDefault"))]),
                ),
            ]),
        ),
    ])
}

/// Probe handler keys: a probe has exactly one of them.
const HANDLERS: [&str; 4] = ["httpGet", "tcpSocket", "exec", "grpc"];

/// The app's new readinessProbe: GET warmgate's /readyz, keeping the app's own timing fields.
pub fn readiness_probe(original: Option<&Mapping>) -> Value {
    let mut probe = original.cloned().unwrap_or_default();
    for key in HANDLERS {
        probe.shift_remove(key);
    }
    let mut out = Mapping::new();
    out.insert(
        Value::from("httpGet"),
        http_get("/readyz", Value::from(PORT)),
    );
    if original.is_none() {
        out.insert(Value::from("periodSeconds"), Value::from(READY_PERIOD_S));
        out.insert(Value::from("failureThreshold"), Value::from(3));
    }
    for (k, v) in probe {
        out.insert(k, v);
    }
    Value::Mapping(out)
}

/// The app's new startupProbe: GET warmgate's /startupz, sized to wait + deadline + margin.
pub fn startup_probe(config: &InlineConfig) -> Value {
    map(vec![
        ("httpGet", http_get("/startupz", Value::from(PORT))),
        ("periodSeconds", Value::from(STARTUP_PERIOD_S)),
        ("timeoutSeconds", Value::from(1)),
        (
            "failureThreshold",
            Value::from(config.startup_failure_threshold()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_keeps_timing_and_drops_old_handler() {
        let original: Mapping =
            yaml_serde::from_str("tcpSocket: {port: 8080}\nperiodSeconds: 7\n").expect("yaml");
        let p = readiness_probe(Some(&original));
        assert!(p.get("tcpSocket").is_none());
        assert_eq!(p["httpGet"]["path"].as_str(), Some("/readyz"));
        assert_eq!(p["periodSeconds"].as_u64(), Some(7));
    }
}
