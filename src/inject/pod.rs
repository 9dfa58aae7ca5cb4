//! Injects warmgate into one pod spec: resolves the app container and port, rewires its
//! probes, and appends the warmgate container.

use yaml_serde::{Mapping, Value};

use super::annotations::{
    endpoint_name, Request, ANN_CONTAINER, ANN_ENDPOINTS, ANN_PORT, ANN_RATE,
};
use super::container::Layout;
use super::container::{self, Settings, CONTAINER_NAME, DEFAULT_DEADLINE_S, DEFAULT_WAIT_S, PORT};
use super::error::{DocRef, InjectError};

/// Where the pod spec sits inside the document, for error messages (`spec.template.spec`).
pub struct At<'a> {
    /// The document being changed.
    pub doc: &'a DocRef,
    /// Dotted path of the pod spec inside the document.
    pub spec_path: &'a str,
}

impl At<'_> {
    fn err(&self, field: impl AsRef<str>, message: impl Into<String>) -> InjectError {
        InjectError::field(
            self.doc,
            format!("{}.{}", self.spec_path, field.as_ref()),
            message,
        )
    }

    fn ann_err(&self, key: &str, message: impl Into<String>) -> InjectError {
        InjectError::field(self.doc, format!("metadata.annotations.{key}"), message)
    }
}

fn name_of(c: &Value) -> Option<&str> {
    c.get("name").and_then(Value::as_str)
}

/// True when the pod spec already holds warmgate (as a container or a native sidecar).
pub fn is_injected(spec: &Mapping) -> bool {
    ["containers", "initContainers"].iter().any(|list| {
        spec.get(*list)
            .and_then(Value::as_sequence)
            .is_some_and(|cs| cs.iter().any(|c| name_of(c) == Some(CONTAINER_NAME)))
    })
}

/// A port field: a number, or a name looked up in the container's `ports`.
fn resolve_port(value: &Value, app: &Value) -> Result<u16, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a port number or a port name".to_string()),
    };
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("{text} is not a port number (1-65535)")),
        };
    }
    let ports = app.get("ports").and_then(Value::as_sequence);
    let found = ports
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(text.as_str()));
    match found
        .and_then(|p| p.get("containerPort"))
        .and_then(Value::as_u64)
    {
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => {
            let names: Vec<&str> = ports
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .collect();
            Err(format!(
                "the app container has no port named {text:?} (named ports: {names:?})"
            ))
        }
    }
}

/// `initialDelaySeconds + periodSeconds x failureThreshold` of a probe, with kubelet defaults.
fn probe_budget_s(probe: &Mapping) -> u64 {
    let get = |k: &str, d: u64| probe.get(k).and_then(Value::as_u64).unwrap_or(d);
    get("initialDelaySeconds", 0) + get("periodSeconds", 10) * get("failureThreshold", 3)
}

