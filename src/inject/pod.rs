//! Injects warmgate into one pod spec, in steps: select the app container, resolve its port,
//! read its probes, size the startup budget, check the configuration, render and insert.

use yaml_serde::{Mapping, Value};

use super::annotations::{
    endpoint_name, Request, ANN_CONTAINER, ANN_ENDPOINTS, ANN_RATE, ANN_REFERENCE,
};
use super::container::{self, Layout, CONTAINER_NAME};
use super::error::{DocRef, InjectError};
use super::inline::InlineConfig;
use super::{ports, probes};
use crate::config::{Section, DEFAULT_DEADLINE};

/// Where the pod spec sits inside the document, for error messages (`spec.template.spec`).
pub struct At<'a> {
    /// The document being changed.
    pub doc: &'a DocRef,
    /// Dotted path of the pod spec inside the document.
    pub spec_path: &'a str,
    /// Where each annotation was read (see [`Request::field`]).
    pub req: &'a Request,
    /// Dotted path of the pod template's annotations, for annotations not given.
    pub ann_prefix: &'a str,
}

impl At<'_> {
    /// An error with `field` of the pod spec.
    pub(crate) fn err(&self, field: impl AsRef<str>, message: impl Into<String>) -> InjectError {
        InjectError::field(
            self.doc,
            format!("{}.{}", self.spec_path, field.as_ref()),
            message,
        )
    }

    /// An error with the workload's annotation `key`.
    pub(crate) fn ann_err(&self, key: &str, message: impl Into<String>) -> InjectError {
        InjectError::field(self.doc, self.req.field(key, self.ann_prefix), message)
    }
}

/// The app container warm-up goes to.
pub struct App<'a> {
    /// Its position in `containers`.
    pub index: usize,
    /// The container.
    pub value: &'a Value,
    /// `containers[i]`, for error messages.
    pub field: String,
}

