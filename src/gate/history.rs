//! The windows the gate remembers: the last `lookback` windows only (bounded memory), each
//! reduced at arrival to what the criterion needs (one latency histogram per endpoint, its
//! per-window quantile, outcome counts, and the generator's health).

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use loadgen::snapshot::new_histogram;
use loadgen::{OutcomeCounts, Snapshot};

/// One endpoint in one window.
#[derive(Debug, Clone)]
pub(crate) struct EndpointRecord {
    /// Latency from intended send time, microseconds (errors included, as loadgen records them).
    pub latency: Histogram<u64>,
    /// The window's quantile in microseconds; `None` without samples.
    pub quantile_us: Option<u64>,
    /// How the window's completed requests ended.
    pub outcomes: OutcomeCounts,
}

/// The traffic generator in one window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GeneratorRecord {
    /// The schedule's mean target rate, requests per second.
    pub target_rate: f64,
    /// Requests sent per second.
    pub achieved_rate: f64,
    /// p99 schedule lag over every endpoint, microseconds (0 when nothing was sent).
    pub lag_p99_us: u64,
    /// Requests that waited for the in-flight cap (the app answered too slowly for the rate).
    pub late: u64,
}

/// One window, reduced.
#[derive(Debug, Clone)]
pub(crate) struct WindowRecord {
    /// One record per gate endpoint, in the gate's order.
    pub endpoints: Vec<EndpointRecord>,
    /// The generator's health.
    pub generator: GeneratorRecord,
}

impl WindowRecord {
    /// Reduces `snapshot` for the gate's `names`, quantile `q`. Endpoints are matched by name;
    /// one missing from the snapshot counts as a window without traffic.
    pub fn from_snapshot(snapshot: &Snapshot, names: &[String], q: f64) -> WindowRecord {
        let endpoints = names
            .iter()
            .map(
                |name| match snapshot.endpoints.iter().find(|e| &e.name == name) {
                    Some(e) => EndpointRecord {
                        quantile_us: (!e.latency.is_empty())
                            .then(|| e.latency.value_at_quantile(q)),
                        latency: e.latency.clone(),
                        outcomes: e.outcomes,
                    },
                    None => EndpointRecord {
                        latency: new_histogram(),
                        quantile_us: None,
                        outcomes: OutcomeCounts::default(),
                    },
                },
            )
            .collect();
        WindowRecord {
            endpoints,
            generator: GeneratorRecord {
                target_rate: finite_or_zero(snapshot.target_rate),
                achieved_rate: finite_or_zero(snapshot.achieved_rate),
                // Every endpoint of the plan, judged or not: it is the generator's health.
                lag_p99_us: snapshot.lag_p99_us(),
                late: snapshot.endpoints.iter().map(|e| e.late).sum(),
            },
        }
    }
}

/// A NaN or infinite rate (a zero-length window) reads as 0.
fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// How many lookbacks the per-window quantiles are kept for the rise check.
pub(crate) const HORIZON_LOOKBACKS: usize = 3;
/// Lookbacks of history needed before any evaluation passes. One lookback cannot tell a
/// +20%/min drift, or the bottom of a slowdown's U, from a plateau often enough (simulated: 1 in
/// 20 runs opened); two make the rise check decisive (0 of 30 at 200 and 500 rps).
pub(crate) const MIN_HISTORY_LOOKBACKS: usize = 2;

/// The remembered windows and the per-endpoint request counts since the last reset.
#[derive(Debug, Clone)]
pub(crate) struct History {
    windows: VecDeque<WindowRecord>,
    capacity: usize,
    /// Per-window quantiles (one per endpoint) over [`HORIZON_LOOKBACKS`] lookbacks: a few bytes
    /// per window, enough to see a slow rise that a single lookback cannot tell from noise.
    quantiles: VecDeque<Vec<Option<u64>>>,
    requests: Vec<u64>,
}

impl History {
    /// Empty, keeping at most `capacity` windows, for `endpoints` endpoints.
    pub fn new(capacity: usize, endpoints: usize) -> History {
        History {
            windows: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            quantiles: VecDeque::with_capacity(capacity * HORIZON_LOOKBACKS),
            requests: vec![0; endpoints],
        }
    }

    /// Adds a window, dropping the oldest beyond capacity, and counts its completed requests.
    pub fn push(&mut self, record: WindowRecord) {
        for (count, e) in self.requests.iter_mut().zip(&record.endpoints) {
            *count = count.saturating_add(e.outcomes.total());
        }
        self.quantiles
            .push_back(record.endpoints.iter().map(|e| e.quantile_us).collect());
        while self.quantiles.len() > self.capacity * HORIZON_LOOKBACKS {
            self.quantiles.pop_front();
        }
        self.windows.push_back(record);
        while self.windows.len() > self.capacity {
            self.windows.pop_front();
        }
    }

