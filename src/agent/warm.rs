//! The warming phase: drive the engine, feed each window to metrics, status and the gate.

use loadgen::Snapshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::{plan, Agent, Warmed};
use crate::gate::{Gate, Rule, Verdict};
use crate::metrics::record_window;
use crate::phase::Phase;
use crate::state::WindowRow;

/// A window closed and the gate judged it.
#[derive(Debug, Clone)]
pub struct WindowEvent {
    /// Window index since this warm-up began.
    pub index: u64,
    /// Seconds since this warm-up began, at the window's end.
    pub at_s: f64,
    /// One row per endpoint, in plan order.
    pub rows: Vec<WindowRow>,
    /// The gate's verdict after this window.
    pub verdict: Verdict,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Agent {
    /// One warm-up, from the first request to a verdict, a deadline, an app restart or a stop.
    pub(super) async fn warm(&self, stop: &CancellationToken) -> Warmed {
        let s = &self.settings;
        self.board.begin_warmup();
        self.board
            .set_phase(Phase::Warming, "warming: collecting the first windows");
        let grpc = match plan::resolve_grpc(s).await {
            Ok(calls) => calls,
            Err(e) => return Warmed::NoTraffic(format!("cannot get the gRPC schema: {e:#}")),
        };
        if let Ok(mut kept) = self.grpc.lock() {
            kept.clone_from(&grpc);
        }
        let plan = match plan(s, s.traffic.rate, true, &grpc) {
            Ok(p) => p,
            Err(e) => return Warmed::NoTraffic(format!("cannot build the traffic plan: {e:#}")),
        };
        // The seed replays this warm-up's requests (traffic.seed), so it is logged.
        info!(target_url = %s.target.url, rate = s.traffic.rate, seed = plan.seed, phase = "warming", "Warm-up started.");
        let engine_stop = stop.child_token();
        let _guard = engine_stop.clone().drop_guard();
        let mut engine = match loadgen::run(plan, engine_stop) {
            Ok(e) => e,
            Err(e) => return Warmed::NoTraffic(format!("cannot start the traffic engine: {e}")),
        };
        let names: Vec<String> = s.endpoints.iter().map(|e| e.name.clone()).collect();
        let mut gate = Gate::new(s.gate.criterion.clone(), names);
        let rates = endpoint_rates(s);
        // The fleet reference is asked in the background and never waited for.
        let fleet = match &s.gate.reference {
            None => None,
            Some(q) => {
                let queries = crate::reference::endpoint_queries(
                    q,
                    &rates,
                    s.gate.criterion.quantile,
                    s.gate.criterion.window,
                );
                match crate::reference::FleetWatch::start(
                    q,
                    queries,
                    self.board.metrics().clone(),
                    stop,
                ) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        error!(error = %format!("{e:#}"), "Cannot ask Prometheus for the fleet reference; judging alone.");
                        None
                    }
                }
            }
        };
        let started = Instant::now();
        let deadline = started + s.gate.deadline;
        // A restart too short to show in a window is seen by the held connection closing.
        let watch = self.app.watch_restart();
        tokio::pin!(watch);
        loop {
            let snap = tokio::select! {
                _ = stop.cancelled() => return Warmed::Stopped,
                why = &mut watch => return Warmed::AppGone(why),
                _ = tokio::time::sleep_until(deadline) => {
                    let last = self.board.reason();
                    return Warmed::Deadline(format!(
                        "no warm verdict within gate.deadline {}; last: {last}",
                        humantime::format_duration(s.gate.deadline)
                    ));
                }
                snap = engine.next_window() => snap,
            };
            let Some(snap) = snap else {
                if stop.is_cancelled() {
                    return Warmed::Stopped;
                }
                return Warmed::EngineStopped;
            };
            if let Some(why) = app_gone(&snap) {
                return Warmed::AppGone(why);
            }
            let known = fleet.as_ref().map(|w| w.fleet());
            let verdict = gate.observe_with(&snap, known.as_ref());
            self.publish(&snap, &verdict, started);
            if verdict.ready {
                let t = started.elapsed().as_secs_f64();
                let rule = verdict.rule.unwrap_or(Rule::StandAlone);
                info!(
                    warmup_s = t,
                    phase = "ready",
                    streak = verdict.streak,
                    rule = rule.as_str(),
                    "Warm-up finished: every endpoint is warm."
                );
                self.export_ready(&verdict, &rates);
                let by = match rule {
                    Rule::Reference => " (within tolerance of the fleet reference)",
                    Rule::StandAlone => "",
                };
                self.board.set_phase(
                    Phase::Ready,
                    format!(
                        "warm: {} passing evaluations in a row after {t:.0}s{by}",
                        verdict.streak
                    ),
                );
                return Warmed::Ready;
            }
        }
    }

    /// A genuine pass: exports what the gate measured, for peers' `gate.reference` (kept while
    /// warmgate lives; a later genuine pass overwrites it).
    fn export_ready(&self, verdict: &Verdict, rates: &[(String, f64)]) {
        let s = &self.settings;
        let m = self.board.metrics();
        let workload = s
            .gate
            .reference
            .as_ref()
            .map(|r| r.workload.clone())
            .or_else(|| std::env::var(crate::config::reference::ENV_WORKLOAD).ok())
            .unwrap_or_default();
        let q_label = format!("{}", s.gate.criterion.quantile);
        let window = s.gate.criterion.window.as_secs_f64();
        for (e, (_, rate)) in verdict.endpoints.iter().zip(rates) {
            let Some(q) = e.q_ms else { continue };
            let name = e.name.as_str();
            m.ready_latency
                .with_label_values(&[name, workload.as_str(), q_label.as_str()])
                .set(q / 1000.0);
            m.ready_rate
                .with_label_values(&[name, workload.as_str()])
                .set(*rate);
            m.ready_window
                .with_label_values(&[name, workload.as_str()])
                .set(window);
        }
        let by = verdict.rule.unwrap_or(Rule::StandAlone);
        for rule in Rule::ALL {
            m.ready_rule
                .with_label_values(&[rule.as_str()])
                .set(i64::from(rule == by));
        }
    }

    /// Keeps sending at `traffic.after_ready_rate` until `stop` fires (metrics only, no verdict).
    pub(super) fn keep_warm(&self, stop: CancellationToken) {
        let s = &self.settings;
        let grpc = self.grpc.lock().map(|g| g.clone()).unwrap_or_default();
        let plan = match plan(s, s.traffic.after_ready_rate, false, &grpc) {
            Ok(p) => p,
            Err(e) => {
                error!(error = %format!("{e:#}"), "Cannot keep the app warm after ready.");
                return;
            }
        };
        let board = self.board.clone();
        match loadgen::run(plan, stop) {
            Ok(mut engine) => {
                tokio::spawn(async move {
                    let m = board.metrics();
                    while let Some(snap) = engine.next_window().await {
                        for w in &snap.endpoints {
                            record_window(m, w);
                        }
                        m.achieved_rate.set(snap.achieved_rate);
                        m.target_rate.set(snap.target_rate);
                    }
                    // The engine stopped (the app went away, or a drain): nothing is sent now.
                    m.achieved_rate.set(0.0);
                    m.target_rate.set(0.0);
                });
            }
            Err(e) => error!(error = %e, "Cannot keep the app warm after ready."),
        }
    }

    /// Writes one window and its verdict to metrics, /status, the log and the event channel.
    fn publish(&self, snap: &Snapshot, verdict: &Verdict, started: Instant) {
        let m = self.board.metrics();
        let q = self.settings.gate.criterion.quantile;
        // Prometheus spells quantile labels as numbers: `0.99`.
        let q_label = format!("{q}");
        let start_s = snap.start.as_secs_f64();
        let mut rows = Vec::with_capacity(snap.endpoints.len());
        for w in &snap.endpoints {
            record_window(m, w);
            let (p50, pq) = if w.latency.is_empty() {
                (0.0, 0.0)
            } else {
                (
                    ms(w.latency.value_at_quantile(0.5)),
                    ms(w.latency.value_at_quantile(q)),
                )
            };
            m.window_latency
                .with_label_values(&[w.name.as_str(), "0.5"])
                .set(p50 / 1000.0);
            m.window_latency
                .with_label_values(&[w.name.as_str(), q_label.as_str()])
                .set(pq / 1000.0);
            m.window_requests
                .with_label_values(&[w.name.as_str()])
                .set(w.outcomes.total() as i64);
            rows.push(WindowRow {
                name: w.name.clone(),
                start_s,
                count: w.outcomes.total(),
                p50_ms: p50,
                q_ms: pq,
                errors: w.outcomes.errors(),
            });
        }
        m.achieved_rate.set(snap.achieved_rate);
        m.target_rate.set(snap.target_rate);
        m.lag.set(snap.lag_p99_us() as f64 / 1e6);
        for e in &verdict.endpoints {
            let name = e.name.as_str();
            m.gate_pass
                .with_label_values(&[name])
                .set(i64::from(e.pass));
            for class in crate::gate::Class::ALL {
                m.gate_class
                    .with_label_values(&[name, class.as_str()])
                    .set(i64::from(class == e.class));
            }
            if let (Some(r), Some(b)) = (e.residual, e.residual_bound) {
                m.gate_residual
                    .with_label_values(&[name, "estimate"])
                    .set(r);
                m.gate_residual.with_label_values(&[name, "upper"]).set(b);
            }
            if let Some(s) = e.settle_s {
                m.gate_settle.with_label_values(&[name]).set(s);
            }
            if verdict.reference.is_some() {
                match (e.reference_ms, e.reference_peers) {
                    (Some(r), Some(p)) => {
                        m.reference_latency
                            .with_label_values(&[name])
                            .set(r / 1000.0);
                        m.reference_peers
                            .with_label_values(&[name])
                            .set(i64::from(p));
                    }
                    _ => {
                        let _ = m.reference_latency.remove_label_values(&[name]);
                        m.reference_peers.with_label_values(&[name]).set(0);
                    }
                }
            }
        }
        if let Some(age) = verdict.reference.as_ref().and_then(|r| r.age_s) {
            m.reference_age.with_label_values::<&str>(&[]).set(age);
        }
        m.gate_streak.set(i64::from(verdict.streak));
        m.evaluations
            .with_label_values(&[if verdict.pass { "pass" } else { "fail" }])
            .inc();

        let at_s = started.elapsed().as_secs_f64();
        let summary = verdict.summary();
        self.board.record_window(&rows);
        self.board.set_verdict(verdict.clone());
        for r in &rows {
            info!(endpoint = %r.name, window = snap.index, count = r.count, p50_ms = r.p50_ms,
                q_ms = r.q_ms, errors = r.errors, "Window closed.");
        }
        // `reference` is recorded only with gate.reference (an Option field is left out when None).
        let reference = reference_text(verdict).map(tracing::field::display);
        info!(pass = verdict.pass, streak = verdict.streak, required = verdict.required,
            verdict = %summary, reference, "Gate evaluated.");
        if let Some(tx) = &self.events {
            let _ = tx.try_send(WindowEvent {
                index: snap.index,
                at_s,
                rows,
                verdict: verdict.clone(),
            });
        }
    }
}

