//! The agent's state, cached for the probe server: the [`StatusBoard`]. The agent reports to it
//! through intent methods (a phase, a window, a verdict); probe handlers only read it, under a
//! lock held for microseconds. The rules live here, once: `draining` is final, `failed` is
//! left only for `waiting` (the app restarted), and while warming the reason is the last verdict's summary.
//!
//! - [`status`]: the typed /status document and the one window row.

pub mod status;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::gate::{GateSettings, Verdict};
use crate::metrics::Metrics;
use crate::phase::Phase;

pub use status::{EndpointStatus, StatusDocument, WindowRow};

/// How many windows per endpoint /status shows.
pub const STATUS_WINDOWS: usize = 24;

/// The mutable part of the board; only the board's methods touch it.
#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// When the phase began.
    phase_since: Instant,
    /// One line: why not ready (or what happened).
    reason: String,
    /// True once a warm-up succeeded (or opened on the deadline) until the app restarts.
    started: bool,
    /// The app's own readiness passes (always true without `readiness_path`).
    app_ready: bool,
    /// Seconds from agent start to the first ready.
    time_to_ready_s: Option<f64>,
    /// Warm-ups started.
    warmups: u64,
    /// The last verdict of this warm-up.
    verdict: Option<Verdict>,
    /// Recent windows per endpoint (name, rows), in endpoint order.
    windows: Vec<(String, VecDeque<WindowRow>)>,
}

impl Inner {
    fn readyz_ok(&self) -> bool {
        self.phase == Phase::Ready && self.app_ready
    }
}

/// What the agent (the only writer) reports and the probe server (a reader) answers from:
/// the phase, the reason, the last verdict, recent windows, and the metrics registry.
#[derive(Debug)]
pub struct StatusBoard {
    inner: Mutex<Inner>,
    metrics: Metrics,
    /// When the agent started.
    started_at: Instant,
    /// The key of the gate quantile's column in /status windows (`p99_ms`).
    quantile_key: Arc<str>,
}

impl StatusBoard {
    /// A fresh board in phase `waiting` for `endpoints`, judged by `gate` (for the quantile's
    /// name in /status).
    pub fn new(metrics: Metrics, endpoints: &[String], gate: &GateSettings) -> Arc<StatusBoard> {
        let now = Instant::now();
        metrics.set_phase(Phase::Waiting);
        metrics.init_endpoints(endpoints);
        Arc::new(StatusBoard {
            inner: Mutex::new(Inner {
                phase: Phase::Waiting,
                phase_since: now,
                reason: "waiting for the app to accept connections".into(),
                started: false,
                app_ready: true,
                time_to_ready_s: None,
                warmups: 0,
                verdict: None,
                windows: endpoints
                    .iter()
                    .map(|n| (n.clone(), VecDeque::new()))
                    .collect(),
            }),
            metrics,
            started_at: now,
            quantile_key: format!("{}_ms", gate.quantile_label()).into(),
        })
    }

    /// A poisoned lock (a panic elsewhere) still yields the data: every method leaves it
    /// consistent field by field.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Moves to `phase` with `reason`, updating metrics. Leaving `draining` is refused (it is
    /// final); `failed` is left only for `waiting` (the app restarted: a fresh try) or
    /// `draining`.
    pub fn set_phase(&self, phase: Phase, reason: impl Into<String>) {
        let mut s = self.lock();
        let allowed = match s.phase {
            Phase::Draining => phase == Phase::Draining,
            Phase::Failed => matches!(phase, Phase::Failed | Phase::Waiting | Phase::Draining),
            _ => true,
        };
        if !allowed {
            return;
        }
        if s.phase != phase {
            s.phase_since = Instant::now();
        }
        s.phase = phase;
        s.reason = reason.into();
        if phase == Phase::Ready {
            s.started = true;
            if s.time_to_ready_s.is_none() {
                let t = self.started_at.elapsed().as_secs_f64();
                s.time_to_ready_s = Some(t);
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.metrics.set_ready_at(t, unix);
            }
        }
        if phase == Phase::Waiting || phase == Phase::Failed {
            s.started = false;
        }
        self.metrics.set_phase(phase);
        self.metrics.ready.set(i64::from(s.readyz_ok()));
    }

