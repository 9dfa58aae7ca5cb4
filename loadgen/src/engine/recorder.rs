//! Per-endpoint accumulators for the current window, and the running totals for the report.
//!
//! Request tasks record into their endpoint's accumulator under a short-held lock (three
//! histogram increments and a counter). The pacer counts `scheduled`, `sent` and `late` in
//! atomics. At each window tick the ticker swaps every accumulator for an empty one, so memory
//! is one window per endpoint plus one running total per endpoint, whatever the run length.
//!
//! Attribution: a request's latency, service time, lag and outcome belong to the window in which
//! it **completes**; `scheduled` to the window in which it was due; `sent` and `late` to the
//! window in which it was handed to the runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::outcome::Outcome;
use crate::snapshot::{micros, EndpointWindow};

/// One endpoint's live accumulators.
#[derive(Debug)]
pub(crate) struct EndpointRecorder {
    name: String,
    /// Histograms and outcomes of the requests completed since the last tick.
    completed: Mutex<EndpointWindow>,
    scheduled: AtomicU64,
    sent: AtomicU64,
    late: AtomicU64,
}

impl EndpointRecorder {
    fn new(name: &str) -> EndpointRecorder {
        EndpointRecorder {
            name: name.to_string(),
            completed: Mutex::new(EndpointWindow::empty(name)),
            scheduled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            late: AtomicU64::new(0),
        }
    }
}

/// Every endpoint's accumulators, shared by the pacer, the request tasks and the ticker.
#[derive(Debug)]
pub(crate) struct Recorder {
    endpoints: Vec<EndpointRecorder>,
}

impl Recorder {
    /// Empty accumulators, one per endpoint name, in plan order.
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Recorder {
        Recorder {
            endpoints: names.into_iter().map(EndpointRecorder::new).collect(),
        }
    }

    /// The endpoint names, in plan order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    /// A request of endpoint `ep` became due.
    pub(crate) fn scheduled(&self, ep: usize) {
        if let Some(e) = self.endpoints.get(ep) {
            e.scheduled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request of endpoint `ep` was handed to the runtime; `late` if it waited for the cap.
    pub(crate) fn sent(&self, ep: usize, late: bool) {
        if let Some(e) = self.endpoints.get(ep) {
            e.sent.fetch_add(1, Ordering::Relaxed);
            if late {
                e.late.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A request of endpoint `ep` ended at `done` with `outcome`; it was due at `intended` and
    /// left at `sent`. Never uses `record_correct`: latency from the intended time already
    /// contains the queueing a stall causes.
    pub(crate) fn completed(
        &self,
        ep: usize,
        outcome: Outcome,
        intended: Instant,
        sent: Instant,
        done: Instant,
    ) {
        let Some(e) = self.endpoints.get(ep) else {
            return;
        };
        let latency = micros(done.saturating_duration_since(intended));
        let service = micros(done.saturating_duration_since(sent));
        let lag = micros(sent.saturating_duration_since(intended));
        let mut c = e.completed.lock().unwrap_or_else(PoisonError::into_inner);
        // Values are clamped to the histogram's range by `micros`, so `saturating_record`
        // never drops them.
        c.latency.saturating_record(latency);
        c.service.saturating_record(service);
        c.lag.saturating_record(lag);
        c.outcomes.add(outcome);
    }

    /// Takes every endpoint's window so far and starts new, empty ones.
    pub(crate) fn take(&self) -> Vec<EndpointWindow> {
        self.endpoints
            .iter()
            .map(|e| {
                // Allocate outside the lock so request tasks wait only for the swap.
                let mut fresh = EndpointWindow::empty(e.name.as_str());
                {
                    let mut c = e.completed.lock().unwrap_or_else(PoisonError::into_inner);
                    std::mem::swap(&mut *c, &mut fresh);
                }
                fresh.scheduled = e.scheduled.swap(0, Ordering::Relaxed);
                fresh.sent = e.sent.swap(0, Ordering::Relaxed);
                fresh.late = e.late.swap(0, Ordering::Relaxed);
                fresh
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn take_returns_the_window_and_resets() {
        let r = Recorder::new(["a", "b"]);
        let t0 = Instant::now();
        r.scheduled(0);
        r.sent(0, true);
        r.completed(
            0,
            Outcome::Ok,
            t0,
            t0 + Duration::from_millis(2),
            t0 + Duration::from_millis(10),
        );
        r.completed(1, Outcome::Timeout, t0, t0, t0 + Duration::from_millis(5));
        let w = r.take();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].name, "a");
        assert_eq!((w[0].scheduled, w[0].sent, w[0].late), (1, 1, 1));
        assert_eq!(w[0].outcomes.ok, 1);
        let lat = w[0].latency.value_at_quantile(1.0);
        assert!((9_900..=10_100).contains(&lat), "{lat}");
        let svc = w[0].service.value_at_quantile(1.0);
        assert!((7_900..=8_100).contains(&svc), "{svc}");
        let lag = w[0].lag.value_at_quantile(1.0);
        assert!((1_980..=2_020).contains(&lag), "{lag}");
        assert_eq!(w[1].outcomes.timeout, 1);
        let again = r.take();
        assert_eq!(again[0].latency.len(), 0);
        assert_eq!(again[0].sent, 0);
    }
}
