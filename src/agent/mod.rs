//! The agent: waits for the app, warms it, asks the gate, holds the verdict, re-warms after an
//! app restart, and drains on a stop signal.
//!
//! `waiting` -> `warming` -> `ready`, with `failed` (deadline with `fail`) and `draining` final.

mod app;
mod plan;
mod warm;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use app::{AppProbe, AppState};
pub use plan::{plan, USER_AGENT};
pub use warm::{EndpointRow, WindowEvent};

use crate::config::{OnDeadline, Settings};
use crate::state::{Phase, Shared};

/// How often the app is checked while waiting and while ready.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The agent. Build with [`Agent::new`], then [`Agent::run`] until its stop token fires.
#[derive(Debug)]
pub struct Agent {
    settings: Settings,
    shared: Arc<Shared>,
    app: AppProbe,
    events: Option<mpsc::Sender<WindowEvent>>,
}

/// How a warm-up ended.
#[derive(Debug)]
enum Warmed {
    Ready,
    AppGone(String),
    Deadline(String),
    Stopped,
}

impl Agent {
    /// An agent for `settings`, reporting into `shared`. Fails if the app probe's HTTP client
    /// cannot be built.
    pub fn new(settings: Settings, shared: Arc<Shared>) -> anyhow::Result<Agent> {
        let app = AppProbe::new(
            &settings.target.url,
            settings.target.readiness_path.as_deref(),
            settings.target.insecure_tls,
        )?;
        shared
            .metrics
            .deadline
            .set(settings.gate.deadline.as_secs_f64());
        Ok(Agent {
            settings,
            shared,
            app,
            events: None,
        })
    }

    /// Also sends every window and verdict to `tx` (the demo's display). Never blocks the agent:
    /// events are dropped when the receiver lags.
    pub fn with_events(mut self, tx: mpsc::Sender<WindowEvent>) -> Agent {
        self.events = Some(tx);
        self
    }

    /// Runs until `stop` fires. Never returns an error: every failure is a phase and a reason.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if !self.wait_for_app(&stop).await {
                return;
            }
            match self.warm(&stop).await {
                Warmed::Stopped => return,
                Warmed::AppGone(why) => {
                    warn!(reason = %why, phase = "waiting", "App went away during warm-up; will warm again.");
                    self.back_to_waiting(why);
                    continue;
                }
                Warmed::Deadline(why) => {
                    if !self.on_deadline(why, &stop).await {
                        return;
                    }
                }
                Warmed::Ready => {}
            }
            match self.hold_ready(&stop).await {
                None => return,
                Some(why) => {
                    warn!(reason = %why, phase = "waiting", "App stopped accepting connections; will warm again.");
                    self.back_to_waiting(why);
                }
            }
        }
    }

    fn back_to_waiting(&self, why: String) {
        self.shared.set_phase(Phase::Waiting, why);
        let mut s = self.shared.lock();
        for (_, rows) in s.windows.iter_mut() {
            rows.clear();
        }
        s.verdict = serde_json::Value::Null;
    }

    /// Waits for the app to accept connections and pass its own readiness. False when stopped
    /// or failed (wait timeout with `fail`).
    async fn wait_for_app(&self, stop: &CancellationToken) -> bool {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            match self.app.check().await {
                AppState::Up => return true,
                AppState::NotReady(why) | AppState::Down(why) => {
                    if why != last {
                        info!(reason = %why, phase = "waiting", "Waiting for the app.");
                        self.shared.set_phase(Phase::Waiting, why.clone());
                        last = why;
                    }
                }
            }
            if started.elapsed() >= self.settings.target.wait_timeout {
                let why = format!(
                    "the app was not up within target.wait_timeout {}: {last}",
                    humantime::format_duration(self.settings.target.wait_timeout)
                );
                return self.on_deadline(why, stop).await;
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }

    /// Applies `gate.on_deadline`. True when the agent goes on as ready (`open`); false when
    /// it failed for good (it then waits for the stop signal) or was stopped.
    async fn on_deadline(&self, why: String, stop: &CancellationToken) -> bool {
        match self.settings.gate.on_deadline {
            OnDeadline::Open => {
                error!(reason = %why, phase = "ready", on_deadline = "open",
                    "DEADLINE PASSED WITHOUT A WARM VERDICT: OPENING ANYWAY because gate.on_deadline is open.");
                self.shared.metrics.deadline_opened.inc();
                self.shared
                    .set_phase(Phase::Ready, format!("opened on deadline: {why}"));
                true
            }
            OnDeadline::Fail => {
                error!(reason = %why, phase = "failed", "Warm-up failed: deadline passed; staying unready for good.");
                self.shared.set_phase(Phase::Failed, why);
                stop.cancelled().await;
                false
            }
        }
    }

    /// Holds `ready`, passing the app's own readiness through and watching for a restart.
    /// Returns the reason the app went away, or None when stopped.
    async fn hold_ready(&self, stop: &CancellationToken) -> Option<String> {
        let engine_stop = stop.child_token();
        let _guard = engine_stop.clone().drop_guard();
        if self.settings.traffic.after_ready_rate > 0.0 {
            self.keep_warm(engine_stop);
        }
        let mut downs = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            match self.app.check().await {
                AppState::Up => {
                    downs = 0;
                    self.shared.set_app_ready(true);
                }
                AppState::NotReady(why) => {
                    downs = 0;
                    self.shared.set_app_ready(false);
                    self.shared.lock().reason = why;
                }
                AppState::Down(why) => {
                    // Two failures in a row: one refused connect can be a full backlog.
                    downs += 1;
                    if downs >= 2 {
                        self.shared.set_app_ready(true);
                        return Some(why);
                    }
                }
            }
        }
    }
}
