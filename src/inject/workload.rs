//! Finds the pod template inside each kind of workload and injects warmgate into it, or
//! takes it out again ([`super::restore`]).

use yaml_serde::{Mapping, Value};

use super::annotations::{self, Layer, Request, ANN_PORT};
use super::container::{Layout, CONTAINER_NAME};
use super::error::{DocRef, InjectError};
use super::pod::{self, At};
use super::report::{Outcome, Report};
use super::restore::{self, Original};

use super::Options;

/// A kind `warmgate inject` changes, and where its pod template sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// `kind`.
    pub kind: &'static str,
    /// The API group (`apiVersion` before the `/`, empty for the core group). A document
    /// without `apiVersion` matches on its kind alone, except where `strict`.
    pub group: &'static str,
    /// Match only with this group: Knative's `Service` must not catch the core `Service`.
    pub strict: bool,
    /// Path from the document to the pod template (`metadata` + `spec`); empty for a Pod.
    pub template: &'static [&'static str],
    /// The kind has `spec.progressDeadlineSeconds`, which must cover the startup budget.
    pub progress_deadline: bool,
}

const fn kind(
    kind: &'static str,
    group: &'static str,
    template: &'static [&'static str],
) -> Workload {
    Workload {
        kind,
        group,
        strict: false,
        template,
        progress_deadline: false,
    }
}

const TEMPLATE: &[&str] = &["spec", "template"];

/// The kinds `warmgate inject` changes.
pub const WORKLOADS: [Workload; 9] = [
    kind("Pod", "", &[]),
    Workload {
        progress_deadline: true,
        ..kind("Deployment", "apps", TEMPLATE)
    },
    kind("StatefulSet", "apps", TEMPLATE),
    kind("DaemonSet", "apps", TEMPLATE),
    kind("ReplicaSet", "apps", TEMPLATE),
    kind("Job", "batch", TEMPLATE),
    kind(
        "CronJob",
        "batch",
        &["spec", "jobTemplate", "spec", "template"],
    ),
    // Argo Rollouts keeps a Deployment's template and its progressDeadlineSeconds.
    Workload {
        progress_deadline: true,
        ..kind("Rollout", "argoproj.io", TEMPLATE)
    },
    Workload {
        strict: true,
        ..kind("Service", "serving.knative.dev", TEMPLATE)
    },
];

/// The workload `doc` is, if any.
pub fn workload_of(doc: &Value) -> Option<&'static Workload> {
    let kind = doc.get("kind").and_then(Value::as_str)?;
    let api = doc.get("apiVersion").and_then(Value::as_str);
    let group = api.map(|a| a.rsplit_once('/').map_or("", |(g, _)| g));
    WORKLOADS.iter().find(|w| {
        w.kind == kind
            && match group {
                Some(g) => g == w.group,
                None => !w.strict,
            }
    })
}

/// The document's kind and name (`generateName` when it has no name yet, as a pod created
/// by a ReplicaSet at admission), for reports and error messages.
pub fn doc_ref(index: usize, doc: &Value) -> DocRef {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let meta = doc.get("metadata");
    let mut name = text(meta.and_then(|m| m.get("name")));
    if name.is_empty() {
        name = text(meta.and_then(|m| m.get("generateName")));
    }
    DocRef {
        index,
        kind: text(doc.get("kind")),
        name,
    }
}

/// What to do to each workload: inject (or update) it, or take warmgate out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `warmgate inject` and the webhook.
    Inject,
    /// `warmgate uninject`.
    Uninject,
}

/// Injects (or uninjects) `doc` and reports one line per workload it holds (a `List` holds
/// several). Documents of other kinds are left as they are.
pub fn handle(
    doc: &mut Value,
    index: usize,
    opts: &Options,
    action: Action,
) -> Result<Vec<Report>, InjectError> {
    let dref = doc_ref(index, doc);
    if dref.kind == "List" {
        return handle_list(doc, &dref, opts, action);
    }
    let outcome = match workload_of(doc) {
        None => Outcome::Skipped("not a workload".into()),
        Some(w) => match action {
            Action::Inject => inject_workload(doc, w, &dref, opts)?,
            Action::Uninject => uninject_workload(doc, w, &dref)?,
        },
    };
    Ok(vec![Report::new(&dref, outcome)])
}

