//! Reads the `warmgate.io/*` annotations of a workload into a checked [`Request`].

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

use super::error::{DocRef, InjectError};

/// Opt-in annotation: `"true"` injects, `"false"` opts out even under `--all`.
pub const ANN_INJECT: &str = "warmgate.io/inject";
/// Comma-separated request paths to warm, e.g. `/,/api/items`.
pub const ANN_ENDPOINTS: &str = "warmgate.io/endpoints";
/// Warm-up rate in requests per second, all endpoints together.
pub const ANN_RATE: &str = "warmgate.io/rate";
/// The app's port: a number or the name of one of the app container's ports.
pub const ANN_PORT: &str = "warmgate.io/port";
/// Name of the app container (default: the first container).
pub const ANN_CONTAINER: &str = "warmgate.io/container";

/// The fleet reference: the Prometheus URL to ask for the warm peers' p99 (`gate.reference`).
pub const ANN_REFERENCE: &str = "warmgate.io/reference";
/// `accelerate` (default) or `require` (`gate.reference.mode`), with [`ANN_REFERENCE`].
pub const ANN_REFERENCE_MODE: &str = "warmgate.io/reference-mode";

/// Marker written at injection: the warmgate version that injected the pod spec.
pub const ANN_VERSION: &str = "warmgate.io/injected-version";
/// What injection replaced, as JSON, so `warmgate uninject` restores it exactly.
pub const ANN_ORIGINAL: &str = "warmgate.io/original";

/// One mapping of annotations and where it sits in the document, e.g.
/// `spec.template.metadata.annotations`.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// Dotted path of the mapping inside the document.
    pub prefix: &'a str,
    /// The annotations.
    pub map: &'a Mapping,
}

/// What a workload's annotations ask for, checked but not yet resolved against its pod spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Whether the workload is to be injected (annotation, or `--all` without an opt-out).
    pub inject: bool,
    /// The opt-in came from an annotation, not from `--all`.
    pub explicit: bool,
    /// Paths to warm, each starting with `/`; `["/"]` when not annotated.
    pub paths: Vec<String>,
    /// Requests per second, when annotated (else warmgate's default applies).
    pub rate: Option<f64>,
    /// The annotated port, unresolved: a number or a port name.
    pub port: Option<String>,
    /// The annotated app container name.
    pub container: Option<String>,
    /// The fleet reference's Prometheus URL and mode, when annotated.
    pub reference: Option<(String, crate::gate::ReferenceMode)>,
    /// `key -> dotted path` of each `warmgate.io/*` annotation read, for error messages.
    pub fields: BTreeMap<String, String>,
}

impl Request {
    /// The dotted path of annotation `key`: where it was read, else under `default_prefix`.
    pub fn field(&self, key: &str, default_prefix: &str) -> String {
        self.fields
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("{default_prefix}.{key}"))
    }
}

