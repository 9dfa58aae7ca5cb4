//! The /status document, typed: what the probe server serialises, and the one window row the
//! agent records, /status shows and the demo prints.

use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::gate::Verdict;
use crate::phase::Phase;

/// One endpoint's numbers for one window. Kept for /status and sent to the demo's display.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    /// The endpoint's name.
    pub name: String,
    /// Window start, seconds since the warm-up began.
    pub start_s: f64,
    /// Requests completed.
    pub count: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// Gate-quantile latency, ms.
    pub q_ms: f64,
    /// Non-ok outcomes.
    pub errors: u64,
}

/// The /status document (docs/DESIGN.md, "/status"): the phase and why, the last verdict, and
/// the recent windows of every endpoint. Times in seconds, rounded to milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct StatusDocument {
    /// warmgate's version.
    pub version: &'static str,
    /// The current phase.
    pub phase: Phase,
    /// `/readyz` answers 200.
    pub ready: bool,
    /// `/startupz` answers 200 (a warm-up succeeded and the app has not restarted since).
    pub started: bool,
    /// One line: why not ready, or what happened.
    pub reason: String,
    /// Seconds since the agent started.
    pub uptime_s: f64,
    /// Seconds in the current phase.
    pub phase_s: f64,
    /// Seconds from agent start to the first ready; `null` before.
    pub time_to_ready_s: Option<f64>,
    /// Warm-ups started (1 + re-warms after app restarts).
    pub warmups: u64,
    /// The gate's last verdict in this warm-up; `null` before the first window.
    pub verdict: Option<Verdict>,
    /// One entry per endpoint, in configuration order.
    pub endpoints: Vec<EndpointStatus>,
}

/// One endpoint in /status: its name and its recent windows, oldest first. Each window
/// serialises as `{"start_s", "count", "p50_ms", "<quantile>_ms", "errors"}`, the quantile's
/// key named after the gate's quantile (`p99_ms`) so a reader never guesses which one it is.
#[derive(Debug, Clone)]
pub struct EndpointStatus {
    /// The endpoint's name.
    pub name: String,
    /// The key of the gate-quantile column: `p99_ms` for the 0.99 quantile.
    pub quantile_key: Arc<str>,
    /// Recent windows, oldest first.
    pub windows: Vec<WindowRow>,
}

impl Serialize for EndpointStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("EndpointStatus", 2)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field(
            "windows",
            &Rows {
                key: &self.quantile_key,
                rows: &self.windows,
            },
        )?;
        s.end()
    }
}

/// The windows of one endpoint, each with the quantile column under `key`.
struct Rows<'a> {
    key: &'a str,
    rows: &'a [WindowRow],
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.rows.iter().map(|row| Row { key: self.key, row }))
    }
}

/// One window as /status shows it (the endpoint's name is its parent's).
struct Row<'a> {
    key: &'a str,
    row: &'a WindowRow,
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.row;
        let mut m = serializer.serialize_map(Some(5))?;
        m.serialize_entry("start_s", &round3(r.start_s))?;
        m.serialize_entry("count", &r.count)?;
        m.serialize_entry("p50_ms", &round3(r.p50_ms))?;
        m.serialize_entry(self.key, &round3(r.q_ms))?;
        m.serialize_entry("errors", &r.errors)?;
        m.end()
    }
}

/// Rounds to 3 decimals: milliseconds of a time in seconds, microseconds of one in ms.
pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_serialises_with_the_quantile_named_key_rounded() {
        let e = EndpointStatus {
            name: "home".into(),
            quantile_key: "p99.9_ms".into(),
            windows: vec![WindowRow {
                name: "home".into(),
                start_s: 5.00049,
                count: 1000,
                p50_ms: 3.1234,
                q_ms: 40.2006,
                errors: 2,
            }],
        };
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"name": "home", "windows": [
                {"start_s": 5.0, "count": 1000, "p50_ms": 3.123, "p99.9_ms": 40.201, "errors": 2}
            ]})
        );
    }
}
