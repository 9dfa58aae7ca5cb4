//! The defaults of every configuration key that is not part of the gate's criterion (those live
//! in [`crate::gate::GateSettings::default`]), named once: the schema, `warmgate inject` and the
//! deploy tests read them from here.

use std::time::Duration;

/// warmgate's probe, metrics and status port (the container port named `warmgate`).
pub const DEFAULT_PORT: u16 = 9901;
/// The default probe/metrics/status address: every interface, on [`DEFAULT_PORT`].
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9901";
/// The default log filter (a tracing `EnvFilter` directive).
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// How long probes keep answering after SIGTERM before warmgate exits.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The app warmgate warms when nothing says otherwise.
pub const DEFAULT_TARGET_URL: &str = "http://127.0.0.1:8080";
/// How long `waiting` may last before it counts as a failure.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The path of the endpoint used when no endpoints are configured (and of any endpoint that
/// names no path).
pub const DEFAULT_ENDPOINT_PATH: &str = "/";
/// The name of an endpoint whose path gives no usable name (`/`).
pub const DEFAULT_ENDPOINT_NAME: &str = "root";
/// The default method of an endpoint.
pub const DEFAULT_METHOD: &str = "GET";
/// The default share of the rate of an endpoint.
pub const DEFAULT_WEIGHT: u32 = 1;
/// The default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Default warm-up rate per endpoint, requests per second. At 200 rps each endpoint's 5 s window
/// holds 1,000 samples, and its p99 moves by about 6-12% from sampling alone (lognormal sigma
/// 0.5-1); at 100 rps, 8-17% and more on a busy machine, and a slowdown that starts as the
/// warm-up ends can look flat for a lookback (docs/DESIGN.md, "Trend checks and noise").
pub const DEFAULT_RATE_PER_ENDPOINT: f64 = 200.0;
/// The default cap on requests in flight.
pub const DEFAULT_MAX_INFLIGHT: usize = 64;
/// The default linear ramp from 10% of the rate to the rate.
pub const DEFAULT_RAMP: Duration = Duration::from_secs(5);
/// The default rate once ready (0: stop sending).
pub const DEFAULT_AFTER_READY_RATE: f64 = 0.0;

/// The default warm-up deadline, from the start of warming.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// `gate.reference.query`: the warm peers of this pod's workload (same namespace, not this pod)
/// that measured the same endpoint's same quantile at the same rate and window.
pub const DEFAULT_REFERENCE_QUERY: &str = concat!(
    "warmgate_ready_latency_seconds{namespace=\"$namespace\",workload=\"$workload\",",
    "endpoint=\"$endpoint\",q=\"$quantile\",pod!=\"$pod\"}",
    " and on(namespace, pod, endpoint) (warmgate_ready_rate_per_second == $rate)",
    " and on(namespace, pod, endpoint) (warmgate_ready_window_seconds == $window)"
);
/// `gate.reference.tolerance`.
pub const DEFAULT_REFERENCE_TOLERANCE: f64 = 0.15;
/// `gate.reference.min_peers`.
pub const DEFAULT_MIN_PEERS: u32 = 1;
/// `gate.reference.refresh`: under half the default window, so a Prometheus that stops is noticed
/// before the next window closes.
pub const DEFAULT_REFERENCE_REFRESH: Duration = Duration::from_secs(2);
/// `gate.reference.timeout`.
pub const DEFAULT_REFERENCE_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_default_is_on_the_default_port() {
        let addr: std::net::SocketAddr = DEFAULT_LISTEN.parse().expect("parses");
        assert_eq!(addr.port(), DEFAULT_PORT);
    }

    #[test]
    fn default_url_parses_and_is_loopback() {
        let url = url::Url::parse(DEFAULT_TARGET_URL).expect("parses");
        assert!(crate::config::validate::is_loopback(&url));
    }
}
