//! Simulated apps to test against, three ways: [`SimApp`] serves on the caller's runtime,
//! [`SimThread`] on its own thread and runtime (so the caller's traffic never delays its timers),
//! [`SimProcess`] is the real `loadgen sim` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use loadgen::sim::{Profile, Sim, SimOptions};
use tokio_util::sync::CancellationToken;

/// How long a `loadgen sim` process may take to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A simulator served on the test's runtime until dropped or stopped.
#[derive(Debug)]
pub struct SimApp {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimApp {
    /// Starts `profile` at `speed` with seed 7 on 127.0.0.1:`port` (0 = any). Panics if the
    /// port cannot be bound or the speed is invalid.
    pub async fn start(profile: Profile, speed: f64, port: u16) -> SimApp {
        let options = SimOptions {
            profile,
            seed: 7,
            speed,
        };
        let sim = Sim::bind(SocketAddr::from(([127, 0, 0, 1], port)), options)
            .await
            .expect("bind the simulator on loopback");
        let addr = sim.local_addr().expect("the simulator's address");
        let stop = CancellationToken::new();
        let task = tokio::spawn(sim.serve(stop.clone()));
        SimApp {
            addr,
            stop,
            task: Some(task),
        }
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `GET /sim/truth`. Panics if it does not answer JSON.
    pub async fn truth(&self) -> serde_json::Value {
        crate::truth::fetch(&crate::client(), &self.url())
            .await
            .expect("/sim/truth")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A simulator serving on its own OS thread and current-thread runtime. Dropping it cancels the
/// server and joins the thread.
#[derive(Debug)]
pub struct SimThread {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimThread {
    /// Starts a simulator with `options` on a free loopback port. Fails if the thread, its
    /// runtime or the listener cannot be started within 10 s.
    pub fn start(options: SimOptions) -> Result<SimThread> {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow!("cannot build the sim runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let bound = Sim::bind(SocketAddr::from(([127, 0, 0, 1], 0)), options).await;
                    let sim = match bound {
                        Ok(sim) => sim,
                        Err(e) => {
                            let _ = tx.send(Err(anyhow!("cannot bind the sim: {e}")));
                            return;
                        }
                    };
                    let _ = tx.send(sim.local_addr().map_err(|e| anyhow!("no sim address: {e}")));
                    // A serve error ends the thread; the caller sees refused connections.
                    let _ = sim.serve(token).await;
                });
            })
            .context("cannot start the sim thread")?;
        let mut sim = SimThread {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            cancel,
            thread: Some(thread),
        };
        // On failure `sim` drops here, which cancels and joins the thread.
        sim.addr = rx
            .recv_timeout(Duration::from_secs(10))
            .context("the sim did not start within 10 s")??;
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running `loadgen sim` process, killed and reaped on drop. Its stderr goes to the test's.
#[derive(Debug)]
pub struct SimProcess {
    /// `http://127.0.0.1:PORT`, from its first stdout line.
    pub base: String,
    child: Child,
}

impl SimProcess {
    /// Starts `LOADGEN sim --listen 127.0.0.1:0 ARGS...` (`loadgen` is the binary's path) and
    /// reads the address it prints. Panics if it cannot start or prints no address within
    /// [`START_TIMEOUT`] (the process is killed then).
    pub fn start(loadgen: &str, args: &[&str]) -> SimProcess {
        let mut child = Command::new(loadgen)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn loadgen sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // Owned from here on, so a panic below kills the child.
        let mut sim = SimProcess {
            base: String::new(),
            child,
        };
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("loadgen sim printed nothing within {START_TIMEOUT:?}"));
        sim.base = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(sim.base.starts_with("http://127.0.0.1:"), "{}", sim.base);
        sim
    }

    /// The process id (to signal it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit, at most `limit`: its status, or `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        crate::child::wait_exit(&mut self.child, limit)
    }

    /// GET `path` over a plain HTTP/1.0 connection, blocking; returns the body. Panics if the
    /// connection fails.
    pub fn get(&self, path: &str) -> String {
        let hostport = self.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(hostport).expect("connect to the sim");
        write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("write");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        raw.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// The `/sim/truth` document, blocking (not from inside an async runtime). Panics if it is
    /// not JSON.
    pub fn truth(&self) -> serde_json::Value {
        crate::truth::parse(&self.get("/sim/truth")).expect("/sim/truth")
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sim_thread_serves_its_truth_and_stops_on_drop() {
        let options = SimOptions {
            profile: Profile::Jit,
            seed: 5,
            speed: 2.0,
        };
        let sim = SimThread::start(options).expect("sim thread");
        let url = sim.url();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let truth = rt
            .block_on(crate::truth::fetch(&crate::client(), &url))
            .expect("truth");
        assert_eq!(
            (truth["profile"].as_str(), truth["seed"].as_u64()),
            (Some("jit"), Some(5))
        );
        let addr = sim.addr;
        drop(sim);
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "still listening"
        );
    }
}
