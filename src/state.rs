//! The agent's shared state: what the probe server answers from. The agent writes it after
//! each event; probe handlers only read it, under a lock held for microseconds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use crate::metrics::Metrics;

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The app is not accepting connections yet, or its own readiness fails.
    Waiting,
    /// Synthetic traffic runs; the gate has not passed yet.
    Warming,
    /// The gate passed (or the deadline passed with `open`).
    Ready,
    /// The deadline (or wait timeout) passed with `on_deadline: fail`. Final.
    Failed,
    /// SIGTERM/SIGINT received: unready, shutting down.
    Draining,
}

impl Phase {
    /// Every phase, in life order.
    pub const ALL: [Phase; 5] = [
        Phase::Waiting,
        Phase::Warming,
        Phase::Ready,
        Phase::Failed,
        Phase::Draining,
    ];

    /// The phase's lowercase name (metric label and status field).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Warming => "warming",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Draining => "draining",
        }
    }
}

/// One window row kept for /status.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRow {
    /// Window start, seconds since the warm-up began.
    pub start_s: f64,
    /// Requests completed.
    pub count: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// Gate-quantile latency, ms.
    pub q_ms: f64,
    /// Non-ok outcomes.
    pub errors: u64,
}

/// How many windows per endpoint /status shows.
pub const STATUS_WINDOWS: usize = 24;

/// The mutable part of the state.
#[derive(Debug)]
pub struct Inner {
    /// Current phase.
    pub phase: Phase,
    /// When the phase began.
    pub phase_since: Instant,
    /// One line: why not ready (or what happened).
    pub reason: String,
    /// True once a warm-up succeeded (or opened on the deadline) until the app restarts.
    pub started: bool,
    /// The app's own readiness passes (always true without `readiness_path`).
    pub app_ready: bool,
    /// Seconds from agent start to the first ready.
    pub time_to_ready_s: Option<f64>,
    /// Warm-ups started.
    pub warmups: u64,
    /// The last verdict, as shown in /status.
    pub verdict: Value,
    /// Recent windows per endpoint (name, rows), in endpoint order.
    pub windows: Vec<(String, VecDeque<WindowRow>)>,
}

/// State shared by the agent (writer) and the probe server (reader).
#[derive(Debug)]
pub struct Shared {
    inner: Mutex<Inner>,
    /// The metrics registry.
    pub metrics: Metrics,
    /// When the agent started.
    pub started_at: Instant,
    /// The gate quantile, for labels.
    pub quantile: f64,
}

impl Shared {
    /// Fresh state in phase `waiting`.
    pub fn new(metrics: Metrics, endpoints: &[String], quantile: f64) -> Arc<Shared> {
        let now = Instant::now();
        metrics.set_phase(Phase::Waiting);
        metrics.init_endpoints(endpoints);
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                phase: Phase::Waiting,
                phase_since: now,
                reason: "waiting for the app to accept connections".into(),
                started: false,
                app_ready: true,
                time_to_ready_s: None,
                warmups: 0,
                verdict: Value::Null,
                windows: endpoints
                    .iter()
                    .map(|n| (n.clone(), VecDeque::new()))
                    .collect(),
            }),
            metrics,
            started_at: now,
            quantile,
        })
    }

    /// Locks the state. A poisoned lock (a panic elsewhere) still yields the data: every write
    /// leaves it consistent field by field.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves to `phase` with `reason`, updating metrics. Leaving `draining` or `failed` is
    /// refused (both are final).
    pub fn set_phase(&self, phase: Phase, reason: impl Into<String>) {
        let mut s = self.lock();
        if matches!(s.phase, Phase::Draining | Phase::Failed)
            && s.phase != phase
            && phase != Phase::Draining
        {
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
                self.metrics.time_to_ready.set(t);
            }
        }
        if phase == Phase::Waiting || phase == Phase::Failed {
            s.started = false;
        }
        self.metrics.set_phase(phase);
        self.metrics.ready.set(i64::from(readyz_ok(&s)));
    }

    /// Records whether the app's own readiness passes.
    pub fn set_app_ready(&self, ok: bool) {
        let mut s = self.lock();
        s.app_ready = ok;
        self.metrics.ready.set(i64::from(readyz_ok(&s)));
    }

    /// The /readyz answer: `Ok(())` for 200, else the one-line reason.
    pub fn readyz(&self) -> Result<(), String> {
        let s = self.lock();
        if readyz_ok(&s) {
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

    /// The /status document.
    pub fn status(&self) -> Value {
        let s = self.lock();
        let q = format!("p{}", trim_quantile(self.quantile));
        let endpoints: Vec<Value> = s
            .windows
            .iter()
            .map(|(name, rows)| {
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        json!({"start_s": round3(r.start_s), "count": r.count, "p50_ms": round3(r.p50_ms),
                               format!("{q}_ms"): round3(r.q_ms), "errors": r.errors})
                    })
                    .collect();
                json!({"name": name, "windows": rows})
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "phase": s.phase,
            "ready": readyz_ok(&s),
            "started": s.started,
            "reason": s.reason,
            "uptime_s": round3(self.started_at.elapsed().as_secs_f64()),
            "phase_s": round3(s.phase_since.elapsed().as_secs_f64()),
            "time_to_ready_s": s.time_to_ready_s.map(round3),
            "warmups": s.warmups,
            "verdict": s.verdict,
            "endpoints": endpoints,
        })
    }
}

fn readyz_ok(s: &Inner) -> bool {
    s.phase == Phase::Ready && s.app_ready
}

/// `0.99` -> `"99"`, `0.999` -> `"99.9"`.
pub fn trim_quantile(q: f64) -> String {
    let s = format!("{:.4}", q * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        Shared::new(Metrics::new().expect("metrics"), &["home".into()], 0.99)
    }

    #[test]
    fn readyz_only_in_ready_and_app_ready() {
        let s = shared();
        assert!(s.readyz().is_err());
        s.set_phase(Phase::Warming, "p99 still falling");
        assert_eq!(s.readyz().unwrap_err(), "warming: p99 still falling");
        assert!(s.startupz().is_err());
        s.set_phase(Phase::Ready, "warm");
        assert!(s.readyz().is_ok());
        assert!(s.startupz().is_ok());
        s.set_app_ready(false);
        assert!(s.readyz().is_err());
        assert!(
            s.startupz().is_ok(),
            "startup is not about the app's own readiness"
        );
        assert_eq!(s.metrics.ready.get(), 0);
    }

    #[test]
    fn failed_and_draining_are_final() {
        let s = shared();
        s.set_phase(Phase::Failed, "deadline");
        s.set_phase(Phase::Ready, "late");
        assert_eq!(s.lock().phase, Phase::Failed);
        assert!(s.startupz().is_err());
        s.set_phase(Phase::Draining, "SIGTERM");
        s.set_phase(Phase::Warming, "x");
        assert_eq!(s.lock().phase, Phase::Draining);
    }

    #[test]
    fn app_restart_resets_startup() {
        let s = shared();
        s.set_phase(Phase::Ready, "warm");
        s.set_phase(Phase::Waiting, "app stopped accepting connections");
        assert!(s.startupz().is_err());
        assert!(
            s.lock().time_to_ready_s.is_some(),
            "first time to ready is kept"
        );
    }

    #[test]
    fn quantile_labels() {
        assert_eq!(trim_quantile(0.99), "99");
        assert_eq!(trim_quantile(0.999), "99.9");
        assert_eq!(trim_quantile(0.5), "50");
    }
}
