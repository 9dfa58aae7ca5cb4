//! What to send: a [`Plan`] is checked once, at construction, and never changes during a run.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method};
use url::Url;

use crate::recorded::RecordedRequest;
use crate::secret::SecretFile;
use crate::template::RequestTemplate;

/// Why a [`Plan`] or [`Endpoint`] could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A plan needs at least one endpoint.
    #[error("a plan needs at least one endpoint")]
    NoEndpoints,
    /// URLs must be http or https with a host.
    #[error("endpoint {name:?}: unsupported URL {url:?} (need http:// or https:// with a host)")]
    BadUrl {
        /// The endpoint's name.
        name: String,
        /// The offending URL.
        url: String,
    },
    /// Every endpoint's weight is zero.
    #[error("endpoint weights must not all be zero")]
    ZeroWeights,
    /// A rate must be finite and > 0.
    #[error("rate must be a finite number of requests per second > 0, got {0}")]
    BadRate(f64),
    /// Durations that must be positive.
    #[error("{0} must be longer than zero")]
    ZeroDuration(&'static str),
    /// The in-flight cap must be at least 1.
    #[error("max_inflight must be at least 1")]
    ZeroInflight,
}

/// A set of accepted HTTP statuses, as inclusive ranges (default `200..=399`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<RangeInclusive<u16>>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![200..=399])
    }
}

impl StatusSet {
    /// True when `status` is in one of the ranges.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

/// One kind of request the engine sends.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// A short name, used as a label (bounded set: one per configured endpoint).
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL (scheme, host, port, path and query).
    pub url: Url,
    /// Extra request headers. Values may be secret: never log or export them.
    pub headers: HeaderMap,
    /// Request body, sent as is.
    pub body: Option<Bytes>,
    /// Relative share of the total rate (0 = never sent).
    pub weight: u32,
    /// Statuses that count as success.
    pub accept: StatusSet,
    /// Text the body must contain for success (`None`: any body).
    pub expect_body: Option<String>,
    /// Per-request timeout, from the actual send to the end of the body. A request that times
    /// out is recorded with latency = its schedule lag + this, and [`crate::Outcome::Timeout`].
    pub timeout: Duration,
    /// Per-request variety: the path, header values and body rendered from variables for each
    /// request (`None`: the request is built once and sent as is). The URL's path is then
    /// only a stand-in; the origin is still the URL's.
    pub template: Option<Arc<RequestTemplate>>,
    /// Headers whose value is read from a file and re-read when it changes (checked once per
    /// window); they win over `headers` of the same name.
    pub secret_headers: Vec<(HeaderName, Arc<SecretFile>)>,
    /// Recorded requests sent round-robin instead of `method`, the URL's path and `body`
    /// (empty: none). `headers` are added to each (and win).
    pub recorded: Vec<RecordedRequest>,
    /// A unary gRPC call instead of plain HTTP (`None`: plain HTTP). Then the request is a POST
    /// to the call's path whose body (from `body` or the template's body) is the message as
    /// JSON, encoded per request; success is `grpc-status` 0 and `accept` is not used. Set it
    /// with [`Endpoint::set_grpc`].
    pub grpc: Option<Arc<crate::grpc::GrpcCall>>,
}

impl Endpoint {
    /// A GET endpoint named `name` for `url`, weight 1, statuses 200-399, timeout 10 s.
    pub fn get(name: impl Into<String>, url: Url) -> Endpoint {
        Endpoint {
            name: name.into(),
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: None,
            weight: 1,
            accept: StatusSet::default(),
            expect_body: None,
            timeout: Duration::from_secs(10),
            template: None,
            secret_headers: Vec::new(),
            recorded: Vec::new(),
            grpc: None,
        }
    }

    /// Makes this endpoint send `call` with the JSON `message` (templated if `template` is set:
    /// the template's body is then the message). Sets the method, the URL's path and the gRPC
    /// headers (`timeout` becomes `grpc-timeout`), so set the timeout first. Fails if an
    /// untemplated message does not fit the call's input type.
    pub fn set_grpc(
        &mut self,
        call: crate::grpc::GrpcCall,
        message: &str,
    ) -> Result<(), crate::grpc::GrpcError> {
        if self.template.is_none() {
            self.body = Some(call.encode(message.as_bytes())?);
        }
        self.method = Method::POST;
        self.url.set_path(&call.path);
        self.url.set_query(None);
        for (name, value) in &call.headers(self.timeout) {
            self.headers.insert(name.clone(), value.clone());
        }
        self.grpc = Some(Arc::new(call));
        Ok(())
    }
}

