//! Durations as people write them: humantime text (`"5s"`, `"1m 30s"`) or a plain number of
//! seconds, at most [`MAX_DURATION`]. The configuration, the gate's settings and `warmgate check`
//! all read and write them through here.
//!
//! A plain number must be accepted: an env override such as `WARMGATE_GATE__DEADLINE=600`
//! arrives as an integer (the `config` crate's `try_parsing`), which `humantime-serde` refuses,
//! so these few lines are ours.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

/// Longest duration any key accepts (7 days). Far beyond any sane warm-up, and far below what
/// would overflow a clock reading once added to it.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `#[serde(with)]` for a [`Duration`]: `"5s"` or seconds in, humantime text out.
pub mod serde_text {
    use super::*;

    /// Writes `d` as humantime text (`"5m"`).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads `"5s"` or a number of seconds; fails with a message that shows the expected form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = Value::deserialize(d)?;
        parse(&value).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with)]` for an `Option<Duration>` (null: None).
pub mod serde_opt_text {
    use super::*;

    /// Writes `None` as null, else as [`serde_text::serialize`] does.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serde_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads null as None, else as [`serde_text::deserialize`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            value => parse(&value).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a human duration (`"5s"`, `"1m 30s"`) or a plain number of seconds.
/// Fails on text humantime cannot read, a negative number, or more than [`MAX_DURATION`].
pub fn parse(value: &Value) -> Result<Duration, String> {
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
        other => return Err(format!("expected a duration like \"5s\", got {other}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_text_or_seconds_and_write_text() {
        assert_eq!(parse(&Value::from("1m 30s")), Ok(Duration::from_secs(90)));
        assert_eq!(parse(&Value::from(600)), Ok(Duration::from_secs(600)));
        assert!(parse(&Value::from("fast")).is_err_and(|e| e.starts_with("invalid duration")));
    }
}