    /// Forgets every window and count.
    pub fn clear(&mut self) {
        self.windows.clear();
        self.quantiles.clear();
        self.requests.iter_mut().for_each(|c| *c = 0);
    }

    /// Windows held (at most the capacity).
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// True once the lookback is full.
    pub fn is_full(&self) -> bool {
        self.windows.len() >= self.capacity
    }

    /// The windows, oldest first.
    pub fn windows(&self) -> impl ExactSizeIterator<Item = &WindowRecord> + Clone + '_ {
        self.windows.iter()
    }

    /// Completed requests of endpoint `index` since creation or the last reset.
    pub fn requests(&self, index: usize) -> u64 {
        self.requests.get(index).copied().unwrap_or(0)
    }

    /// Endpoint `index`'s per-window quantiles over the long horizon, oldest first, as
    /// `(position, microseconds)` for the windows that had samples.
    pub fn horizon_quantiles(&self, index: usize) -> Vec<(usize, u64)> {
        self.quantiles
            .iter()
            .enumerate()
            .filter_map(|(i, qs)| Some((i, qs.get(index).copied().flatten()?)))
            .collect()
    }

    /// Windows held for the rise check (at most [`HORIZON_LOOKBACKS`] lookbacks).
    pub fn horizon_len(&self) -> usize {
        self.quantiles.len()
    }

    /// Number of windows in the old half (the new half holds the rest: the newer, larger one
    /// when the count is odd).
    pub fn old_len(&self) -> usize {
        self.windows.len() / 2
    }

    /// Endpoint `index`'s latency merged over the old half and over the new half.
    pub fn merged_halves(&self, index: usize) -> (Histogram<u64>, Histogram<u64>) {
        let mut old = new_histogram();
        let mut new = new_histogram();
        let split = self.old_len();
        for (i, w) in self.windows.iter().enumerate() {
            if let Some(e) = w.endpoints.get(index) {
                let half = if i < split { &mut old } else { &mut new };
                // Same bounds (loadgen's constructor): `add` cannot fail.
                let _ = half.add(&e.latency);
            }
        }
        (old, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::EndpointWindow;
    use std::time::Duration;

    fn snapshot(index: u64, latency_us: u64) -> Snapshot {
        let mut e = EndpointWindow::empty("home");
        for _ in 0..10 {
            e.latency.record(latency_us).expect("in range");
            e.lag.record(100).expect("in range");
            e.outcomes.add(loadgen::Outcome::Ok);
        }
        Snapshot {
            index,
            start: Duration::from_secs(5 * index),
            length: Duration::from_secs(5),
            target_rate: 2.0,
            achieved_rate: 2.0,
            inflight: 0,
            endpoints: vec![e],
        }
    }

    #[test]
    fn memory_is_bounded_by_the_lookback_and_the_horizon() {
        let names = vec!["home".to_string()];
        let mut h = History::new(4, 1);
        for i in 0..100 {
            h.push(WindowRecord::from_snapshot(
                &snapshot(i, 1000 + i),
                &names,
                0.99,
            ));
        }
        assert_eq!(h.len(), 4);
        assert!(h.is_full());
        assert_eq!(h.horizon_len(), 4 * HORIZON_LOOKBACKS);
        // Every request counted, not only the remembered ones.
        assert_eq!(h.requests(0), 1000);
        assert_eq!(h.requests(7), 0);
        // The horizon holds the newest windows, oldest first.
        let q = h.horizon_quantiles(0);
        assert_eq!(q.len(), 12);
        assert_eq!(q[0].0, 0);
        assert!(q[0].1 < q[11].1);
        h.clear();
        assert_eq!((h.len(), h.horizon_len(), h.requests(0)), (0, 0, 0));
    }

    #[test]
    fn halves_split_old_and_new_with_the_odd_window_in_the_new_half() {
        let names = vec!["home".to_string()];
        let mut h = History::new(5, 1);
        for i in 0..5 {
            h.push(WindowRecord::from_snapshot(
                &snapshot(i, 1000),
                &names,
                0.99,
            ));
        }
        assert_eq!(h.old_len(), 2);
        let (old, new) = h.merged_halves(0);
        assert_eq!((old.len(), new.len()), (20, 30));
    }

    #[test]
    fn an_endpoint_missing_from_the_snapshot_is_a_window_without_traffic() {
        let names = vec!["home".to_string(), "gone".to_string()];
        let r = WindowRecord::from_snapshot(&snapshot(0, 1000), &names, 0.99);
        assert_eq!(r.endpoints[1].quantile_us, None);
        assert_eq!(r.endpoints[1].outcomes.total(), 0);
        assert!(r.endpoints[0].quantile_us.is_some());
        assert_eq!(r.generator.lag_p99_us, 100);
    }
}
