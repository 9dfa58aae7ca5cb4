//! The windows the gate remembers, each reduced at arrival to what the criterion needs: per
//! endpoint a latency histogram (kept for the last `lookback` windows only: bounded memory) and a
//! [`Summary`] of a few numbers (kept for [`SUMMARY_LOOKBACKS`] lookbacks), plus outcome counts
//! and the generator's health.

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use loadgen::snapshot::new_histogram;
use loadgen::{OutcomeCounts, Snapshot};

/// Share of samples trimmed at each end for the level statistic: the mean of log latency between
/// the window's p10 and p90. For a lognormal body it is nearly as precise as the plain mean of
/// log latency (relative efficiency about 0.94) and 20% more precise than the median, yet a few
/// stalled or hiccuping requests cannot move it far.
pub(crate) const TRIM: f64 = 0.10;

/// One endpoint's window in a few numbers: the low-noise level statistic and its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Latency samples in the window.
    pub n: u64,
    /// Trimmed mean of ln(latency in microseconds) (see [`TRIM`]).
    pub level: f64,
    /// Standard error of `level`, from the window's own winsorized spread.
    pub se: f64,
    /// ln of the window's median latency (microseconds): the step test's statistic, which a
    /// stall of a fifth of the window's requests moves little.
    pub ln_median: f64,
}

impl Summary {
    /// The summary of `hist`, or `None` for fewer than 10 samples (no spread to speak of).
    pub fn of(hist: &Histogram<u64>) -> Option<Summary> {
        let n = hist.len();
        if n < 10 {
            return None;
        }
        let lo = (hist.value_at_quantile(TRIM).max(1) as f64).ln();
        let hi = (hist.value_at_quantile(1.0 - TRIM).max(1) as f64).ln();
        // Trimmed mean over the central ranks, winsorized moments over all of them.
        let (lo_rank, hi_rank) = (TRIM * n as f64, (1.0 - TRIM) * n as f64);
        let (mut seen, mut t_sum, mut t_count) = (0f64, 0f64, 0f64);
        let (mut w_sum, mut w_sq) = (0f64, 0f64);
        for v in hist.iter_recorded() {
            let count = v.count_at_value() as f64;
            let x = (v.value_iterated_to().max(1) as f64).ln();
            let (from, to) = (seen, seen + count);
            seen = to;
            let inside = (to.min(hi_rank) - from.max(lo_rank)).max(0.0);
            t_sum += inside * x;
            t_count += inside;
            let w = x.clamp(lo, hi);
            w_sum += count * w;
            w_sq += count * w * w;
        }
        let nf = n as f64;
        let mean_w = w_sum / nf;
        let var_w = (w_sq / nf - mean_w * mean_w).max(0.0) * nf / (nf - 1.0);
        let level = if t_count > 0.0 {
            t_sum / t_count
        } else {
            mean_w
        };
        let se = var_w.sqrt() / ((1.0 - 2.0 * TRIM) * nf.sqrt());
        let median = (hist.value_at_quantile(0.5).max(1) as f64).ln();
        Some(Summary {
            n,
            level,
            // A window of identical values still has the histogram's own resolution.
            se: se.max(1e-3 / nf.sqrt()),
            ln_median: median,
        })
    }
}

