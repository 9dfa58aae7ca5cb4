//! Starting the real `warmgate run` binary against a target, with a config file written per run.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::child::{free_port, ChildGuard};
use super::target::Paths;

/// Gate and traffic settings for one run. Full mode uses warmgate's defaults (every field
/// `None`); quick mode shortens the windows so a case takes seconds, not minutes.
#[derive(Debug, Clone, Default)]
pub struct GateSettings {
    /// `traffic.rate` (rps over all endpoints).
    pub rate: Option<f64>,
    /// `gate.window`.
    pub window: Option<&'static str>,
    /// `gate.lookback`.
    pub lookback: Option<&'static str>,
    /// `gate.min_samples`.
    pub min_samples: Option<u64>,
    /// `gate.deadline`.
    pub deadline: Option<&'static str>,
}

impl GateSettings {
    /// The settings as `(key, value)` lines for the results file.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.rate {
            parts.push(format!("traffic.rate={r}"));
        }
        for (k, v) in [
            ("gate.window", self.window),
            ("gate.lookback", self.lookback),
            ("gate.deadline", self.deadline),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(m) = self.min_samples {
            parts.push(format!("gate.min_samples={m}"));
        }
        if parts.is_empty() {
            "warmgate defaults".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A running `warmgate run`; dropping it kills it.
#[derive(Debug)]
pub struct Warmgate {
    /// `http://127.0.0.1:PORT` of its probe server.
    pub base: String,
    /// The process.
    pub child: ChildGuard,
}

/// The YAML configuration for a target at `target_url` with `endpoints` `(name, path)`.
pub fn config_yaml(
    listen_port: u16,
    target_url: &str,
    endpoints: &[(&str, &str)],
    gate: &GateSettings,
) -> String {
    let mut y = String::new();
    // Writing to a String cannot fail; ignore the fmt::Result.
    let _ = writeln!(y, "listen: \"127.0.0.1:{listen_port}\"");
    let _ = writeln!(y, "log:\n  format: json\n  level: info");
    let _ = writeln!(y, "target:\n  url: \"{target_url}\"\n  wait_timeout: 60s");
    let _ = writeln!(y, "endpoints:");
    for (name, path) in endpoints {
        let _ = writeln!(y, "  - name: {name}\n    path: \"{path}\"");
    }
    if let Some(rate) = gate.rate {
        let _ = writeln!(y, "traffic:\n  rate: {rate}");
    }
    let mut g = String::new();
    for (k, v) in [
        ("window", gate.window),
        ("lookback", gate.lookback),
        ("deadline", gate.deadline),
    ] {
        if let Some(v) = v {
            let _ = writeln!(g, "  {k}: {v}");
        }
    }
    if let Some(m) = gate.min_samples {
        let _ = writeln!(g, "  min_samples: {m}");
    }
    if !g.is_empty() {
        let _ = write!(y, "gate:\n{g}");
    }
    y
}

/// Writes the config for this run under target/honesty/runs and starts `warmgate run` on it.
pub fn start(
    paths: &Paths,
    label: &str,
    target_url: &str,
    endpoints: &[(&str, &str)],
    gate: &GateSettings,
) -> Result<Warmgate> {
    let port = free_port()?;
    let config = paths.run_file(&format!("{label}-warmgate.yaml"));
    std::fs::write(&config, config_yaml(port, target_url, endpoints, gate))
        .with_context(|| format!("cannot write {}", config.display()))?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.arg("run").arg("--config").arg(&config);
    // The run must see exactly the file above: drop any override from the caller's environment.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WARMGATE_") {
            cmd.env_remove(k);
        }
    }
    let log = paths.run_file(&format!("{label}-warmgate.log"));
    let child = ChildGuard::spawn("warmgate", cmd, &log)?;
    Ok(Warmgate {
        base: format!("http://127.0.0.1:{port}"),
        child,
    })
}

/// warmgate's `/status` JSON (`None` if it does not answer within 1 s).
pub async fn status(client: &reqwest::Client, base: &str) -> Option<serde_json::Value> {
    let resp = client.get(format!("{base}/status")).send().await.ok()?;
    let body = tokio::time::timeout(Duration::from_secs(1), resp.text())
        .await
        .ok()?
        .ok()?;
    serde_json::from_str(&body).ok()
}

/// A one-line summary of a `/status` document: the reason, or per endpoint the gate's numbers.
pub fn summarize(status: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(eps) = status["verdict"]["endpoints"].as_array() {
        for e in eps {
            let name = e["name"].as_str().unwrap_or("?");
            let num = |k: &str| e[k].as_f64().map_or("-".to_string(), |v| format!("{v:.2}"));
            parts.push(format!(
                "{name}: q {}->{} ms, change {}, z {}, drift {}",
                num("q_old_ms"),
                num("q_new_ms"),
                num("change"),
                num("trend_z"),
                num("drift")
            ));
        }
    }
    let reason = status["reason"].as_str().unwrap_or("");
    if status["ready"].as_bool() == Some(true) || reason.is_empty() {
        parts.join("; ")
    } else {
        reason.to_string()
    }
}
