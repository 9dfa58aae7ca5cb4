//! Stage two: raw merged values -> [`Settings`], one section at a time, collecting problems.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use loadgen::{HttpVersion, StatusSet};
use serde_json::Value;
use url::{Host, Url};

use super::fields::{kind, Problems, Table};
use super::{
    ConfigErrors, EndpointSettings, GateConfig, LogFormat, OnDeadline, Settings, Target, Traffic,
};
use crate::gate::GateSettings;

/// The default probe/metrics/status address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9901";

pub(super) fn build(raw: Value) -> Result<Settings, ConfigErrors> {
    let mut problems = Problems::default();
    let mut top = Table::open("", raw, &mut problems);

    let listen_text: String = top.get("listen", DEFAULT_LISTEN.to_string());
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|e| {
        top.problem(
            "listen",
            format!("invalid address {listen_text:?}: {e} (write e.g. \"0.0.0.0:9901\")"),
        );
        SocketAddr::from(([0, 0, 0, 0], 9901))
    });
    let shutdown_grace = top.duration("shutdown_grace", Duration::from_secs(5));

    let (log_format, log_level) = log(top.raw("log"), top.problems());
    let target = target(top.raw("target"), top.problems());
    let endpoints = endpoints(top.raw("endpoints"), top.problems());
    let traffic = traffic(top.raw("traffic"), top.problems(), endpoints.len());
    let mut gate = gate(top.raw("gate"), top.problems());
    gate.criterion.ceilings = endpoints
        .iter()
        .map(|e| e.ceiling.or(gate.ceiling))
        .collect();
    top.finish();

    let settings = Settings {
        listen,
        log_format,
        log_level,
        shutdown_grace,
        target,
        endpoints,
        traffic,
        gate,
    };
    cross_checks(&settings, &mut problems);
    if problems.0.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigErrors(problems.0))
    }
}

fn log(raw: Option<Value>, problems: &mut Problems) -> (LogFormat, String) {
    let mut t = Table::open("log", raw.unwrap_or(Value::Null), problems);
    let format = match t.get::<String>("format", "text".into()).as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            t.problem("format", format!("unknown format {other:?} (text or json)"));
            LogFormat::Text
        }
    };
    let level: String = t.get("level", "info".into());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
        t.problem("level", format!("invalid filter {level:?}: {e}"));
    }
    t.finish();
    (format, level)
}

fn target(raw: Option<Value>, problems: &mut Problems) -> Target {
    let mut t = Table::open("target", raw.unwrap_or(Value::Null), problems);
    let url_text: String = t.get("url", "http://127.0.0.1:8080".into());
    let allow_remote: bool = t.get("allow_remote", false);
    let url = match Url::parse(&url_text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !allow_remote && !is_loopback(&u) {
                t.problem(
                    "url",
                    format!(
                        "host {:?} is not loopback; warmgate sends synthetic traffic only to its own pod \
                         unless target.allow_remote is true",
                        u.host_str().unwrap_or("")
                    ),
                );
            }
            u
        }
        Ok(u) => {
            t.problem(
                "url",
                format!(
                    "{url_text:?} must be http:// or https:// with a host (got scheme {:?})",
                    u.scheme()
                ),
            );
            fallback_url()
        }
        Err(e) => {
            t.problem("url", format!("invalid URL {url_text:?}: {e}"));
            fallback_url()
        }
    };
    let readiness_path: Option<String> = t.opt("readiness_path");
    if let Some(p) = &readiness_path {
        if !p.starts_with('/') {
            t.problem("readiness_path", format!("{p:?} must start with '/'"));
        }
    }
    let wait_timeout = t.duration("wait_timeout", Duration::from_secs(300));
    let http = match t.get::<String>("http", "http1".into()).as_str() {
        "http1" => HttpVersion::Http1,
        "h2c" | "http2" => HttpVersion::Http2PriorKnowledge,
        "auto" => HttpVersion::Auto,
        other => {
            t.problem(
                "http",
                format!("unknown version {other:?} (http1, h2c or auto)"),
            );
            HttpVersion::Http1
        }
    };
    let insecure_tls: bool = t.get("insecure_tls", false);
    t.finish();
    Target {
        url,
        allow_remote,
        readiness_path,
        wait_timeout,
        http,
        insecure_tls,
    }
}

fn fallback_url() -> Url {
    Url::parse("http://127.0.0.1:8080").expect("constant URL parses")
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn endpoints(raw: Option<Value>, problems: &mut Problems) -> Vec<EndpointSettings> {
    let list = match raw {
        None => return vec![default_endpoint("root", "/")],
        Some(Value::Array(list)) => list,
        Some(other) => {
            problems.push(
                "endpoints",
                format!("expected a list, got {}", kind(&other)),
            );
            return Vec::new();
        }
    };
    if list.is_empty() {
        problems.push("endpoints", "the list is empty; give at least one endpoint");
    }
    let mut out: Vec<EndpointSettings> = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let path = format!("endpoints[{i}]");
        let e = endpoint(&path, item, problems);
        if out.iter().any(|o| o.name == e.name) {
            problems.push(
                &format!("{path}.name"),
                format!("duplicate endpoint name {:?}", e.name),
            );
        }
        out.push(e);
    }
    out
}

