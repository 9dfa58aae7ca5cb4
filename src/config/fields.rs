//! A walker over raw configuration values that collects every problem instead of stopping at the
//! first, and reports keys nobody asked for.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Collects problems, each as `path: message`.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<String>);

impl Problems {
    /// Records a problem with the field at `path`.
    pub(crate) fn push(&mut self, path: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{path}: {message}"));
    }
}

/// One table (mapping) of raw values being consumed key by key.
pub(crate) struct Table<'p> {
    path: String,
    map: Map<String, Value>,
    problems: &'p mut Problems,
}

impl<'p> Table<'p> {
    /// Opens `value` as a table at `path`; a non-table is reported and treated as empty.
    pub(crate) fn open(path: &str, value: Value, problems: &'p mut Problems) -> Table<'p> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                problems.push(
                    path_or_root(path),
                    format!("expected a table, got {}", kind(&other)),
                );
                Map::new()
            }
        };
        Table {
            path: path.to_string(),
            map,
            problems,
        }
    }

    /// The dotted path of `key` inside this table.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Removes and returns the raw value of `key` (None when absent or null).
    pub(crate) fn raw(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Reports a problem with `key`.
    pub(crate) fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        let path = self.path_of(key);
        self.problems.push(&path, message);
    }

    /// The problems sink, for nested tables.
    pub(crate) fn problems(&mut self) -> &mut Problems {
        self.problems
    }

    /// Deserializes `key` as `T`, or `default` when absent; a bad value is reported.
    pub(crate) fn get<T: DeserializeOwned>(&mut self, key: &str, default: T) -> T {
        self.opt(key).unwrap_or(default)
    }

    /// Deserializes `key` as `T` when present; a bad value is reported and gives None.
    pub(crate) fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = self.raw(key)?;
        let shown = kind(&value);
        match serde_json::from_value::<T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(key, format!("{e} (got {shown})"));
                None
            }
        }
    }

    /// A duration written as `"5s"`, `"2m"`, `"150ms"` or a number of seconds.
    pub(crate) fn duration(&mut self, key: &str, default: Duration) -> Duration {
        self.opt_duration(key).unwrap_or(default)
    }

    /// An optional duration (see [`Table::duration`]).
    pub(crate) fn opt_duration(&mut self, key: &str) -> Option<Duration> {
        let value = self.raw(key)?;
        match parse_duration(&value) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.problem(key, msg);
                None
            }
        }
    }

    /// Reports every key not consumed so far as unknown.
    pub(crate) fn finish(self) {
        for key in self.map.keys() {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            self.problems.push(&path, "unknown key");
        }
    }
}

fn path_or_root(path: &str) -> &str {
    if path.is_empty() {
        "(top level)"
    } else {
        path
    }
}

/// Parses a human duration (`"5s"`, `"1m 30s"`) or a plain number of seconds.
pub(crate) fn parse_duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::String(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?}: {e} (write e.g. \"5s\", \"2m\", \"150ms\")")
        }),
        Value::Number(n) => match n.as_f64() {
            Some(secs) if (0.0..1e9).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
            _ => Err(format!("invalid duration {n}")),
        },
        other => Err(format!(
            "expected a duration like \"5s\", got {}",
            kind(other)
        )),
    }
}

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
