//! An endpoint's `vars:` and its templates: how a variable is written ([`VarSpec`]), and the
//! checks that turn an endpoint's path, header values and body into a
//! [`loadgen::RequestTemplate`] (stage two).
//!
//! An endpoint without `vars` is sent exactly as written: its braces are plain text, so the
//! JSON bodies of configurations written before templates keep working. With `vars`, `{name}`
//! is a placeholder in the path, the text header values and the body, and `{{`/`}}` a literal
//! brace. Header values from a file or an environment variable are never templated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderName;
use loadgen::{RequestTemplate, Template, Var};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use super::limits::MAX_CONFIG_BYTES;
use super::paths::check_path;
use super::problem::Checks;
use super::values::{kind, Secret};

/// Variables one endpoint may declare.
pub const MAX_VARS: usize = 32;

/// One variable of `vars:` as written.
#[derive(Debug, Clone, PartialEq)]
pub enum VarSpec {
    /// `{range: [A, B]}`: a uniform integer, both bounds included.
    Range(i64, i64),
    /// `{one_of: [...], weights: [...]}`: one of the values, uniform or by weight.
    OneOf(Vec<String>, Option<Vec<u32>>),
    /// `{file: PATH}`: one of the file's non-empty lines, uniform.
    File(PathBuf),
    /// `uuid`: a random version 4 UUID.
    Uuid,
    /// A value of none of these forms, with what is wrong: reading never fails, so that
    /// validation reports each variable at its own key (`vars.NAME`) and checks the others.
    Invalid(String),
}

impl Serialize for VarSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = match self {
            VarSpec::Range(a, b) => json!({"range": [a, b]}),
            VarSpec::OneOf(values, None) => json!({"one_of": values}),
            VarSpec::OneOf(values, Some(w)) => json!({"one_of": values, "weights": w}),
            VarSpec::File(p) => json!({"file": p}),
            VarSpec::Uuid => json!("uuid"),
            VarSpec::Invalid(_) => Value::Null,
        };
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for VarSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VarSpec, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(VarSpec::from_value(&value).unwrap_or_else(VarSpec::Invalid))
    }
}

const FORMS: &str = "write {range: [A, B]}, {one_of: [...]} (optionally with weights: [...]), \
                     {file: PATH} or uuid";

impl VarSpec {
    fn from_value(v: &Value) -> Result<VarSpec, String> {
        let map = match v {
            Value::String(s) if s == "uuid" => return Ok(VarSpec::Uuid),
            Value::Object(map) => map,
            other => return Err(format!("got {}: {FORMS}", kind(other))),
        };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        match keys.as_slice() {
            ["range"] => match map
                .get("range")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                Some([a, b]) => match (a.as_i64(), b.as_i64()) {
                    (Some(a), Some(b)) => Ok(VarSpec::Range(a, b)),
                    _ => Err("range bounds must be integers".into()),
                },
                _ => Err("range must be a list of two integers, [A, B]".into()),
            },
            ["one_of"] | ["one_of", "weights"] => {
                let items = map
                    .get("one_of")
                    .and_then(Value::as_array)
                    .ok_or("one_of must be a list")?;
                let values = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        Value::Bool(b) => Ok(b.to_string()),
                        other => Err(format!("one_of values must be text, got {}", kind(other))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let weights = match map.get("weights") {
                    None => None,
                    Some(w) => Some(
                        w.as_array()
                            .ok_or("weights must be a list")?
                            .iter()
                            .map(|x| {
                                x.as_u64()
                                    .and_then(|x| u32::try_from(x).ok())
                                    .ok_or("weights must be whole numbers >= 0")
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                };
                Ok(VarSpec::OneOf(values, weights))
            }
            ["file"] => match map.get("file").and_then(Value::as_str) {
                Some(p) if !p.is_empty() => Ok(VarSpec::File(p.into())),
                _ => Err("file must be a path".into()),
            },
            _ => Err(format!("unknown form: {FORMS}")),
        }
    }

    /// The engine's variable (reading the file of a `file` variable). The message names the
    /// file, never its lines.
    fn to_var(&self) -> Result<Var, String> {
        match self {
            VarSpec::Range(a, b) => Var::range(*a, *b).map_err(|e| e.to_string()),
            VarSpec::OneOf(values, weights) => {
                Var::one_of(values.clone(), weights.clone()).map_err(|e| e.to_string())
            }
            VarSpec::Uuid => Ok(Var::Uuid),
            VarSpec::Invalid(why) => Err(why.clone()),
            VarSpec::File(path) => {
                let meta = std::fs::metadata(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if meta.len() > MAX_CONFIG_BYTES as u64 * 16 {
                    return Err(format!("{} is longer than 16 MiB", path.display()));
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Var::lines(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

/// The template of an endpoint with `vars` (`None` without), checking every part and recording
/// problems under the endpoint's keys. Header values are never quoted in a message.
pub(super) fn template(
    vars: &BTreeMap<String, VarSpec>,
    path: &str,
    headers: &BTreeMap<String, Secret>,
    body: Option<&str>,
    c: &mut Checks<'_>,
) -> Option<Arc<RequestTemplate>> {
    if vars.is_empty() {
        return None;
    }
    if vars.len() > MAX_VARS {
        c.problem(
            "vars",
            format!("{} variables, more than {MAX_VARS}", vars.len()),
        );
        return None;
    }
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    let mut ok = true;
    let mut engine_vars = Vec::with_capacity(vars.len());
    for (name, spec) in vars {
        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if name.is_empty() || !valid {
            c.problem(&format!("vars.{name}"), "names are [A-Za-z0-9_]");
            ok = false;
        }
        match spec.to_var() {
            Ok(v) => engine_vars.push(v),
            Err(e) => {
                c.problem(&format!("vars.{name}"), e);
                ok = false;
            }
        }
    }
    let path = match Template::parse(path, &names) {
        Ok(t) => {
            // The shape rules of a path hold with any value in the placeholders.
            if let Err(e) = check_path(&t.with_stand_in("x")) {
                c.problem("path", e);
                ok = false;
            }
            Some(t)
        }
        Err(e) => {
            c.problem("path", e);
            None
        }
    };
    let mut templated_headers = Vec::new();
    for (name, value) in headers {
        let Secret::Text(text) = value else { continue };
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            continue; // reported with the headers
        };
        match Template::parse(text, &names) {
            // Escaped braces alone still need rendering: `{{` is sent as `{`.
            Ok(t) if text.contains(['{', '}']) => templated_headers.push((header, t)),
            Ok(_) => {}
            Err(e) => {
                c.problem(&format!("headers.{name}"), e);
                ok = false;
            }
        }
    }
    if templated_headers.len() > loadgen::template::MAX_TEMPLATED_HEADERS {
        c.problem(
            "headers",
            format!(
                "at most {} header values may hold placeholders",
                loadgen::template::MAX_TEMPLATED_HEADERS
            ),
        );
        ok = false;
    }
    let body = match body.map(|b| Template::parse(b, &names)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            c.problem("body", e);
            ok = false;
            None
        }
    };
    match (ok, path) {
        (true, Some(path)) => Some(Arc::new(RequestTemplate {
            vars: engine_vars,
            path,
            headers: templated_headers,
            body,
        })),
        _ => None,
    }
}