fn default_endpoint(name: &str, path: &str) -> EndpointSettings {
    EndpointSettings {
        name: name.to_string(),
        path: path.to_string(),
        method: Method::GET,
        headers: HeaderMap::new(),
        body: None,
        weight: 1,
        expect_status: StatusSet::default(),
        expect_body: None,
        timeout: Duration::from_secs(2),
        ceiling: None,
    }
}

fn endpoint(path: &str, raw: Value, problems: &mut Problems) -> EndpointSettings {
    let mut t = Table::open(path, raw, problems);
    let ep_path: String = t.get("path", "/".into());
    if !ep_path.starts_with('/') {
        t.problem("path", format!("{ep_path:?} must start with '/'"));
    }
    let default_name = ep_path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect::<String>();
    let name: String = t.get(
        "name",
        if default_name.is_empty() {
            "root".into()
        } else {
            default_name
        },
    );
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        t.problem(
            "name",
            format!("{name:?} must be 1-64 characters of [a-zA-Z0-9_-]"),
        );
    }
    let method_text: String = t.get("method", "GET".into());
    let method =
        Method::from_bytes(method_text.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
            t.problem("method", format!("invalid method {method_text:?}"));
            Method::GET
        });
    let mut headers = HeaderMap::new();
    if let Some(raw_headers) = t.opt::<std::collections::BTreeMap<String, String>>("headers") {
        for (k, v) in raw_headers {
            match (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                // Never echo the value: it may be a secret.
                (Err(_), _) => t.problem("headers", format!("invalid header name {k:?}")),
                (_, Err(_)) => t.problem(
                    "headers",
                    format!("header {k:?} has an invalid value (not shown)"),
                ),
            }
        }
    }
    let body: Option<String> = t.opt("body");
    let weight: u32 = t.get("weight", 1);
    let expect_status = match t.raw("expect_status") {
        None => StatusSet::default(),
        Some(v) => parse_statuses(&v).unwrap_or_else(|msg| {
            t.problem("expect_status", msg);
            StatusSet::default()
        }),
    };
    let expect_body: Option<String> = t.opt("expect_body");
    let timeout = t.duration("timeout", Duration::from_secs(2));
    if timeout.is_zero() {
        t.problem("timeout", "must be longer than zero");
    }
    let ceiling = t.opt_duration("ceiling");
    t.finish();
    EndpointSettings {
        name,
        path: ep_path,
        method,
        headers,
        body,
        weight,
        expect_status,
        expect_body,
        timeout,
        ceiling,
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

/// Default warm-up rate per endpoint, requests per second. At 200 rps each endpoint's 5 s window
/// holds 1,000 samples, and its p99 moves by about 6-12% from sampling alone (lognormal sigma
/// 0.5-1); at 100 rps, 8-17% and more on a busy machine, and a slowdown that starts as the
/// warm-up ends can look flat for a lookback (docs/DESIGN.md, "Trend checks and noise").
pub const DEFAULT_RATE_PER_ENDPOINT: f64 = 200.0;

fn traffic(raw: Option<Value>, problems: &mut Problems, endpoints: usize) -> Traffic {
    let mut t = Table::open("traffic", raw.unwrap_or(Value::Null), problems);
    let default_rate = DEFAULT_RATE_PER_ENDPOINT * endpoints.max(1) as f64;
    let rate: f64 = t.get("rate", default_rate);
    if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
        t.problem(
            "rate",
            format!("{rate} must be > 0 and <= 100000 requests per second"),
        );
    }
    let max_inflight: usize = t.get("max_inflight", 64);
    if max_inflight == 0 || max_inflight > 100_000 {
        t.problem(
            "max_inflight",
            format!("{max_inflight} must be between 1 and 100000"),
        );
    }
    let ramp = t.duration("ramp", Duration::from_secs(5));
    let after_ready_rate: f64 = t.get("after_ready_rate", 0.0);
    if !(after_ready_rate.is_finite() && (0.0..=100_000.0).contains(&after_ready_rate)) {
        t.problem(
            "after_ready_rate",
            format!("{after_ready_rate} must be >= 0 and <= 100000"),
        );
    }
    t.finish();
    Traffic {
        rate,
        max_inflight,
        ramp,
        after_ready_rate,
    }
}

