//! Steps three and four of injecting a pod: what the app's own probes say that warmgate must
//! keep (its readiness path and scheme; its startup budget).

use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::annotations::ANN_PORT;
use super::error::InjectError;
use super::pod::{App, At};
use super::ports;
use crate::config::DEFAULT_WAIT_TIMEOUT;

/// The app's own readiness check, carried over into warmgate's `target`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppReadiness {
    /// The httpGet path of the app's readinessProbe, if it had one.
    pub path: Option<String>,
    /// The probe used `scheme: HTTPS`.
    pub https: bool,
}

/// The app's readiness httpGet, which warmgate keeps checking (on the warm-up port). Fails
/// when the probe names no port, an unknown one, or another port than warm-up's.
pub fn readiness(app: &App<'_>, app_port: u16, at: &At<'_>) -> Result<AppReadiness, InjectError> {
    let Some(get) = app.readiness_probe().and_then(|p| p.get("httpGet")) else {
        return Ok(AppReadiness::default());
    };
    let field = format!("{}.readinessProbe.httpGet", app.field);
    let port = get
        .get("port")
        .ok_or_else(|| at.err(format!("{field}.port"), "missing"))?;
    let port = ports::resolve(port, app.value).map_err(|m| at.err(format!("{field}.port"), m))?;
    if port != app_port {
        return Err(at.err(
            format!("{field}.port"),
            format!(
                "the app's readiness is served on port {port} but warm-up goes to port {app_port}; \
                 warmgate checks readiness_path on the warm-up port only: set {ANN_PORT} to {port}"
            ),
        ));
    }
    let path = get.get("path").and_then(Value::as_str).unwrap_or("/");
    let https = get
        .get("scheme")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    Ok(AppReadiness {
        path: Some(if path.is_empty() { "/" } else { path }.to_string()),
        https,
    })
}

/// `target.wait_timeout`: a slow-starting app keeps the startup budget it had, so warmgate
/// waits at least that long (and at least its default).
pub fn wait_timeout(app: &App<'_>) -> Duration {
    let had = app
        .value
        .get("startupProbe")
        .and_then(Value::as_mapping)
        .map_or(0, budget_s);
    Duration::from_secs(had).max(DEFAULT_WAIT_TIMEOUT)
}

/// `initialDelaySeconds + periodSeconds x failureThreshold` of a probe, with kubelet defaults.
fn budget_s(probe: &Mapping) -> u64 {
    let get = |k: &str, d: u64| probe.get(k).and_then(Value::as_u64).unwrap_or(d);
    get("initialDelaySeconds", 0) + get("periodSeconds", 10) * get("failureThreshold", 3)
}
