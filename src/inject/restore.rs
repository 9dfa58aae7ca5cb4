//! What injection replaced, kept on the pod template in the `warmgate.io/original`
//! annotation (JSON), and `warmgate uninject`, which puts it back exactly: the app's probes,
//! `initContainers` and the annotations mapping when injection created them, annotation
//! values it quoted, and `progressDeadlineSeconds`.

use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value};

use super::annotations::{ANN_ORIGINAL, ANN_VERSION};
use super::container::CONTAINER_NAME;
use super::error::{DocRef, InjectError};
use super::pod::Replaced;
use super::STARTUP_MARGIN_S;

/// The Deployment default when `progressDeadlineSeconds` is not set.
pub const DEFAULT_PROGRESS_DEADLINE_S: u64 = 600;

/// What injection changed outside the warmgate container, as the annotation stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Original {
    /// Position of the app container in `containers`.
    pub container: usize,
    /// The app container's name: found by name first, since another webhook (linkerd's,
    /// Istio's) may have put its proxy before it since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The app's readinessProbe before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Value>,
    /// The app's startupProbe before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Value>,
    /// `initContainers` existed before.
    pub init_containers: bool,
    /// The pod template's `metadata` existed before.
    #[serde(default)]
    pub metadata: bool,
    /// The pod template's `metadata.annotations` existed before.
    #[serde(default)]
    pub annotations: bool,
    /// `spec.progressDeadlineSeconds` before, when injection raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    /// Annotation values that were not strings (`helm --set k=true`), before quoting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unquoted: Vec<Unquoted>,
}

/// `spec.progressDeadlineSeconds` before injection raised it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    /// The value, or `None` when it was not set.
    #[serde(default)]
    pub had: Option<Value>,
}

/// One annotation value injection wrote back as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unquoted {
    /// On the workload's own metadata (else on the pod template's).
    pub workload: bool,
    /// The annotation key.
    pub key: String,
    /// The value as written.
    pub value: Value,
}

impl Original {
    /// The record of one pod spec's injection; metadata fields are filled by [`mark`].
    pub fn new(r: &Replaced) -> Self {
        Original {
            container: r.app_index,
            name: r.app_name.clone(),
            readiness_probe: r.readiness.clone(),
            startup_probe: r.startup.clone(),
            init_containers: r.had_init_containers,
            metadata: true,
            annotations: true,
            deadline: None,
            unquoted: Vec::new(),
        }
    }
}

fn template_mut<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Mapping> {
    path.iter()
        .try_fold(doc, |node, key| node.get_mut(*key))?
        .as_mapping_mut()
}

fn annotations_of(node: &Value) -> Option<&Mapping> {
    node.get("metadata")?.get("annotations")?.as_mapping()
}

fn annotations_mut(node: &mut Mapping) -> Option<&mut Mapping> {
    node.get_mut("metadata")?
        .get_mut("annotations")?
        .as_mapping_mut()
}

/// True when the pod template at `path` carries the `warmgate.io/original` record.
pub fn has_record(doc: &Value, path: &[&str]) -> bool {
    path.iter()
        .try_fold(doc, |node, key| node.get(*key))
        .and_then(annotations_of)
        .is_some_and(|a| a.contains_key(ANN_ORIGINAL))
}

