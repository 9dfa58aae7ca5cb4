//! The pacer: a dedicated OS thread that releases request `i` at t0 + due(i).
//!
//! tokio's timer has a 1 ms granularity, which would add about 0.5 ms of fake lag to every
//! request; `std::thread::sleep` wakes within tens of microseconds. Each wake-up hands every
//! request already due to the runtime (`Handle::spawn`).
//!
//! The in-flight cap: when no place is free, the pacer itself waits for one, so the backlog of
//! due-but-unsent requests is just a range of indices (no queue, constant memory). While it
//! waits it keeps counting requests as they fall due (`scheduled`); once places free up it sends
//! every overdue request at once, each keeping its own intended time, so its latency includes
//! the wait. Those requests count as `late`. The schedule never pauses and nothing is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::engine::cap::{InflightCap, Permit};
use crate::engine::recorder::Recorder;
use crate::engine::request::Prepared;
use crate::engine::schedule::{Chooser, Schedule};
use crate::outcome::Outcome;

/// The longest the pacer sleeps or waits before checking for cancellation again.
const CHECK_EVERY: Duration = Duration::from_millis(20);
/// How far `scheduled` counting may run ahead of sending (bounds the pacer's work when the
/// target is far faster than the app: at most this many chooser steps per permit).
const MAX_COUNT_AHEAD: u64 = 1_000_000;

/// Everything a request task needs, shared.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The kept-alive client.
    pub(crate) client: reqwest::Client,
    /// One pre-built request per endpoint, in plan order.
    pub(crate) endpoints: Vec<Prepared>,
    /// Accumulators.
    pub(crate) recorder: Recorder,
    /// The in-flight cap.
    pub(crate) cap: Arc<InflightCap>,
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
    /// Endpoint weights (plan order) and the seed of the choice.
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
    /// Runs the schedule until `end` or `stop`; returns the instant the schedule ended.
    pub(crate) fn run(self) -> Instant {
        // Two choosers over the same deterministic sequence: one counts requests as they fall
        // due, the other picks endpoints as requests are sent (possibly later, under the cap).
        let mut due_chooser = Chooser::new(&self.weights, self.seed);
        let mut send_chooser = due_chooser.clone();
        let mut next_due: u64 = 0; // first index not yet counted as scheduled
        let mut next_send: u64 = 0; // first index not yet sent
        let mut capped = false; // the backlog exists because the cap was full
        loop {
            if self.stop.is_cancelled() {
                let now = Instant::now();
                return self.end.map_or(now, |e| e.min(now));
            }
            let now = Instant::now();
            // Count everything due by now (bounded lead over sending).
            while next_due < next_send.saturating_add(MAX_COUNT_AHEAD) {
                let due = self.t0 + self.schedule.due(next_due);
                if due > now || self.end.is_some_and(|e| due >= e) {
                    break;
                }
                self.shared.recorder.scheduled(due_chooser.next_index());
                next_due += 1;
            }
            // Send every due request a place is free for.
            while next_send < next_due {
                let Some(permit) = self.shared.cap.try_acquire() else {
                    capped = true;
                    break;
                };
                self.dispatch(send_chooser.next_index(), next_send, permit, capped);
                next_send += 1;
            }
            if next_send == next_due {
                capped = false;
            }
            let next_at = self.t0 + self.schedule.due(next_due);
            let finished = self.end.is_some_and(|e| next_at >= e);
            if next_send < next_due {
                // Wait for a place, but wake up at the next due time to count it.
                let wake = if finished { now + CHECK_EVERY } else { next_at };
                let deadline = wake.min(now + CHECK_EVERY);
                if let Some(permit) = self.shared.cap.acquire_until(deadline) {
                    self.dispatch(send_chooser.next_index(), next_send, permit, true);
                    next_send += 1;
                }
            } else if finished {
                return self.end.unwrap_or(now);
            } else {
                sleep_until(next_at.min(now + CHECK_EVERY));
            }
        }
    }

    /// Hands request `i` of endpoint `ep` to the runtime.
    fn dispatch(&self, ep: usize, i: u64, permit: Permit, late: bool) {
        let intended = self.t0 + self.schedule.due(i);
        self.shared.recorder.sent(ep, late);
        let shared = Arc::clone(&self.shared);
        // If the runtime is shutting down the task is dropped at once, which frees the permit.
        drop(
            self.runtime
                .spawn(send_one(shared, ep, intended, permit)),
        );
    }
}

/// Sleeps until `t` (at once if it has passed).
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Sends one request of endpoint `ep`, due at `intended`, and records how it ended.
async fn send_one(shared: Arc<Shared>, ep: usize, intended: Instant, permit: Permit) {
    let Some(prepared) = shared.endpoints.get(ep) else {
        return;
    };
    let sent = Instant::now();
    let timeout = prepared.timeout;
    let (outcome, done) = tokio::select! {
        biased;
        _ = shared.abandon.cancelled() => return,
        r = tokio::time::timeout(timeout, prepared.exchange(&shared.client)) => match r {
            Ok(outcome) => (outcome, Instant::now()),
            // The timer fires on a millisecond tick: record exactly the timeout.
            Err(_) => (Outcome::Timeout, sent + timeout),
        },
    };
    drop(permit);
    shared
        .recorder
        .completed(ep, outcome, intended, sent, done);
}
