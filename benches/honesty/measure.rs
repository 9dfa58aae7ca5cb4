//! Measuring what users would see: open-loop traffic with the `loadgen` engine (latency from each
//! request's intended send time) and probe polling.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use loadgen::{Endpoint, Plan, RateSchedule};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The p99 and friends of one open-loop burst of user traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Requests the schedule asked for.
    pub requests: u64,
    /// Requests that completed (ok or not) before the schedule ended.
    pub completed: u64,
    /// Requests still in flight when the schedule ended; counted in the percentiles with a
    /// lower bound of their latency (end of run minus intended send time), never dropped.
    pub abandoned: u64,
    /// Completed requests that failed (status not accepted, timeout, connection error...).
    pub errors: u64,
    /// Median latency from intended send time, ms.
    pub p50_ms: f64,
    /// 99th percentile latency from intended send time, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// p99 latency of each 1 s window (by completion time), ms: where in the burst the tail was.
    pub window_p99_ms: Vec<f64>,
}

/// Sends `n` requests at `rate` per second, open loop, spread evenly over `endpoints` of `base`,
/// and returns latency percentiles measured from each request's intended send time.
pub async fn open_loop(
    base: &str,
    endpoints: &[(&str, &str)],
    n: u64,
    rate: f64,
    seed: u64,
) -> Result<Measured> {
    let mut eps = Vec::with_capacity(endpoints.len());
    for (name, path) in endpoints {
        let url = Url::parse(&format!("{base}{path}"))
            .with_context(|| format!("bad URL {base}{path}"))?;
        let mut ep = Endpoint::get(*name, url);
        ep.timeout = Duration::from_secs(10);
        eps.push(ep);
    }
    let mut plan = Plan::try_new(
        eps,
        RateSchedule::Constant(rate),
        4096,
        Duration::from_secs(1),
    )
    .context("bad user-traffic plan")?;
    let length = Duration::from_secs_f64(n as f64 / rate);
    plan.duration = Some(length);
    plan.seed = seed;
    plan.user_agent = "honesty-bench-user/0.1".into();
    let mut engine =
        loadgen::run(plan, CancellationToken::new()).context("cannot start loadgen")?;
    let mut window_p99_ms = Vec::new();
    while let Some(w) = engine.next_window().await {
        let mut all = loadgen::snapshot::new_histogram();
        for e in &w.endpoints {
            // Same bounds everywhere: `add` cannot fail.
            let _ = all.add(&e.latency);
        }
        if !all.is_empty() {
            window_p99_ms.push(all.value_at_quantile(0.99) as f64 / 1000.0);
        }
    }
    let report = engine.finish().await;
    let total = &report.total;
    let completed = total.outcomes.total();
    let requests = report.scheduled.max(n);
    let abandoned = requests.saturating_sub(completed);
    let mut latency = total.latency.clone();
    // Lower bounds for requests still in flight at the end: the smallest possible latencies are
    // those of the latest-due requests, so this never overstates the tail.
    let end = report.elapsed.as_secs_f64();
    for j in 0..abandoned {
        let due = (requests - 1 - j) as f64 / rate;
        let lb_us = ((end - due).max(0.0) * 1e6) as u64;
        latency.saturating_record(lb_us.max(1));
    }
    if latency.is_empty() {
        bail!("no request completed against {base}");
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(Measured {
        requests,
        completed,
        abandoned,
        errors: total.outcomes.errors(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        window_p99_ms,
    })
}

/// An HTTP client for probes: short timeout, a new connection per request (as the kubelet does).
pub fn probe_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .pool_max_idle_per_host(0)
        .user_agent("kube-probe/1.33")
        .build()
        .context("cannot build the probe client")
}

/// The status code of `GET url`, or `None` on a connection error or timeout.
pub async fn status_of(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Polls `url` every 100 ms until it answers 200; returns the time since `since`, or `None` if
/// `limit` (from `since`) passes first. `alive` is called between polls and may abort the wait.
pub async fn poll_ready(
    client: &reqwest::Client,
    url: &str,
    since: Instant,
    limit: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<Option<Duration>> {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if status_of(client, url).await == Some(200) {
            return Ok(Some(since.elapsed()));
        }
        alive()?;
        if since.elapsed() >= limit {
            return Ok(None);
        }
    }
}
