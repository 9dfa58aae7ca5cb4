//! The effective configuration as a value, for `warmgate check`: the validated settings put
//! back into the schema, then serialized by it (so keys, enums and durations are written the
//! way they are read). Header values print as `<redacted>` and bodies as their length and a
//! hash: either may hold credentials, and the hash still tells two bodies apart.

use serde_json::Value;

use super::schema::{
    ConfigFile, EndpointSection, GateSection, GrpcSection, LogSection, ReferenceSection,
    TargetSection, TrafficSection,
};
use super::values::{Secret, Statuses, REDACTED};
use super::Settings;

/// How `check` shows a request body: `<23 bytes, fnv1a 0123456789abcdef>`. A hash to compare
/// two configurations by, not a seal: FNV-1a, 64 bits.
pub fn body_digest(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("<{} bytes, fnv1a {hash:016x}>", body.len())
}

/// The effective configuration, every default filled in, secrets redacted.
pub fn effective(s: &Settings) -> Value {
    // Only maps with string keys and plain values: serializing cannot fail.
    serde_json::to_value(ConfigFile::from(s)).unwrap_or(Value::Null)
}

impl From<&Settings> for ConfigFile {
    /// The configuration file that loads as `s`, but for secrets: header values replaced by
    /// `<redacted>`, bodies by [`body_digest`].
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
                            .map(|k| (k.to_string(), Secret::Text(REDACTED.into())))
                            .chain(e.secret_files.iter().map(|(k, f)| {
                                let file = f.path().to_path_buf();
                                (
                                    k.to_string(),
                                    Secret::File {
                                        file,
                                        prefix: String::new(),
                                    },
                                )
                            }))
                            .collect(),
                        vars: e.vars.clone(),
                        body: e.body.as_deref().map(body_digest),
                        requests_file: e.requests_file.clone(),
                        grpc: e.grpc.as_ref().map(|g| GrpcSection {
                            service: g.service.clone(),
                            method: g.method.clone(),
                            message: body_digest(&g.message),
                            descriptor_set: g.descriptor_set.clone(),
                        }),
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
                seed: s.traffic.seed,
            },
            gate: GateSection {
                criterion: g.clone(),
                ceiling: s.gate.ceiling,
                deadline: s.gate.deadline,
                on_deadline: s.gate.on_deadline,
                max_memory_mib: s.gate.max_memory_mib,
                reference: s
                    .gate
                    .reference
                    .as_ref()
                    .zip(g.reference.as_ref())
                    .map(|(q, r)| {
                        ReferenceSection {
                            prometheus_url: q.prometheus_url.to_string(),
                            query: q.query.clone(),
                            mode: r.mode,
                            tolerance: r.tolerance,
                            min_peers: r.min_peers,
                            refresh: q.refresh,
                            timeout: q.timeout,
                            // A file prints as its path, a variable's value as `<redacted>`.
                            bearer_token: q.bearer_token.clone(),
                            namespace: Some(q.namespace.clone()),
                            pod: Some(q.pod.clone()),
                            workload: Some(q.workload.clone()),
                        }
                    }),
            },
        }
    }
}
