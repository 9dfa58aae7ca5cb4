//! The agent: waits for the app, warms it, asks the gate, holds the verdict, re-warms after an
//! app restart, and drains on a stop signal.
//!
//! `waiting` -> `warming` -> `ready`; `failed` (deadline with `fail`) until the app restarts
//! (refused, then accepted again) or its own readiness goes down and up, then `waiting` with a
//! fresh deadline; `draining` is final.

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
pub use plan::{plan, resolve_grpc, USER_AGENT};
pub use warm::WindowEvent;

use crate::config::{OnDeadline, Settings};
use crate::phase::Phase;
use crate::state::StatusBoard;

/// How often the app is checked while waiting and while ready.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The agent. Build with [`Agent::new`], then [`Agent::run`] until its stop token fires.
#[derive(Debug)]
pub struct Agent {
    settings: Settings,
    board: Arc<StatusBoard>,
    app: AppProbe,
    events: Option<mpsc::Sender<WindowEvent>>,
    /// The gRPC methods of the endpoints (`None` for HTTP ones), resolved at each warm-up start
    /// (reflection asks the app, which may have restarted with a new schema).
    grpc: std::sync::Mutex<Vec<Option<loadgen::grpc::GrpcCall>>>,
}

/// How a warm-up ended.
#[derive(Debug)]
enum Warmed {
    /// The gate passed.
    Ready,
    /// The app stopped accepting connections (why): warm again once it is back.
    AppGone(String),
    /// `gate.deadline` passed without a warm verdict (why, with the last reason).
    Deadline(String),
    /// No traffic could be sent: the plan could not be built or the engine not started (why).
    /// Trying again cannot help, so `gate.on_deadline` applies at once.
    NoTraffic(String),
    /// The engine ended its windows without being asked to (a bug): no verdict can come, so
    /// `gate.on_deadline` applies at once.
    EngineStopped,
    /// The stop token fired.
    Stopped,
}

/// What follows a warm-up that ended without a warm verdict, under `gate.on_deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterDeadline {
    /// `open`: go on as ready.
    Open,
    /// `fail`, and the app has since restarted: wait for it again with a fresh deadline.
    Retry,
    /// The stop token fired.
    Stopped,
}

/// Why a warm-up ended without a warm verdict, for the log line of `gate.on_deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unwarmed {
    /// `gate.deadline` or `target.wait_timeout` passed.
    Deadline,
    /// The traffic plan could not be built or the engine not started.
    NoTraffic,
    /// The engine stopped on its own.
    EngineStopped,
}

impl Unwarmed {
    /// What happened, as the log's headline.
    fn headline(self) -> &'static str {
        match self {
            Unwarmed::Deadline => "DEADLINE PASSED WITHOUT A WARM VERDICT",
            Unwarmed::NoTraffic => "CANNOT SEND WARM-UP TRAFFIC",
            Unwarmed::EngineStopped => "THE TRAFFIC ENGINE STOPPED UNEXPECTEDLY",
        }
    }

    /// What happened, within a sentence.
    fn what(self) -> &'static str {
        match self {
            Unwarmed::Deadline => "deadline passed",
            Unwarmed::NoTraffic => "cannot send warm-up traffic",
            Unwarmed::EngineStopped => "the traffic engine stopped unexpectedly",
        }
    }

    /// The reason shown once `open` made the agent ready anyway.
    fn opened(self, why: &str) -> String {
        match self {
            Unwarmed::Deadline => format!("opened on deadline: {why}"),
            _ => format!("opened without a warm verdict: {why}"),
        }
    }
}

