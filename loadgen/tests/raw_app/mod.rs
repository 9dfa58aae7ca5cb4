//! Small apps written on raw TCP for the connection tests, each on its own thread and runtime
//! (like `engine_fixture`): they speak just enough HTTP/1.x to misbehave in one precise way.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// What an app saw.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Request heads read, over all connections.
    pub requests: AtomicU64,
}

impl Counters {
    /// Counts one request; returns its index (from 0).
    pub fn request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::SeqCst)
    }
}

/// A running app; stops when dropped.
pub struct RawApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub counters: Arc<Counters>,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RawApp {
    /// Starts an app that runs `serve` on every accepted connection.
    pub fn start<F, Fut>(serve: F) -> RawApp
    where
        F: Fn(TcpStream, Arc<Counters>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let counters = Arc::new(Counters::default());
        let cancel = CancellationToken::new();
        let (c, stop) = (Arc::clone(&counters), cancel.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("app runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let stream = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = listener.accept() => match r {
                            Ok((s, _)) => s,
                            Err(_) => continue,
                        },
                    };
                    let _ = stream.set_nodelay(true);
                    c.connections.fetch_add(1, Ordering::SeqCst);
                    let conn = serve(stream, Arc::clone(&c));
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = conn => {}
                        }
                    });
                }
            });
        });
        RawApp {
            addr,
            counters,
            cancel,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{}", self.addr, path)).expect("app URL")
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawApp {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (requests in these tests have no body) into nothing; false at the end
/// of the connection. `buf` keeps bytes already read past the head.
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            return true;
        }
        let mut chunk = [0u8; 2048];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