fn dotted(path: &[&str], tail: &str) -> String {
    path.iter()
        .copied()
        .chain(tail.split('.'))
        .collect::<Vec<_>>()
        .join(".")
}

fn get_path<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |node, key| node.get(*key))
}

fn get_path_mut<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |node, key| node.get_mut(*key))
}

fn annotations_at(node: Option<&Value>) -> Option<&Mapping> {
    node?.get("metadata")?.get("annotations")?.as_mapping()
}

/// The annotation layers of a workload: its own, then its pod template's (which wins).
fn layers<'a>(doc: &'a Value, w: &Workload, prefixes: &'a [String; 2]) -> Vec<Layer<'a>> {
    let mut out = Vec::new();
    if !w.template.is_empty() {
        if let Some(map) = annotations_at(Some(doc)) {
            out.push(Layer {
                prefix: &prefixes[0],
                map,
            });
        }
    }
    if let Some(map) = annotations_at(get_path(doc, w.template)) {
        out.push(Layer {
            prefix: &prefixes[1],
            map,
        });
    }
    out
}

/// Pods that run to completion end when their regular containers do: a regular warmgate
/// container would keep them running for ever, a native sidecar is stopped with them.
fn layout_for(w: &Workload, spec: &Mapping, opts: &Options) -> Layout {
    let policy = spec.get("restartPolicy").and_then(Value::as_str);
    if opts.native_sidecar
        || matches!(w.kind, "Job" | "CronJob")
        || matches!(policy, Some("Never" | "OnFailure"))
    {
        Layout::NativeSidecar
    } else {
        Layout::Container
    }
}

fn warmgate_image(spec: &Mapping) -> Option<String> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_sequence))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(CONTAINER_NAME))
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .map(str::to_string)
}

fn inject_workload(
    doc: &mut Value,
    w: &Workload,
    dref: &DocRef,
    opts: &Options,
) -> Result<Outcome, InjectError> {
    let prefixes = [
        "metadata.annotations".to_string(),
        dotted(w.template, "metadata.annotations"),
    ];
    // A workload injected before (with --all) counts as opted in unless it opts out, so
    // `--image` alone updates it.
    let all = opts.all || restore::has_record(doc, w.template);
    let mut req: Request = annotations::parse(&layers(doc, w, &prefixes), all, dref)?;
    if !req.inject {
        let why = if req.explicit {
            "opted out (warmgate.io/inject: \"false\")"
        } else {
            "not opted in (warmgate.io/inject)"
        };
        return Ok(Outcome::Skipped(why.into()));
    }
    if req.port.is_none() {
        if let Some(port) = &opts.port {
            req.port = Some(port.clone());
            req.fields.insert(ANN_PORT.into(), "--port".into());
        }
    }
    let spec_path = dotted(w.template, "spec");
    let missing = || InjectError::field(dref, &spec_path, "missing pod spec");
    let before = doc.clone();
    let spec = get_path(doc, w.template)
        .and_then(|t| t.get("spec"))
        .and_then(Value::as_mapping)
        .ok_or_else(missing)?;
    let was_injected = pod::is_injected(spec);
    let mut image = opts.image.clone();
    // A Pod made from an injected Deployment's template carries the Deployment's deadline
    // record: kept as it is, so the Pod comes out unchanged.
    let old = restore::record(doc, w.template);
    if was_injected {
        // Re-injecting is uninject + inject: a new --image, new annotations or a newer
        // warmgate all take effect, and an unchanged request gives back the same document.
        if !restore::has_record(doc, w.template) {
            return Ok(Outcome::Unchanged(format!(
                "holds a {CONTAINER_NAME} container but no {} annotation: left as it is",
                annotations::ANN_ORIGINAL
            )));
        }
        image = image.or_else(|| warmgate_image(spec));
        restore::uninject(doc, w.template, dref, w.progress_deadline)?;
    }
    let spec = get_path_mut(doc, w.template)
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(missing)?;
    if !req.explicit && !pod::declares_port(spec, &req) {
        *doc = before;
        return Ok(Outcome::Skipped("no containerPort, pass --port".into()));
    }
    let layout = layout_for(w, spec, opts);
    let at = At {
        doc: dref,
        spec_path: &spec_path,
        req: &req,
        ann_prefix: &prefixes[1],
    };
    let image = image.unwrap_or_else(|| opts.default_image.clone());
    let replaced = pod::inject(spec, &req, &image, layout, &at)?;
    if w.group == "serving.knative.dev" {
        knative_sidecar(spec);
    }
    let mut original = Original::new(&replaced);
    if w.progress_deadline {
        original.deadline = restore::raise_progress_deadline(doc, replaced.startup_budget_s);
    } else {
        original.deadline = old.as_ref().and_then(|r| r.deadline.clone());
    }
    if w.template.is_empty() {
        // Likewise the workload's own quoted annotations, which a Pod does not have.
        let outer = old.iter().flat_map(|r| &r.unquoted).filter(|u| u.workload);
        original.unquoted.extend(outer.cloned());
    }
    restore::mark(doc, w.template, original, dref)?;
    Ok(if !was_injected {
        Outcome::Injected
    } else if *doc == before {
        Outcome::Unchanged("already injected".into())
    } else {
        Outcome::Updated
    })
}

