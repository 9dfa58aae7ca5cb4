//! Issue 10, item 2: a flood of idle and slowloris connections to the probe port must not
//! lock the kubelet out. 1,000 idle plus 300 slowloris connections (each reopened as soon as
//! warmgate closes it) stay open while kubelet-style probes (a fresh connection, a 1 s
//! timeout) ask `/livez` and `/readyz`: at least 99.5% are answered, and warmgate's RSS stays
//! bounded. Everything is on 127.0.0.1. The test process needs about 1,400 file descriptors;
//! it runs under the machine's `ulimit -n` (20,000 here) and does not raise it.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const IDLE: usize = 1_000;
const SLOWLORIS: usize = 300;
const PROBES: usize = 600;
/// RSS warmgate may reach under the flood.
const RSS_LIMIT_KIB: u64 = 96 * 1024;

/// warmgate on a free port with an app that never comes up (so `/readyz` answers 503).
fn start() -> (Child, u16) {
    let dir = std::env::temp_dir().join(format!("warmgate-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = dir.join("warmgate.yaml");
    std::fs::write(
        &config,
        format!("listen: \"127.0.0.1:{port}\"\ntarget: {{url: \"http://127.0.0.1:1\"}}\n"),
    )
    .unwrap();
    let child = Command::new(WARMGATE)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

/// Resident memory of `pid` in KiB (0 if unreadable).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One attacker: holds a connection open, sending nothing (idle) or a header byte every
/// 300 ms (slowloris), and reconnects whenever warmgate closes it.
async fn attack(port: u16, slowloris: bool, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut buf = [0u8; 512];
        if slowloris {
            if s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
                .await
                .is_err()
            {
                continue;
            }
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
                if s.write_all(b"X").await.is_err() {
                    break;
                }
            }
        } else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = s.read(&mut buf) => {}
            }
        }
    }
}

/// A kubelet-style probe: a fresh connection, the request at once, an answer within 1 s.
async fn probe(port: u16, path: &str) -> bool {
    let exchange = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < 12 {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&got).to_string();
        Some(line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.1 503"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Some(true))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_answered_through_a_flood_of_idle_and_slowloris_connections() {
    let (mut child, port) = start();
    let t0 = Instant::now();
    while !probe(port, "/livez").await {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "warmgate did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = CancellationToken::new();
    let mut attackers = Vec::new();
    for i in 0..IDLE + SLOWLORIS {
        attackers.push(tokio::spawn(attack(port, i >= IDLE, stop.clone())));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut answered = 0;
    let mut peak_rss = 0;
    for i in 0..PROBES {
        let path = if i % 2 == 0 { "/livez" } else { "/readyz" };
        if probe(port, path).await {
            answered += 1;
        }
        if i % 50 == 0 {
            peak_rss = peak_rss.max(rss_kib(child.id()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    for a in attackers {
        let _ = a.await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let share = answered as f64 / PROBES as f64;
    println!("answered {answered}/{PROBES} ({share:.4}), warmgate peak RSS {peak_rss} KiB");
    assert!(
        share >= 0.995,
        "only {answered}/{PROBES} probes answered within 1 s"
    );
    assert!(
        peak_rss > 0 && peak_rss < RSS_LIMIT_KIB,
        "warmgate RSS {peak_rss} KiB under the flood"
    );
}