/// Adds warmgate to `spec`. Returns `Ok(false)` when it is already there (nothing changes).
pub fn inject(
    spec: &mut Mapping,
    req: &Request,
    image: &str,
    layout: Layout,
    at: &At<'_>,
) -> Result<bool, InjectError> {
    if is_injected(spec) {
        return Ok(false);
    }
    let containers = match spec.get("containers").and_then(Value::as_sequence) {
        Some(cs) if !cs.is_empty() => cs,
        _ => return Err(at.err("containers", "the pod spec has no containers")),
    };
    let app_index = match &req.container {
        None => 0,
        Some(wanted) => containers
            .iter()
            .position(|c| name_of(c) == Some(wanted.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = containers.iter().filter_map(name_of).collect();
                at.ann_err(
                    ANN_CONTAINER,
                    format!("no container named {wanted:?} (containers: {names:?})"),
                )
            })?,
    };
    let app = &containers[app_index];
    let app_field = format!("containers[{app_index}]");

    let app_port = match &req.port {
        Some(p) => {
            resolve_port(&Value::from(p.as_str()), app).map_err(|m| at.ann_err(ANN_PORT, m))?
        }
        None => {
            let first = app
                .get("ports")
                .and_then(Value::as_sequence)
                .and_then(|ps| ps.first());
            match first
                .and_then(|p| p.get("containerPort"))
                .and_then(Value::as_u64)
            {
                Some(p) if (1..=65535).contains(&p) => p as u16,
                _ => {
                    return Err(at.err(
                        format!("{app_field}.ports"),
                        format!("the app container declares no containerPort: set {ANN_PORT}"),
                    ))
                }
            }
        }
    };
    if app_port == PORT {
        return Err(at.ann_err(
            ANN_PORT,
            format!("the app port {PORT} is warmgate's own port"),
        ));
    }
    for list in ["containers", "initContainers"] {
        let cs = spec
            .get(list)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten();
        for (i, c) in cs.enumerate() {
            let mut ports = c
                .get("ports")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten();
            if ports
                .any(|p| p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(PORT)))
            {
                return Err(at.err(
                    format!("{list}[{i}].ports"),
                    format!("port {PORT} is taken; warmgate needs it"),
                ));
            }
        }
    }

    // The app's own readiness httpGet path stays checked, through warmgate.
    let old_ready = app.get("readinessProbe").and_then(Value::as_mapping);
    let mut readiness_path = None;
    let mut scheme = "http";
    if let Some(get) = old_ready.and_then(|p| p.get("httpGet")) {
        let field = format!("{app_field}.readinessProbe.httpGet");
        let port = get
            .get("port")
            .ok_or_else(|| at.err(format!("{field}.port"), "missing"))?;
        let port = resolve_port(port, app).map_err(|m| at.err(format!("{field}.port"), m))?;
        if port != app_port {
            return Err(at.err(
                format!("{field}.port"),
                format!(
                    "the app's readiness is served on port {port} but warm-up goes to port {app_port}; \
                     warmgate checks readiness_path on the warm-up port only: set {ANN_PORT} to {port}"
                ),
            ));
        }
        let path = get.get("path").and_then(Value::as_str).unwrap_or("/");
        readiness_path = Some(if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        });
        if get
            .get("scheme")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
        {
            scheme = "https";
        }
    }
    // A slow-starting app keeps the startup budget it had: warmgate waits at least that long.
    let old_start = app.get("startupProbe").and_then(Value::as_mapping);
    let wait_s = old_start
        .map(probe_budget_s)
        .unwrap_or(0)
        .max(DEFAULT_WAIT_S);

    let mut endpoints: Vec<(String, String)> = Vec::new();
    for path in &req.paths {
        let taken: Vec<String> = endpoints.iter().map(|(n, _)| n.clone()).collect();
        endpoints.push((endpoint_name(path, &taken), path.clone()));
    }
    let settings = Settings {
        url: format!("{scheme}://127.0.0.1:{app_port}"),
        insecure_tls: scheme == "https",
        readiness_path,
        wait_s,
        deadline_s: DEFAULT_DEADLINE_S,
        endpoints,
        rate: req.rate,
    };
    // What warmgate itself would refuse at start-up is refused here, naming the annotation.
    let config_yaml = settings
        .to_yaml()
        .map_err(|m| at.err(format!("{app_field} (warmgate configuration)"), m))?;
    if let Some(problem) = Settings::problems(&config_yaml).into_iter().next() {
        let key = if problem.starts_with("traffic.") {
            Some(ANN_RATE)
        } else if problem.starts_with("endpoints") {
            Some(ANN_ENDPOINTS)
        } else {
            None
        };
        let message = format!("warmgate would refuse this configuration: {problem}");
        return Err(match key {
            Some(key) => at.ann_err(key, message),
            None => at.err(format!("{app_field} (warmgate configuration)"), message),
        });
    }
    let readiness = container::readiness_probe(old_ready);
    let startup = container::startup_probe(&settings);
    let sidecar = container::container(image, &config_yaml, layout);

    let containers = spec
        .get_mut("containers")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| at.err("containers", "the pod spec has no containers"))?;
    let app = containers[app_index]
        .as_mapping_mut()
        .ok_or_else(|| at.err(&app_field, "a container must be a mapping"))?;
    app.insert(Value::from("readinessProbe"), readiness);
    app.insert(Value::from("startupProbe"), startup);
    match layout {
        Layout::Container => containers.push(sidecar),
        Layout::NativeSidecar => {
            // Last among the init containers: ordinary init steps finish first, then warmgate
            // starts, passes its /livez startupProbe at once, and the kubelet starts the app.
            let inits = spec
                .entry(Value::from("initContainers"))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            match inits.as_sequence_mut() {
                Some(list) => list.push(sidecar),
                None => return Err(at.err("initContainers", "must be a list")),
            }
        }
    }
    Ok(true)
}
