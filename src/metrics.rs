//! Prometheus metrics (names fixed in docs/DESIGN.md). Labels come from bounded sets: the
//! configured endpoint names, the five phases, the outcome labels.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::phase::Phase;

/// Bucket bounds of `warmgate_request_duration_seconds`, 1 ms .. 30 s.
const BUCKETS: [f64; 18] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.04, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0,
    2.5, 10.0, 30.0,
];

/// Every metric warmgate exports (names and help texts in [`Metrics::new`]).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `warmgate_ready`: 1 when /readyz answers 200.
    pub ready: IntGauge,
    /// `warmgate_phase{phase}`: 1 for the current phase, 0 for the others.
    pub phase: IntGaugeVec,
    /// `warmgate_phase_duration_seconds`: time in the current phase (set when scraped).
    pub phase_duration: Gauge,
    /// `warmgate_deadline_seconds`: the configured warm-up deadline.
    pub deadline: Gauge,
    /// `warmgate_time_to_ready_seconds`: agent start to first ready. No series before (never a
    /// NaN sample): set it with [`Metrics::set_ready_at`].
    pub time_to_ready: GaugeVec,
    /// `warmgate_ready_timestamp_seconds`: Unix time of the first ready; no series before.
    pub ready_timestamp: GaugeVec,
    /// `warmgate_warmups_total`: warm-ups started.
    pub warmups: IntCounter,
    /// `warmgate_deadline_opened_total`: times `on_deadline: open` opened the gate.
    pub deadline_opened: IntCounter,
    /// `warmgate_requests_total{endpoint, outcome}`: synthetic requests completed.
    pub requests: IntCounterVec,
    /// `warmgate_request_duration_seconds{endpoint}`: latency from the intended send time.
    pub duration: HistogramVec,
    /// `warmgate_window_latency_seconds{endpoint, q}`: the last window's quantiles. The label is
    /// `q`, not `quantile`: that name is reserved for summaries and fails `promtool check metrics`.
    pub window_latency: GaugeVec,
    /// `warmgate_window_requests{endpoint}`: requests completed in the last window.
    pub window_requests: IntGaugeVec,
    /// `warmgate_gate_pass{endpoint}`: 1 if the endpoint passed the last evaluation.
    pub gate_pass: IntGaugeVec,
    /// `warmgate_gate_streak_evaluations`: consecutive passing evaluations.
    pub gate_streak: IntGauge,
    /// `warmgate_gate_class{endpoint, class}`: 1 for the endpoint's current class (flat,
    /// warmed, warming, slowdown, no_steady_state, collecting), 0 for the others.
    pub gate_class: IntGaugeVec,
    /// `warmgate_gate_residual_ratio{endpoint, bound}`: residual slowness at the last
    /// evaluation, `bound="estimate"` and `bound="upper"` (what the gate compares with
    /// `tolerance`); no series before the first estimate.
    pub gate_residual: GaugeVec,
    /// `warmgate_gate_settle_seconds{endpoint}`: seconds since warming began at which the judged
    /// segment starts (the settle point; 0 when no warm-up was seen).
    pub gate_settle: GaugeVec,
    /// `warmgate_gate_evaluations_total{result}`: evaluations by result.
    pub evaluations: IntCounterVec,
    /// `warmgate_target_requests_per_second`: requests/s the schedule asks for now.
    pub target_rate: Gauge,
    /// `warmgate_achieved_requests_per_second`: requests/s sent in the last window.
    pub achieved_rate: Gauge,
    /// `warmgate_schedule_lag_seconds`: the engine's p99 schedule lag in the last window.
    pub lag: Gauge,
    /// `warmgate_ready_latency_seconds{endpoint, workload, q}`: the gate quantile measured over
    /// the judged span when the gate last genuinely passed (never on a deadline `open`); absent
    /// before, kept while warmgate lives: what its peers' `gate.reference` reads.
    pub ready_latency: GaugeVec,
    /// `warmgate_ready_rate_per_second{endpoint, workload}`: the endpoint's warm-up rate then.
    pub ready_rate: GaugeVec,
    /// `warmgate_ready_window_seconds{endpoint, workload}`: the gate window then.
    pub ready_window: GaugeVec,
    /// `warmgate_ready_rule{rule}`: 1 for the rule that opened the gate last (`stand_alone`,
    /// `reference`), 0 for the other; absent before the first genuine pass.
    pub ready_rule: IntGaugeVec,
    /// `warmgate_reference_latency_seconds{endpoint}`: the fleet reference at the last
    /// evaluation; absent while none counts.
    pub reference_latency: GaugeVec,
    /// `warmgate_reference_peers{endpoint}`: peers behind it (0 while none counts).
    pub reference_peers: IntGaugeVec,
    /// `warmgate_reference_age_seconds`: seconds since Prometheus answered; absent before.
    pub reference_age: GaugeVec,
    /// `warmgate_reference_queries_total{result}`: rounds of reference queries, `ok` or `error`.
    pub reference_queries: IntCounterVec,
}

