//! Runs a [`Plan`] open-loop: request i is due at t0 + i/R on a monotonic clock, whatever the app
//! does; latency is measured from that intended time.
//!
//! # Layout
//! - `schedule`: due time of request i (constant rate or ramp) and the weighted endpoint choice.
//! - `pacer`: the OS thread that releases requests on time, and the tasks that send them.
//! - `cap`: the in-flight cap and the backlog of overdue (late) requests.
//! - `request`: pre-rendered requests, one exchange, answer -> [`Outcome`](crate::Outcome)
//!   (for a gRPC endpoint, by its `grpc-status`; see [`crate::grpc`]).
//! - `render`: a templated endpoint's per-request target, headers and body.
//! - `needle`: the streaming search for an answer's expected text.
//! - `pool`: the engine's kept-alive connections (HTTP/1.1 stack, shared HTTP/2) per origin.
//! - `dial`: opening one connection: TCP, TLS (`tls`), hyper's HTTP/1.1 or HTTP/2 handshake.
//! - `recorder`: per-endpoint accumulators of the current window.
//! - `ticker`: one [`Snapshot`] per window into a bounded channel, and the final [`Report`].
//!
//! Rules worth knowing:
//! - Latency = completion - intended time; service = completion - actual send; lag = actual
//!   send - intended time. Never `record_correct`ed (the intended time already counts a stall).
//! - Past `max_inflight`, due requests wait in a backlog (a range of indices, constant memory)
//!   and count as `late`; requests that end hand their place to the oldest overdue one. The
//!   schedule never pauses and nothing is dropped. The backlog is sent paced (`catchup`): at
//!   most twice the target rate plus a burst of 0.25 s of it, so a recovering app is not hit by
//!   everything it missed at once; late requests keep their intended time (latency includes
//!   the wait).
//! - Timeout: runs from the actual send; a timed-out request is recorded with service =
//!   timeout and latency = lag + timeout, outcome `Timeout`.
//! - Attribution: histograms and outcomes go to the window a request **completes** in;
//!   `scheduled` to the window it fell due in; `sent`/`late` to the window it was sent in.
//! - End: after `plan.duration`, overdue and in-flight requests may finish (up to the longest
//!   endpoint timeout), then the last, partial window is emitted and the channel closes. On
//!   cancellation (or dropping the [`Engine`]) in-flight requests are abandoned at once.
//!
//! Threads: the pacer is one dedicated OS thread (precise sleeps); requests and the ticker run on
//! the caller's tokio runtime. Memory: one window and one running total per endpoint, plus at
//! most [`CHANNEL_WINDOWS`] unread snapshots, whatever the run length.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::plan::Plan;
use crate::snapshot::{Report, Snapshot};

mod cap;
mod catchup;
pub(crate) mod dial;
mod needle;
mod pacer;
mod pool;
mod recorder;
mod render;
mod request;
mod schedule;
mod ticker;
pub(crate) mod tls;

use pacer::{Pacer, Shared};
use schedule::Schedule;
use ticker::Ticker;

/// Unread snapshots the channel holds before the ticker waits for the reader.
pub const CHANNEL_WINDOWS: usize = 16;
/// Extra time, beyond the longest endpoint timeout, that requests may take to end after the
/// schedule did.
const DRAIN_MARGIN: Duration = Duration::from_millis(100);

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A request could not be prepared (TLS setup, bad header or URL...).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// No tokio runtime to run on, or the pacer thread could not be started.
    #[error("cannot start the engine: {0}")]
    Start(String),
}

/// A running plan: read its windows with [`Engine::next_window`], then [`Engine::finish`].
/// Dropping an unfinished engine cancels its run.
#[derive(Debug)]
pub struct Engine {
    snapshots: mpsc::Receiver<Snapshot>,
    handle: Option<JoinHandle<Report>>,
    stop: CancellationToken,
    names: Vec<String>,
}

impl Engine {
    /// The next window's snapshot, or `None` once the run has ended (duration reached or
    /// cancelled) and every window has been read. The last window of a run may be shorter (or,
    /// after a duration, longer by the time the last requests took to end).
    pub async fn next_window(&mut self) -> Option<Snapshot> {
        self.snapshots.recv().await
    }

    /// Waits for the run to end (its duration, or the cancellation token) and returns the merged
    /// report. Snapshots not yet read are dropped. A run without a duration ends only when its
    /// token is cancelled.
    pub async fn finish(mut self) -> Report {
        self.snapshots.close();
        while self.snapshots.try_recv().is_ok() {}
        let Some(handle) = self.handle.take() else {
            return ticker::empty_report(&self.names);
        };
        match handle.await {
            Ok(report) => report,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: nothing more to report.
            Err(_) => ticker::empty_report(&self.names),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop.cancel();
        }
    }
}

/// Starts `plan` on the current tokio runtime. It runs until `plan.duration` passes (then the
/// requests in flight may end, up to the longest endpoint timeout) or `cancel` fires (then
/// requests in flight are abandoned, not counted). Fails if an endpoint's request cannot be
/// prepared (URL, header, TLS setup) or there is no current tokio runtime.
pub fn run(plan: Plan, cancel: CancellationToken) -> Result<Engine, EngineError> {
    let runtime =
        Handle::try_current().map_err(|e| EngineError::Start(format!("no tokio runtime: {e}")))?;
    let mut pool = pool::Pool::new(&plan);
    let endpoints = plan
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            // One draw stream per endpoint, all from the plan's seed.
            let seed = plan.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            request::Prepared::new(&mut pool, e, &plan, seed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = plan.endpoints.iter().map(|e| e.name.clone()).collect();
    let drain = endpoints
        .iter()
        .map(|e| e.timeout)
        .max()
        .unwrap_or(Duration::ZERO)
        .saturating_add(DRAIN_MARGIN);
    // `stop` ends the schedule and abandons in-flight requests: on the user's cancel, on
    // dropping the engine, or at the drain deadline.
    let stop = cancel.child_token();
    let weights: Vec<u32> = plan.endpoints.iter().map(|e| e.weight).collect();
    let schedule = Schedule::new(plan.rate);
    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        pool,
        endpoints,
        recorder: recorder::Recorder::new(names.iter().map(String::as_str)),
        dispatch: cap::Dispatch::new(
            plan.max_inflight,
            schedule::Chooser::new(&weights, plan.seed),
            catchup::Bucket::new(schedule, t0),
        ),
        schedule,
        t0,
        abandon: stop.clone(),
    });
    // A duration too long to represent is a run until cancelled.
    let end = plan.duration.and_then(|d| t0.checked_add(d));
    let (done_tx, done_rx) = oneshot::channel();
    let pacer = Pacer {
        shared: Arc::clone(&shared),
        schedule,
        weights,
        seed: plan.seed,
        t0,
        end,
        stop: stop.clone(),
        runtime: runtime.clone(),
    };
    std::thread::Builder::new()
        .name("loadgen-pacer".into())
        .spawn(move || {
            pacer.run(done_tx);
        })
        .map_err(|e| EngineError::Start(format!("cannot start the pacer thread: {e}")))?;
    let (tx, rx) = mpsc::channel(CHANNEL_WINDOWS);
    let ticker = Ticker {
        shared,
        schedule,
        t0,
        window: plan.window,
        end,
        drain,
        cancel: stop.clone(),
        tx,
        pacer_done: done_rx,
    };
    let handle = runtime.spawn(ticker.run());
    Ok(Engine {
        snapshots: rx,
        handle: Some(handle),
        stop,
        names,
    })
}
