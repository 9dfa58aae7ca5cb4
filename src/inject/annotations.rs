//! Reads the `warmgate.io/*` annotations of a workload into a checked [`Request`].

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

/// What a workload's annotations ask for, checked but not yet resolved against its pod spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Whether the workload is to be injected (annotation, or `--all` without an opt-out).
    pub inject: bool,
    /// Paths to warm, each starting with `/`; `["/"]` when not annotated.
    pub paths: Vec<String>,
    /// Requests per second, when annotated (else warmgate's default applies).
    pub rate: Option<f64>,
    /// The annotated port, unresolved: a number or a port name.
    pub port: Option<String>,
    /// The annotated app container name.
    pub container: Option<String>,
}

fn field(key: &str) -> String {
    format!("metadata.annotations.{key}")
}

/// Reads one annotation as a string. Kubernetes annotation values are strings; a YAML
/// `true` or `200` without quotes would be rejected by the API server, so say so here.
fn get_str<'a>(
    anns: Option<&'a Mapping>,
    key: &str,
    doc: &DocRef,
) -> Result<Option<&'a str>, InjectError> {
    let Some(value) = anns.and_then(|a| a.get(key)) else {
        return Ok(None);
    };
    match value {
        Value::String(s) => Ok(Some(s.as_str())),
        Value::Null => Ok(None),
        _ => Err(InjectError::field(
            doc,
            field(key),
            "annotation values must be strings: quote the value",
        )),
    }
}

/// Parses the annotations of a workload. `all` is the `--all` flag.
pub fn parse(anns: Option<&Mapping>, all: bool, doc: &DocRef) -> Result<Request, InjectError> {
    let inject = match get_str(anns, ANN_INJECT, doc)?.map(str::trim) {
        None => all,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(InjectError::field(
                doc,
                field(ANN_INJECT),
                format!("expected \"true\" or \"false\", got {other:?}"),
            ))
        }
    };
    let mut request = Request {
        inject,
        paths: vec!["/".to_string()],
        rate: None,
        port: None,
        container: None,
    };
    if !inject {
        return Ok(request);
    }
    if let Some(raw) = get_str(anns, ANN_ENDPOINTS, doc)? {
        request.paths =
            parse_paths(raw).map_err(|m| InjectError::field(doc, field(ANN_ENDPOINTS), m))?;
    }
    if let Some(raw) = get_str(anns, ANN_RATE, doc)? {
        request.rate =
            Some(parse_rate(raw).map_err(|m| InjectError::field(doc, field(ANN_RATE), m))?);
    }
    if let Some(raw) = get_str(anns, ANN_PORT, doc)? {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InjectError::field(doc, field(ANN_PORT), "empty port"));
        }
        request.port = Some(raw.to_string());
    }
    if let Some(raw) = get_str(anns, ANN_CONTAINER, doc)? {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InjectError::field(
                doc,
                field(ANN_CONTAINER),
                "empty container name",
            ));
        }
        request.container = Some(raw.to_string());
    }
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
        let r = parse(Some(&a), false, &doc()).expect("valid annotations");
        assert!(r.inject);
        assert_eq!(r.paths, vec!["/", "/api/items"]);
        assert_eq!(r.rate, Some(150.0));
        assert_eq!(r.port.as_deref(), Some("http"));
        assert_eq!(r.container.as_deref(), Some("app"));
    }

    #[test]
    fn all_flag_respects_explicit_opt_out() {
        let out = anns(&[(ANN_INJECT, "false")]);
        assert!(!parse(Some(&out), true, &doc()).expect("valid").inject);
        assert!(parse(None, true, &doc()).expect("valid").inject);
        assert!(!parse(None, false, &doc()).expect("valid").inject);
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
            let e = parse(Some(&a), false, &doc()).expect_err("must be refused");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn unquoted_annotation_is_refused() {
        let mut a = Mapping::new();
        a.insert(Value::from(ANN_INJECT), Value::Bool(true));
        let e = parse(Some(&a), false, &doc()).expect_err("bool is not a string");
        assert!(e.to_string().contains("quote"), "{e}");
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
