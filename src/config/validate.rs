//! Stage two: the typed [`ConfigFile`] -> validated [`Settings`], one section at a time,
//! collecting every problem. A value that fails its check is reported and replaced by its
//! default, so that the checks after it still run.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use super::defaults::{
    DEFAULT_LISTEN, DEFAULT_PORT, DEFAULT_RATE_PER_ENDPOINT, DEFAULT_TARGET_URL,
};
use super::endpoints::endpoints;
use super::paths::check_path;
use super::problem::{Checks, Problem, Problems, Section};
use super::schema::{ConfigFile, GateSection, LogSection, TargetSection, TrafficSection};
use super::values::REDACTED;
use super::{EndpointSettings, GateConfig, LogFormat, Settings, Target, Traffic};
use crate::gate::{EndpointSpec, GateSettings};

/// Checks `file` and builds the settings it describes, or returns every problem found. The
/// values are typed already (see [`super::load`] for text): what can fail here are ranges, the
/// target's host, endpoint names and paths, and combinations of sections.
pub fn validate(file: ConfigFile) -> Result<Settings, Vec<Problem>> {
    let mut problems = Problems::default();
    let settings = settings(file, &mut problems);
    if problems.0.is_empty() {
        Ok(settings)
    } else {
        Err(problems.0)
    }
}

/// Builds the settings, recording problems (bad values take their defaults).
pub(super) fn settings(file: ConfigFile, problems: &mut Problems) -> Settings {
    let mut top = Checks::of(Section::Top, problems);
    let listen = file.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
        top.problem(
            "listen",
            format!(
                "invalid address {:?}: {e} (write e.g. {DEFAULT_LISTEN:?})",
                file.listen
            ),
        );
        SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))
    });
    let (log_format, log_level) = log(file.log, problems);
    let target = target(file.target, problems);
    let endpoints = endpoints(file.endpoints, problems);
    let traffic = traffic(file.traffic, endpoints.len(), problems);
    let gate = gate(file.gate, &endpoints, problems);
    let settings = Settings {
        listen,
        log_format,
        log_level,
        shutdown_grace: file.shutdown_grace,
        target,
        endpoints,
        traffic,
        gate,
    };
    cross_checks(&settings, problems);
    settings
}

fn log(log: LogSection, problems: &mut Problems) -> (LogFormat, String) {
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log.level) {
        Checks::of(Section::Log, problems)
            .problem("level", format!("invalid filter {:?}: {e}", log.level));
    }
    (log.format, log.level)
}

fn target(t: TargetSection, problems: &mut Problems) -> Target {
    let mut c = Checks::of(Section::Target, problems);
    // Shown in messages, logs and `check` only without its user and password.
    let shown = redact_userinfo(&t.url);
    let url = match Url::parse(&t.url) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            c.problem(
                "url",
                format!(
                    "{shown:?} carries a user or password, which would be logged; send \
                     credentials in an endpoint's headers instead"
                ),
            );
            default_url()
        }
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !t.allow_remote && !is_loopback(&u) {
                c.problem(
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
            c.problem(
                "url",
                format!(
                    "{shown:?} must be http:// or https:// with a host (got scheme {:?})",
                    u.scheme()
                ),
            );
            default_url()
        }
        Err(e) => {
            c.problem("url", format!("invalid URL {shown:?}: {e}"));
            default_url()
        }
    };
    if let Some(p) = &t.readiness_path {
        if let Err(message) = check_path(p) {
            c.problem("readiness_path", message);
        }
    }
    Target {
        url,
        allow_remote: t.allow_remote,
        readiness_path: t.readiness_path,
        wait_timeout: t.wait_timeout,
        http: t.http.into(),
        insecure_tls: t.insecure_tls,
    }
}

/// `url` with anything between `scheme://` and the last `@` of its authority replaced by
/// `<redacted>`: text, because a URL that does not parse may still hold a password.
pub(super) fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &url[..start], &rest[at..]),
        None => url.to_string(),
    }
}