/// Reads one annotation as text from the last layer that has it (the pod template's wins
/// over the workload's: it is what the pod, and so the webhook, sees). Kubernetes annotation
/// values are strings, but `helm --set key=true` writes a YAML `true`: booleans and numbers
/// are read as the text they stand for (injection writes them back quoted).
fn get_str(
    layers: &[Layer<'_>],
    key: &str,
    doc: &DocRef,
    fields: &mut BTreeMap<String, String>,
) -> Result<Option<String>, InjectError> {
    let Some((layer, value)) = layers
        .iter()
        .rev()
        .find_map(|l| l.map.get(key).map(|v| (l, v)))
    else {
        return Ok(None);
    };
    let field = format!("{}.{key}", layer.prefix);
    fields.insert(key.to_string(), field.clone());
    match scalar_text(value) {
        Some(text) => Ok(Some(text)),
        None if value.is_null() => Ok(None),
        None => Err(InjectError::field(
            doc,
            field,
            "annotation values must be strings: quote the value",
        )),
    }
}

/// The text a scalar annotation value stands for; `None` for null, lists and mappings.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses the annotations of a workload, outermost layer first. `all` is the `--all` flag.
pub fn parse(layers: &[Layer<'_>], all: bool, doc: &DocRef) -> Result<Request, InjectError> {
    let mut fields = BTreeMap::new();
    let opt = get_str(layers, ANN_INJECT, doc, &mut fields)?;
    let (inject, explicit) = match opt.as_deref().map(str::trim) {
        None => (all, false),
        Some("true") => (true, true),
        Some("false") => (false, true),
        Some(other) => {
            return Err(InjectError::field(
                doc,
                fields[ANN_INJECT].clone(),
                format!("expected \"true\" or \"false\", got {other:?}"),
            ))
        }
    };
    let mut request = Request {
        inject,
        explicit,
        paths: vec!["/".to_string()],
        rate: None,
        port: None,
        container: None,
        reference: None,
        fields,
    };
    if !inject {
        return Ok(request);
    }
    let mut fields = std::mem::take(&mut request.fields);
    if let Some(raw) = get_str(layers, ANN_ENDPOINTS, doc, &mut fields)? {
        request.paths = parse_paths(&raw)
            .map_err(|m| InjectError::field(doc, fields[ANN_ENDPOINTS].clone(), m))?;
    }
    if let Some(raw) = get_str(layers, ANN_RATE, doc, &mut fields)? {
        request.rate = Some(
            parse_rate(&raw).map_err(|m| InjectError::field(doc, fields[ANN_RATE].clone(), m))?,
        );
    }
    if let Some(raw) = get_str(layers, ANN_PORT, doc, &mut fields)? {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InjectError::field(
                doc,
                fields[ANN_PORT].clone(),
                "empty port",
            ));
        }
        request.port = Some(raw.to_string());
    }
    if let Some(raw) = get_str(layers, ANN_CONTAINER, doc, &mut fields)? {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InjectError::field(
                doc,
                fields[ANN_CONTAINER].clone(),
                "empty container name",
            ));
        }
        request.container = Some(raw.to_string());
    }
    let url = get_str(layers, ANN_REFERENCE, doc, &mut fields)?;
    let mode = get_str(layers, ANN_REFERENCE_MODE, doc, &mut fields)?;
    match (
        url.as_deref().map(str::trim),
        mode.as_deref().map(str::trim),
    ) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(InjectError::field(
                doc,
                fields[ANN_REFERENCE_MODE].clone(),
                format!("needs {ANN_REFERENCE} (the Prometheus URL) beside it"),
            ))
        }
        (Some(""), _) => {
            return Err(InjectError::field(
                doc,
                fields[ANN_REFERENCE].clone(),
                "empty Prometheus URL",
            ))
        }
        (Some(url), mode) => {
            let mode = match mode {
                None | Some("accelerate") => crate::gate::ReferenceMode::Accelerate,
                Some("require") => crate::gate::ReferenceMode::Require,
                Some(other) => {
                    return Err(InjectError::field(
                        doc,
                        fields[ANN_REFERENCE_MODE].clone(),
                        format!("expected \"accelerate\" or \"require\", got {other:?}"),
                    ))
                }
            };
            request.reference = Some((url.to_string(), mode));
        }
    }
    request.fields = fields;
    Ok(request)
}

/// Splits `"/a, /b"` into paths; empty items (a trailing comma) are ignored.
fn parse_paths(raw: &str) -> Result<Vec<String>, String> {
    let paths: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if paths.is_empty() {
        return Err("no paths given (expected e.g. \"/,/api/items\")".to_string());
    }
    // The rule warmgate applies to `endpoints[].path`: a path, never a host.
    if let Some(message) = paths
        .iter()
        .find_map(|p| crate::config::check_path(p).err())
    {
        return Err(format!("path {message}"));
    }
    if let Some(bad) = paths.iter().find(|p| p.chars().any(char::is_whitespace)) {
        return Err(format!("path {bad:?} contains whitespace"));
    }
    Ok(paths)
}

/// A positive, finite number of requests per second.
fn parse_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number (requests per second)"))?;
    if !rate.is_finite() || rate <= 0.0 {
        return Err(format!(
            "{raw:?} must be a positive number of requests per second"
        ));
    }
    Ok(rate)
}

