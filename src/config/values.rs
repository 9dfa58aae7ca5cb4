//! How the schema's richer values are written: durations, status sets and secret header values.
//!
//! Durations are read and written by [`crate::duration`] (re-exported here for the schema).

use std::fmt;
use std::path::PathBuf;

use loadgen::StatusSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub(crate) use crate::duration::{serde_opt_text as opt_duration, serde_text as duration};

/// A short name for a JSON value's type, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// A header value: text, `{file: PATH, prefix: TEXT}` (read at start, re-read when the file
/// changes) or `{env: NAME}` (read once at start). Never shown (it may be a credential): Debug
/// and Serialize print `<redacted>`, or `{file: PATH}` for a file.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value as written (templated when the endpoint has `vars`).
    Text(String),
    /// `prefix` + the file's contents, trailing white space trimmed.
    File {
        /// The file (a mounted Secret or projected token).
        file: PathBuf,
        /// Text put before the contents, e.g. `Bearer `.
        prefix: String,
    },
    /// The value of an environment variable.
    Env {
        /// The variable's name.
        env: String,
    },
    /// An environment variable's value once read: sent as is, never templated.
    FromEnv(String),
    /// A value of none of these forms, with what is wrong (said without the value): reading
    /// never fails, so that validation reports each header at its own key.
    Invalid(String),
}

/// What a [`Secret`] prints as.
pub const REDACTED: &str = "<redacted>";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::File { file, .. } => write!(f, "{{file: {file:?}}}"),
            Secret::Env { env } => write!(f, "{{env: {env:?}}}"),
            _ => f.write_str(REDACTED),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Secret::File { file, .. } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", file)?;
                m.end()
            }
            Secret::Env { env } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", env)?;
                m.end()
            }
            _ => s.serialize_str(REDACTED),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(Secret::from_value(&value).unwrap_or_else(Secret::Invalid))
    }
}

impl Secret {
    /// Reads a header value from its written form. The message never quotes the value.
    pub(crate) fn from_value(value: &Value) -> Result<Secret, String> {
        let hidden = "the value is not shown: it may be a secret";
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        match value {
            Value::String(s) => Ok(Secret::Text(s.clone())),
            Value::Object(map) => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                match keys.as_slice() {
                    ["file"] | ["file", "prefix"] | ["prefix", "file"] => {
                        let file = text(map.get("file"))
                            .filter(|f| !f.is_empty())
                            .ok_or("`file` must be a path")?;
                        let prefix = match map.get("prefix") {
                            None => String::new(),
                            Some(p) => text(Some(p)).ok_or(format!("`prefix` must be text ({hidden})"))?,
                        };
                        Ok(Secret::File {
                            file: file.into(),
                            prefix,
                        })
                    }
                    ["env"] => {
                        let env = text(map.get("env"))
                            .filter(|e| !e.is_empty())
                            .ok_or("`env` must be a variable name")?;
                        Ok(Secret::Env { env })
                    }
                    _ => Err(format!(
                        "expected text, {{file: PATH, prefix: TEXT}} or {{env: NAME}} ({hidden})"
                    )),
                }
            }
            other => Err(format!(
                "expected text (quote it), {{file: PATH, prefix: TEXT}} or {{env: NAME}}, got {} ({hidden})",
                kind(other)
            )),
        }
    }
}

/// `expect_status`: read from `200`, `"200-299,404"` or `[200, 204]`; written as `"200-399"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statuses(pub StatusSet);

impl Serialize for Statuses {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parts: Vec<String> = self
            .0
             .0
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        s.serialize_str(&parts.join(","))
    }
}

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Statuses, D::Error> {
        let value = Value::deserialize(d)?;
        parse_statuses(&value)
            .map(Statuses)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `200`, `"200-299,404"` or `[200, 204]`.
fn parse_statuses(v: &Value) -> Result<StatusSet, String> {
    let parts: Vec<String> = match v {
        Value::Number(n) => vec![n.to_string()],
        Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Number(n) => Ok(n.to_string()),
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("expected status codes, got {}", kind(other))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "expected e.g. \"200-399\" or [200, 204], got {}",
                kind(other)
            ))
        }
    };
    let mut ranges = Vec::new();
    for p in parts {
        let (lo, hi) = p.split_once('-').unwrap_or((&p, &p));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
        };
        match (parse(lo), parse(hi)) {
            (Some(a), Some(b)) if a <= b => ranges.push(a..=b),
            _ => return Err(format!("invalid status or range {p:?} (100-599)")),
        }
    }
    if ranges.is_empty() {
        return Err("no status given".into());
    }
    Ok(StatusSet(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text() {
        let s: Statuses =
            serde_json::from_value(Value::from("200-299, 404")).expect("valid statuses");
        assert!(s.0.contains(404) && !s.0.contains(300));
        assert_eq!(
            serde_json::to_value(&s).expect("writes"),
            Value::from("200-299,404")
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::Text("Bearer x".into());
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(
            serde_json::to_value(&s).expect("writes"),
            Value::from(REDACTED)
        );
    }
}
