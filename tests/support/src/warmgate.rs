//! The real `warmgate run` binary on a config file written for the run, and its probe server.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::child::ChildGuard;

/// A running `warmgate run`; dropping it kills it (and removes its temporary directory, if
/// [`Warmgate::spawn`] made one).
#[derive(Debug)]
pub struct Warmgate {
    /// `http://127.0.0.1:PORT` of its probe server.
    pub base: String,
    /// The process, logging stdout and stderr to one file.
    pub child: ChildGuard,
    temp_dir: Option<PathBuf>,
}

impl Warmgate {
    /// Writes `listen: "127.0.0.1:PORT"` (a free port) and then `yaml` to `config`, and starts
    /// `WARMGATE run --config CONFIG` (`warmgate` is the binary's path) with its output in
    /// `log`. `RUST_LOG` and every `WARMGATE_*` variable are removed from its environment, so
    /// the run sees exactly that file. Fails if a file cannot be written or the binary cannot
    /// start.
    pub fn start(warmgate: &str, yaml: &str, config: &Path, log: &Path) -> Result<Warmgate> {
        Warmgate::start_with_env(warmgate, yaml, config, log, &[])
    }

    /// [`Warmgate::start`] with `env` added to the process's environment (for values the
    /// configuration reads from a variable, e.g. `{env: NAME}` headers).
    pub fn start_with_env(
        warmgate: &str,
        yaml: &str,
        config: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Warmgate> {
        let port = crate::try_free_port().context("cannot bind 127.0.0.1:0")?;
        std::fs::write(config, format!("listen: \"127.0.0.1:{port}\"\n{yaml}"))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let mut cmd = Command::new(warmgate);
        cmd.arg("run").arg("--config").arg(config);
        cmd.env_remove("RUST_LOG");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("WARMGATE_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        Ok(Warmgate {
            base: format!("http://127.0.0.1:{port}"),
            child: ChildGuard::spawn("warmgate", cmd, log)?,
            temp_dir: None,
        })
    }

    /// [`Warmgate::start_with_env`] as pod `pod` of `workload` in `namespace` (the downward API
    /// env `POD_NAMESPACE`, `POD_NAME`, `POD_WORKLOAD` that inject and the chart set), with its
    /// config and log as `dir/POD.yaml` and `dir/POD.log`.
    pub fn start_as_pod(
        warmgate: &str,
        dir: &Path,
        pod: &str,
        namespace: &str,
        workload: &str,
        yaml: &str,
    ) -> Result<Warmgate> {
        Warmgate::start_with_env(
            warmgate,
            yaml,
            &dir.join(format!("{pod}.yaml")),
            &dir.join(format!("{pod}.log")),
            &[
                ("POD_NAMESPACE", namespace),
                ("POD_NAME", pod),
                ("POD_WORKLOAD", workload),
            ],
        )
    }

    /// [`Warmgate::start`] with the config and log in a fresh temporary directory, removed on
    /// drop. Panics if it cannot start.
    pub fn spawn(warmgate: &str, yaml: &str) -> Warmgate {
        let dir = std::env::temp_dir().join(format!(
            "warmgate-test-{}-{}",
            std::process::id(),
            crate::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let mut wg = Warmgate::start(
            warmgate,
            yaml,
            &dir.join("warmgate.yaml"),
            &dir.join("warmgate.log"),
        )
        .expect("start warmgate");
        wg.temp_dir = Some(dir);
        wg
    }

    /// The log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        self.child.log_text()
    }

    /// Status code of `GET path` on a new connection (`None` if the connection failed).
    pub async fn code(&self, path: &str) -> Option<u16> {
        crate::http_get(&format!("{}{path}", self.base))
            .await
            .map(|(c, _)| c)
    }

    /// The `/status` document (`Null` if it does not answer JSON).
    pub async fn status(&self) -> serde_json::Value {
        let body = crate::http_get(&format!("{}/status", self.base))
            .await
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    /// Polls `/readyz` every 100 ms until 200 or `limit`; returns the time it took.
    pub async fn wait_ready(&self, limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.code("/readyz").await == Some(200) {
                return Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Polls `/status` every 100 ms until its phase is `phase` (true) or `limit` passes (false).
    pub async fn wait_phase(&self, phase: &str, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.status().await["phase"] == phase {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Sends SIGTERM (what the kubelet sends) with the `kill` command. Fails if it cannot.
    pub fn sigterm(&self) -> Result<()> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        if !ok.success() {
            bail!("kill -TERM {} failed: {ok}", self.child.id());
        }
        Ok(())
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.child.wait_exit(limit)
    }
}

impl Drop for Warmgate {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp_dir {
            // Fields drop after this, so the child is still running: on Unix its open log lives
            // on, unlinked, until it is killed right after.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
