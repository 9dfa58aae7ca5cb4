//! A real Prometheus server (the Debian package's binary) on loopback, with a scrape
//! configuration written for the test, and its HTTP API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::child::ChildGuard;

/// A running Prometheus; dropping it kills it.
#[derive(Debug)]
pub struct Prometheus {
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// The process.
    pub child: ChildGuard,
}

impl Prometheus {
    /// Starts `prometheus` in `dir` (config, data and log there) scraping every 1 s with
    /// `scrape_configs` (YAML: the list's items, indented by two spaces). Fails if it cannot
    /// start or its API does not answer within 30 s. Panics (with the package to install) when
    /// `prometheus` is not on PATH.
    pub fn start(dir: &Path, scrape_configs: &str) -> Result<Prometheus> {
        let binary: PathBuf = crate::tool("prometheus", "prometheus");
        std::fs::create_dir_all(dir.join("data")).context("cannot create the data dir")?;
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n{scrape_configs}"
        );
        std::fs::write(dir.join("prometheus.yml"), config).context("cannot write the config")?;
        let port = crate::try_free_port().context("no free port")?;
        let mut cmd = Command::new(binary);
        cmd.current_dir(dir).args([
            "--config.file=prometheus.yml",
            "--storage.tsdb.path=data",
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn",
        ]);
        let child = ChildGuard::spawn("prometheus", cmd, &dir.join("prometheus.log"))?;
        let prom = Prometheus { port, child };
        let t0 = Instant::now();
        while !prom.ready_text() {
            if t0.elapsed() > Duration::from_secs(30) {
                bail!(
                    "prometheus did not answer within 30 s: {}",
                    prom.child.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(prom)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn ready_text(&self) -> bool {
        get(self.port, "/-/ready").is_ok_and(|(s, _)| s == 200)
    }

    /// The `data` of a `success` answer to `path` (None otherwise).
    pub fn api(&self, path: &str) -> Option<Value> {
        let (status, body) = get(self.port, path).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (status == 200 && v["status"] == "success").then(|| v["data"].clone())
    }

    /// An instant query's series (None if refused).
    pub fn query(&self, promql: &str) -> Option<Vec<Value>> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)))?;
        data["result"].as_array().cloned()
    }
}

/// Runs `promtool check metrics` (Debian package `prometheus`) on an exposition `text`: what it
/// says on stdout and stderr together, empty when the text is clean. Panics when promtool is
/// missing or cannot be run.
pub fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(crate::tool("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool's output");
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && said.is_empty() {
        said = format!("promtool exited {}", out.status);
    }
    said
}

/// `%XX`-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP/1.0 GET on loopback port `port` (blocking, 10 s read timeout): status and body.
pub fn get(port: u16, path: &str) -> std::result::Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_string()))
}