/// Knative accepts `ports` on one container only, the one that serves requests: the
/// warmgate container declares none, and its own probes name the port by number.
fn knative_sidecar(spec: &mut Mapping) {
    for list in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_sequence_mut) else {
            continue;
        };
        for c in cs.iter_mut() {
            if c.get("name").and_then(Value::as_str) != Some(CONTAINER_NAME) {
                continue;
            }
            let Some(wg) = c.as_mapping_mut() else {
                continue;
            };
            wg.shift_remove("ports");
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(get) = wg
                    .get_mut(probe)
                    .and_then(|p| p.get_mut("httpGet"))
                    .and_then(Value::as_mapping_mut)
                {
                    get.insert(Value::from("port"), Value::from(super::PORT));
                }
            }
        }
    }
}

fn uninject_workload(doc: &mut Value, w: &Workload, dref: &DocRef) -> Result<Outcome, InjectError> {
    let injected = get_path(doc, w.template)
        .and_then(|t| t.get("spec"))
        .and_then(Value::as_mapping)
        .is_some_and(pod::is_injected);
    if restore::has_record(doc, w.template) {
        restore::uninject(doc, w.template, dref, w.progress_deadline)?;
        return Ok(Outcome::Uninjected);
    }
    if injected {
        return Err(InjectError::field(
            dref,
            dotted(w.template, "metadata.annotations"),
            format!(
                "holds a {CONTAINER_NAME} container but no {} annotation: cannot restore the \
                 original probes exactly",
                annotations::ANN_ORIGINAL
            ),
        ));
    }
    Ok(Outcome::Skipped("not injected".into()))
}

/// A `kind: List` (what `kubectl get -o yaml` prints): every item is handled like a document.
/// Errors name the list document and the item's index.
fn handle_list(
    doc: &mut Value,
    dref: &DocRef,
    opts: &Options,
    action: Action,
) -> Result<Vec<Report>, InjectError> {
    let Some(items) = doc.get_mut("items").and_then(Value::as_sequence_mut) else {
        return Ok(vec![Report::new(dref, Outcome::Skipped("no items".into()))]);
    };
    let mut reports = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        match handle(item, dref.index, opts, action) {
            Ok(r) => reports.extend(r),
            Err(InjectError::Field {
                doc,
                field,
                message,
            }) => {
                return Err(InjectError::field(
                    dref,
                    format!("items[{i}] ({}/{}).{field}", doc.kind, doc.name),
                    message,
                ))
            }
            Err(other) => return Err(other),
        }
    }
    Ok(reports)
}