/// Turns a path into an endpoint name matching `[a-zA-Z0-9_-]{1,64}`, unique within `taken`.
pub fn endpoint_name(path: &str, taken: &[String]) -> String {
    let mut base: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base = base.trim_matches('_').to_string();
    while base.contains("__") {
        base = base.replace("__", "_");
    }
    if base.is_empty() {
        base = "root".to_string();
    }
    base.truncate(56);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> DocRef {
        DocRef {
            index: 1,
            kind: "Deployment".into(),
            name: "web".into(),
        }
    }

    fn anns(pairs: &[(&str, &str)]) -> Mapping {
        let mut m = Mapping::new();
        for (k, v) in pairs {
            m.insert(Value::from(*k), Value::from(*v));
        }
        m
    }

    #[test]
    fn opt_in_reads_every_annotation() {
        let a = anns(&[
            (ANN_INJECT, "true"),
            (ANN_ENDPOINTS, "/, /api/items ,"),
            (ANN_RATE, "150"),
            (ANN_PORT, "http"),
            (ANN_CONTAINER, "app"),
        ]);
        let r = parse(&layer(&a), false, &doc()).expect("valid annotations");
        assert!(r.inject);
        assert_eq!(r.paths, vec!["/", "/api/items"]);
        assert_eq!(r.rate, Some(150.0));
        assert_eq!(r.port.as_deref(), Some("http"));
        assert_eq!(r.container.as_deref(), Some("app"));
    }

    #[test]
    fn all_flag_respects_explicit_opt_out() {
        let out = anns(&[(ANN_INJECT, "false")]);
        assert!(!parse(&layer(&out), true, &doc()).expect("valid").inject);
        assert!(parse(&[], true, &doc()).expect("valid").inject);
        assert!(!parse(&[], false, &doc()).expect("valid").inject);
    }

    #[test]
    fn bad_values_name_the_annotation() {
        for (key, value) in [
            (ANN_RATE, "fast"),
            (ANN_RATE, "-3"),
            (ANN_ENDPOINTS, "api"),
            (ANN_ENDPOINTS, "/, //evil.example:80/x"),
            (ANN_ENDPOINTS, "/\\evil.example/x"),
            (ANN_INJECT, "yes"),
        ] {
            let a = anns(&[(ANN_INJECT, "true"), (key, value)]);
            let e = parse(&layer(&a), false, &doc()).expect_err("must be refused");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    fn layer(m: &Mapping) -> [Layer<'_>; 1] {
        [Layer {
            prefix: "metadata.annotations",
            map: m,
        }]
    }

    #[test]
    fn helm_set_booleans_and_numbers_read_as_their_text_lists_do_not() {
        let mut a = Mapping::new();
        a.insert(Value::from(ANN_INJECT), Value::Bool(true));
        a.insert(Value::from(ANN_RATE), Value::from(150));
        let r = parse(&layer(&a), false, &doc()).expect("scalars are read as text");
        assert!(r.inject && r.explicit);
        assert_eq!(r.rate, Some(150.0));
        a.insert(Value::from(ANN_RATE), Value::Sequence(vec![Value::from(1)]));
        let e = parse(&layer(&a), false, &doc()).expect_err("a list is not a value");
        assert!(e.to_string().contains("quote"), "{e}");
    }

    #[test]
    fn the_pod_template_layer_wins_and_errors_name_it() {
        let outer = anns(&[(ANN_INJECT, "false"), (ANN_RATE, "100")]);
        let inner = anns(&[(ANN_INJECT, "true"), (ANN_RATE, "fast")]);
        let layers = [
            Layer {
                prefix: "metadata.annotations",
                map: &outer,
            },
            Layer {
                prefix: "spec.template.metadata.annotations",
                map: &inner,
            },
        ];
        let e = parse(&layers, false, &doc()).expect_err("inner rate is bad");
        assert!(
            e.to_string()
                .contains("spec.template.metadata.annotations.warmgate.io/rate"),
            "{e}"
        );
    }

    #[test]
    fn endpoint_names_are_valid_and_unique() {
        assert_eq!(endpoint_name("/", &[]), "root");
        assert_eq!(endpoint_name("/api/items?id=1", &[]), "api_items_id_1");
        assert_eq!(
            endpoint_name("/api/items", &["api_items".into()]),
            "api_items_2"
        );
        let long = format!("/{}", "x".repeat(200));
        assert!(endpoint_name(&long, &[]).len() <= 64);
    }
}