fn default_url() -> Url {
    Url::parse(DEFAULT_TARGET_URL).expect("DEFAULT_TARGET_URL parses (see its test)")
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

fn traffic(t: TrafficSection, endpoints: usize, problems: &mut Problems) -> Traffic {
    let mut c = Checks::of(Section::Traffic, problems);
    let rate = t
        .rate
        .unwrap_or(DEFAULT_RATE_PER_ENDPOINT * endpoints.max(1) as f64);
    if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
        c.problem(
            "rate",
            format!("{rate} must be > 0 and <= 100000 requests per second"),
        );
    }
    if t.max_inflight == 0 || t.max_inflight > 100_000 {
        c.problem(
            "max_inflight",
            format!("{} must be between 1 and 100000", t.max_inflight),
        );
    }
    let after = t.after_ready_rate;
    if !(after.is_finite() && (0.0..=100_000.0).contains(&after)) {
        c.problem(
            "after_ready_rate",
            format!("{after} must be >= 0 and <= 100000"),
        );
    }
    Traffic {
        rate,
        max_inflight: t.max_inflight,
        ramp: t.ramp,
        after_ready_rate: after,
        seed: t.seed,
    }
}

fn gate(g: GateSection, endpoints: &[EndpointSettings], problems: &mut Problems) -> GateConfig {
    let n = &g.criterion;
    let mut c = Checks::of(Section::Gate, problems);
    for (key, v, lo, hi) in [
        ("quantile", n.quantile, 0.0, 1.0),
        ("tolerance", n.tolerance, 0.0, 10.0),
        ("interval", n.interval, 0.0, 10.0),
        ("max_rise", n.max_rise, 0.0, 10.0),
    ] {
        if !(v.is_finite() && v > lo && v < hi) {
            c.problem(
                key,
                format!("{v} must be between {lo} and {hi} (exclusive)"),
            );
        }
    }
    if !(n.confidence.is_finite() && (0.5..=0.9999).contains(&n.confidence)) {
        c.problem(
            "confidence",
            format!("{} must be between 0.5 and 0.9999", n.confidence),
        );
    }
    if n.horizon < n.window || n.horizon > Duration::from_secs(3600) {
        c.problem(
            "horizon",
            format!(
                "{} must be between gate.window and 1h",
                humantime::format_duration(n.horizon)
            ),
        );
    }
    for (key, v) in [
        ("max_error_rate", n.max_error_rate),
        ("min_rate_ratio", n.min_rate_ratio),
    ] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            c.problem(key, format!("{v} must be between 0 and 1"));
        }
    }
    if n.consecutive == 0 {
        c.problem("consecutive", "must be at least 1");
    }
    windows(n.window, n.lookback, &mut c);
    if g.max_memory_mib == 0 {
        c.problem("max_memory_mib", "must be at least 1");
    }
    if g.deadline.is_zero() {
        c.problem("deadline", "must be longer than zero");
    }
    let (rule, query) = match g
        .reference
        .as_ref()
        .map(|r| super::reference::reference(r, &mut c))
    {
        Some(Some((rule, query))) => (Some(rule), Some(query)),
        _ => (None, None),
    };
    let specs = endpoints
        .iter()
        .map(|e| EndpointSpec {
            name: e.name.clone(),
            ceiling: e.ceiling.or(g.ceiling),
        })
        .collect();
    GateConfig {
        criterion: GateSettings {
            endpoints: specs,
            reference: rule,
            ..g.criterion
        },
        reference: query,
        ceiling: g.ceiling,
        deadline: g.deadline,
        on_deadline: g.on_deadline,
        max_memory_mib: g.max_memory_mib,
    }
}

