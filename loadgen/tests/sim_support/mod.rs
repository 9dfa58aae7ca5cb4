//! Shared helpers of the `sim*` tests: start the real `loadgen sim` binary, send requests.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running `loadgen sim` process, killed on drop.
pub struct SimProc {
    /// The child process.
    pub child: Child,
    /// `http://IP:PORT`, from the first stdout line.
    pub url: String,
}

impl SimProc {
    /// Starts `loadgen sim --listen 127.0.0.1:0 ARGS...` and reads its first line.
    pub fn start(args: &[&str]) -> SimProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn loadgen sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("loadgen sim printed nothing within 20 s");
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        SimProc { child, url }
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kept-alive HTTP/1.1 client that never uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One answer: the request's warm-up index (from the body), status, latency in ms.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// Index in the path's warm-up count, as the simulator reported it.
    pub n: u64,
    /// HTTP status.
    pub status: u16,
    /// Client-side latency in ms.
    pub ms: f64,
}

/// GETs `url` and times it.
pub async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let start = Instant::now();
    let res = client.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    let bytes = res.bytes().await.expect("body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON body");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let n = body["n"].as_u64().expect("n in body");
    Answer { n, status, ms }
}

/// Sends `total` GETs to `url` from `concurrency` closed loops; answers sorted by `n`.
pub async fn burst(client: &reqwest::Client, url: &str, total: u64, concurrency: usize) -> Vec<Answer> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                out.push(get(&client, &url).await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_by_key(|a| a.n);
    all
}

/// The `/sim/truth` document.
pub async fn truth(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let bytes = client
        .get(format!("{base}/sim/truth"))
        .send()
        .await
        .expect("truth request")
        .bytes()
        .await
        .expect("truth body");
    serde_json::from_slice(&bytes).expect("truth JSON")
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