fn gate(raw: Option<Value>, problems: &mut Problems) -> GateConfig {
    let mut t = Table::open("gate", raw.unwrap_or(Value::Null), problems);
    let fraction = |t: &mut Table<'_>, key: &str, default: f64, lo: f64, hi: f64| -> f64 {
        let v: f64 = t.get(key, default);
        if !(v.is_finite() && v > lo && v < hi) {
            t.problem(
                key,
                format!("{v} must be between {lo} and {hi} (exclusive)"),
            );
        }
        v
    };
    let d = GateSettings::default();
    let quantile = fraction(&mut t, "quantile", d.quantile, 0.0, 1.0);
    let tolerance = fraction(&mut t, "tolerance", d.tolerance, 0.0, 10.0);
    let interval = fraction(&mut t, "interval", d.interval, 0.0, 10.0);
    let trend_z = fraction(&mut t, "trend_z", d.trend_z, 0.0, 100.0);
    let max_drift = fraction(&mut t, "max_drift", d.max_drift, 0.0, 10.0);
    let max_error_rate: f64 = t.get("max_error_rate", d.max_error_rate);
    if !(max_error_rate.is_finite() && (0.0..=1.0).contains(&max_error_rate)) {
        t.problem(
            "max_error_rate",
            format!("{max_error_rate} must be between 0 and 1"),
        );
    }
    let min_rate_ratio: f64 = t.get("min_rate_ratio", d.min_rate_ratio);
    if !(min_rate_ratio.is_finite() && (0.0..=1.0).contains(&min_rate_ratio)) {
        t.problem(
            "min_rate_ratio",
            format!("{min_rate_ratio} must be between 0 and 1"),
        );
    }
    let window = t.duration("window", d.window);
    let lookback = t.duration("lookback", d.lookback);
    let consecutive: u32 = t.get("consecutive", d.consecutive);
    if consecutive == 0 {
        t.problem("consecutive", "must be at least 1");
    }
    let noise_floor = t.duration("noise_floor", d.noise_floor);
    let min_samples: u64 = t.get("min_samples", d.min_samples);
    let min_requests: u64 = t.get("min_requests", d.min_requests);
    let max_lag = t.duration("max_lag", d.max_lag);
    let ceiling = t.opt_duration("ceiling");
    let deadline = t.duration("deadline", Duration::from_secs(600));
    let on_deadline = match t.get::<String>("on_deadline", "fail".into()).as_str() {
        "fail" => OnDeadline::Fail,
        "open" => OnDeadline::Open,
        other => {
            t.problem(
                "on_deadline",
                format!("unknown value {other:?} (fail or open)"),
            );
            OnDeadline::Fail
        }
    };
    if window < Duration::from_millis(100) {
        t.problem(
            "window",
            format!(
                "{} is too short (at least 100ms)",
                humantime::format_duration(window)
            ),
        );
    } else {
        let n = lookback.as_secs_f64() / window.as_secs_f64();
        let max = GateSettings::MAX_LOOKBACK_WINDOWS as f64;
        if n < 4.0 - 1e-9 || n > max || (n - n.round()).abs() > 1e-6 || (n.round() as u64) % 2 != 0
        {
            t.problem(
                "lookback",
                format!(
                    "must be an even multiple of gate.window, 4 to {max} windows (got {} / {} = {n:.2})",
                    humantime::format_duration(lookback),
                    humantime::format_duration(window)
                ),
            );
        }
    }
    if deadline.is_zero() {
        t.problem("deadline", "must be longer than zero");
    }
    t.finish();
    GateConfig {
        criterion: GateSettings {
            quantile,
            window,
            lookback,
            consecutive,
            tolerance,
            noise_floor,
            interval,
            trend_z,
            max_drift,
            max_error_rate,
            min_samples,
            min_requests,
            min_rate_ratio,
            max_lag,
            // Resolved per endpoint once the endpoints are known (see `build`).
            ceilings: Vec::new(),
        },
        ceiling,
        deadline,
        on_deadline,
    }
}

/// Problems that involve several sections.
fn cross_checks(s: &Settings, problems: &mut Problems) {
    let total_weight: u64 = s.endpoints.iter().map(|e| u64::from(e.weight)).sum();
    if !s.endpoints.is_empty() && total_weight == 0 {
        problems.push("endpoints", "every weight is 0: nothing would be sent");
        return;
    }
    let half = s.gate.criterion.lookback.as_secs_f64() / 2.0;
    for (i, e) in s.endpoints.iter().enumerate() {
        if e.weight == 0 {
            problems.push(
                &format!("endpoints[{i}].weight"),
                "0 would never send this endpoint, so it could never be judged warm",
            );
            continue;
        }
        let rate = s.traffic.rate * f64::from(e.weight) / total_weight as f64;
        let expected = rate * half;
        if expected < s.gate.criterion.min_samples as f64 {
            problems.push(
                "traffic.rate",
                format!(
                    "endpoint {:?} gets {rate:.0} rps, so half the lookback ({half:.0}s) holds ~{expected:.0} samples, \
                     fewer than gate.min_samples {}: it could never become ready (raise the rate or the lookback)",
                    e.name, s.gate.criterion.min_samples
                ),
            );
        }
    }
}
