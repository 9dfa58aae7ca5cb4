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
        // Lag of every endpoint of the plan, judged or not: it is the generator's health.
        let mut lag = new_histogram();
        for e in &snapshot.endpoints {
            // Same bounds (loadgen's constructor): `add` cannot fail.
            let _ = lag.add(&e.lag);
        }
        let lag_p99_us = if lag.is_empty() {
            0
        } else {
            lag.value_at_quantile(0.99)
        };
        WindowRecord {
            endpoints,
            generator: GeneratorRecord {
                target_rate: finite_or_zero(snapshot.target_rate),
                achieved_rate: finite_or_zero(snapshot.achieved_rate),
                lag_p99_us,
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
