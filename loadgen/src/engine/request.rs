//! One request: the endpoint's request rendered once (or a recording's requests, sent
//! round-robin; or, for a templated endpoint only, its parts rendered per request by `render`),
//! one exchange on a pooled connection, and how an answer becomes an [`Outcome`]. Header values
//! read from files are put in at send time, so a rotated token goes out with the next request.
//!
//! Timeout rule: the endpoint's timeout runs from the **actual** send, so the app always gets the
//! whole timeout to answer however late the request left. A request that times out is recorded
//! with service time = timeout and latency = lag + timeout, i.e. latency is
//! `min(completion, actual send + timeout) - intended send`: what a user would have waited before
//! giving up. Its outcome is [`Outcome::Timeout`].
//!
//! Retry rule: a request that fails before any answer on a **kept-alive** connection (the app
//! closed it just as the request left: the keep-alive race every HTTP client has) is sent once
//! more on a new connection, if hyper gave it back unsent or its method is idempotent. The retry
//! runs inside the same timeout and keeps the request's intended and actual send times, so the
//! time lost counts in its latency and service time. Failures on a new connection are counted.
//!
//! gRPC endpoints take the same path: a POST whose body is the framed message (encoded once, or
//! per request from the rendered JSON when templated), judged by `grpc-status` in the trailers
//! (or the headers of a trailers-only answer) instead of the HTTP status set.
//!
//! Bodies are looked at in hyper's own chunks (no copy): their length against the cap, and the
//! expected text with a streaming matcher whose state is one integer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CONNECTION, HOST, USER_AGENT};
use http::{HeaderMap, Method, Request, Uri, Version};
use http_body_util::{BodyExt, Full};

use crate::engine::dial::{Body, DialFailed};
use crate::engine::needle::Needle;
use crate::engine::pool::Pool;
use crate::engine::render::{Rendered, Templated};
use crate::engine::EngineError;
use crate::outcome::Outcome;
use crate::plan::{Endpoint, Plan, StatusSet};

/// A request rendered once, for HTTP/1.1 (origin-form target and `Host`) and for HTTP/2
/// (absolute target, no `Host`); each send clones the parts (reference counts).
#[derive(Debug)]
pub(crate) struct Fixed {
    method: Method,
    h1_uri: Uri,
    h1_headers: HeaderMap,
    h2_uri: Uri,
    h2_headers: HeaderMap,
    body: Bytes,
    idempotent: bool,
}

/// An endpoint ready to send: its request(s) rendered once (one, or a recording's, sent
/// round-robin), or its template and renderer; how to judge the answer.
#[derive(Debug)]
pub(crate) struct Prepared {
    origin: usize,
    variants: Vec<Fixed>,
    /// The next recorded request (round-robin), when there are several.
    next: AtomicUsize,
    accept: StatusSet,
    expect_body: Option<Needle>,
    /// The endpoint's timeout.
    pub(crate) timeout: Duration,
    body_cap: usize,
    /// Set only for templated endpoints: the others keep the pre-built fast path.
    templated: Option<Templated>,
    /// Headers read from files, current value inserted per request (empty for most).
    pub(crate) secrets: Vec<(http::HeaderName, Arc<crate::secret::SecretFile>)>,
    /// Set for gRPC endpoints: a templated message is encoded per request, the answer judged by
    /// its `grpc-status`.
    grpc: Option<Arc<crate::grpc::GrpcCall>>,
}

/// How one attempt ended.
enum Attempt {
    Done(Outcome),
    /// Failed before any answer on a kept-alive connection: worth one try on a new one.
    Stale,
}

/// What every request of an endpoint shares: where it goes and the headers added to all.
struct Common<'a> {
    scheme: &'a str,
    authority: String,
    endpoint: &'a Endpoint,
    user_agent: &'a str,
}

