//! The effective configuration as a value, for `warmgate check` and `/status`. Header values
//! are replaced by `<redacted>`: they may be credentials.

use std::time::Duration;

use loadgen::HttpVersion;
use serde_json::{json, Value};

use super::Settings;

fn d(x: Duration) -> String {
    humantime::format_duration(x).to_string()
}

/// The effective configuration, every default filled in, secrets redacted.
pub fn effective(s: &Settings) -> Value {
    let endpoints: Vec<Value> = s
        .endpoints
        .iter()
        .map(|e| {
            let headers: serde_json::Map<String, Value> = e
                .headers
                .keys()
                .map(|k| (k.as_str().to_string(), Value::from("<redacted>")))
                .collect();
            let statuses: Vec<String> = e
                .expect_status
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
            json!({
                "name": e.name, "path": e.path, "method": e.method.as_str(), "headers": headers,
                "body": e.body, "weight": e.weight, "expect_status": statuses.join(","),
                "expect_body": e.expect_body, "timeout": d(e.timeout), "ceiling": e.ceiling.map(d),
            })
        })
        .collect();
    let http = match s.target.http {
        HttpVersion::Http1 => "http1",
        HttpVersion::Http2PriorKnowledge => "h2c",
        HttpVersion::Auto => "auto",
    };
    let g = &s.gate.criterion;
    json!({
        "listen": s.listen.to_string(),
        "log": {"format": s.log_format, "level": s.log_level},
        "shutdown_grace": d(s.shutdown_grace),
        "target": {
            "url": s.target.url.as_str(), "allow_remote": s.target.allow_remote,
            "readiness_path": s.target.readiness_path, "wait_timeout": d(s.target.wait_timeout),
            "http": http, "insecure_tls": s.target.insecure_tls,
        },
        "endpoints": endpoints,
        "traffic": {
            "rate": s.traffic.rate, "max_inflight": s.traffic.max_inflight,
            "ramp": d(s.traffic.ramp), "after_ready_rate": s.traffic.after_ready_rate,
        },
        "gate": {
            "quantile": g.quantile, "window": d(g.window), "lookback": d(g.lookback),
            "consecutive": g.consecutive, "tolerance": g.tolerance, "noise_floor": d(g.noise_floor),
            "interval": g.interval, "trend_z": g.trend_z, "max_drift": g.max_drift,
            "max_error_rate": g.max_error_rate, "min_samples": g.min_samples,
            "min_requests": g.min_requests, "min_rate_ratio": g.min_rate_ratio,
            "max_lag": d(g.max_lag), "ceiling": s.gate.ceiling.map(d), "deadline": d(s.gate.deadline),
            "on_deadline": s.gate.on_deadline,
        },
    })
}
