//! What `warmgate inject` adds: the warmgate container, its inline configuration and the
//! probes that point the app's readiness and startup at warmgate.

use yaml_serde::{Mapping, Value};

/// Name of the injected container; its presence marks a pod spec as already injected.
pub const CONTAINER_NAME: &str = "warmgate";
/// warmgate's probe, metrics and status port (DESIGN.md `listen`).
pub const PORT: u16 = 9901;
/// The image `warmgate inject` uses unless `--image` says otherwise.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/warmgate/warmgate:", env!("CARGO_PKG_VERSION"));
/// Environment variable carrying the whole configuration as YAML.
pub const CONFIG_ENV: &str = "WARMGATE_CONFIG_YAML";

/// warmgate's default `target.wait_timeout`, in seconds.
pub const DEFAULT_WAIT_S: u64 = 300;
/// warmgate's default `gate.deadline`, in seconds.
pub const DEFAULT_DEADLINE_S: u64 = 600;
/// Slack on top of wait + deadline so the kubelet never gives up before warmgate decides.
pub const STARTUP_MARGIN_S: u64 = 60;
/// `periodSeconds` of the injected startupProbe.
pub const STARTUP_PERIOD_S: u64 = 10;
/// `periodSeconds` of the injected readinessProbe when the app had none.
pub const READY_PERIOD_S: u64 = 5;

/// The warm-up configuration written into [`CONFIG_ENV`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `target.url`, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// `target.insecure_tls`: set when the app's own probe used `scheme: HTTPS`.
    pub insecure_tls: bool,
    /// `target.readiness_path`: the app's own readiness httpGet path, still checked.
    pub readiness_path: Option<String>,
    /// `target.wait_timeout` in seconds.
    pub wait_s: u64,
    /// `gate.deadline` in seconds.
    pub deadline_s: u64,
    /// `(name, path)` of each endpoint.
    pub endpoints: Vec<(String, String)>,
    /// `traffic.rate`, when annotated.
    pub rate: Option<f64>,
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn number(x: f64) -> Value {
    // Whole rates are written as integers so the config reads `rate: 200`, not `200.0`.
    if x.fract() == 0.0 && x >= 0.0 && x < u64::MAX as f64 {
        Value::from(x as u64)
    } else {
        Value::from(x)
    }
}

impl Settings {
    /// Renders the configuration as the YAML text warmgate reads from [`CONFIG_ENV`].
    /// Fails only if the YAML writer does (a tree of strings, numbers and mappings).
    pub fn to_yaml(&self) -> Result<String, String> {
        let mut target = vec![("url", Value::from(self.url.as_str()))];
        if self.insecure_tls {
            target.push(("insecure_tls", Value::Bool(true)));
        }
        if let Some(path) = &self.readiness_path {
            target.push(("readiness_path", Value::from(path.as_str())));
        }
        target.push(("wait_timeout", Value::from(format!("{}s", self.wait_s))));
        let endpoints = self
            .endpoints
            .iter()
            .map(|(name, path)| {
                map(vec![
                    ("name", Value::from(name.as_str())),
                    ("path", Value::from(path.as_str())),
                ])
            })
            .collect();
        let mut top = vec![
            ("target", map(target)),
            ("endpoints", Value::Sequence(endpoints)),
        ];
        if let Some(rate) = self.rate {
            top.push(("traffic", map(vec![("rate", number(rate))])));
        }
        top.push((
            "gate",
            map(vec![(
                "deadline",
                Value::from(format!("{}s", self.deadline_s)),
            )]),
        ));
        yaml_serde::to_string(&map(top)).map_err(|e| format!("cannot write the configuration: {e}"))
    }

    /// Problems warmgate's own configuration loader finds in `yaml` (from
    /// [`Settings::to_yaml`]), as `path: message` lines (e.g. a rate too low for the gate to
    /// ever collect enough samples).
    pub fn problems(yaml: &str) -> Vec<String> {
        let sources = crate::config::Sources {
            yaml: Some(yaml.to_string()),
            ..crate::config::Sources::default()
        };
        match crate::config::load(&sources) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    /// `failureThreshold` of the app's startupProbe: covers wait + deadline + margin.
    pub fn startup_failure_threshold(&self) -> u64 {
        (self.wait_s + self.deadline_s + STARTUP_MARGIN_S).div_ceil(STARTUP_PERIOD_S)
    }
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

/// The container `warmgate inject` adds to the pod spec.
pub fn container(image: &str, config_yaml: &str, layout: Layout) -> Value {
    let mut c = base_container(image, config_yaml);
    if layout == Layout::NativeSidecar {
        if let Some(m) = c.as_mapping_mut() {
            m.insert(Value::from("restartPolicy"), Value::from("Always"));
            m.insert(
                Value::from("startupProbe"),
                map(vec![
                    ("httpGet", http_get("/livez", Value::from("warmgate"))),
                    ("periodSeconds", Value::from(1)),
                    ("failureThreshold", Value::from(30)),
                ]),
            );
            m.insert(
                Value::from("readinessProbe"),
                map(vec![
                    ("httpGet", http_get("/readyz", Value::from("warmgate"))),
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
                ("name", Value::from("warmgate")),
                ("containerPort", Value::from(PORT)),
                ("protocol", Value::from("TCP")),
            ])]),
        ),
        (
            "env",
            Value::Sequence(vec![map(vec![
                ("name", Value::from(CONFIG_ENV)),
                ("value", Value::from(config_yaml)),
            ])]),
        ),
        (
            "livenessProbe",
            map(vec![
                ("httpGet", http_get("/livez", Value::from("warmgate"))),
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
pub fn startup_probe(settings: &Settings) -> Value {
    map(vec![
        ("httpGet", http_get("/startupz", Value::from(PORT))),
        ("periodSeconds", Value::from(STARTUP_PERIOD_S)),
        ("timeoutSeconds", Value::from(1)),
        (
            "failureThreshold",
            Value::from(settings.startup_failure_threshold()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            url: "http://127.0.0.1:8080".into(),
            insecure_tls: false,
            readiness_path: Some("/healthz".into()),
            wait_s: DEFAULT_WAIT_S,
            deadline_s: DEFAULT_DEADLINE_S,
            endpoints: vec![("root".into(), "/".into())],
            rate: Some(200.0),
        }
    }

    #[test]
    fn config_yaml_carries_target_endpoints_rate_and_deadline() {
        let text = settings().to_yaml().expect("writes");
        assert!(Settings::problems(&text).is_empty(), "{text}");
        let v: Value = yaml_serde::from_str(&text).expect("valid YAML");
        assert_eq!(v["target"]["url"].as_str(), Some("http://127.0.0.1:8080"));
        assert_eq!(v["target"]["readiness_path"].as_str(), Some("/healthz"));
        assert_eq!(v["target"]["wait_timeout"].as_str(), Some("300s"));
        assert_eq!(v["endpoints"][0]["path"].as_str(), Some("/"));
        assert_eq!(v["traffic"]["rate"].as_u64(), Some(200));
        assert_eq!(v["gate"]["deadline"].as_str(), Some("600s"));
    }

    #[test]
    fn startup_budget_covers_wait_deadline_and_margin() {
        let s = settings();
        let budget = s.startup_failure_threshold() * STARTUP_PERIOD_S;
        assert!(budget >= s.wait_s + s.deadline_s + STARTUP_MARGIN_S);
        assert!(budget < s.wait_s + s.deadline_s + STARTUP_MARGIN_S + STARTUP_PERIOD_S);
    }

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
