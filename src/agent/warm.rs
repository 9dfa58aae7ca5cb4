//! The warming phase: drive the engine, feed each window to metrics, status and the gate.

use loadgen::Snapshot;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::{plan, Agent, Warmed};
use crate::gate::{Gate, Verdict};
use crate::metrics::record_window;
use crate::state::{Phase, WindowRow, STATUS_WINDOWS};

/// One endpoint's line of a window, for the demo's display.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRow {
    /// Endpoint name.
    pub name: String,
    /// Requests completed in the window.
    pub count: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// Gate-quantile latency, ms.
    pub q_ms: f64,
    /// Non-ok outcomes.
    pub errors: u64,
}

/// A window closed and the gate judged it.
#[derive(Debug, Clone)]
pub struct WindowEvent {
    /// Window index since this warm-up began.
    pub index: u64,
    /// Seconds since this warm-up began, at the window's end.
    pub at_s: f64,
    /// One row per endpoint.
    pub rows: Vec<EndpointRow>,
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
        self.shared.metrics.warmups.inc();
        {
            let mut st = self.shared.lock();
            st.warmups += 1;
        }
        self.shared
            .set_phase(Phase::Warming, "warming: collecting the first windows");
        info!(target_url = %s.target.url, rate = s.traffic.rate, phase = "warming", "Warm-up started.");
        let plan = match plan(s, s.traffic.rate, true) {
            Ok(p) => p,
            Err(e) => return Warmed::Deadline(format!("cannot build the traffic plan: {e:#}")),
        };
        let engine_stop = stop.child_token();
        let _guard = engine_stop.clone().drop_guard();
        let mut engine = match loadgen::run(plan, engine_stop) {
            Ok(e) => e,
            Err(e) => return Warmed::Deadline(format!("cannot start the traffic engine: {e}")),
        };
        let names: Vec<String> = s.endpoints.iter().map(|e| e.name.clone()).collect();
        let mut gate = Gate::new(s.gate.criterion.clone(), names);
        let started = Instant::now();
        let deadline = started + s.gate.deadline;
        loop {
            let snap = tokio::select! {
                _ = stop.cancelled() => return Warmed::Stopped,
                _ = tokio::time::sleep_until(deadline) => {
                    let last = self.shared.lock().reason.clone();
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
                return Warmed::Deadline("the traffic engine stopped unexpectedly".into());
            };
            if let Some(why) = app_gone(&snap) {
                return Warmed::AppGone(why);
            }
            let verdict = gate.observe(&snap);
            self.publish(&snap, &verdict, started);
            if verdict.ready {
                let t = started.elapsed().as_secs_f64();
                info!(
                    warmup_s = t,
                    phase = "ready",
                    streak = verdict.streak,
                    "Warm-up finished: every endpoint is warm."
                );
                self.shared.set_phase(
                    Phase::Ready,
                    format!(
                        "warm: {} passing evaluations in a row after {t:.0}s",
                        verdict.streak
                    ),
                );
                return Warmed::Ready;
            }
        }
    }

    /// Keeps sending at `traffic.after_ready_rate` until `stop` fires (metrics only, no verdict).
    pub(super) fn keep_warm(&self, stop: CancellationToken) {
        let s = &self.settings;
        let plan = match plan(s, s.traffic.after_ready_rate, false) {
            Ok(p) => p,
            Err(e) => {
                error!(error = %format!("{e:#}"), "Cannot keep the app warm after ready.");
                return;
            }
        };
        let shared = self.shared.clone();
        match loadgen::run(plan, stop) {
            Ok(mut engine) => {
                tokio::spawn(async move {
                    while let Some(snap) = engine.next_window().await {
                        for w in &snap.endpoints {
                            record_window(&shared.metrics, w);
                        }
                        shared.metrics.achieved_rate.set(snap.achieved_rate);
                        shared.metrics.target_rate.set(snap.target_rate);
                    }
                });
            }
            Err(e) => error!(error = %e, "Cannot keep the app warm after ready."),
        }
    }

    /// Writes one window and its verdict to metrics, /status, the log and the event channel.
    fn publish(&self, snap: &Snapshot, verdict: &Verdict, started: Instant) {
        let m = &self.shared.metrics;
        let q = self.settings.gate.criterion.quantile;
        let q_label = format!("{q}");
        let mut rows = Vec::with_capacity(snap.endpoints.len());
        let mut lag = loadgen::snapshot::new_histogram();
        for w in &snap.endpoints {
            record_window(m, w);
            let _ = lag.add(&w.lag);
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
            rows.push(EndpointRow {
                name: w.name.clone(),
                count: w.outcomes.total(),
                p50_ms: p50,
                q_ms: pq,
                errors: w.outcomes.errors(),
            });
        }
        m.achieved_rate.set(snap.achieved_rate);
        m.target_rate.set(snap.target_rate);
        m.lag.set(if lag.is_empty() {
            0.0
        } else {
            lag.value_at_quantile(0.99) as f64 / 1e6
        });
        for e in &verdict.endpoints {
            m.gate_pass
                .with_label_values(&[e.name.as_str()])
                .set(i64::from(e.pass));
        }
        m.gate_streak.set(i64::from(verdict.streak));
        m.evaluations
            .with_label_values(&[if verdict.pass { "pass" } else { "fail" }])
            .inc();

        let at_s = started.elapsed().as_secs_f64();
        let summary = verdict.summary();
        {
            let mut st = self.shared.lock();
            st.verdict = serde_json::to_value(verdict).unwrap_or_default();
            if st.phase == Phase::Warming {
                st.reason = summary.clone();
            }
            let start_s = snap.start.as_secs_f64();
            for ((_, kept), row) in st.windows.iter_mut().zip(&rows) {
                kept.push_back(WindowRow {
                    start_s,
                    count: row.count,
                    p50_ms: row.p50_ms,
                    q_ms: row.q_ms,
                    errors: row.errors,
                });
                while kept.len() > STATUS_WINDOWS {
                    kept.pop_front();
                }
            }
        }
        for r in &rows {
            info!(endpoint = %r.name, window = snap.index, count = r.count, p50_ms = r.p50_ms,
                q_ms = r.q_ms, errors = r.errors, "Window closed.");
        }
        info!(pass = verdict.pass, streak = verdict.streak, required = verdict.required,
            verdict = %summary, "Gate evaluated.");
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

/// The app stopped accepting connections if nothing in the window succeeded and connections
/// were refused.
fn app_gone(snap: &Snapshot) -> Option<String> {
    let (mut ok, mut refused) = (0u64, 0u64);
    for w in &snap.endpoints {
        ok += w.outcomes.ok;
        refused += w.outcomes.connect_error;
    }
    (ok == 0 && refused > 0).then(|| {
        format!(
            "app stopped accepting connections ({refused} connection errors in the last window)"
        )
    })
}