/// One endpoint in one window.
#[derive(Debug, Clone)]
pub(crate) struct EndpointRecord {
    /// Latency from intended send time, microseconds (errors included, as loadgen records them).
    pub latency: Histogram<u64>,
    /// The level statistic; `None` below 10 samples.
    pub summary: Option<Summary>,
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
    /// Reduces `snapshot` for the gate's `names`. Endpoints are matched by name;
    /// one missing from the snapshot counts as a window without traffic.
    pub fn from_snapshot(snapshot: &Snapshot, names: &[String]) -> WindowRecord {
        let endpoints = names
            .iter()
            .map(
                |name| match snapshot.endpoints.iter().find(|e| &e.name == name) {
                    Some(e) => EndpointRecord {
                        summary: Summary::of(&e.latency),
                        latency: e.latency.clone(),
                        outcomes: e.outcomes,
                    },
                    None => EndpointRecord {
                        latency: new_histogram(),
                        summary: None,
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

/// How many lookbacks of per-window summaries are kept: the span over which the settle point is
/// searched and a slow rise measured (10 minutes at the defaults).
pub(crate) const SUMMARY_LOOKBACKS: usize = 10;

/// One window's summaries (one per endpoint) and the requests counted before it.
#[derive(Debug, Clone)]
pub(crate) struct SummaryRow {
    /// Per endpoint, in the gate's order.
    pub endpoints: Vec<Option<Summary>>,
    /// Per endpoint: completed requests since creation or reset, this window included.
    pub requests: Vec<u64>,
}

/// The remembered windows and the per-endpoint request counts since the last reset.
#[derive(Debug, Clone)]
pub(crate) struct History {
    windows: VecDeque<WindowRecord>,
    capacity: usize,
    /// Per-window summaries over [`SUMMARY_LOOKBACKS`] lookbacks: a few numbers per endpoint and
    /// window, enough to find where a long warm-up ended and to measure a slow rise.
    summaries: VecDeque<SummaryRow>,
    /// Windows seen since creation or reset (not only the remembered ones).
    seen: u64,
    requests: Vec<u64>,
}

impl History {
    /// Empty, keeping at most `capacity` windows' histograms, for `endpoints` endpoints.
    pub fn new(capacity: usize, endpoints: usize) -> History {
        let capacity = capacity.max(1);
        History {
            windows: VecDeque::with_capacity(capacity),
            capacity,
            summaries: VecDeque::with_capacity(capacity * SUMMARY_LOOKBACKS),
            seen: 0,
            requests: vec![0; endpoints],
        }
    }

    /// Adds a window, dropping the oldest beyond capacity, and counts its completed requests.
    pub fn push(&mut self, record: WindowRecord) {
        for (count, e) in self.requests.iter_mut().zip(&record.endpoints) {
            *count = count.saturating_add(e.outcomes.total());
        }
        self.summaries.push_back(SummaryRow {
            endpoints: record.endpoints.iter().map(|e| e.summary).collect(),
            requests: self.requests.clone(),
        });
        while self.summaries.len() > self.capacity * SUMMARY_LOOKBACKS {
            self.summaries.pop_front();
        }
        self.windows.push_back(record);
        while self.windows.len() > self.capacity {
            self.windows.pop_front();
        }
        self.seen += 1;
    }

    /// Forgets every window and count.
    pub fn clear(&mut self) {
        self.windows.clear();
        self.summaries.clear();
        self.seen = 0;
        self.requests.iter_mut().for_each(|c| *c = 0);
    }

    /// Windows whose summaries are held (at most [`SUMMARY_LOOKBACKS`] lookbacks).
    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    /// Windows seen since creation or the last reset.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Windows whose histograms are held (at most the lookback).
    pub fn held(&self) -> usize {
        self.windows.len()
    }

    /// The newest `count` windows with histograms (fewer if fewer are held), oldest first.
    pub fn recent(&self, count: usize) -> impl Iterator<Item = &WindowRecord> + Clone + '_ {
        self.windows
            .iter()
            .skip(self.windows.len().saturating_sub(count))
    }

    /// The summary rows, oldest first.
    pub fn summaries(&self) -> &VecDeque<SummaryRow> {
        &self.summaries
    }

    /// Completed requests of endpoint `index` since creation or the last reset.
    pub fn requests(&self, index: usize) -> u64 {
        self.requests.get(index).copied().unwrap_or(0)
    }

    /// Endpoint `index`'s latency merged over the fewest newest windows that hold `samples`
    /// samples (all held windows if they hold fewer), and how many windows that took: the
    /// freshest estimate of the quantile with the samples the gate asks for.
    pub fn merged_recent(&self, index: usize, samples: u64) -> (Histogram<u64>, usize) {
        let mut merged = new_histogram();
        let mut windows = 0;
        for w in self.windows.iter().rev() {
            if merged.len() >= samples.max(1) {
                break;
            }
            if let Some(e) = w.endpoints.get(index) {
                // Same bounds (loadgen's constructor): `add` cannot fail.
                let _ = merged.add(&e.latency);
            }
            windows += 1;
        }
        (merged, windows)
    }

    /// Endpoint `index`'s latency merged over the newest `count` windows (at most the lookback),
    /// split into an earlier and a later part (the later one takes the odd window).
    pub fn merged_halves(&self, index: usize, count: usize) -> (Histogram<u64>, Histogram<u64>) {
        let mut early = new_histogram();
        let mut late = new_histogram();
        let count = count.min(self.windows.len());
        let split = count / 2;
        for (i, w) in self.recent(count).enumerate() {
            if let Some(e) = w.endpoints.get(index) {
                let half = if i < split { &mut early } else { &mut late };
                // Same bounds (loadgen's constructor): `add` cannot fail.
                let _ = half.add(&e.latency);
            }
        }
        (early, late)
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
    fn memory_is_bounded_by_the_lookback_and_the_summaries() {
        let names = vec!["home".to_string()];
        let mut h = History::new(4, 1);
        for i in 0..100 {
            h.push(WindowRecord::from_snapshot(&snapshot(i, 1000 + i), &names));
        }
        assert_eq!(h.held(), 4);
        assert_eq!(h.len(), 4 * SUMMARY_LOOKBACKS);
        assert_eq!(h.seen(), 100);
        // Every request counted, not only the remembered ones.
        assert_eq!(h.requests(0), 1000);
        assert_eq!(h.requests(7), 0);
        // The summaries hold the newest windows, oldest first, with running request counts.
        let rows = h.summaries();
        assert_eq!(rows[0].requests[0], 610);
        let first = rows[0].endpoints[0].expect("10 samples");
        let last = rows[rows.len() - 1].endpoints[0].expect("10 samples");
        assert!(first.level < last.level);
        h.clear();
        assert_eq!((h.len(), h.held(), h.seen(), h.requests(0)), (0, 0, 0, 0));
    }

    #[test]
    fn halves_split_the_newest_windows_with_the_odd_one_in_the_later_half() {
        let names = vec!["home".to_string()];
        let mut h = History::new(6, 1);
        for i in 0..6 {
            h.push(WindowRecord::from_snapshot(&snapshot(i, 1000), &names));
        }
        let (early, late) = h.merged_halves(0, 5);
        assert_eq!((early.len(), late.len()), (20, 30));
        let (early, late) = h.merged_halves(0, 60);
        assert_eq!((early.len(), late.len()), (30, 30));
    }

    #[test]
    fn the_level_is_the_trimmed_mean_of_log_latency_with_its_error() {
        // 1,000 samples: 10% at 1 us, 80% at 148 us (~e^5), 10% at e^9 us: the trimmed mean
        // keeps ranks 100-900, all at 148: level ln 148. Winsorized at p10 (1 us) and p90
        // (148 us): 100 values at ln 1 = 0 and 900 at ln 148, sd 1.4997 (n - 1), so the error
        // is 1.4997 / (0.8 sqrt 1000) = 0.05928.
        let mut hist = new_histogram();
        let mid = 5f64.exp().round() as u64;
        hist.record_n(1, 100).expect("in range");
        hist.record_n(mid, 800).expect("in range");
        hist.record_n(9f64.exp().round() as u64, 100)
            .expect("in range");
        let s = Summary::of(&hist).expect("1000 samples");
        assert!((s.level - (mid as f64).ln()).abs() < 1e-3, "{s:?}");
        assert!((s.se - 0.05928).abs() < 2e-4, "{s:?}");
        assert!((s.ln_median - (mid as f64).ln()).abs() < 1e-2);
        // Below 10 samples there is no summary.
        let mut few = new_histogram();
        few.record_n(100, 9).expect("in range");
        assert_eq!(Summary::of(&few), None);
    }

    #[test]
    fn an_endpoint_missing_from_the_snapshot_is_a_window_without_traffic() {
        let names = vec!["home".to_string(), "gone".to_string()];
        let r = WindowRecord::from_snapshot(&snapshot(0, 1000), &names);
        assert!(r.endpoints[1].summary.is_none());
        assert_eq!(r.endpoints[1].outcomes.total(), 0);
        assert!(r.endpoints[0].summary.is_some());
        assert_eq!(r.generator.lag_p99_us, 100);
    }
}
