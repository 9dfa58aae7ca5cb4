//! The simulator's HTTP server: HTTP/1.1 and h2c on one port, answers delayed by the timer.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::state::State;
use super::timer::Timer;
use super::truth::{self, Facts};

/// Connections beyond this are closed at once (bounded memory under a connection flood).
const MAX_CONNECTIONS: usize = 4096;
/// Request bodies beyond this get a 413.
const MAX_BODY: usize = 64 * 1024;

/// One running simulator, shared by its connections.
#[derive(Debug)]
pub struct App {
    facts: Facts,
    start: Instant,
    state: Mutex<State>,
    timer: Timer,
}

impl App {
    /// A simulator whose clock started at `start`.
    pub fn new(facts: Facts, start: Instant, timer: Timer) -> App {
        App {
            state: Mutex::new(State::new(facts.options.seed)),
            facts,
            start,
            timer,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Counters stay usable after a panic elsewhere; they are only ever incremented.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn truth(&self) -> serde_json::Value {
        let t = self.start.elapsed().as_secs_f64();
        let mut doc = truth::truth_json(&self.facts, &self.lock(), t);
        doc["timer"] = serde_json::json!({
            "offset_us": self.timer.offset().as_micros() as u64,
            "median_lateness_us": self.timer.median_lateness_us(),
        });
        doc
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    res
}

async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrival = Instant::now();
    match req.uri().path() {
        "/health" => return Ok(respond(StatusCode::OK, "text/plain", "ok\n")),
        "/sim/truth" => {
            let body = app.truth().to_string();
            return Ok(respond(StatusCode::OK, "application/json", body));
        }
        _ => {}
    }
    let path = req.uri().path().to_owned();
    let t = arrival.duration_since(app.start).as_secs_f64();
    let admission = app
        .lock()
        .admit(&app.facts.curve, &app.facts.tuning, &path, t);
    // Read the body so the connection stays reusable; its time counts in the latency.
    if Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .is_err()
    {
        return Ok(respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "body too large\n",
        ));
    }
    let delay = Duration::try_from_secs_f64(admission.delay_s).unwrap_or(Duration::MAX);
    if let Some(at) = arrival.checked_add(delay) {
        app.timer.sleep_until(at).await;
    }
    let status =
        StatusCode::from_u16(admission.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "path": path, "n": admission.n, "status": admission.status });
    let mut res = respond(status, "application/json", body.to_string());
    // The server-side time from arrival to answer (`app`) and the simulated latency it aimed at
    // (`sim`), so that clients can tell the simulator's precision from their own wake-up costs.
    let timing = format!(
        "app;dur={:.3}, sim;dur={:.3}",
        arrival.elapsed().as_secs_f64() * 1000.0,
        admission.delay_s * 1000.0
    );
    if let Ok(value) = header::HeaderValue::from_str(&timing) {
        res.headers_mut().insert("server-timing", value);
    }
    Ok(res)
}

/// Accepts connections on `listener` and serves `app` until `cancel` fires; then closes the
/// listener and every connection.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "Accept failed.");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if conns.len() >= MAX_CONNECTIONS {
            continue; // dropping the stream closes it
        }
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let cancel = cancel.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&app), req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    Ok(())
}
