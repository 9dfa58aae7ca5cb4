//! Runs a [`Plan`] open-loop: request i is due at t0 + i/R on a monotonic clock, whatever the app
//! does; latency is measured from that intended time.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::plan::Plan;
use crate::snapshot::{Report, Snapshot};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The HTTP client could not be built (TLS backend, bad header...).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A running plan: read its windows with [`Engine::next_window`], then [`Engine::finish`].
#[derive(Debug)]
pub struct Engine {
    snapshots: mpsc::Receiver<Snapshot>,
    handle: JoinHandle<Report>,
}

impl Engine {
    /// The next window's snapshot, or `None` once the run has ended (duration reached or
    /// cancelled) and every window has been read.
    pub async fn next_window(&mut self) -> Option<Snapshot> {
        self.snapshots.recv().await
    }

    /// Waits for the run to end and returns the merged report. Remaining snapshots are dropped.
    pub async fn finish(self) -> Report {
        drop(self.snapshots);
        match self.handle.await {
            Ok(report) => report,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Starts `plan` on the current tokio runtime. It runs until `plan.duration` passes or `cancel`
/// fires; in-flight requests are then abandoned (not counted). Fails only if the HTTP client
/// cannot be built.
pub fn run(plan: Plan, cancel: CancellationToken) -> Result<Engine, EngineError> {
    let _ = (plan, cancel);
    Err(EngineError::Client("engine not implemented yet".into()))
}
