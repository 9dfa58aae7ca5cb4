//! The window ticker: every `plan.window` it takes the accumulators, sends one [`Snapshot`] into a
//! bounded channel and folds the window into one running total per endpoint. When the schedule
//! ends it waits for the requests still in flight (up to the longest endpoint timeout), emits the
//! last, partial window (which runs until that drain ends) and returns the [`Report`].
//!
//! A reader that falls behind holds the ticker at `send` (back-pressure): windows then come late
//! and longer, but memory stays bounded by the channel's capacity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::pacer::Shared;
use crate::engine::schedule::{later, Schedule};
use crate::snapshot::{EndpointWindow, Report, Snapshot};

/// How often the drain checks whether every request has ended.
const DRAIN_POLL: Duration = Duration::from_millis(2);
/// How long to wait for the pacer thread to notice a cancellation.
const PACER_GRACE: Duration = Duration::from_millis(200);

/// The ticker's inputs.
#[derive(Debug)]
pub(crate) struct Ticker {
    /// Shared state (accumulators, cap, abandon token).
    pub(crate) shared: Arc<Shared>,
    /// Due times, for each window's target rate.
    pub(crate) schedule: Schedule,
    /// The run's t0.
    pub(crate) t0: Instant,
    /// Window length.
    pub(crate) window: Duration,
    /// The end of the schedule, if the plan has a duration.
    pub(crate) end: Option<Instant>,
    /// How long requests may still run after the schedule ended.
    pub(crate) drain: Duration,
    /// The user's cancellation: in-flight requests are abandoned.
    pub(crate) cancel: CancellationToken,
    /// Where snapshots go.
    pub(crate) tx: mpsc::Sender<Snapshot>,
    /// Reports the instant the pacer's schedule ended.
    pub(crate) pacer_done: oneshot::Receiver<Instant>,
}

impl Ticker {
    /// Runs until the schedule ended and drained, or the user cancelled.
    pub(crate) async fn run(mut self) -> Report {
        let names: Vec<String> = self.shared.recorder.names();
        let mut totals: Vec<EndpointWindow> = names.iter().map(EndpointWindow::empty).collect();
        let mut index = 0u64;
        let mut win_start = self.t0;
        let mut next_tick = later(self.t0, self.window);
        let mut schedule_end: Option<Instant> = None;
        let give_up = self.end.map(|e| later(e, self.drain));
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = &mut self.pacer_done, if schedule_end.is_none() => {
                    schedule_end = Some(r.unwrap_or_else(|_| Instant::now()));
                }
                _ = tokio::time::sleep_until(next_tick.into()), if schedule_end.is_none() => {
                    self.refresh_secrets();
                    let now = Instant::now();
                    let snap = self.take(index, win_start, now, None, &mut totals);
                    index += 1;
                    win_start = now;
                    while next_tick <= now {
                        next_tick = later(next_tick, self.window);
                    }
                    // An error only means the reader is gone; the run goes on to its report.
                    let _ = self.tx.send(snap).await;
                }
                _ = tokio::time::sleep(DRAIN_POLL), if schedule_end.is_some() => {
                    // The pacer still sends a paced backlog after the schedule's end.
                    if self.shared.dispatch.inflight() == 0 && self.shared.dispatch.backlog() == 0 {
                        break;
                    }
                }
                _ = sleep_until_opt(give_up) => break,
            }
        }
        // Whatever is still in flight now is abandoned and not counted.
        self.shared.abandon.cancel();
        if schedule_end.is_none() {
            // The pacer notices the cancellation within its check interval.
            let waited = tokio::time::timeout(PACER_GRACE, &mut self.pacer_done).await;
            schedule_end = waited.ok().and_then(Result::ok);
        }
        let now = Instant::now();
        let sched_end = schedule_end.unwrap_or(now).min(now);
        // Overdue requests sent after the schedule's end still belong to its time.
        let ran_until = self
            .shared
            .dispatch
            .last_send()
            .map_or(sched_end, |l| l.max(sched_end));
        let last = self.take(index, win_start, now, Some(sched_end), &mut totals);
        let _ = self.tx.send(last).await;
        let windows = index + 1;
        report(totals, now - self.t0, ran_until - self.t0, windows)
    }

    /// Re-reads the secret files that changed, so a rotated token goes out from the next window.
    /// A file that cannot be read keeps its last value, and is logged (path and reason only).
    fn refresh_secrets(&self) {
        for e in &self.shared.endpoints {
            for (name, file) in &e.secrets {
                if let Err(error) = file.refresh() {
                    tracing::warn!(%error, header = %name, "Secret file unreadable; its last value stays in use.");
                }
            }
        }
    }

    /// Takes the window `[start, now)` and adds it to `totals`. `sched_end` caps the target.
    fn take(
        &self,
        index: u64,
        start: Instant,
        now: Instant,
        sched_end: Option<Instant>,
        totals: &mut [EndpointWindow],
    ) -> Snapshot {
        let endpoints = self.shared.recorder.take();
        for (total, w) in totals.iter_mut().zip(&endpoints) {
            total.merge(w);
        }
        let length = now.saturating_duration_since(start);
        let from = start.saturating_duration_since(self.t0);
        let to = sched_end.unwrap_or(now).max(start);
        let due = self
            .schedule
            .count_at(to.saturating_duration_since(self.t0))
            - self.schedule.count_at(from);
        let secs = length.as_secs_f64();
        let sent: u64 = endpoints.iter().map(|e| e.sent).sum();
        Snapshot {
            index,
            start: from,
            length,
            target_rate: if secs > 0.0 { due / secs } else { 0.0 },
            achieved_rate: if secs > 0.0 { sent as f64 / secs } else { 0.0 },
            inflight: self.shared.dispatch.inflight(),
            endpoints,
        }
    }
}

/// Sleeps until `t`, or forever when there is no `t`.
async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The final report from the running totals.
fn report(
    endpoints: Vec<EndpointWindow>,
    elapsed: Duration,
    ran: Duration,
    windows: u64,
) -> Report {
    let mut total = EndpointWindow::empty("total");
    for e in &endpoints {
        total.merge(e);
    }
    let secs = ran.as_secs_f64();
    Report {
        elapsed,
        scheduled: total.scheduled,
        achieved_rate: if secs > 0.0 {
            total.sent as f64 / secs
        } else {
            0.0
        },
        windows,
        endpoints,
        total,
    }
}

/// An empty report for endpoints `names` (when the run could not report, e.g. runtime shutdown).
pub(crate) fn empty_report(names: &[String]) -> Report {
    report(
        names.iter().map(EndpointWindow::empty).collect(),
        Duration::ZERO,
        Duration::ZERO,
        0,
    )
}
