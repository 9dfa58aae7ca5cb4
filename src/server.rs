//! The probe server: `/livez`, `/startupz`, `/readyz`, `/metrics`, `/status`, answered from
//! cached state on a thread and runtime of its own, so probes stay fast while warm-up traffic
//! keeps the engine's runtime busy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::state::Shared;

/// A running probe server.
#[derive(Debug)]
pub struct ProbeServer {
    /// The bound address.
    pub addr: SocketAddr,
    thread: std::thread::JoinHandle<()>,
}

impl ProbeServer {
    /// Binds `addr` and starts serving on a new thread. Fails if the address cannot be bound
    /// (in use, no permission) or the thread's runtime cannot start.
    pub fn start(
        addr: SocketAddr,
        shared: Arc<Shared>,
        stop: CancellationToken,
    ) -> std::io::Result<ProbeServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("warmgate-probes".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => serve(listener, shared, stop).await,
                        Err(e) => warn!(error = %e, "Probe server could not start."),
                    }
                })
            })?;
        Ok(ProbeServer { addr, thread })
    }

    /// Waits for the server thread to end (after its stop token fired).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    // Bounds concurrent probe connections: a flood cannot exhaust memory or file descriptors.
    let permits = Arc::new(tokio::sync::Semaphore::new(256));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "Probe accept failed.");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(%peer, "Too many probe connections; closing this one.");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
            drop(permit);
        });
    }
}

/// Answers one request from cached state.
pub fn route(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    route_parts(shared, req.method(), req.uri().path())
}

/// [`route`] without a body type, for tests.
pub fn route_parts(shared: &Shared, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match path {
        "/livez" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => probe(shared.readyz()),
        "/startupz" => probe(shared.startupz()),
        "/metrics" => {
            let since = shared.lock().phase_since.elapsed().as_secs_f64();
            shared.metrics.phase_duration.set(since);
            let mut r = text(StatusCode::OK, shared.metrics.encode());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/status" => {
            let mut body = serde_json::to_string_pretty(&shared.status()).unwrap_or_default();
            body.push('\n');
            let mut r = text(StatusCode::OK, body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /readyz /startupz /livez /metrics /status\n".into(),
        ),
    }
}

fn probe(result: Result<(), String>) -> Response<Full<Bytes>> {
    match result {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::state::Phase;

    fn status_of(shared: &Shared, path: &str) -> StatusCode {
        route_parts(shared, &Method::GET, path).status()
    }

    #[test]
    fn routes_follow_the_phase() {
        let shared = Shared::new(Metrics::new().expect("metrics"), &["home".into()], 0.99);
        assert_eq!(status_of(&shared, "/livez"), StatusCode::OK);
        assert_eq!(
            status_of(&shared, "/readyz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&shared, "/startupz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        shared.set_phase(Phase::Ready, "warm");
        assert_eq!(status_of(&shared, "/readyz"), StatusCode::OK);
        assert_eq!(status_of(&shared, "/startupz"), StatusCode::OK);
        assert_eq!(status_of(&shared, "/metrics"), StatusCode::OK);
        assert_eq!(status_of(&shared, "/status"), StatusCode::OK);
        assert_eq!(status_of(&shared, "/nope"), StatusCode::NOT_FOUND);
        assert_eq!(
            route_parts(&shared, &Method::POST, "/readyz").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        shared.set_phase(Phase::Draining, "SIGTERM");
        assert_eq!(
            status_of(&shared, "/readyz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