/// The lookback must be whole windows, at least 4 (the shortest segment the gate judges), within
/// the gate's memory bound.
fn windows(window: Duration, lookback: Duration, c: &mut Checks<'_>) {
    if window < Duration::from_millis(100) {
        c.problem(
            "window",
            format!(
                "{} is too short (at least 100ms)",
                humantime::format_duration(window)
            ),
        );
        return;
    }
    let n = lookback.as_secs_f64() / window.as_secs_f64();
    let max = GateSettings::MAX_LOOKBACK_WINDOWS as f64;
    if n < 4.0 - 1e-9 || n > max || (n - n.round()).abs() > 1e-6 {
        c.problem(
            "lookback",
            format!(
                "must be a whole multiple of gate.window, 4 to {max} windows (got {} / {} = {n:.2})",
                humantime::format_duration(lookback),
                humantime::format_duration(window)
            ),
        );
    }
}

/// Bytes of one histogram as the engine and the gate allocate it (loadgen's standard bounds).
fn histogram_bytes() -> u64 {
    let counts = loadgen::snapshot::new_histogram().distinct_values();
    (counts * std::mem::size_of::<u64>()) as u64
}

/// The gate keeps one histogram per endpoint per lookback window: refuses settings whose
/// histograms would pass `gate.max_memory_mib`.
fn memory(s: &Settings, problems: &mut Problems) {
    let windows = s.gate.criterion.lookback_windows() as u64;
    let need = s.endpoints.len() as u64 * windows * histogram_bytes();
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    if need > s.gate.max_memory_mib.saturating_mul(1 << 20) {
        problems.push(
            Section::Gate,
            "gate.lookback",
            format!(
                "{} endpoints x {windows} windows of histograms need ~{:.0} MiB, more than \
                 gate.max_memory_mib {} (lengthen gate.window, shorten gate.lookback, or raise \
                 the bound together with the container's memory limit)",
                s.endpoints.len(),
                mib(need),
                s.gate.max_memory_mib
            ),
        );
    }
}

/// Problems that involve several sections.
fn cross_checks(s: &Settings, problems: &mut Problems) {
    memory(s, problems);
    // gRPC is HTTP/2 only: plain http needs h2c (https negotiates h2 with `auto` too).
    let h1 = s.target.http == loadgen::HttpVersion::Http1
        || (s.target.http == loadgen::HttpVersion::Auto && s.target.url.scheme() == "http");
    if let Some(i) = s
        .endpoints
        .iter()
        .position(|e| e.grpc.is_some())
        .filter(|_| h1)
    {
        problems.push(
            Section::Endpoints,
            &format!("endpoints[{i}].grpc"),
            "gRPC needs HTTP/2: set target.http to h2c (or auto on https)",
        );
    }
    let total_weight: u64 = s.endpoints.iter().map(|e| u64::from(e.weight)).sum();
    if !s.endpoints.is_empty() && total_weight == 0 {
        problems.push(
            Section::Endpoints,
            Section::Endpoints.key(),
            "every weight is 0: nothing would be sent",
        );
        return;
    }
    // The tail is judged over at most the lookback's histograms.
    let span = s.gate.criterion.lookback.as_secs_f64();
    for (i, e) in s.endpoints.iter().enumerate() {
        if e.weight == 0 {
            problems.push(
                Section::Endpoints,
                &format!("endpoints[{i}].weight"),
                "0 would never send this endpoint, so it could never be judged warm",
            );
            continue;
        }
        let rate = s.traffic.rate * f64::from(e.weight) / total_weight as f64;
        let expected = rate * span;
        if expected < s.gate.criterion.min_samples as f64 {
            problems.push(
                Section::Traffic,
                "traffic.rate",
                format!(
                    "endpoint {:?} gets {rate:.0} rps, so the lookback ({span:.0}s) holds ~{expected:.0} samples, \
                     fewer than gate.min_samples {}: it could never become ready (raise the rate or the lookback)",
                    e.name, s.gate.criterion.min_samples
                ),
            );
        }
    }
}