/// The record on the pod template at `path`, if there is one and it reads.
pub fn record(doc: &Value, path: &[&str]) -> Option<Original> {
    let text = path
        .iter()
        .try_fold(doc, |node, key| node.get(*key))
        .and_then(annotations_of)?
        .get(ANN_ORIGINAL)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// Quotes every non-string `warmgate.io/*` value of `anns` (the API server refuses them).
fn quote(anns: &mut Mapping, workload: bool, out: &mut Vec<Unquoted>) {
    for (k, v) in anns.iter_mut() {
        let Some(key) = k.as_str().filter(|k| k.starts_with("warmgate.io/")) else {
            continue;
        };
        if let Some(text) = matches!(v, Value::Bool(_) | Value::Number(_))
            .then(|| super::annotations::scalar_text(v))
            .flatten()
        {
            out.push(Unquoted {
                workload,
                key: key.to_string(),
                value: std::mem::replace(v, Value::from(text)),
            });
        }
    }
}

fn ann_field(path: &[&str]) -> String {
    let mut p: Vec<&str> = path.to_vec();
    p.extend(["metadata", "annotations", ANN_ORIGINAL]);
    p.join(".")
}

/// Writes the version marker and the record on the pod template at `path`.
pub fn mark(
    doc: &mut Value,
    path: &[&str],
    mut original: Original,
    dref: &DocRef,
) -> Result<(), InjectError> {
    let field = ann_field(path);
    if !path.is_empty() {
        if let Some(anns) = doc.as_mapping_mut().and_then(annotations_mut) {
            quote(anns, true, &mut original.unquoted);
        }
    }
    let template = template_mut(doc, path)
        .ok_or_else(|| InjectError::field(dref, &field, "missing pod template"))?;
    original.metadata = template.contains_key("metadata");
    let meta = template
        .entry(Value::from("metadata"))
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
        .ok_or_else(|| InjectError::field(dref, &field, "metadata must be a mapping"))?;
    original.annotations = meta.contains_key("annotations");
    let anns = meta
        .entry(Value::from("annotations"))
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
        .ok_or_else(|| InjectError::field(dref, &field, "annotations must be a mapping"))?;
    quote(anns, false, &mut original.unquoted);
    let json = serde_json::to_string(&original)
        .map_err(|e| InjectError::field(dref, &field, format!("cannot write the record: {e}")))?;
    anns.insert(
        Value::from(ANN_VERSION),
        Value::from(env!("CARGO_PKG_VERSION")),
    );
    anns.insert(Value::from(ANN_ORIGINAL), Value::from(json));
    Ok(())
}

/// Raises `spec.progressDeadlineSeconds` of a Deployment or Rollout to cover the startup
/// budget (else the rollout is marked failed while the pods still warm). Returns what it was
/// when changed.
pub fn raise_progress_deadline(doc: &mut Value, startup_budget_s: u64) -> Option<Deadline> {
    let spec = doc.get_mut("spec")?.as_mapping_mut()?;
    let had = spec.get("progressDeadlineSeconds").cloned();
    let current = had
        .as_ref()
        .map_or(Some(DEFAULT_PROGRESS_DEADLINE_S), Value::as_u64)?;
    let need = startup_budget_s + STARTUP_MARGIN_S;
    if current >= need {
        return None;
    }
    spec.insert(Value::from("progressDeadlineSeconds"), Value::from(need));
    Some(Deadline { had })
}

/// Takes warmgate out of the pod template at `path` and puts back what the record says;
/// `spec.progressDeadlineSeconds` only where the kind has one (`deadline`): a Pod made from
/// an injected Deployment's template carries the Deployment's record.
/// Fails (naming the annotation) when the record is unreadable or does not fit the spec.
pub fn uninject(
    doc: &mut Value,
    path: &[&str],
    dref: &DocRef,
    deadline: bool,
) -> Result<(), InjectError> {
    let field = ann_field(path);
    let err = |m: String| InjectError::field(dref, &field, m);
    let template = template_mut(doc, path).ok_or_else(|| err("missing pod template".into()))?;
    let text = annotations_mut(template)
        .and_then(|a| a.get(ANN_ORIGINAL))
        .and_then(Value::as_str)
        .ok_or_else(|| err("missing or not a string".into()))?;
    let original: Original =
        serde_json::from_str(text).map_err(|e| err(format!("unreadable record: {e}")))?;
    let spec = template
        .get_mut("spec")
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| err("the pod template has no spec".into()))?;
    restore_spec(spec, &original).map_err(err)?;
    let meta = template
        .get_mut("metadata")
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| err("metadata is gone".into()))?;
    if let Some(anns) = meta.get_mut("annotations").and_then(Value::as_mapping_mut) {
        anns.shift_remove(ANN_VERSION);
        anns.shift_remove(ANN_ORIGINAL);
        unquote(anns, &original, false);
        if !original.annotations && anns.is_empty() {
            meta.shift_remove("annotations");
        }
    }
    if !original.metadata && meta.is_empty() {
        template.shift_remove("metadata");
    }
    if !path.is_empty() {
        if let Some(anns) = doc.as_mapping_mut().and_then(annotations_mut) {
            unquote(anns, &original, true);
        }
    }
    if let Some(d) = original.deadline.as_ref().filter(|_| deadline) {
        if let Some(spec) = doc.get_mut("spec").and_then(Value::as_mapping_mut) {
            match &d.had {
                Some(v) => spec.insert(Value::from("progressDeadlineSeconds"), v.clone()),
                None => spec.shift_remove("progressDeadlineSeconds"),
            };
        }
    }
    Ok(())
}

fn unquote(anns: &mut Mapping, original: &Original, workload: bool) {
    for u in original.unquoted.iter().filter(|u| u.workload == workload) {
        if let Some(v) = anns.get_mut(u.key.as_str()) {
            *v = u.value.clone();
        }
    }
}

fn restore_spec(spec: &mut Mapping, original: &Original) -> Result<(), String> {
    let is_warmgate = |c: &Value| c.get("name").and_then(Value::as_str) == Some(CONTAINER_NAME);
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_sequence_mut) {
            cs.retain(|c| !is_warmgate(c));
        }
    }
    let empty_inits = spec
        .get("initContainers")
        .and_then(Value::as_sequence)
        .is_some_and(Vec::is_empty);
    if !original.init_containers && empty_inits {
        spec.shift_remove("initContainers");
    }
    let cs = spec
        .get_mut("containers")
        .and_then(Value::as_sequence_mut)
        .ok_or("the pod spec has no containers")?;
    let by_name = original.name.as_deref().and_then(|n| {
        cs.iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(n))
    });
    let app = cs
        .get_mut(by_name.unwrap_or(original.container))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| {
            format!(
                "the record names containers[{}], not there",
                original.container
            )
        })?;
    for (key, old) in [
        ("readinessProbe", &original.readiness_probe),
        ("startupProbe", &original.startup_probe),
    ] {
        match old {
            Some(v) => app.insert(Value::from(key), v.clone()),
            None => app.shift_remove(key),
        };
    }
    Ok(())
}
