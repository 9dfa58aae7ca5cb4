//! The effective configuration as a value, for `warmgate check`: the validated settings put
//! back into the schema, then serialized by it (so keys, enums and durations are written the
//! way they are read). Header values print as `<redacted>`: they may be credentials.

use serde_json::Value;

use super::schema::{
    ConfigFile, EndpointSection, GateSection, LogSection, TargetSection, TrafficSection,
};
use super::values::{Secret, Statuses};
use super::Settings;

/// The effective configuration, every default filled in, secrets redacted.
pub fn effective(s: &Settings) -> Value {
    // Only maps with string keys and plain values: serializing cannot fail.
    serde_json::to_value(ConfigFile::from(s)).unwrap_or(Value::Null)
}

impl From<&Settings> for ConfigFile {
    /// The configuration file that loads as `s` (header values replaced by `<redacted>`).
    fn from(s: &Settings) -> ConfigFile {
        let g = &s.gate.criterion;
        ConfigFile {
            listen: s.listen.to_string(),
            log: LogSection {
                format: s.log_format,
                level: s.log_level.clone(),
            },
            shutdown_grace: s.shutdown_grace,
            target: TargetSection {
                url: s.target.url.to_string(),
                allow_remote: s.target.allow_remote,
                readiness_path: s.target.readiness_path.clone(),
                wait_timeout: s.target.wait_timeout,
                http: s.target.http.into(),
                insecure_tls: s.target.insecure_tls,
            },
            endpoints: Some(
                s.endpoints
                    .iter()
                    .map(|e| EndpointSection {
                        name: Some(e.name.clone()),
                        path: e.path.clone(),
                        method: e.method.to_string(),
                        headers: e
                            .headers
                            .keys()
                            .map(|k| (k.to_string(), Secret(super::values::REDACTED.into())))
                            .collect(),
                        body: e.body.clone(),
                        weight: e.weight,
                        expect_status: Statuses(e.expect_status.clone()),
                        expect_body: e.expect_body.clone(),
                        timeout: e.timeout,
                        ceiling: e.ceiling,
                    })
                    .collect(),
            ),
            traffic: TrafficSection {
                rate: Some(s.traffic.rate),
                max_inflight: s.traffic.max_inflight,
                ramp: s.traffic.ramp,
                after_ready_rate: s.traffic.after_ready_rate,
            },
            gate: GateSection {
                quantile: g.quantile,
                window: g.window,
                lookback: g.lookback,
                consecutive: g.consecutive,
                tolerance: g.tolerance,
                noise_floor: g.noise_floor,
                interval: g.interval,
                trend_z: g.trend_z,
                max_drift: g.max_drift,
                max_error_rate: g.max_error_rate,
                min_samples: g.min_samples,
                min_requests: g.min_requests,
                min_rate_ratio: g.min_rate_ratio,
                max_lag: g.max_lag,
                ceiling: s.gate.ceiling,
                deadline: s.gate.deadline,
                on_deadline: s.gate.on_deadline,
            },
        }
    }
}
