//! The HTTPS server: `POST /mutate` and `GET /healthz`, over TLS, with a cap on open
//! connections, a handshake and header timeout, and a cap on the body size. Nothing a client
//! sends can crash it: every failure is a status code and a log line.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::review;
use crate::inject::Options;

/// Largest AdmissionReview body accepted: the API server caps objects at 1.5 MiB, and a
/// review carries the object (and on UPDATE the old one too).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Connections served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 256;
/// Time for the TLS handshake and then for each request's headers.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server needs besides its socket.
#[derive(Clone)]
pub struct Server {
    /// TLS set-up (with the reloading certificate).
    pub tls: TlsAcceptor,
    /// What inject does to each Pod.
    pub opts: Arc<Options>,
}

fn reply(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(req: Request<Incoming>, opts: Arc<Options>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => return reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::POST, "/mutate") => {}
        (_, "/mutate") => return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "POST\n"),
        _ => return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
    let started = Instant::now();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            warn!(error = %e, "AdmissionReview body refused.");
            return if too_big {
                reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain",
                    "body too large\n",
                )
            } else {
                reply(StatusCode::BAD_REQUEST, "text/plain", "cannot read body\n")
            };
        }
    };
    match review::review(&body, &opts) {
        Ok(v) => {
            info!(
                uid = %v.uid,
                patched = v.patched,
                micros = started.elapsed().as_micros() as u64,
                "{}",
                v.summary
            );
            reply(StatusCode::OK, "application/json", v.body)
        }
        Err(e) => {
            warn!(error = %e, "Refused a malformed AdmissionReview.");
            reply(StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n"))
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves until `stop` fires, then lets open connections finish their request.
    pub async fn run(self, listener: TcpListener, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = stop.cancelled() => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: wait a little rather than spin.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let tls = self.tls.clone();
            let opts = self.opts.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => return debug!(%peer, "TLS handshake timed out"),
                };
                let service = service_fn(move |req| {
                    let opts = opts.clone();
                    async move { Ok::<_, Infallible>(handle(req, opts).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HANDSHAKE_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => if let Err(e) = r { debug!(%peer, error = %e, "connection ended") },
                    _ = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
    }
}