type IntGaugeVec = prometheus::IntGaugeVec;

impl Metrics {
    /// Registers every metric in a fresh registry. Fails only on a programming error (a
    /// duplicate or malformed name), which the unit tests catch.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let build_info = IntGaugeVec::new(
            Opts::new("warmgate_build_info", "warmgate version (always 1)."),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        let m = Metrics {
            ready: IntGauge::new("warmgate_ready", "1 when /readyz answers 200.")?,
            phase: IntGaugeVec::new(
                Opts::new("warmgate_phase", "1 for the current phase, 0 for the others."),
                &["phase"],
            )?,
            phase_duration: Gauge::new(
                "warmgate_phase_duration_seconds",
                "Time spent in the current phase.",
            )?,
            deadline: Gauge::new("warmgate_deadline_seconds", "Configured warm-up deadline.")?,
            time_to_ready: GaugeVec::new(
                Opts::new(
                    "warmgate_time_to_ready_seconds",
                    "Agent start to first ready verdict (absent before).",
                ),
                &[],
            )?,
            ready_timestamp: GaugeVec::new(
                Opts::new(
                    "warmgate_ready_timestamp_seconds",
                    "Unix time of the first ready verdict (absent before).",
                ),
                &[],
            )?,
            warmups: IntCounter::new(
                "warmgate_warmups_total",
                "Warm-ups started (1 + re-warms after app restarts).",
            )?,
            deadline_opened: IntCounter::new(
                "warmgate_deadline_opened_total",
                "Times the gate opened because the deadline passed with on_deadline: open.",
            )?,
            requests: IntCounterVec::new(
                Opts::new("warmgate_requests_total", "Synthetic requests completed."),
                &["endpoint", "outcome"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "warmgate_request_duration_seconds",
                    "Synthetic request latency from its intended send time (no coordinated omission).",
                )
                .buckets(BUCKETS.to_vec()),
                &["endpoint"],
            )?,
            window_latency: GaugeVec::new(
                Opts::new("warmgate_window_latency_seconds", "Latency quantiles of the last window."),
                &["endpoint", "q"],
            )?,
            window_requests: IntGaugeVec::new(
                Opts::new("warmgate_window_requests", "Requests completed in the last window."),
                &["endpoint"],
            )?,
            gate_pass: IntGaugeVec::new(
                Opts::new("warmgate_gate_pass", "1 if the endpoint passed the last evaluation."),
                &["endpoint"],
            )?,
            gate_streak: IntGauge::new(
                "warmgate_gate_streak_evaluations",
                "Consecutive passing gate evaluations.",
            )?,
            gate_class: IntGaugeVec::new(
                Opts::new(
                    "warmgate_gate_class",
                    "1 for the endpoint's current class (what its latency is doing), 0 for the others.",
                ),
                &["endpoint", "class"],
            )?,
            gate_residual: GaugeVec::new(
                Opts::new(
                    "warmgate_gate_residual_ratio",
                    "Residual slowness at the last evaluation: how much faster the app would still get (estimate, upper bound).",
                ),
                &["endpoint", "bound"],
            )?,
            gate_settle: GaugeVec::new(
                Opts::new(
                    "warmgate_gate_settle_seconds",
                    "Seconds since warming began at which the judged segment starts (the settle point).",
                ),
                &["endpoint"],
            )?,
            evaluations: IntCounterVec::new(
                Opts::new("warmgate_gate_evaluations_total", "Gate evaluations by result."),
                &["result"],
            )?,
            target_rate: Gauge::new(
                "warmgate_target_requests_per_second",
                "Requests/s the schedule asks for now.",
            )?,
            achieved_rate: Gauge::new(
                "warmgate_achieved_requests_per_second",
                "Requests/s sent in the last window.",
            )?,
            lag: Gauge::new(
                "warmgate_schedule_lag_seconds",
                "p99 schedule lag of the traffic engine in the last window.",
            )?,
            ready_latency: GaugeVec::new(
                Opts::new(
                    "warmgate_ready_latency_seconds",
                    "Gate quantile over the judged span when the gate last genuinely passed (the fleet reference its peers read).",
                ),
                &["endpoint", "workload", "q"],
            )?,
            ready_rate: GaugeVec::new(
                Opts::new(
                    "warmgate_ready_rate_per_second",
                    "The endpoint's warm-up rate when the gate last genuinely passed.",
                ),
                &["endpoint", "workload"],
            )?,
            ready_window: GaugeVec::new(
                Opts::new(
                    "warmgate_ready_window_seconds",
                    "The gate window when the gate last genuinely passed.",
                ),
                &["endpoint", "workload"],
            )?,
            ready_rule: IntGaugeVec::new(
                Opts::new(
                    "warmgate_ready_rule",
                    "1 for the rule that opened the gate last (stand_alone, reference), 0 for the other.",
                ),
                &["rule"],
            )?,
            reference_latency: GaugeVec::new(
                Opts::new(
                    "warmgate_reference_latency_seconds",
                    "The fleet reference (median of the warm peers' quantile) at the last evaluation.",
                ),
                &["endpoint"],
            )?,
            reference_peers: IntGaugeVec::new(
                Opts::new(
                    "warmgate_reference_peers",
                    "Peers behind the fleet reference at the last evaluation (0 while none counts).",
                ),
                &["endpoint"],
            )?,
            reference_age: GaugeVec::new(
                Opts::new(
                    "warmgate_reference_age_seconds",
                    "Seconds since Prometheus answered the reference queries.",
                ),
                &[],
            )?,
            reference_queries: IntCounterVec::new(
                Opts::new(
                    "warmgate_reference_queries_total",
                    "Rounds of fleet reference queries by result.",
                ),
                &["result"],
            )?,
            registry,
        };
        for c in [
            Box::new(m.ready.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.phase.clone()),
            Box::new(m.phase_duration.clone()),
            Box::new(m.deadline.clone()),
            Box::new(m.time_to_ready.clone()),
            Box::new(m.ready_timestamp.clone()),
            Box::new(m.warmups.clone()),
            Box::new(m.deadline_opened.clone()),
            Box::new(m.requests.clone()),
            Box::new(m.duration.clone()),
            Box::new(m.window_latency.clone()),
            Box::new(m.window_requests.clone()),
            Box::new(m.gate_pass.clone()),
            Box::new(m.gate_streak.clone()),
            Box::new(m.gate_class.clone()),
            Box::new(m.gate_residual.clone()),
            Box::new(m.gate_settle.clone()),
            Box::new(m.evaluations.clone()),
            Box::new(m.target_rate.clone()),
            Box::new(m.achieved_rate.clone()),
            Box::new(m.lag.clone()),
            Box::new(m.ready_latency.clone()),
            Box::new(m.ready_rate.clone()),
            Box::new(m.ready_window.clone()),
            Box::new(m.ready_rule.clone()),
            Box::new(m.reference_latency.clone()),
            Box::new(m.reference_peers.clone()),
            Box::new(m.reference_age.clone()),
            Box::new(m.reference_queries.clone()),
        ] {
            m.registry.register(c)?;
        }
        // CPU, memory, file descriptors and start time of this process, under the names every
        // exporter uses (`process_*`), so standard dashboards and alerts work unchanged.
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        for result in ["pass", "fail"] {
            m.evaluations.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Creates every per-endpoint series up front, so dashboards see zeros, not gaps.
    pub fn init_endpoints(&self, names: &[String]) {
        for name in names {
            for outcome in loadgen::Outcome::LABELS {
                self.requests.with_label_values(&[name.as_str(), outcome]);
            }
            self.duration.with_label_values(&[name.as_str()]);
            self.window_requests.with_label_values(&[name.as_str()]);
            self.gate_pass.with_label_values(&[name.as_str()]);
            for class in crate::gate::Class::ALL {
                let on = i64::from(class == crate::gate::Class::Collecting);
                self.gate_class
                    .with_label_values(&[name.as_str(), class.as_str()])
                    .set(on);
            }
        }
    }

    /// Creates the time-to-ready series: `after_s` seconds from agent start, reached at Unix
    /// time `unix_s`. Called once, at the first ready.
    pub fn set_ready_at(&self, after_s: f64, unix_s: f64) {
        self.time_to_ready
            .with_label_values::<&str>(&[])
            .set(after_s);
        self.ready_timestamp
            .with_label_values::<&str>(&[])
            .set(unix_s);
    }

    /// Sets the one-hot phase gauges.
    pub fn set_phase(&self, phase: Phase) {
        for p in Phase::ALL {
            self.phase
                .with_label_values(&[p.name()])
                .set(i64::from(p == phase));
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Records one window of one endpoint into the request counters and the duration histogram.
pub fn record_window(m: &Metrics, w: &loadgen::EndpointWindow) {
    for (label, n) in w.outcomes.by_label() {
        if n > 0 {
            m.requests
                .with_label_values(&[w.name.as_str(), label])
                .inc_by(n);
        }
    }
    let h = m.duration.with_label_values(&[w.name.as_str()]);
    // Replays the window's HDR buckets into the Prometheus histogram: one observe per request,
    // at the bucket's representative value (HDR precision, about 1%).
    for v in w.latency.iter_recorded() {
        let secs = v.value_iterated_to() as f64 / 1e6;
        for _ in 0..v.count_at_value() {
            h.observe(secs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_encodes_every_documented_name() {
        let m = Metrics::new().expect("registers");
        m.init_endpoints(&["home".to_string()]);
        m.set_phase(Phase::Warming);
        let text = m.encode();
        for name in [
            "warmgate_build_info",
            "warmgate_ready",
            "warmgate_phase{phase=\"warming\"} 1",
            "warmgate_phase{phase=\"ready\"} 0",
            "process_start_time_seconds",
            "warmgate_achieved_requests_per_second",
            "warmgate_requests_total{endpoint=\"home\",outcome=\"ok\"} 0",
            "warmgate_request_duration_seconds_bucket{endpoint=\"home\"",
            "warmgate_gate_evaluations_total{result=\"pass\"} 0",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
        assert!(!text.contains("NaN"), "{text}");
        assert!(!text.contains("warmgate_time_to_ready_seconds"), "{text}");
        m.set_ready_at(12.5, 1.7e9);
        let text = m.encode();
        assert!(
            text.contains("warmgate_time_to_ready_seconds 12.5"),
            "{text}"
        );
        assert!(
            text.contains("warmgate_ready_timestamp_seconds 1700000000"),
            "{text}"
        );
    }

    #[test]
    fn window_replay_counts_every_request() {
        let m = Metrics::new().expect("registers");
        let mut w = loadgen::EndpointWindow::empty("home");
        for us in [900u64, 5_000, 5_000, 80_000] {
            w.latency.record(us).expect("in range");
            w.outcomes.add(loadgen::Outcome::Ok);
        }
        w.outcomes.add(loadgen::Outcome::Timeout);
        record_window(&m, &w);
        let h = m.duration.with_label_values(&["home"]);
        assert_eq!(h.get_sample_count(), 4);
        assert_eq!(m.requests.with_label_values(&["home", "ok"]).get(), 4);
        assert_eq!(m.requests.with_label_values(&["home", "timeout"]).get(), 1);
        assert!(
            (h.get_sample_sum() - 0.0909).abs() < 0.002,
            "{}",
            h.get_sample_sum()
        );
    }
}
