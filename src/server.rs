//! The probe server: `/livez`, `/startupz`, `/readyz`, `/metrics`, `/status`, answered from
//! cached state on a thread and runtime of its own, so probes stay fast while warm-up traffic
//! keeps the engine's runtime busy. A flood of idle, keep-alive or slowloris connections
//! cannot lock a kubelet out: headers must arrive within a second, memory is
//! bounded per connection, and the oldest idle connections are shed to make room.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::state::StatusBoard;

mod connections;

use connections::Connections;

/// How long a client may take to send a request's headers. Kubelet probes send theirs at
/// once; a slowloris connection is closed after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a connection stays open, however busy: keep-alive clients reconnect.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(30);
/// Open connections at most; past it the oldest idle one is closed for the new one. Each holds
/// at most [`MAX_BUFFER`] of reading buffer, so this bounds the server's memory.
const MAX_CONNECTIONS: usize = 2048;
/// The read buffer of one connection (hyper's smallest); longer headers get a 431.
const MAX_BUFFER: usize = 8 * 1024;
/// The listen backlog: a burst of connections waits in the kernel rather than being refused.
const BACKLOG: u32 = 1024;
/// `/metrics` and `/status` answered at once at most: the probes never queue behind them.
const HEAVY_AT_ONCE: usize = 2;

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
        // Bound on the server's own thread: a runtime that failed to bind is then dropped
        // there, never inside the caller's runtime (which tokio forbids).
        let (bound_tx, bound_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("warmgate-probes".into())
            .spawn(move || {
                let bound =
                    loadgen::runtime::build("warmgate-probes", loadgen::runtime::Threads::Caller)
                        .and_then(|rt| {
                            let listener = {
                                let _entered = rt.enter();
                                listen(addr)?
                            };
                            Ok((rt, listener))
                        });
                match bound {
                    Ok((rt, listener)) => {
                        let _ = bound_tx.send(listener.local_addr());
                        rt.block_on(serve(listener, board, stop));
                    }
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                    }
                }
            })?;
        let addr = bound_rx
            .recv()
            .map_err(|_| std::io::Error::other("the probe server thread ended before binding"))??;
        Ok(ProbeServer { addr, thread })
    }

    /// Waits for the server thread to end (after its stop token fired).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// A listener on `addr` with a backlog of [`BACKLOG`]. Must run within a runtime.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Too many open files, for the process (EMFILE) or the system (ENFILE).
fn out_of_files(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

async fn serve(
    listener: tokio::net::TcpListener,
    board: Arc<StatusBoard>,
    stop: CancellationToken,
) {
    let connections = Connections::new(MAX_CONNECTIONS);
    let heavy = Arc::new(tokio::sync::Semaphore::new(HEAVY_AT_ONCE));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if out_of_files(&e) => {
                // Make room for the kubelet by closing the oldest idle connection.
                debug!(error = %e, open = connections.len(), "Out of files; shedding the oldest idle connection.");
                if !connections.shed_oldest() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => {
                debug!(error = %e, "Probe accept failed.");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let ticket = connections.admit();
        let _ = stream.set_nodelay(true);
        let board = board.clone();
        let heavy = heavy.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let busy = ticket.busy.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let board = board.clone();
                let heavy = heavy.clone();
                let busy = busy.clone();
                async move {
                    busy.store(true, Ordering::Relaxed);
                    let r = answer(&board, &heavy, &req).await;
                    busy.store(false, Ordering::Relaxed);
                    Ok::<_, Infallible>(r)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_BUFFER)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = ticket.close.cancelled() => {}
                _ = tokio::time::sleep(MAX_CONNECTION_AGE) => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Answers the probes at once and everything else (`/metrics`, `/status`: longer to build)
/// [`HEAVY_AT_ONCE`] at a time, so a flood of those cannot delay a kubelet probe.
async fn answer(
    board: &StatusBoard,
    heavy: &tokio::sync::Semaphore,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if matches!(req.uri().path(), "/livez" | "/readyz" | "/startupz") {
        return route(board, req);
    }
    let _permit = heavy.acquire().await;
    // Let waiting probe connections run first.
    tokio::task::yield_now().await;
    route(board, req)
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
