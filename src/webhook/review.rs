//! One AdmissionReview (`admission.k8s.io/v1`) in, its response out: the Pod goes through the
//! very code `warmgate inject` runs ([`crate::inject::handle_documents`]), and the response
//! carries the difference as a JSONPatch. Anything the API server could not have sent is a
//! [`BadReview`] (HTTP 400); a Pod that cannot be injected is allowed unchanged, with a
//! warning the API server shows to the client, so the webhook never blocks a pod.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::inject::{self, Action, Options, Outcome};

/// The only version the webhook speaks (the MutatingWebhookConfiguration asks for it).
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// The parts of an AdmissionReview request the webhook reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: String,
    kind: String,
    request: Option<Request>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    uid: String,
    #[serde(default)]
    kind: Option<Gvk>,
    #[serde(default)]
    object: Option<Json>,
}

#[derive(Debug, Deserialize)]
struct Gvk {
    #[serde(default)]
    kind: String,
}

/// The AdmissionReview sent back.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    api_version: &'static str,
    kind: &'static str,
    response: Response,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    uid: String,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<ByteString>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// A request body that is not an AdmissionReview `admission.k8s.io/v1` with a request uid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed AdmissionReview: {0}")]
pub struct BadReview(pub String);

/// What the webhook did with one review, for its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The request uid, echoed in the response.
    pub uid: String,
    /// `pod/<name> injected`, `... skipped: ...`, or why the pod was left alone.
    pub summary: String,
    /// Whether a patch was sent.
    pub patched: bool,
    /// The response body.
    pub body: Vec<u8>,
}

/// Answers one AdmissionReview body. Fails only on a malformed review.
pub fn review(body: &[u8], opts: &Options) -> Result<Verdict, BadReview> {
    let review: Review = serde_json::from_slice(body)
        .map_err(|e| BadReview(format!("not JSON of a review: {e}")))?;
    if review.api_version != API_VERSION || review.kind != "AdmissionReview" {
        return Err(BadReview(format!(
            "expected {API_VERSION} AdmissionReview, got {} {}",
            review.api_version, review.kind
        )));
    }
    let request = review
        .request
        .ok_or_else(|| BadReview("no request".into()))?;
    if request.uid.is_empty() {
        return Err(BadReview("empty request uid".into()));
    }
    let (summary, patch, warnings) = mutate(request.kind.as_ref(), request.object, opts);
    let patched = patch.is_some();
    let reply = Reply {
        api_version: API_VERSION,
        kind: "AdmissionReview",
        response: Response {
            uid: request.uid.clone(),
            allowed: true,
            patch_type: patched.then_some("JSONPatch"),
            patch: patch.map(ByteString),
            warnings,
        },
    };
    let body = serde_json::to_vec(&reply).map_err(|e| BadReview(format!("cannot answer: {e}")))?;
    Ok(Verdict {
        uid: request.uid,
        summary,
        patched,
        body,
    })
}

/// The Pod's patch (JSON bytes), if any, with a summary and the warnings for the client.
fn mutate(
    kind: Option<&Gvk>,
    object: Option<Json>,
    opts: &Options,
) -> (String, Option<Vec<u8>>, Vec<String>) {
    let Some(mut object) = object else {
        return ("no object (not a CREATE?): allowed".into(), None, vec![]);
    };
    if kind.is_some_and(|k| k.kind != "Pod") {
        return ("not a Pod: allowed".into(), None, vec![]);
    }
    // Typed first: what is not a Pod is never handed to inject.
    if let Err(e) = serde_json::from_value::<Pod>(object.clone()) {
        return (format!("not a valid Pod ({e}): allowed"), None, vec![]);
    }
    // The API server may leave out kind and apiVersion inside the review.
    if let Some(m) = object.as_object_mut() {
        m.entry("kind").or_insert_with(|| Json::from("Pod"));
        m.entry("apiVersion").or_insert_with(|| Json::from("v1"));
    }
    match inject_pod(&object, opts) {
        Ok((after, report)) => {
            let summary = report.to_string();
            let patch = json_patch::diff(&object, &after);
            if patch.0.is_empty() {
                return (summary, None, vec![]);
            }
            match serde_json::to_vec(&patch) {
                Ok(bytes) => (summary, Some(bytes), vec![]),
                Err(e) => (format!("cannot write the patch: {e}"), None, vec![]),
            }
        }
        Err(message) => (
            format!("not injected: {message}"),
            None,
            vec![format!("warmgate: pod not injected: {message}")],
        ),
    }
}

/// `warmgate inject` on one Pod given as JSON: the Pod after, and its report line.
pub fn inject_pod(pod: &Json, opts: &Options) -> Result<(Json, inject::Report), String> {
    let doc: yaml_serde::Value =
        serde_json::from_value(pod.clone()).map_err(|e| format!("cannot read the pod: {e}"))?;
    let mut docs = [doc];
    let mut reports =
        inject::handle_documents(&mut docs, opts, Action::Inject).map_err(|e| e.to_string())?;
    let [doc] = docs;
    let report = reports.pop().unwrap_or_else(|| {
        inject::Report::new(
            &inject::DocRef {
                index: 1,
                kind: "Pod".into(),
                name: String::new(),
            },
            Outcome::Skipped("nothing to do".into()),
        )
    });
    let after = serde_json::to_value(&doc).map_err(|e| format!("cannot write the pod: {e}"))?;
    Ok((after, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_wrong_versions_are_bad_reviews() {
        let opts = Options::default();
        for body in [
            &b"not json"[..],
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#,
        ] {
            assert!(review(body, &opts).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_pod_not_opted_in_is_allowed_without_a_patch() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a"}]}}}}"#;
        let v = review(body, &Options::default()).expect("well-formed");
        assert!(!v.patched, "{}", v.summary);
        let reply: Json = serde_json::from_slice(&v.body).expect("JSON");
        assert_eq!(reply["response"]["uid"], "u1");
        assert_eq!(reply["response"]["allowed"], true);
        assert!(reply["response"].get("patch").is_none());
    }
}
