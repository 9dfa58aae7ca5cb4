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

use crate::state::StatusBoard;

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
        board: Arc<StatusBoard>,
        stop: CancellationToken,
    ) -> std::io::Result<ProbeServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = loadgen::runtime::build("warmgate-probes", loadgen::runtime::Threads::Caller)?;
        let thread = std::thread::Builder::new()
            .name("warmgate-probes".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => serve(listener, board, stop).await,
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

async fn serve(
    listener: tokio::net::TcpListener,
    board: Arc<StatusBoard>,
    stop: CancellationToken,
) {
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
        let board = board.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let board = board.clone();
                async move { Ok::<_, Infallible>(route(&board, &req)) }
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
pub fn route(board: &StatusBoard, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    route_parts(board, req.method(), req.uri().path())
}

/// [`route`] without a body type, for tests.
pub fn route_parts(board: &StatusBoard, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match path {
        "/" => crate::page::response(),
        "/livez" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => probe(board.readyz()),
        "/startupz" => probe(board.startupz()),
        "/metrics" => {
            let mut r = text(StatusCode::OK, board.metrics_text());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/status" => {
            let mut body = serde_json::to_string_pretty(&board.status()).unwrap_or_default();
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
            "not found: try / /readyz /startupz /livez /metrics /status\n".into(),
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
    use crate::gate::GateSettings;
    use crate::metrics::Metrics;
    use crate::phase::Phase;

    fn status_of(board: &StatusBoard, path: &str) -> StatusCode {
        route_parts(board, &Method::GET, path).status()
    }

    #[test]
    fn routes_follow_the_phase() {
        let board = StatusBoard::new(
            Metrics::new().expect("metrics"),
            &["home".into()],
            &GateSettings::default(),
        );
        assert_eq!(status_of(&board, "/livez"), StatusCode::OK);
        assert_eq!(
            status_of(&board, "/readyz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&board, "/startupz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        board.set_phase(Phase::Ready, "warm");
        assert_eq!(status_of(&board, "/readyz"), StatusCode::OK);
        assert_eq!(status_of(&board, "/startupz"), StatusCode::OK);
        assert_eq!(status_of(&board, "/metrics"), StatusCode::OK);
        assert_eq!(status_of(&board, "/status"), StatusCode::OK);
        assert_eq!(status_of(&board, "/"), StatusCode::OK);
        assert_eq!(status_of(&board, "/nope"), StatusCode::NOT_FOUND);
        assert_eq!(
            route_parts(&board, &Method::POST, "/readyz").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        board.set_phase(Phase::Draining, "SIGTERM");
        assert_eq!(
            status_of(&board, "/readyz"),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
