//! A tiny HTTP/1.1 server for the engine tests, on its own thread and runtime (so it never
//! competes with the engine's runtime), counting requests and the peak number in flight.
//!
//! Paths: `/delay/MS` answers 200 after MS milliseconds; `/status/CODE` answers CODE;
//! `/bytes/N` answers 200 with N bytes of `x`; `/text` answers `hello warm world`; anything
//! else answers 200 `ok` at once. With `stall_after`, every answer due in
//! `[stall_after, stall_after + stall_for)` after start is held until the stall ends.

#![allow(dead_code)]

pub mod bin;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// What the fixture saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests being served now.
    pub inflight: AtomicUsize,
    /// The most requests ever served at once.
    pub peak_inflight: AtomicUsize,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// A running fixture; stops when dropped.
pub struct Fixture {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<Stats>,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    /// Starts a fixture without a stall.
    pub fn start() -> Fixture {
        Fixture::with_stall(None)
    }

    /// Starts a fixture that holds every answer during `(after, length)` from its start.
    pub fn with_stall(stall: Option<(Duration, Duration)>) -> Fixture {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let stats = Arc::new(Stats::default());
        let cancel = CancellationToken::new();
        let (s, c) = (Arc::clone(&stats), cancel.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fixture runtime");
            rt.block_on(serve(std_listener, s, c, stall));
        });
        Fixture {
            addr,
            stats,
            cancel,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{}", self.addr, path)).expect("fixture URL")
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// The peak number of requests served at once.
    pub fn peak_inflight(&self) -> usize {
        self.stats.peak_inflight.load(Ordering::SeqCst)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    std_listener: std::net::TcpListener,
    stats: Arc<Stats>,
    cancel: CancellationToken,
    stall: Option<(Duration, Duration)>,
) {
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
    let start = Instant::now();
    loop {
        let (stream, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let (stats, cancel) = (Arc::clone(&stats), cancel.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, Arc::clone(&stats), start, stall));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    stats: Arc<Stats>,
    start: Instant,
    stall: Option<(Duration, Duration)>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let now_in = stats.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.peak_inflight.fetch_max(now_in, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let mut status = StatusCode::OK;
    let mut body = Bytes::from_static(b"ok");
    if let Some(ms) = path.strip_prefix("/delay/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    } else if let Some(code) = path.strip_prefix("/status/") {
        status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        body = Bytes::from(vec![b'x'; n.parse().unwrap_or(0)]);
    } else if path == "/text" {
        body = Bytes::from_static(b"hello warm world");
    }
    if let Some((after, length)) = stall {
        let (from, to) = (start + after, start + after + length);
        let now = Instant::now();
        if now >= from && now < to {
            tokio::time::sleep_until(to.into()).await;
        }
    }
    stats.inflight.fetch_sub(1, Ordering::SeqCst);
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    Ok(res)
}

/// A loopback port that was bound and then closed: connecting to it is refused.
pub fn closed_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], warmgate_testkit::free_port()))
}

/// Runs `plan` to its end on a fresh one-worker runtime; returns every window and the report.
pub fn run_plan(plan: loadgen::Plan) -> (Vec<loadgen::Snapshot>, loadgen::Report) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("engine runtime");
    rt.block_on(async move {
        let mut engine = loadgen::run(plan, CancellationToken::new()).expect("engine starts");
        let mut windows = Vec::new();
        while let Some(w) = engine.next_window().await {
            windows.push(w);
        }
        (windows, engine.finish().await)
    })
}

/// A constant-rate plan of one GET endpoint at `url` for `duration`.
pub fn plan(url: url::Url, rate: f64, cap: usize, duration: Duration) -> loadgen::Plan {
    let mut p = loadgen::Plan::try_new(
        vec![loadgen::Endpoint::get("e", url)],
        loadgen::RateSchedule::Constant(rate),
        cap,
        Duration::from_millis(500),
    )
    .expect("valid plan");
    p.duration = Some(duration);
    p
}

/// The value at quantile `q` of a microsecond histogram, in milliseconds.
pub fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}
