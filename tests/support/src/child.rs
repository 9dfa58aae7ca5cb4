//! Child processes that are always stopped: [`ChildGuard`] kills and reaps on drop (also when a
//! test or benchmark panics), and reads what the child logged.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A started child process whose stdout and stderr go to one log file. Dropping it kills it.
#[derive(Debug)]
pub struct ChildGuard {
    /// What the process is, for messages.
    pub what: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    child: Child,
}

impl ChildGuard {
    /// Starts `cmd` with stdin closed and both output streams written to `log` (truncated).
    /// Fails if the log cannot be created or the program cannot be started.
    pub fn spawn(what: &str, mut cmd: Command, log: &Path) -> Result<ChildGuard> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out
            .try_clone()
            .context("cannot duplicate the log file handle")?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {what} ({:?})", cmd.get_program()))?;
        Ok(ChildGuard {
            what: what.to_string(),
            log: log.to_path_buf(),
            child,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The log so far (empty if it cannot be read).
    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    /// Fails if the process has already exited (with its status and the log's tail).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited early ({status}); last log lines:\n{}",
                self.what,
                log_tail(&self.log, 15)
            ),
            Err(e) => bail!("cannot query {}: {e}", self.what),
        }
    }

    /// Waits until a line of the log contains `marker`, and returns the rest of that line after
    /// the marker. Fails after `timeout` or if the process exits first.
    pub fn wait_for_line(&mut self, marker: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(rest) = find_after(&self.log, marker) {
                return Ok(rest);
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!(
                    "{} printed no {marker:?} line within {timeout:?}; log:\n{}",
                    self.what,
                    log_tail(&self.log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit, at most `limit`: its status, or `None` if still running
    /// (or if it cannot be queried).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_exit(&mut self.child, limit)
    }
}

/// Waits for `child` to exit, at most `limit`: its status, or `None` if still running (or if it
/// cannot be queried).
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return None,
        }
    }
    None
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Already exited, or killed now: either way reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lossy(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn find_after(path: &Path, marker: &str) -> Option<String> {
    let text = read_lossy(path);
    text.lines().find_map(|l| {
        l.find(marker)
            .map(|i| l[i + marker.len()..].trim().to_string())
    })
}

/// The last `n` lines of a log file (empty if it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = read_lossy(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
