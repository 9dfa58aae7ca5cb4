//! The configuration file's schema, written once: every key, its type and its default. Read
//! field by field (`read`), checked into [`super::Settings`] (`validate`), and serialized back
//! for `warmgate check` (`show`).
//!
//! Unknown keys are refused (`deny_unknown_fields`); a missing key takes its default.
//! Values whose checks need context (the URL's host, a name's characters, ranges) stay plain
//! here and are checked by `validate`, which reports every problem at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use loadgen::HttpVersion;
use serde::{Deserialize, Serialize};

use super::defaults::*;
use super::values::{self, Secret, Statuses};
use super::vars::VarSpec;
use super::{LogFormat, OnDeadline};
use crate::gate::{GateSettings, ReferenceMode};

/// The whole configuration as written (YAML, TOML, or env overrides).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// Address of the probe/metrics/status server, e.g. `0.0.0.0:9901`.
    pub listen: String,
    /// The `log:` section.
    pub log: LogSection,
    /// Time allowed to drain after SIGTERM.
    #[serde(with = "values::duration")]
    pub shutdown_grace: Duration,
    /// The `target:` section.
    pub target: TargetSection,
    /// The endpoints; None means one endpoint `{name: root, path: /}`.
    pub endpoints: Option<Vec<EndpointSection>>,
    /// The `traffic:` section.
    pub traffic: TrafficSection,
    /// The `gate:` section.
    pub gate: GateSection,
}

/// The `log:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive.
    pub level: String,
}

/// The `target:` section: the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSection {
    /// Base URL; must be loopback unless `allow_remote`.
    pub url: String,
    /// Allow a host that is not loopback.
    pub allow_remote: bool,
    /// The app's own readiness path, e.g. `/ready`.
    pub readiness_path: Option<String>,
    /// How long `waiting` may last.
    #[serde(with = "values::duration")]
    pub wait_timeout: Duration,
    /// HTTP version.
    pub http: HttpMode,
    /// Accept a self-signed certificate.
    pub insecure_tls: bool,
}

/// `target.http`: how warm-up requests speak HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpMode {
    /// HTTP/1.1 only.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (`http2` is accepted too).
    #[serde(alias = "http2")]
    H2c,
    /// Whatever the client negotiates.
    Auto,
}

impl From<HttpMode> for HttpVersion {
    fn from(mode: HttpMode) -> HttpVersion {
        match mode {
            HttpMode::Http1 => HttpVersion::Http1,
            HttpMode::H2c => HttpVersion::Http2PriorKnowledge,
            HttpMode::Auto => HttpVersion::Auto,
        }
    }
}

impl From<HttpVersion> for HttpMode {
    fn from(version: HttpVersion) -> HttpMode {
        match version {
            HttpVersion::Http1 => HttpMode::Http1,
            HttpVersion::Http2PriorKnowledge => HttpMode::H2c,
            HttpVersion::Auto => HttpMode::Auto,
        }
    }
}

/// `endpoints[].grpc`: one unary gRPC method, sent over HTTP/2 (h2c, or TLS on https).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    /// Full service name, `package.Service`.
    pub service: String,
    /// Method name.
    pub method: String,
    /// The request message as protobuf's JSON mapping, templated like a body with `vars`.
    #[serde(default = "empty_message")]
    pub message: String,
    /// A `FileDescriptorSet` file with the schema; unset: server reflection at warm-up start.
    #[serde(default)]
    pub descriptor_set: Option<PathBuf>,
}

fn empty_message() -> String {
    "{}".to_string()
}

/// One entry of `endpoints:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSection {
    /// Label value, `[a-zA-Z0-9_-]{1,64}`; None derives it from the path.
    pub name: Option<String>,
    /// Path and query, starting with `/`.
    pub path: String,
    /// HTTP method.
    pub method: String,
    /// Extra headers: text, `{file: PATH, prefix: TEXT}` or `{env: NAME}`; the values are
    /// secret and print as `<redacted>` (a file as its path).
    pub headers: BTreeMap<String, Secret>,
    /// Template variables; with any, `{name}` in the path, text headers and body is replaced
    /// per request.
    pub vars: BTreeMap<String, VarSpec>,
    /// Request body.
    pub body: Option<String>,
    /// Recorded requests (HAR, or JSON Lines of `{method, path, headers, body}`) replayed
    /// round-robin instead of `path`, `method` and `body`.
    pub requests_file: Option<PathBuf>,
    /// A unary gRPC call instead of an HTTP request.
    pub grpc: Option<GrpcSection>,
    /// Share of the rate.
    pub weight: u32,
    /// Accepted statuses: `"200-399"`, `"200,404"`, `204` or `[200, 204]`.
    pub expect_status: Statuses,
    /// Text the answer must contain.
    pub expect_body: Option<String>,
    /// Per-request timeout.
    #[serde(with = "values::duration")]
    pub timeout: Duration,
    /// Absolute bound on this endpoint's gate quantile (wins over `gate.ceiling`).
    #[serde(with = "values::opt_duration")]
    pub ceiling: Option<Duration>,
}

/// The `traffic:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    /// Requests per second, all endpoints together; None: [`DEFAULT_RATE_PER_ENDPOINT`] each.
    pub rate: Option<f64>,
    /// Cap on requests in flight.
    pub max_inflight: usize,
    /// Linear ramp from 10% of the rate to the rate.
    #[serde(with = "values::duration")]
    pub ramp: Duration,
    /// Requests per second once ready (0: stop).
    pub after_ready_rate: f64,
    /// Seed of the endpoint choice and of the templates' draws; unset: a new seed each start
    /// (logged, so a run can be replayed).
    pub seed: Option<u64>,
}