impl Agent {
    /// An agent for `settings`, reporting to `board`. Fails if the app probe's HTTP client
    /// cannot be built.
    pub fn new(settings: Settings, board: Arc<StatusBoard>) -> anyhow::Result<Agent> {
        let app = AppProbe::new(
            &settings.target.url,
            settings.target.readiness_path.as_deref(),
            settings.target.insecure_tls,
        )?;
        board
            .metrics()
            .deadline
            .set(settings.gate.deadline.as_secs_f64());
        Ok(Agent {
            settings,
            board,
            app,
            events: None,
            grpc: std::sync::Mutex::new(Vec::new()),
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
                    match self
                        .on_deadline(Unwarmed::Deadline, why, false, &stop)
                        .await
                    {
                        AfterDeadline::Open => {}
                        AfterDeadline::Retry => continue,
                        AfterDeadline::Stopped => return,
                    }
                }
                Warmed::NoTraffic(why) => {
                    match self
                        .on_deadline(Unwarmed::NoTraffic, why, false, &stop)
                        .await
                    {
                        AfterDeadline::Open => {}
                        AfterDeadline::Retry => continue,
                        AfterDeadline::Stopped => return,
                    }
                }
                Warmed::EngineStopped => {
                    let why = "the traffic engine stopped unexpectedly".to_string();
                    match self
                        .on_deadline(Unwarmed::EngineStopped, why, false, &stop)
                        .await
                    {
                        AfterDeadline::Open => {}
                        AfterDeadline::Retry => continue,
                        AfterDeadline::Stopped => return,
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
        self.board.set_phase(Phase::Waiting, why);
        self.board.reset_windows();
        self.not_sending();
    }

    /// Zeroes the rate gauges while no traffic runs, so they never show a stale warm-up rate.
    fn not_sending(&self) {
        let m = self.board.metrics();
        m.target_rate.set(0.0);
        m.achieved_rate.set(0.0);
    }

    /// Waits for the app to accept connections and pass its own readiness. False when stopped.
    /// A wait timeout with `fail` fails until the app comes up, then waits again afresh.
    async fn wait_for_app(&self, stop: &CancellationToken) -> bool {
        let mut started = Instant::now();
        let mut last = String::new();
        loop {
            match self.app.check().await {
                AppState::Up => return true,
                AppState::NotReady(why) | AppState::Down(why) => {
                    if why != last {
                        info!(reason = %why, phase = "waiting", "Waiting for the app.");
                        self.board.set_phase(Phase::Waiting, why.clone());
                        last = why;
                    }
                }
            }
            if started.elapsed() >= self.settings.target.wait_timeout {
                let why = format!(
                    "the app was not up within target.wait_timeout {}: {last}",
                    humantime::format_duration(self.settings.target.wait_timeout)
                );
                match self.on_deadline(Unwarmed::Deadline, why, true, stop).await {
                    AfterDeadline::Open => return true,
                    AfterDeadline::Stopped => return false,
                    AfterDeadline::Retry => {
                        started = Instant::now();
                        last.clear();
                        continue;
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }

    /// Applies `gate.on_deadline` to a warm-up that ended without a warm verdict (`cause`,
    /// `why`; `app_down`: the app was not up when it ended). With `fail` the agent stays
    /// `failed` until the app restarts, then it is back in `waiting` ([`AfterDeadline::Retry`]).
    async fn on_deadline(
        &self,
        cause: Unwarmed,
        why: String,
        app_down: bool,
        stop: &CancellationToken,
    ) -> AfterDeadline {
        match self.settings.gate.on_deadline {
            OnDeadline::Open => {
                error!(reason = %why, phase = "ready", on_deadline = "open",
                    "{}: OPENING ANYWAY because gate.on_deadline is open.", cause.headline());
                self.board.metrics().deadline_opened.inc();
                self.board.set_phase(Phase::Ready, cause.opened(&why));
                AfterDeadline::Open
            }
            OnDeadline::Fail => {
                error!(reason = %why, phase = "failed",
                    "Warm-up failed: {}; unready until the app restarts.", cause.what());
                self.board.set_phase(Phase::Failed, why);
                self.not_sending();
                if !self.wait_for_restart(app_down, stop).await {
                    return AfterDeadline::Stopped;
                }
                info!(
                    phase = "waiting",
                    "The app restarted; trying again with a fresh deadline."
                );
                self.back_to_waiting("the app restarted after a failed warm-up".into());
                AfterDeadline::Retry
            }
        }
    }

    /// While `failed`: waits until the app has been down or unready (`seen_gone` if it already
    /// was) and is up again. In a pod the kubelet restarts the app when `/startupz` fails, not
    /// warmgate, so a failure that outlived the app's restart would wedge the pod. False when
    /// stopped.
    async fn wait_for_restart(&self, mut seen_gone: bool, stop: &CancellationToken) -> bool {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            match self.app.check().await {
                AppState::Up if seen_gone => return true,
                AppState::Up => {}
                AppState::NotReady(_) | AppState::Down(_) => seen_gone = true,
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
        } else {
            self.not_sending();
        }
        let mut downs = 0;
        // A restart between two checks is seen by the held connection closing.
        let watch = self.app.watch_restart();
        tokio::pin!(watch);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return None,
                why = &mut watch => {
                    self.board.set_app_ready();
                    return Some(why);
                }
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            match self.app.check().await {
                AppState::Up => {
                    downs = 0;
                    self.board.set_app_ready();
                }
                AppState::NotReady(why) => {
                    downs = 0;
                    self.board.set_app_unready(why);
                }
                AppState::Down(why) => {
                    // Two failures in a row: one refused connect can be a full backlog.
                    downs += 1;
                    if downs >= 2 {
                        self.board.set_app_ready();
                        return Some(why);
                    }
                }
            }
        }
    }
}