    /// Records that the app's own readiness passes (or that it is not configured).
    pub fn set_app_ready(&self) {
        let mut s = self.lock();
        s.app_ready = true;
        self.metrics.ready.set(i64::from(s.readyz_ok()));
    }

    /// Records that the app's own readiness fails, `why`. The reason is kept only outside the
    /// halted phases, whose reason says why the agent stopped.
    pub fn set_app_unready(&self, why: String) {
        let mut s = self.lock();
        s.app_ready = false;
        if !s.phase.is_halted() {
            s.reason = why;
        }
        self.metrics.ready.set(i64::from(s.readyz_ok()));
    }

    /// Counts a warm-up starting (in /status and `warmgate_warmups_total`).
    pub fn begin_warmup(&self) {
        self.metrics.warmups.inc();
        self.lock().warmups += 1;
    }

    /// Keeps one window's rows (one per endpoint, in endpoint order) for /status, the last
    /// [`STATUS_WINDOWS`] per endpoint.
    pub fn record_window(&self, rows: &[WindowRow]) {
        let mut s = self.lock();
        for ((_, kept), row) in s.windows.iter_mut().zip(rows) {
            kept.push_back(row.clone());
            while kept.len() > STATUS_WINDOWS {
                kept.pop_front();
            }
        }
    }

    /// Keeps the gate's latest verdict; while warming, its summary becomes the reason.
    pub fn set_verdict(&self, verdict: Verdict) {
        let mut s = self.lock();
        if s.phase == Phase::Warming {
            s.reason = verdict.summary();
        }
        s.verdict = Some(verdict);
    }

    /// Forgets the windows and the verdict (the app restarted; the next warm-up starts over).
    pub fn reset_windows(&self) {
        let mut s = self.lock();
        for (_, rows) in s.windows.iter_mut() {
            rows.clear();
        }
        s.verdict = None;
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// The current one-line reason.
    pub fn reason(&self) -> String {
        self.lock().reason.clone()
    }

    /// The phase and its reason, read together.
    pub fn phase_and_reason(&self) -> (Phase, String) {
        let s = self.lock();
        (s.phase, s.reason.clone())
    }

    /// Seconds from agent start to the first ready, once there was one.
    pub fn time_to_ready_s(&self) -> Option<f64> {
        self.lock().time_to_ready_s
    }

    /// The /readyz answer: `Ok(())` for 200, else the one-line reason.
    pub fn readyz(&self) -> Result<(), String> {
        let s = self.lock();
        if s.readyz_ok() {
            Ok(())
        } else if s.phase == Phase::Ready {
            Err("app's own readiness check fails".into())
        } else {
            Err(format!("{}: {}", s.phase.name(), s.reason))
        }
    }

    /// The /startupz answer.
    pub fn startupz(&self) -> Result<(), String> {
        let s = self.lock();
        match s.phase {
            Phase::Failed => Err(format!("failed: {}", s.reason)),
            _ if s.started => Ok(()),
            p => Err(format!("{}: {}", p.name(), s.reason)),
        }
    }

    /// The /metrics text, with the time in the current phase brought up to date.
    pub fn metrics_text(&self) -> String {
        let since = self.lock().phase_since.elapsed().as_secs_f64();
        self.metrics.phase_duration.set(since);
        self.metrics.encode()
    }

    /// The /status document.
    pub fn status(&self) -> StatusDocument {
        use status::round3;
        let s = self.lock();
        StatusDocument {
            version: env!("CARGO_PKG_VERSION"),
            phase: s.phase,
            ready: s.readyz_ok(),
            started: s.started,
            reason: s.reason.clone(),
            uptime_s: round3(self.started_at.elapsed().as_secs_f64()),
            phase_s: round3(s.phase_since.elapsed().as_secs_f64()),
            time_to_ready_s: s.time_to_ready_s.map(round3),
            warmups: s.warmups,
            verdict: s.verdict.clone(),
            endpoints: s
                .windows
                .iter()
                .map(|(name, rows)| EndpointStatus {
                    name: name.clone(),
                    quantile_key: self.quantile_key.clone(),
                    windows: rows.iter().cloned().collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