impl App<'_> {
    /// The app's own readinessProbe, if any.
    pub fn readiness_probe(&self) -> Option<&Mapping> {
        self.value.get("readinessProbe").and_then(Value::as_mapping)
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

/// What injecting changes: the app's two probes and the container to add.
struct Changes {
    app_index: usize,
    readiness: Value,
    startup: Value,
    sidecar: Value,
    startup_budget_s: u64,
}

/// What injecting a pod spec replaced, for `warmgate uninject`.
#[derive(Debug, Clone, PartialEq)]
pub struct Replaced {
    /// Position of the app container in `containers`.
    pub app_index: usize,
    /// The app container's name.
    pub app_name: Option<String>,
    /// The app's readinessProbe before, if it had one.
    pub readiness: Option<Value>,
    /// The app's startupProbe before, if it had one.
    pub startup: Option<Value>,
    /// Whether `initContainers` existed before.
    pub had_init_containers: bool,
    /// The app's new startup budget in seconds (periodSeconds x failureThreshold).
    pub startup_budget_s: u64,
}

/// True when the app container (annotated, else the first) declares a port, or `req` names
/// one. An unresolvable selection counts as true: [`inject`] then reports it.
pub fn declares_port(spec: &Mapping, req: &Request) -> bool {
    if req.port.is_some() {
        return true;
    }
    let Some(cs) = spec.get("containers").and_then(Value::as_sequence) else {
        return true;
    };
    let app = match &req.container {
        None => cs.first(),
        Some(w) => cs.iter().find(|c| name_of(c) == Some(w.as_str())),
    };
    app.is_none_or(|c| {
        c.get("ports")
            .and_then(Value::as_sequence)
            .is_some_and(|ps| ps.iter().any(|p| p.get("containerPort").is_some()))
    })
}

/// Adds warmgate to `spec`, which must not hold it yet ([`is_injected`]). Returns what it
/// replaced; on error `spec` is unchanged.
pub fn inject(
    spec: &mut Mapping,
    req: &Request,
    image: &str,
    layout: Layout,
    at: &At<'_>,
) -> Result<Replaced, InjectError> {
    let changes = plan(spec, req, image, layout, at)?;
    let had_init_containers = spec.contains_key("initContainers");
    let app = spec
        .get("containers")
        .and_then(Value::as_sequence)
        .and_then(|cs| cs.get(changes.app_index));
    let old = |key: &str| app.and_then(|a| a.get(key)).cloned();
    let replaced = Replaced {
        app_index: changes.app_index,
        app_name: app.and_then(name_of).map(str::to_string),
        readiness: old("readinessProbe"),
        startup: old("startupProbe"),
        had_init_containers,
        startup_budget_s: changes.startup_budget_s,
    };
    apply(spec, changes, layout, at)?;
    Ok(replaced)
}

/// Every step that reads the pod spec, up to the rendered changes; nothing is changed yet.
fn plan(
    spec: &Mapping,
    req: &Request,
    image: &str,
    layout: Layout,
    at: &At<'_>,
) -> Result<Changes, InjectError> {
    let app = select(spec, req, at)?;
    let app_port = ports::app_port(req, &app, at)?;
    ports::check_free(spec, at)?;
    let readiness = probes::readiness(&app, app_port, at)?;
    let scheme = if readiness.https { "https" } else { "http" };
    let config = InlineConfig {
        url: format!("{scheme}://127.0.0.1:{app_port}"),
        insecure_tls: readiness.https,
        readiness_path: readiness.path,
        wait_timeout: probes::wait_timeout(&app),
        deadline: DEFAULT_DEADLINE,
        endpoints: endpoints(&req.paths),
        rate: req.rate,
        json_logs: true,
        reference: req.reference.clone(),
    };
    check(&config, &app, at)?;
    let config_yaml = config
        .to_yaml()
        .map_err(|m| at.err(format!("{} (warmgate configuration)", app.field), m))?;
    Ok(Changes {
        app_index: app.index,
        readiness: container::readiness_probe(app.readiness_probe()),
        startup: container::startup_probe(&config),
        sidecar: container::container(image, &config_yaml, layout),
        startup_budget_s: config.startup_failure_threshold() * super::STARTUP_PERIOD_S,
    })
}

/// Step one: the annotated container, else the first one.
fn select<'s>(spec: &'s Mapping, req: &Request, at: &At<'_>) -> Result<App<'s>, InjectError> {
    let containers = match spec.get("containers").and_then(Value::as_sequence) {
        Some(cs) if !cs.is_empty() => cs,
        _ => return Err(at.err("containers", "the pod spec has no containers")),
    };
    let index = match &req.container {
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
    Ok(App {
        index,
        value: &containers[index],
        field: format!("containers[{index}]"),
    })
}

/// One endpoint per annotated path, named after it (unique).
fn endpoints(paths: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for path in paths {
        let taken: Vec<String> = out.iter().map(|(n, _)| n.clone()).collect();
        out.push((endpoint_name(path, &taken), path.clone()));
    }
    out
}

/// What warmgate itself would refuse at start-up is refused here, naming the annotation that
/// set the section at fault (the rate, the endpoints), else the app container.
fn check(config: &InlineConfig, app: &App<'_>, at: &At<'_>) -> Result<(), InjectError> {
    let Some(problem) = config.problems().into_iter().next() else {
        return Ok(());
    };
    let message = format!("warmgate would refuse this configuration: {problem}");
    Err(match problem.section {
        Section::Traffic => at.ann_err(ANN_RATE, message),
        Section::Endpoints => at.ann_err(ANN_ENDPOINTS, message),
        Section::Gate if problem.path.starts_with("gate.reference") => {
            at.ann_err(ANN_REFERENCE, message)
        }
        _ => at.err(format!("{} (warmgate configuration)", app.field), message),
    })
}

/// The last step: rewires the app's probes and adds the container.
fn apply(
    spec: &mut Mapping,
    changes: Changes,
    layout: Layout,
    at: &At<'_>,
) -> Result<(), InjectError> {
    let containers = spec
        .get_mut("containers")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| at.err("containers", "the pod spec has no containers"))?;
    let app_field = format!("containers[{}]", changes.app_index);
    let app = containers
        .get_mut(changes.app_index)
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| at.err(&app_field, "a container must be a mapping"))?;
    app.insert(Value::from("readinessProbe"), changes.readiness);
    app.insert(Value::from("startupProbe"), changes.startup);
    match layout {
        Layout::Container => containers.push(changes.sidecar),
        Layout::NativeSidecar => {
            // Last among the init containers: ordinary init steps finish first, then warmgate
            // starts, passes its /livez startupProbe at once, and the kubelet starts the app.
            let inits = spec
                .entry(Value::from("initContainers"))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            match inits.as_sequence_mut() {
                Some(list) => list.push(changes.sidecar),
                None => return Err(at.err("initContainers", "must be a list")),
            }
        }
    }
    Ok(())
}