/// How the target rate (requests per second, all endpoints together) moves over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateSchedule {
    /// The same rate throughout.
    Constant(f64),
    /// Linear from `from` to `to` over `over`, then `to`.
    Ramp {
        /// Starting rate.
        from: f64,
        /// Final rate.
        to: f64,
        /// Ramp length.
        over: Duration,
    },
}

impl RateSchedule {
    /// The rate at `t` after the start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match *self {
            RateSchedule::Constant(r) => r,
            RateSchedule::Ramp { from, to, over } => {
                let f = (t.as_secs_f64() / over.as_secs_f64()).min(1.0);
                from + (to - from) * f
            }
        }
    }
}

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 only (kept-alive pool).
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (h2c on plain http).
    Http2PriorKnowledge,
    /// Whatever the client negotiates (ALPN on https, HTTP/1.1 on http).
    Auto,
}

/// A checked description of a run. Build with [`Plan::try_new`], then adjust the public fields
/// that have safe defaults.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What to send (weights pick among them per request).
    pub endpoints: Vec<Endpoint>,
    /// Target rate over time.
    pub rate: RateSchedule,
    /// Cap on requests in flight; past it, due requests wait (and count as late).
    pub max_inflight: usize,
    /// Length of one snapshot window.
    pub window: Duration,
    /// Stop after this long (`None`: run until cancelled).
    pub duration: Option<Duration>,
    /// Bodies are read and discarded up to this many bytes (default 1 MiB).
    pub body_cap: usize,
    /// HTTP version.
    pub http: HttpVersion,
    /// Accept an invalid (e.g. self-signed) certificate on https targets. Opt-in.
    pub accept_invalid_certs: bool,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// Seed for the endpoint choice and the templates' draws (deterministic runs).
    pub seed: u64,
}

impl Plan {
    /// Checks the endpoints and the schedule. Fails on no endpoints, a non-http(s) URL, all-zero
    /// weights, a non-positive rate, a zero window or an in-flight cap of zero.
    pub fn try_new(
        endpoints: Vec<Endpoint>,
        rate: RateSchedule,
        max_inflight: usize,
        window: Duration,
    ) -> Result<Plan, PlanError> {
        if endpoints.is_empty() {
            return Err(PlanError::NoEndpoints);
        }
        for e in &endpoints {
            let scheme_ok = matches!(e.url.scheme(), "http" | "https");
            if !scheme_ok || e.url.host().is_none() {
                return Err(PlanError::BadUrl {
                    name: e.name.clone(),
                    url: e.url.to_string(),
                });
            }
            if e.timeout.is_zero() {
                return Err(PlanError::ZeroDuration("endpoint timeout"));
            }
        }
        if endpoints.iter().all(|e| e.weight == 0) {
            return Err(PlanError::ZeroWeights);
        }
        let rates = match rate {
            RateSchedule::Constant(r) => vec![r],
            RateSchedule::Ramp { from, to, over } => {
                if over.is_zero() {
                    return Err(PlanError::ZeroDuration("ramp length"));
                }
                vec![from, to]
            }
        };
        if let Some(bad) = rates.into_iter().find(|r| !r.is_finite() || *r <= 0.0) {
            return Err(PlanError::BadRate(bad));
        }
        if max_inflight == 0 {
            return Err(PlanError::ZeroInflight);
        }
        if window.is_zero() {
            return Err(PlanError::ZeroDuration("window"));
        }
        Ok(Plan {
            endpoints,
            rate,
            max_inflight,
            window,
            duration: None,
            body_cap: 1 << 20,
            http: HttpVersion::default(),
            accept_invalid_certs: false,
            user_agent: concat!("loadgen/", env!("CARGO_PKG_VERSION")).to_string(),
            seed: 0,
        })
    }
}
