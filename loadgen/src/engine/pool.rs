//! The engine's own connection pool: per origin, a stack of idle kept-alive HTTP/1.1
//! connections and at most one shared HTTP/2 connection.
//!
//! Rules:
//! - An HTTP/1.1 connection goes back to the pool only after its answer was read to the end and
//!   the app did not say it would close it (`Connection: close`, HTTP/1.0 without keep-alive).
//!   Any error, a body past the cap or a timeout drops it: a broken connection is never reused.
//! - The idle stack is LIFO: at a steady rate the same few connections stay warm, and the rest
//!   age out when the app closes them. A popped connection the app has closed is discarded.
//! - HTTP/2 (prior knowledge, or ALPN `h2`): one connection per origin, opened by one request
//!   while the others wait for it, replaced when it closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2, TrySendError};
use tokio_rustls::rustls::ClientConfig;
use url::Url;

use crate::engine::dial::{Body, Conn, DialFailed, Target};
use crate::engine::{tls, EngineError};
use crate::plan::{HttpVersion, Plan};

/// Every origin of a plan, with its idle connections.
#[derive(Debug)]
pub(crate) struct Pool {
    origins: Vec<Origin>,
    http: HttpVersion,
    tls: Option<Arc<ClientConfig>>,
    accept_invalid_certs: bool,
    max_idle: usize,
}

/// One origin (scheme, host, port) and its connections.
#[derive(Debug)]
pub(crate) struct Origin {
    /// `scheme://host:port`, to find the origin of an endpoint.
    key: String,
    target: Target,
    idle: Mutex<Vec<http1::SendRequest<Body>>>,
    h2: Mutex<Option<http2::SendRequest<Body>>>,
    /// Held while an HTTP/2 connection is being opened, so that one is, not one per request.
    opening: tokio::sync::Mutex<()>,
    /// ALPN chose HTTP/1.1 on this origin: no need to wait for each other's dials.
    learned_h1: AtomicBool,
}

/// A connection lent to one request.
pub(crate) enum Lease<'a> {
    /// An HTTP/1.1 connection, exclusively; `give_back` returns it to `origin`'s stack.
    H1 {
        /// The connection.
        send: http1::SendRequest<Body>,
        /// Where it goes back.
        origin: &'a Origin,
        /// It carried an earlier request (so the app may have closed it meanwhile).
        reused: bool,
    },
    /// A handle on the origin's shared HTTP/2 connection.
    H2 {
        /// The connection.
        send: http2::SendRequest<Body>,
        /// It carried an earlier request.
        reused: bool,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A stack of senders stays usable after a panic elsewhere.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// An empty pool for `plan`'s HTTP version and TLS leniency; origins are added by
    /// [`Pool::origin`].
    pub(crate) fn new(plan: &Plan) -> Pool {
        Pool {
            origins: Vec::new(),
            http: plan.http,
            tls: None,
            accept_invalid_certs: plan.accept_invalid_certs,
            max_idle: plan.max_inflight,
        }
    }

    /// The index of `url`'s origin, added if new. Fails if TLS cannot be set up for an https
    /// URL, or the URL has no usable host or port.
    pub(crate) fn origin(&mut self, url: &Url) -> Result<usize, EngineError> {
        let key = url.origin().ascii_serialization();
        if let Some(i) = self.origins.iter().position(|o| o.key == key) {
            return Ok(i);
        }
        if url.scheme() == "https" && self.tls.is_none() {
            self.tls = Some(tls::connector(self.http, self.accept_invalid_certs)?);
        }
        let target = Target::new(url, self.http, self.tls.as_ref())?;
        self.origins.push(Origin {
            key,
            target,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            learned_h1: AtomicBool::new(false),
        });
        Ok(self.origins.len() - 1)
    }

    /// A connection to origin `index`: a kept-alive one if there is one (unless `fresh`), else a
    /// new one. Fails (as data) if a new connection cannot be opened.
    pub(crate) async fn checkout(
        &self,
        index: usize,
        fresh: bool,
    ) -> Result<Lease<'_>, DialFailed> {
        let origin = self
            .origins
            .get(index)
            .ok_or(DialFailed("no such origin"))?;
        if let Some(send) = origin.shared_h2() {
            return Ok(Lease::H2 { send, reused: true });
        }
        if !fresh {
            if let Some(send) = origin.idle_h1().await {
                return Ok(Lease::H1 {
                    send,
                    origin,
                    reused: true,
                });
            }
        }
        let opening = if origin.target.may_be_h2() && !origin.learned_h1.load(Ordering::Relaxed) {
            let guard = origin.opening.lock().await;
            // Another request may have opened it while this one waited.
            if let Some(send) = origin.shared_h2() {
                return Ok(Lease::H2 { send, reused: true });
            }
            Some(guard)
        } else {
            None
        };
        let lease = match origin.target.dial().await? {
            Conn::H2(send) => {
                *lock(&origin.h2) = Some(send.clone());
                Lease::H2 {
                    send,
                    reused: false,
                }
            }
            Conn::H1(send) => {
                origin.learned_h1.store(true, Ordering::Relaxed);
                Lease::H1 {
                    send,
                    origin,
                    reused: false,
                }
            }
        };
        drop(opening);
        Ok(lease)
    }

    fn max_idle(&self) -> usize {
        self.max_idle
    }
}

impl Origin {
    /// The shared HTTP/2 connection if it is still open.
    fn shared_h2(&self) -> Option<http2::SendRequest<Body>> {
        let mut slot = lock(&self.h2);
        match slot.as_ref() {
            Some(send) if !send.is_closed() => Some(send.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// The most recently used idle connection that is still open.
    async fn idle_h1(&self) -> Option<http1::SendRequest<Body>> {
        loop {
            let mut send = lock(&self.idle).pop()?;
            if send.is_closed() {
                continue;
            }
            if send.is_ready() {
                return Some(send);
            }
            // Its task has not yet taken in the end of the last answer: wait for that (or for
            // the close the app announced).
            if send.ready().await.is_ok() {
                return Some(send);
            }
        }
    }
}

impl Lease<'_> {
    /// Sends `req`; on an error before any answer, hyper gives the request back if it was never
    /// written.
    pub(crate) async fn send(
        &mut self,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Body>>> {
        match self {
            Lease::H1 { send, .. } => send.try_send_request(req).await,
            Lease::H2 { send, .. } => send.try_send_request(req).await,
        }
    }

    /// True for an HTTP/2 connection (absolute target, no `Host`).
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Lease::H2 { .. })
    }

    /// After a failed send: whether the failure may be the connection's rather than the app's.
    /// An HTTP/1.1 connection carries one request, so its failure is the connection's; a
    /// shared HTTP/2 connection is only to blame if it closed (a stream reset is the app's).
    pub(crate) fn may_retry(&self) -> bool {
        match self {
            Lease::H1 { .. } => true,
            Lease::H2 { send, .. } => send.is_closed(),
        }
    }

    /// True if this connection carried an earlier request.
    pub(crate) fn reused(&self) -> bool {
        match self {
            Lease::H1 { reused, .. } | Lease::H2 { reused, .. } => *reused,
        }
    }

    /// Returns a kept-alive HTTP/1.1 connection whose answer was read to the end (HTTP/2 handles
    /// are just dropped: the connection stays shared). `pool` bounds the stack.
    pub(crate) fn give_back(self, pool: &Pool) {
        if let Lease::H1 { send, origin, .. } = self {
            let mut idle = lock(&origin.idle);
            if idle.len() < pool.max_idle() && !send.is_closed() {
                idle.push(send);
            }
        }
    }
}
