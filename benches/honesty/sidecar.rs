//! The sidecar under test: the real `warmgate run` binary against a target (through
//! `warmgate-testkit`), with a config file written per run, and what its `/status` says.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use warmgate_testkit::Warmgate;

use super::target::Paths;

/// What a run's config overrides of warmgate's gate and traffic defaults. Full mode overrides
/// nothing (every field `None`); quick mode shortens the windows so a case takes seconds, not
/// minutes.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
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

impl Overrides {
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

/// The YAML configuration for a target at `target_url` with `endpoints` `(name, path)`, without
/// the `listen` line ([`Warmgate::start`] picks the port).
pub fn config_yaml(target_url: &str, endpoints: &[(&str, &str)], gate: &Overrides) -> String {
    let mut y = String::new();
    // Writing to a String cannot fail; ignore the fmt::Result.
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

/// Writes the config for this run under target/honesty/runs and starts `warmgate run` on it
/// (its log next to it). Fails if a file cannot be written or warmgate cannot start.
pub fn start(
    paths: &Paths,
    label: &str,
    target_url: &str,
    endpoints: &[(&str, &str)],
    gate: &Overrides,
) -> Result<Warmgate> {
    Warmgate::start(
        env!("CARGO_BIN_EXE_warmgate"),
        &config_yaml(target_url, endpoints, gate),
        &paths.run_file(&format!("{label}-warmgate.yaml")),
        &paths.run_file(&format!("{label}-warmgate.log")),
    )
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
                "{name}: {} since {} s, q {} ms, residual {} (up to {}), trend {}/min",
                e["class"].as_str().unwrap_or("-"),
                num("settle_s"),
                num("q_ms"),
                num("residual"),
                num("residual_bound"),
                num("rise_per_minute")
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
