//! Finds the pod spec inside each kind of workload and injects warmgate into it.

use yaml_serde::{Mapping, Value};

use super::annotations;
use super::container::Layout;
use super::error::{DocRef, InjectError};
use super::pod::{self, At};
use super::Options;

/// The kinds `warmgate inject` changes, with the path from the document to its pod spec.
pub const WORKLOADS: [(&str, &[&str]); 7] = [
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
];

/// The document's kind and name, for error messages.
pub fn doc_ref(index: usize, doc: &Value) -> DocRef {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    DocRef {
        index,
        kind: text(doc.get("kind")),
        name: text(doc.get("metadata").and_then(|m| m.get("name"))),
    }
}

/// Injects warmgate into `doc` when it is an opted-in workload. Returns whether it changed.
/// Documents of other kinds (and `List` items of other kinds) are left as they are.
pub fn inject_document(doc: &mut Value, index: usize, opts: &Options) -> Result<bool, InjectError> {
    let dref = doc_ref(index, doc);
    if dref.kind == "List" {
        return inject_list(doc, &dref, opts);
    }
    let Some((_, path)) = WORKLOADS.iter().find(|(kind, _)| *kind == dref.kind) else {
        return Ok(false);
    };
    let anns = doc
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_mapping);
    let request = annotations::parse(anns, opts.all, &dref)?;
    if !request.inject {
        return Ok(false);
    }
    let spec_path = path.join(".");
    let spec = pod_spec_mut(doc, path)
        .ok_or_else(|| InjectError::field(&dref, &spec_path, "missing pod spec"))?;
    let at = At {
        doc: &dref,
        spec_path: &spec_path,
    };
    // A Job's pod ends when its regular containers do: a regular warmgate container would keep
    // it running for ever, a native sidecar is stopped with it.
    let layout = if opts.native_sidecar || matches!(dref.kind.as_str(), "Job" | "CronJob") {
        Layout::NativeSidecar
    } else {
        Layout::Container
    };
    pod::inject(spec, &request, &opts.image, layout, &at)
}

fn pod_spec_mut<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Mapping> {
    let mut node = doc;
    for key in path {
        node = node.get_mut(*key)?;
    }
    node.as_mapping_mut()
}

/// A `kind: List` (what `kubectl get -o yaml` prints): every item is handled like a document.
/// Errors name the list document and the item's index.
fn inject_list(doc: &mut Value, dref: &DocRef, opts: &Options) -> Result<bool, InjectError> {
    let Some(items) = doc.get_mut("items").and_then(Value::as_sequence_mut) else {
        return Ok(false);
    };
    let mut changed = false;
    for (i, item) in items.iter_mut().enumerate() {
        match inject_document(item, dref.index, opts) {
            Ok(c) => changed |= c,
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
    Ok(changed)
}