impl Fixed {
    /// Renders one request to `target` (path and query). Fails with what is wrong, never a
    /// header value.
    fn new(
        c: &Common<'_>,
        target: &str,
        method: Method,
        recorded: Option<&HeaderMap>,
        body: Bytes,
    ) -> Result<Fixed, &'static str> {
        let h1_uri: Uri = target
            .parse()
            .map_err(|_| "the path is not a valid request target")?;
        let h2_uri = Uri::builder()
            .scheme(c.scheme)
            .authority(c.authority.as_str())
            .path_and_query(target)
            .build()
            .map_err(|_| "the URL is not a valid request target")?;
        // A recording's headers, then the endpoint's (which win), then the defaults.
        let mut h2_headers = recorded.cloned().unwrap_or_default();
        for (name, value) in &c.endpoint.headers {
            h2_headers.insert(name.clone(), value.clone());
        }
        h2_headers.remove(HOST);
        if !h2_headers.contains_key(USER_AGENT) {
            let ua = HeaderValue::from_str(c.user_agent)
                .map_err(|_| "the user agent is not a valid header value")?;
            h2_headers.insert(USER_AGENT, ua);
        }
        if !h2_headers.contains_key(ACCEPT) {
            h2_headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let host_value = match c.endpoint.headers.get(HOST) {
            Some(v) => v.clone(),
            None => HeaderValue::from_str(&c.authority).map_err(|_| "bad host")?,
        };
        // The names are in the maps already, so a request's current value replaces in place.
        for (name, file) in &c.endpoint.secret_headers {
            h2_headers.insert(name.clone(), file.value());
        }
        let mut h1_headers = HeaderMap::with_capacity(h2_headers.len() + 1);
        h1_headers.insert(HOST, host_value);
        h1_headers.extend(h2_headers.clone());
        Ok(Fixed {
            idempotent: method.is_idempotent(),
            method,
            h1_uri,
            h1_headers,
            h2_uri,
            h2_headers,
            body,
        })
    }
}