/// The fleet reference for the log: `checkout 12.3 ms (2 peers), search none; 1.2s old`, or
/// None without `gate.reference`.
fn reference_text(verdict: &Verdict) -> Option<String> {
    let r = verdict.reference.as_ref()?;
    let levels: Vec<String> = verdict
        .endpoints
        .iter()
        .map(|e| match (e.reference_ms, e.reference_peers) {
            (Some(ms), Some(p)) => format!("{} {ms} ms ({p} peers)", e.name),
            _ => format!("{} none", e.name),
        })
        .collect();
    let age = r
        .age_s
        .map_or_else(|| "no answer yet".to_string(), |a| format!("{a:.1}s old"));
    Some(format!("{}; {age}", levels.join(", ")))
}

/// Each endpoint's share of `traffic.rate` (requests per second), by weight, in plan order.
fn endpoint_rates(s: &crate::config::Settings) -> Vec<(String, f64)> {
    let total: f64 = s.endpoints.iter().map(|e| f64::from(e.weight)).sum();
    s.endpoints
        .iter()
        .map(|e| {
            let share = if total > 0.0 {
                f64::from(e.weight) / total
            } else {
                0.0
            };
            (e.name.clone(), s.traffic.rate * share)
        })
        .collect()
}

/// The app stopped accepting connections, or restarted within the window: nothing succeeded
/// and connections were refused, or at least 1% of the window's requests could not connect
/// (a listening app refuses none; an outage shorter than a window still leaves successes
/// around it, and the app that comes back is cold again).
fn app_gone(snap: &Snapshot) -> Option<String> {
    let (mut ok, mut refused, mut total) = (0u64, 0u64, 0u64);
    for w in &snap.endpoints {
        ok += w.outcomes.ok;
        refused += w.outcomes.connect_error;
        total += w.outcomes.total();
    }
    if refused == 0 {
        return None;
    }
    if ok == 0 {
        return Some(format!(
            "app stopped accepting connections ({refused} connection errors in the last window)"
        ));
    }
    (refused.saturating_mul(100) >= total).then(|| {
        format!("app restarted: {refused} of {total} requests could not connect in the last window")
    })
}
