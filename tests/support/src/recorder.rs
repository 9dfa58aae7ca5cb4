//! [`Recorder`]: a loopback HTTP server (HTTP/1.1 and h2c) that answers every request `200 ok`
//! at once and keeps what arrived (method, path and query, headers, body), for tests that check
//! what warmgate or loadgen sent. It runs on its own thread and runtime, so it keeps up whatever
//! the test's runtime does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_util::sync::CancellationToken;

/// Requests a recorder keeps; later ones are answered but not kept (memory stays bounded).
pub const MAX_KEPT: usize = 500_000;

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The method.
    pub method: String,
    /// The HTTP version, e.g. `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Path and query, as sent.
    pub target: String,
    /// Every header, names lower-case, values as text (lossy).
    pub headers: Vec<(String, String)>,
    /// The body (up to 1 MiB).
    pub body: Vec<u8>,
}

impl Arrival {
    /// The first value of header `name` (lower-case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A recording server on 127.0.0.1 (a free port); dropping it stops it and joins its thread.
#[derive(Debug)]
pub struct Recorder {
    /// Where it listens.
    pub addr: SocketAddr,
    kept: Arc<Mutex<Vec<Arrival>>>,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Starts a recorder. Fails if its thread, runtime or listener cannot start within 10 s.
    pub fn start() -> Result<Recorder> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let cancel = CancellationToken::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let (store, token) = (Arc::clone(&kept), cancel.clone());
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow!("cannot build the recorder runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(serve(store, token, tx));
            })
            .context("cannot start the recorder thread")?;
        let mut r = Recorder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kept,
            cancel,
            thread: Some(thread),
        };
        r.addr = rx
            .recv_timeout(Duration::from_secs(10))
            .context("the recorder did not start within 10 s")??;
        Ok(r)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests were kept so far.
    pub fn count(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.len())
    }

    /// A copy of every request kept so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }

    /// Forgets what arrived so far.
    pub fn clear(&self) {
        if let Ok(mut k) = self.kept.lock() {
            k.clear();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    kept: Arc<Mutex<Vec<Arrival>>>,
    cancel: CancellationToken,
    ready: std::sync::mpsc::Sender<Result<SocketAddr>>,
) {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("cannot bind the recorder: {e}")));
            return;
        }
    };
    let _ = ready.send(
        listener
            .local_addr()
            .map_err(|e| anyhow!("no address: {e}")),
    );
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let kept = Arc::clone(&kept);
        let service = service_fn(move |req: Request<Incoming>| {
            let kept = Arc::clone(&kept);
            async move {
                let (parts, body) = req.into_parts();
                let body = Limited::new(body, 1 << 20)
                    .collect()
                    .await
                    .map(|b| b.to_bytes().to_vec())
                    .unwrap_or_default();
                let arrival = Arrival {
                    method: parts.method.to_string(),
                    version: format!("{:?}", parts.version),
                    target: parts
                        .uri
                        .path_and_query()
                        .map_or_else(|| parts.uri.path().to_string(), ToString::to_string),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body,
                };
                if let Ok(mut k) = kept.lock() {
                    if k.len() < MAX_KEPT {
                        k.push(arrival);
                    }
                }
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"ok",
                ))))
            }
        });
        let token = cancel.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = token.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}
