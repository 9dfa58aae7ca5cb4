//! The pacer: a dedicated OS thread that marks request `i` due at t0 + due(i) and hands every
//! request a place is free for to the runtime (`Handle::spawn`).
//!
//! tokio's timer has a 1 ms granularity, which would add about 0.5 ms of fake lag to every
//! request; `std::thread::sleep` wakes within tens of microseconds. Each wake-up releases every
//! request already due. When the in-flight cap is full the pacer does not wait: overdue requests
//! stay in the backlog (see `cap`) and the tasks that end take them over, so the schedule never
//! pauses, nothing is dropped, and memory stays constant. The backlog is paced (`catchup`):
//! what the tasks may not take yet the pacer sends as tokens accrue, also after the schedule's
//! end, until the backlog is empty or the drain deadline abandons it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::engine::cap::{Dispatch, Permit, Ticket};
use crate::engine::pool::Pool;
use crate::engine::recorder::Recorder;
use crate::engine::request::Prepared;
use crate::engine::schedule::{later, Chooser, Schedule};
use crate::outcome::Outcome;

/// The longest the pacer sleeps before checking for cancellation again.
const CHECK_EVERY: Duration = Duration::from_millis(20);
/// While a backlog exists only finishing tasks can send, so the pacer may wake less often.
const BACKLOG_NAP: Duration = Duration::from_micros(200);
/// How far due-counting may run ahead of sending (bounds the pacer's work when the target rate
/// is far above what the app can take: `scheduled` then lags behind the clock).
const MAX_COUNT_AHEAD: u64 = 1_000_000;

/// Everything a request task needs, shared.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The engine's kept-alive connections.
    pub(crate) pool: Pool,
    /// One pre-built request per endpoint, in plan order.
    pub(crate) endpoints: Vec<Prepared>,
    /// Accumulators.
    pub(crate) recorder: Recorder,
    /// The in-flight cap and the backlog.
    pub(crate) dispatch: Arc<Dispatch>,
    /// Due times.
    pub(crate) schedule: Schedule,
    /// The run's t0.
    pub(crate) t0: Instant,
    /// Fires when in-flight requests must be abandoned (cancel, or the drain deadline).
    pub(crate) abandon: CancellationToken,
}

/// What the pacer thread needs.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Shared state.
    pub(crate) shared: Arc<Shared>,
    /// Due times.
    pub(crate) schedule: Schedule,
    /// Endpoint weights (plan order), for counting due requests per endpoint.
    pub(crate) weights: Vec<u32>,
    /// Seed of the endpoint choice.
    pub(crate) seed: u64,
    /// The run's t0.
    pub(crate) t0: Instant,
    /// No request is due at or after this instant (`None`: until stopped).
    pub(crate) end: Option<Instant>,
    /// Stops the schedule (user cancellation or the drain deadline).
    pub(crate) stop: CancellationToken,
    /// Where request tasks run.
    pub(crate) runtime: Handle,
}

impl Pacer {
    /// Runs the schedule until `end` or `stop` and reports the instant it ended on `done`; then
    /// sends the rest of the backlog, paced, until it is empty or `stop` fires.
    pub(crate) fn run(self, done: oneshot::Sender<Instant>) {
        let ended = self.run_schedule();
        // An error only means the ticker is gone (the engine was dropped).
        let _ = done.send(ended);
        let mut tickets = Vec::new();
        while !self.stop.is_cancelled() && self.shared.dispatch.backlog() > 0 {
            self.shared.dispatch.release(0, &mut tickets);
            for (ticket, permit) in tickets.drain(..) {
                self.spawn(ticket, permit);
            }
            std::thread::sleep(BACKLOG_NAP);
        }
    }

    /// Runs the schedule until `end` or `stop`; returns the instant the schedule ended.
    fn run_schedule(&self) -> Instant {
        let mut due_chooser = Chooser::new(&self.weights, self.seed);
        let mut next_due: u64 = 0; // first index not yet due
        let mut sent: u64 = 0;
        let mut tickets = Vec::new();
        loop {
            let now = Instant::now();
            if self.stop.is_cancelled() {
                return self.end.map_or(now, |e| e.min(now));
            }
            // Mark everything due by now (bounded lead over sending).
            let mut next_at = self.schedule.due_at(self.t0, next_due);
            while next_at <= now
                && self.end.is_none_or(|e| next_at < e)
                && next_due < sent.saturating_add(MAX_COUNT_AHEAD)
            {
                self.shared.recorder.scheduled(due_chooser.next_index());
                next_due += 1;
                next_at = self.schedule.due_at(self.t0, next_due);
            }
            sent = self.shared.dispatch.release(next_due, &mut tickets);
            for (ticket, permit) in tickets.drain(..) {
                self.spawn(ticket, permit);
            }
            if self.end.is_some_and(|e| next_at >= e) {
                return self.end.unwrap_or(now);
            }
            let wake = if sent < next_due {
                next_at.max(now + BACKLOG_NAP)
            } else {
                next_at
            };
            sleep_until(wake.min(now + CHECK_EVERY));
        }
    }

    /// Hands `ticket` to the runtime.
    fn spawn(&self, ticket: Ticket, permit: Permit) {
        let shared = Arc::clone(&self.shared);
        // If the runtime is shutting down the task is dropped at once, which frees the place.
        drop(self.runtime.spawn(send_loop(shared, ticket, permit)));
    }
}

/// Sleeps until `t` (at once if it has passed).
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Sends `ticket`'s request, records it, then takes over overdue requests while there are any.
/// Abandoning (cancel, or the drain deadline) drops the request in flight unrecorded. The task
/// waits on the token once, not once per request: from the backlog it may send many in a row.
async fn send_loop(shared: Arc<Shared>, ticket: Ticket, permit: Permit) {
    tokio::select! {
        biased;
        _ = shared.abandon.cancelled() => {}
        _ = send_backlog(&shared, ticket, permit) => {}
    }
}

/// Sends `ticket`'s request, then every overdue one `permit`'s place is handed.
async fn send_backlog(shared: &Shared, mut ticket: Ticket, mut permit: Permit) {
    loop {
        send_one(shared, ticket).await;
        if shared.abandon.is_cancelled() {
            return;
        }
        match permit.next() {
            Some(next) => ticket = next,
            None => return,
        }
    }
}

/// Sends one request and records how it ended.
async fn send_one(shared: &Shared, ticket: Ticket) {
    let Some(prepared) = shared.endpoints.get(ticket.endpoint) else {
        return;
    };
    let intended = shared.schedule.due_at(shared.t0, ticket.index);
    shared.recorder.sent(ticket.endpoint, ticket.late);
    let sent = Instant::now();
    let timeout = prepared.timeout;
    let (outcome, done) = match tokio::time::timeout(timeout, prepared.exchange(&shared.pool)).await
    {
        Ok(outcome) => (outcome, Instant::now()),
        // The timer fires on a millisecond tick: record exactly the timeout.
        Err(_) => (Outcome::Timeout, later(sent, timeout)),
    };
    shared
        .recorder
        .completed(ticket.endpoint, outcome, intended, sent, done);
}
