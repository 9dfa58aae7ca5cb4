//! Shared helpers of the `sim*` tests: start the real `loadgen sim` binary (through
//! `warmgate-testkit`), send requests and time them.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use warmgate_testkit::client;
use warmgate_testkit::SimProcess;

/// Starts `loadgen sim --listen 127.0.0.1:0 ARGS...`, killed on drop.
pub fn start_sim(args: &[&str]) -> SimProcess {
    SimProcess::start(env!("CARGO_BIN_EXE_loadgen"), args)
}

/// The `/sim/truth` document. Panics if it cannot be fetched.
pub async fn truth(client: &reqwest::Client, base: &str) -> serde_json::Value {
    warmgate_testkit::truth::fetch(client, base)
        .await
        .expect("/sim/truth")
}

/// Timing tests hold this so that they do not load the 2-core box against each other.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One answer: the request's warm-up index (from the body), status, latency in ms.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// Index in the path's warm-up count, as the simulator reported it.
    pub n: u64,
    /// HTTP status.
    pub status: u16,
    /// Client-side latency in ms.
    pub ms: f64,
    /// Server-side time from arrival to answer in ms (`Server-Timing: app;dur=`), if sent.
    pub server_ms: Option<f64>,
    /// The simulated latency the server aimed at in ms (`Server-Timing: sim;dur=`), if sent.
    pub intended_ms: Option<f64>,
}

/// GETs `url` and times it.
pub async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let start = Instant::now();
    let res = client.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    let timing = res
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res.bytes().await.expect("body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON body");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let n = body["n"].as_u64().expect("n in body");
    let server_ms = timing
        .as_deref()
        .and_then(|t| parse_server_timing(t, "app"));
    let intended_ms = timing
        .as_deref()
        .and_then(|t| parse_server_timing(t, "sim"));
    Answer {
        n,
        status,
        ms,
        server_ms,
        intended_ms,
    }
}

/// Sends `total` GETs to `base` + `path` from `concurrency` closed loops (threads with the
/// blocking [`Conn`] client, cheap enough not to distort latency); answers sorted by `n`.
pub async fn burst(base: &str, path: &str, total: u64, concurrency: usize) -> Vec<Answer> {
    let (base, path) = (base.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        let next = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..concurrency)
            .map(|_| {
                let (base, path, next) = (base.clone(), path.clone(), Arc::clone(&next));
                std::thread::spawn(move || {
                    let mut conn = Conn::open(&base);
                    let mut out = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        out.push(conn.get(&path));
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<Answer> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("client thread"))
            .collect();
        all.sort_by_key(|a| a.n);
        all
    })
    .await
    .expect("burst")
}

/// The `q` quantile (nearest rank) of `ms`.
pub fn quantile(ms: &mut [f64], q: f64) -> f64 {
    assert!(!ms.is_empty());
    ms.sort_by(f64::total_cmp);
    let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
    ms[rank - 1]
}

/// Latencies of the answers whose index is in `range`.
pub fn latencies(answers: &[Answer], range: std::ops::Range<u64>) -> Vec<f64> {
    answers
        .iter()
        .filter(|a| range.contains(&a.n))
        .map(|a| a.ms)
        .collect()
}

/// A minimal blocking HTTP/1.1 client on one kept-alive connection: a thread blocked in `read`
/// wakes as fast as the OS allows, so timings measure the simulator, not an async client.
pub struct Conn {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `base` (`http://IP:PORT`).
    pub fn open(base: &str) -> Conn {
        let host = base.strip_prefix("http://").expect("http URL").to_owned();
        let stream = TcpStream::connect(&host).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            host,
            buf: vec![0u8; 4096],
        }
    }

    /// GETs `path` and times it; `n` comes from the simulator's JSON body.
    pub fn get(&mut self, path: &str) -> Answer {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        let start = Instant::now();
        self.stream.write_all(request.as_bytes()).expect("write");
        let mut got = Vec::new();
        let (head_end, len) = loop {
            let n = self.stream.read(&mut self.buf).expect("read");
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&self.buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().expect("content-length"))
                    .expect("content-length header");
                if got.len() >= end + 4 + len {
                    break (end, len);
                }
            }
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let status_line = String::from_utf8_lossy(&got[..head_end]).to_string();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let body: serde_json::Value =
            serde_json::from_slice(&got[head_end + 4..head_end + 4 + len]).expect("JSON body");
        let n = body["n"].as_u64().expect("n in body");
        let head = status_line.to_ascii_lowercase();
        let timing = head.lines().find_map(|l| l.strip_prefix("server-timing:"));
        Answer {
            n,
            status,
            ms,
            server_ms: timing.and_then(|t| parse_server_timing(t, "app")),
            intended_ms: timing.and_then(|t| parse_server_timing(t, "sim")),
        }
    }
}

/// The `dur` of metric `name` in a `Server-Timing: app;dur=12.345, sim;dur=12.3` value.
fn parse_server_timing(value: &str, name: &str) -> Option<f64> {
    value.split(',').find_map(|m| {
        let (metric, dur) = m.trim().split_once(";dur=")?;
        (metric == name).then(|| dur.parse().ok()).flatten()
    })
}

/// The server-side durations of `answers` whose index is in `range`.
pub fn server_latencies(answers: &[Answer], range: std::ops::Range<u64>) -> Vec<f64> {
    answers
        .iter()
        .filter(|a| range.contains(&a.n))
        .map(|a| a.server_ms.expect("Server-Timing app"))
        .collect()
}

/// The simulated (intended) latencies of `answers` whose index is in `range`.
pub fn intended_latencies(answers: &[Answer], range: std::ops::Range<u64>) -> Vec<f64> {
    answers
        .iter()
        .filter(|a| range.contains(&a.n))
        .map(|a| a.intended_ms.expect("Server-Timing sim"))
        .collect()
}
