//! Turns validated settings into the engine's [`loadgen::Plan`] and the gate's settings.

use loadgen::{Endpoint, Plan, RateSchedule};

use crate::config::Settings;

/// The `User-Agent` of every synthetic request, so apps can keep them out of business metrics.
pub const USER_AGENT: &str = concat!("warmgate/", env!("CARGO_PKG_VERSION"));

/// The warm-up plan at `rate` (with the configured ramp when `ramp` is true). Each endpoint's URL
/// is its path set on the target URL ([`crate::config::Target::url_for`]), so no path can change
/// the host. Fails only if the settings were not validated (e.g. every weight zero).
pub fn plan(s: &Settings, rate: f64, ramp: bool) -> anyhow::Result<Plan> {
    let mut endpoints = Vec::with_capacity(s.endpoints.len());
    for e in &s.endpoints {
        let mut ep = Endpoint::get(e.name.clone(), s.target.url_for(&e.path));
        ep.method = e.method.clone();
        ep.headers = e.headers.clone();
        ep.body = e.body.clone().map(bytes::Bytes::from);
        ep.weight = e.weight;
        ep.accept = e.expect_status.clone();
        ep.expect_body = e.expect_body.clone();
        ep.timeout = e.timeout;
        ep.template = e.template.clone();
        ep.secret_headers = e.secret_files.clone();
        ep.recorded = e.recorded.clone();
        endpoints.push(ep);
    }
    let schedule = if ramp && !s.traffic.ramp.is_zero() {
        RateSchedule::Ramp {
            from: rate * 0.1,
            to: rate,
            over: s.traffic.ramp,
        }
    } else {
        RateSchedule::Constant(rate)
    };
    let mut plan = Plan::try_new(
        endpoints,
        schedule,
        s.traffic.max_inflight,
        s.gate.criterion.window,
    )?;
    plan.http = s.target.http;
    plan.accept_invalid_certs = s.target.insecure_tls;
    plan.user_agent = USER_AGENT.to_string();
    plan.seed = s.traffic.seed.unwrap_or_else(fresh_seed);
    Ok(plan)
}

/// A seed for a run without `traffic.seed`: different on each start (clock and process id).
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
