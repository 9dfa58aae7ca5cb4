//! How the schema's richer values are written: durations, status sets and secret header values.
//!
//! Durations are human text (`"5s"`, `"1m 30s"`, via `humantime`) or a plain number of seconds:
//! an env override such as `WARMGATE_GATE__DEADLINE=600` arrives as an integer (the `config`
//! crate's `try_parsing`), which `humantime-serde` would refuse, so these few lines are ours.

use std::fmt;
use std::time::Duration;

use loadgen::StatusSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::limits::MAX_DURATION;

/// `#[serde(with)]` for a [`Duration`]: `"5s"` or seconds in, humantime text out.
pub(crate) mod duration {
    use super::*;

    /// Writes `d` as humantime text (`"5m"`).
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads `"5s"` or a number of seconds; fails with a message that shows the expected form.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = Value::deserialize(d)?;
        parse_duration(&value).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with)]` for an `Option<Duration>` (null: None).
pub(crate) mod opt_duration {
    use super::*;

    /// Writes `None` as null, else as [`duration::serialize`] does.
    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads null as None, else as [`duration::deserialize`] does.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            value => parse_duration(&value)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a human duration (`"5s"`, `"1m 30s"`) or a plain number of seconds.
/// Fails on text humantime cannot read, a negative number, or more than [`MAX_DURATION`].
pub(crate) fn parse_duration(value: &Value) -> Result<Duration, String> {
    let d = match value {
        Value::String(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?}: {e} (write e.g. \"5s\", \"2m\", \"150ms\")")
        })?,
        Value::Number(n) => match n.as_f64() {
            Some(secs) if secs >= 0.0 && secs <= MAX_DURATION.as_secs_f64() => {
                Duration::from_secs_f64(secs)
            }
            _ => return Err(too_long(&n.to_string())),
        },
        other => {
            return Err(format!(
                "expected a duration like \"5s\", got {}",
                kind(other)
            ))
        }
    };
    if d > MAX_DURATION {
        // Added to a clock reading, a duration near u64::MAX seconds would overflow it.
        return Err(too_long(&humantime::format_duration(d).to_string()));
    }
    Ok(d)
}

fn too_long(d: &str) -> String {
    format!(
        "invalid duration {d}: at most {} and not negative",
        humantime::format_duration(MAX_DURATION)
    )
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

/// A header value: read as text, never shown (it may be a credential). Debug and Serialize
/// both print `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

/// What a [`Secret`] prints as.
pub const REDACTED: &str = "<redacted>";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
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
    fn durations_read_text_or_seconds_and_write_text() {
        assert_eq!(
            parse_duration(&Value::from("1m 30s")),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration(&Value::from(600)),
            Ok(Duration::from_secs(600))
        );
        assert!(
            parse_duration(&Value::from("fast")).is_err_and(|e| e.starts_with("invalid duration"))
        );
    }

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
        let s = Secret("Bearer x".into());
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(
            serde_json::to_value(&s).expect("writes"),
            Value::from(REDACTED)
        );
    }
}