/// The `gate:` section: the criterion's numbers (the keys of [`GateSettings`], flattened in),
/// plus the deadline around them. serde cannot refuse unknown keys of a struct with a flattened
/// part; `read` does that itself, from the keys the section's default writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateSection {
    /// The criterion's numbers (its endpoint specs are built from `endpoints[]`).
    #[serde(flatten)]
    pub criterion: GateSettings,
    /// Absolute bound on every endpoint's quantile (an endpoint's own wins).
    #[serde(with = "values::opt_duration")]
    pub ceiling: Option<Duration>,
    /// How long a warm-up may take.
    #[serde(with = "values::duration")]
    pub deadline: Duration,
    /// What happens at the deadline.
    pub on_deadline: OnDeadline,
    /// Bound on the histograms the gate keeps (endpoints x lookback windows x one histogram),
    /// MiB; settings that would need more are refused.
    pub max_memory_mib: u64,
    /// The fleet reference: the warm peers' quantile, read from Prometheus (unset: off).
    pub reference: Option<ReferenceSection>,
}

/// `gate.reference`: where the warm peers' quantile comes from and what it does to the verdict
/// (docs/DESIGN.md, "The fleet reference").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSection {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus.monitoring:9090` (any host:
    /// it is not synthetic traffic; no credentials in it).
    pub prometheus_url: String,
    /// PromQL template; `$endpoint`, `$namespace`, `$pod`, `$workload`, `$quantile`, `$rate`
    /// and `$window` are replaced. Each series of the answer is one peer; the reference is their
    /// median.
    #[serde(default = "default_reference_query")]
    pub query: String,
    /// `accelerate` or `require`.
    #[serde(default)]
    pub mode: ReferenceMode,
    /// How far above the reference the pod may be.
    #[serde(default = "default_reference_tolerance")]
    pub tolerance: f64,
    /// Peers needed before the reference counts.
    #[serde(default = "default_min_peers")]
    pub min_peers: u32,
    /// How often Prometheus is asked.
    #[serde(default = "default_refresh", with = "values::duration")]
    pub refresh: Duration,
    /// Bound on one round of queries.
    #[serde(default = "default_reference_timeout", with = "values::duration")]
    pub timeout: Duration,
    /// `{file: PATH}` (re-read at each query) or `{env: NAME}`: sent as `Authorization: Bearer`.
    /// Never inline text, never shown.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// `$namespace`; unset: the `POD_NAMESPACE` environment variable.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `$pod`; unset: `POD_NAME`.
    #[serde(default)]
    pub pod: Option<String>,
    /// `$workload`; unset: `POD_WORKLOAD`.
    #[serde(default)]
    pub workload: Option<String>,
}

impl ReferenceSection {
    /// A reference asking `prometheus_url`, every other key its default.
    pub fn new(prometheus_url: &str) -> ReferenceSection {
        ReferenceSection {
            prometheus_url: prometheus_url.to_string(),
            query: default_reference_query(),
            mode: ReferenceMode::default(),
            tolerance: DEFAULT_REFERENCE_TOLERANCE,
            min_peers: DEFAULT_MIN_PEERS,
            refresh: DEFAULT_REFERENCE_REFRESH,
            timeout: DEFAULT_REFERENCE_TIMEOUT,
            bearer_token: None,
            namespace: None,
            pod: None,
            workload: None,
        }
    }
}

fn default_reference_query() -> String {
    DEFAULT_REFERENCE_QUERY.to_string()
}

fn default_reference_tolerance() -> f64 {
    DEFAULT_REFERENCE_TOLERANCE
}

fn default_min_peers() -> u32 {
    DEFAULT_MIN_PEERS
}

fn default_refresh() -> Duration {
    DEFAULT_REFERENCE_REFRESH
}

fn default_reference_timeout() -> Duration {
    DEFAULT_REFERENCE_TIMEOUT
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile {
            listen: DEFAULT_LISTEN.to_string(),
            log: LogSection::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            target: TargetSection::default(),
            endpoints: None,
            traffic: TrafficSection::default(),
            gate: GateSection::default(),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            level: DEFAULT_LOG_LEVEL.to_string(),
        }
    }
}

impl Default for TargetSection {
    fn default() -> Self {
        TargetSection {
            url: DEFAULT_TARGET_URL.to_string(),
            allow_remote: false,
            readiness_path: None,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            http: HttpMode::default(),
            insecure_tls: false,
        }
    }
}

impl Default for EndpointSection {
    fn default() -> Self {
        EndpointSection {
            name: None,
            path: DEFAULT_ENDPOINT_PATH.to_string(),
            method: DEFAULT_METHOD.to_string(),
            headers: BTreeMap::new(),
            vars: BTreeMap::new(),
            body: None,
            requests_file: None,
            grpc: None,
            weight: DEFAULT_WEIGHT,
            expect_status: Statuses::default(),
            expect_body: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            ceiling: None,
        }
    }
}

impl Default for TrafficSection {
    fn default() -> Self {
        TrafficSection {
            rate: None,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            ramp: DEFAULT_RAMP,
            after_ready_rate: DEFAULT_AFTER_READY_RATE,
            seed: None,
        }
    }
}

impl Default for GateSection {
    /// The criterion's defaults are [`GateSettings::default`]'s, so they are written once.
    fn default() -> Self {
        GateSection {
            criterion: GateSettings::default(),
            ceiling: None,
            deadline: DEFAULT_DEADLINE,
            on_deadline: OnDeadline::Fail,
            max_memory_mib: super::limits::DEFAULT_MAX_MEMORY_MIB,
            reference: None,
        }
    }
}