impl Prepared {
    /// Renders `endpoint`'s request(s) and registers its origin in `pool`. Fails on a URL,
    /// header or user agent that cannot be sent (the error names no header value: they may be
    /// secret).
    pub(crate) fn new(
        pool: &mut Pool,
        endpoint: &Endpoint,
        plan: &Plan,
        seed: u64,
    ) -> Result<Prepared, EngineError> {
        let bad = |what: &str| EngineError::Client(format!("endpoint {:?}: {what}", endpoint.name));
        let url = &endpoint.url;
        let origin = pool.origin(url)?;
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let common = Common {
            scheme: url.scheme(),
            authority: match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            },
            endpoint,
            user_agent: &plan.user_agent,
        };
        let variants = if endpoint.recorded.is_empty() {
            let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
            let body = endpoint.body.clone().unwrap_or_default();
            vec![Fixed::new(&common, target, endpoint.method.clone(), None, body).map_err(bad)?]
        } else {
            endpoint
                .recorded
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    Fixed::new(
                        &common,
                        &r.path,
                        r.method.clone(),
                        Some(&r.headers),
                        r.body.clone(),
                    )
                    .map_err(|e| bad(&format!("recorded request {}: {e}", i + 1)))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let templated = match &endpoint.template {
            None => None,
            Some(spec) => Some(Templated::new(spec, &variants[0].h2_uri, seed).map_err(bad)?),
        };
        Ok(Prepared {
            templated,
            secrets: endpoint.secret_headers.clone(),
            grpc: endpoint.grpc.clone(),
            origin,
            variants,
            next: AtomicUsize::new(0),
            accept: endpoint.accept.clone(),
            expect_body: endpoint
                .expect_body
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| Needle::new(s.as_bytes())),
            timeout: endpoint.timeout,
            body_cap: plan.body_cap,
        })
    }

    /// Sends one request and reads the answer (without the timeout, which the caller applies).
    pub(crate) async fn exchange(&self, pool: &Pool) -> Outcome {
        let fixed = match self.variants.len() {
            0 | 1 => &self.variants[0],
            n => &self.variants[self.next.fetch_add(1, Ordering::Relaxed) % n],
        };
        let mut rendered = match &self.templated {
            None => None,
            Some(t) => match t.render() {
                Some(r) => Some(r),
                // A rendered target or header value that HTTP cannot carry.
                None => return Outcome::Other,
            },
        };
        if let (Some(call), Some(r)) = (&self.grpc, rendered.as_mut()) {
            // The rendered JSON becomes the framed message (one allocation: templated gRPC only).
            match r.body.as_ref().map(|json| call.encode(json)) {
                Some(Ok(framed)) => r.body = Some(framed),
                Some(Err(_)) => return Outcome::Other,
                None => {}
            }
        }
        let rendered = rendered.as_ref();
        match self.attempt(pool, false, fixed, rendered).await {
            Attempt::Done(outcome) => outcome,
            Attempt::Stale => match self.attempt(pool, true, fixed, rendered).await {
                Attempt::Done(outcome) => outcome,
                // A fresh connection failed as a stale one would: it was lost before the answer.
                Attempt::Stale => Outcome::ConnectionLost,
            },
        }
    }

    /// `fixed` for an HTTP/2 (`h2`) or HTTP/1.1 connection, with the current secret values and
    /// this request's rendered parts if the endpoint is templated.
    fn request(&self, fixed: &Fixed, h2: bool, rendered: Option<&Rendered>) -> Request<Body> {
        let body = rendered.and_then(|r| r.body.clone());
        // A gRPC call's path is the method's, whatever the template's path renders to.
        let target = rendered.filter(|_| self.grpc.is_none());
        let mut req = Request::new(Full::new(body.unwrap_or_else(|| fixed.body.clone())));
        *req.method_mut() = fixed.method.clone();
        if h2 {
            *req.uri_mut() = target.map_or_else(|| fixed.h2_uri.clone(), |r| r.h2_uri.clone());
            *req.headers_mut() = fixed.h2_headers.clone();
            *req.version_mut() = Version::HTTP_2;
        } else {
            *req.uri_mut() = target.map_or_else(|| fixed.h1_uri.clone(), |r| r.h1_uri.clone());
            *req.headers_mut() = fixed.h1_headers.clone();
        }
        for (name, file) in &self.secrets {
            req.headers_mut().insert(name.clone(), file.value());
        }
        if let (Some(r), Some(t)) = (rendered, &self.templated) {
            t.apply(r, req.headers_mut());
        }
        req
    }

    /// One try: a connection (kept-alive unless `fresh`), the request, the whole answer.
    async fn attempt(
        &self,
        pool: &Pool,
        fresh: bool,
        fixed: &Fixed,
        rendered: Option<&Rendered>,
    ) -> Attempt {
        let mut lease = match pool.checkout(self.origin, fresh).await {
            Ok(lease) => lease,
            Err(DialFailed(_)) => return Attempt::Done(Outcome::Connect),
        };
        let response = match lease
            .send(self.request(fixed, lease.is_h2(), rendered))
            .await
        {
            Ok(response) => response,
            Err(e) => {
                let unsent = e.message().is_some();
                // A kept-alive connection the app closed is retried once; an answer that broke
                // HTTP is the app's, never retried into a success.
                let stale = lease.reused()
                    && lease.may_retry()
                    && (unsent || fixed.idempotent)
                    && failure(e.error()) == Outcome::ConnectionLost;
                return if stale && !fresh {
                    Attempt::Stale
                } else {
                    Attempt::Done(failure(e.error()))
                };
            }
        };
        let (parts, mut body) = response.into_parts();
        let status = parts.status.as_u16();
        let accepted = self.accept.contains(status);
        let mut matcher = self.expect_body.as_ref().map(Needle::matcher);
        let mut read = 0usize;
        let mut grpc_status = None;
        while let Some(frame) = body.frame().await {
            // A reset or malformed answer: the lease is dropped with it, never reused.
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => return Attempt::Done(failure(&e)),
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(trailers) => {
                    grpc_status = trailers.trailers_ref().and_then(crate::grpc::status);
                    continue;
                }
            };
            read = read.saturating_add(data.len());
            if read > self.body_cap {
                // Stop reading: dropping the lease and the body closes this connection.
                return Attempt::Done(if accepted {
                    Outcome::BodyTooLarge
                } else {
                    Outcome::HttpStatus(status)
                });
            }
            if let Some(m) = matcher.as_mut() {
                m.feed(&data);
            }
        }
        if keeps_alive(&parts) {
            lease.give_back(pool);
        }
        if self.grpc.is_some() {
            // Trailers-only answers (an error before any message) carry the status in headers.
            let code = grpc_status.or_else(|| crate::grpc::status(&parts.headers));
            return Attempt::Done(match code {
                _ if status != 200 => Outcome::HttpStatus(status),
                Some(0) => Outcome::Ok,
                Some(code) => Outcome::GrpcStatus(code),
                None => Outcome::Other,
            });
        }
        Attempt::Done(if !accepted {
            Outcome::HttpStatus(status)
        } else if matcher.is_some_and(|m| !m.found) {
            Outcome::UnexpectedBody
        } else {
            Outcome::Ok
        })
    }
}

/// True unless the app said it closes the connection after this answer (`Connection: close`, or
/// HTTP/1.0 without `keep-alive`).
fn keeps_alive(parts: &http::response::Parts) -> bool {
    let says = |token: &str| {
        parts.headers.get_all(CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    match parts.version {
        Version::HTTP_2 => true,
        Version::HTTP_11 => !says("close"),
        Version::HTTP_10 => says("keep-alive") && !says("close"),
        _ => false,
    }
}

/// What a failed exchange was, from hyper's error: an answer that broke HTTP
/// ([`Outcome::Protocol`]), a connection closed or reset before the whole answer
/// ([`Outcome::ConnectionLost`]), else [`Outcome::Other`] (HTTP/2 stream errors included).
fn failure(e: &hyper::Error) -> Outcome {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return Outcome::Protocol;
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return Outcome::ConnectionLost;
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{
                BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof,
            };
            return match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    Outcome::ConnectionLost
                }
                _ => Outcome::Other,
            };
        }
        cause = c.source();
    }
    Outcome::Other
}
