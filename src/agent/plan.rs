//! Turns validated settings into the engine's [`loadgen::Plan`] and the gate's settings.

use loadgen::grpc::GrpcCall;
use loadgen::{Endpoint, Plan, RateSchedule};

use crate::config::Settings;

/// The `User-Agent` of every synthetic request, so apps can keep them out of business metrics.
pub const USER_AGENT: &str = concat!("warmgate/", env!("CARGO_PKG_VERSION"));

/// The warm-up plan at `rate` (with the configured ramp when `ramp` is true). Each endpoint's URL
/// is its path set on the target URL ([`crate::config::Target::url_for`]), so no path can change
/// the host. `grpc` holds the gRPC endpoints' methods ([`resolve_grpc`]). Fails if the
/// settings were not validated (e.g. every weight zero) or a gRPC method is missing.
pub fn plan(
    s: &Settings,
    rate: f64,
    ramp: bool,
    grpc: &[Option<GrpcCall>],
) -> anyhow::Result<Plan> {
    let mut endpoints = Vec::with_capacity(s.endpoints.len());
    for (i, e) in s.endpoints.iter().enumerate() {
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
        if let Some(g) = &e.grpc {
            let call = grpc.get(i).cloned().flatten().ok_or_else(|| {
                anyhow::anyhow!("endpoint {:?}: its gRPC method is not resolved", e.name)
            })?;
            ep.set_grpc(call, &g.message)
                .map_err(|err| anyhow::anyhow!("endpoint {:?}: {err}", e.name))?;
        }
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

/// Each endpoint's gRPC method (`None` for HTTP endpoints): the one read from its
/// `descriptor_set` at load, else asked of the app by server reflection. Fails naming the
/// endpoint when reflection fails.
pub async fn resolve_grpc(s: &Settings) -> anyhow::Result<Vec<Option<GrpcCall>>> {
    let mut out = Vec::with_capacity(s.endpoints.len());
    for e in &s.endpoints {
        let call = match &e.grpc {
            None => None,
            Some(g) => match &g.call {
                Some(call) => Some(call.clone()),
                None => Some(
                    loadgen::grpc::reflect(
                        &s.target.url,
                        &g.service,
                        &g.method,
                        s.target.insecure_tls,
                    )
                    .await
                    .map_err(|err| anyhow::anyhow!("endpoint {:?}: {err}", e.name))?,
                ),
            },
        };
        out.push(call);
    }
    Ok(out)
}

/// A seed for a run without `traffic.seed`: different on each start (clock and process id).
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
