//! Results: one [`Snapshot`] per window while a run goes on, and a [`Report`] at the end.
//!
//! All histograms count **microseconds**. Latency runs from a request's intended send time
//! (t0 + i/R) to the end of its body, so a stall shows in full (no coordinated omission);
//! service time runs from the actual send; lag is actual send minus intended send.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::OutcomeCounts;

/// Highest value a histogram tracks, in microseconds (larger values saturate to it).
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;
/// Significant decimal digits of every histogram (about 1% value precision, ~20 KiB each).
pub const SIGFIG: u8 = 2;

/// A new, empty histogram with loadgen's standard bounds (1 us .. 1 h, 2 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGFIG).expect("constant bounds are valid")
}

/// Converts a duration to whole microseconds, at least 1 (histograms start at 1 us).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u128::from(MAX_TRACKABLE_US)) as u64).max(1)
}

/// One endpoint's results for one window (or a whole run).
#[derive(Debug, Clone)]
pub struct EndpointWindow {
    /// The endpoint's name.
    pub name: String,
    /// Latency from intended send time to completion, microseconds. Every completed request,
    /// errors included (a timeout counts as its timeout).
    pub latency: Histogram<u64>,
    /// Service time from actual send to completion, microseconds.
    pub service: Histogram<u64>,
    /// Schedule lag (actual send minus intended send), microseconds.
    pub lag: Histogram<u64>,
    /// How the requests completed in this window ended.
    pub outcomes: OutcomeCounts,
    /// Requests of this endpoint that were due in this window.
    pub scheduled: u64,
    /// Requests of this endpoint that were sent in this window.
    pub sent: u64,
    /// Requests that waited for the in-flight cap before being sent.
    pub late: u64,
}

impl EndpointWindow {
    /// An empty window for endpoint `name`.
    pub fn empty(name: impl Into<String>) -> EndpointWindow {
        EndpointWindow {
            name: name.into(),
            latency: new_histogram(),
            service: new_histogram(),
            lag: new_histogram(),
            outcomes: OutcomeCounts::default(),
            scheduled: 0,
            sent: 0,
            late: 0,
        }
    }

    /// Adds `other` into `self` (histograms and counts). Fails only on histogram bounds
    /// mismatch, which cannot happen between histograms made by [`new_histogram`].
    pub fn merge(&mut self, other: &EndpointWindow) {
        // Same bounds everywhere: `add` cannot fail; saturate silently if it ever did.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.lag.add(&other.lag);
        self.outcomes.merge(&other.outcomes);
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.late += other.late;
    }
}

/// The results of one window of a run.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// 0 for the first window of a run.
    pub index: u64,
    /// Window start, measured from the run's t0.
    pub start: Duration,
    /// Window length (the last window of a run may be shorter).
    pub length: Duration,
    /// The schedule's mean target rate over this window, requests per second.
    pub target_rate: f64,
    /// Requests sent in this window divided by its length. Completions (histograms, outcomes)
    /// belong to the window they completed in; `scheduled` to the window they fell due in.
    pub achieved_rate: f64,
    /// Requests in flight at the window's end.
    pub inflight: usize,
    /// One entry per endpoint of the plan, in plan order.
    pub endpoints: Vec<EndpointWindow>,
}

impl Snapshot {
    /// The p99 schedule lag over every endpoint of the window, microseconds; 0 when nothing was
    /// sent. The generator's health: the agent exports it, the gate judges it.
    pub fn lag_p99_us(&self) -> u64 {
        let mut lag = new_histogram();
        for e in &self.endpoints {
            // Same bounds everywhere (`new_histogram`): `add` cannot fail.
            let _ = lag.add(&e.lag);
        }
        if lag.is_empty() {
            0
        } else {
            lag.value_at_quantile(0.99)
        }
    }
}

/// The whole run, merged over every window.
#[derive(Debug, Clone)]
pub struct Report {
    /// Time from t0 to the end of the run.
    pub elapsed: Duration,
    /// Requests that were due over the run.
    pub scheduled: u64,
    /// Requests sent over the run divided by the time they took to send: from t0 to the end of
    /// the schedule, or to the last send if overdue requests were still sent after it.
    pub achieved_rate: f64,
    /// Number of windows yielded.
    pub windows: u64,
    /// One entry per endpoint, merged over the run.
    pub endpoints: Vec<EndpointWindow>,
    /// Every endpoint merged into one.
    pub total: EndpointWindow,
}
