//! Shared helpers of the integration tests: the real `warmgate` binary as a child process, a
//! `loadgen sim` in-process, and small HTTP helpers. Everything listens on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::sim::{Profile, Sim, SimOptions};
use tokio_util::sync::CancellationToken;

/// A free loopback port (bound, then released: the race is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulated app served on the test's runtime until dropped or stopped.
pub struct SimApp {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimApp {
    /// Starts `profile` at `speed` on `port` (0 = any).
    pub async fn start(profile: Profile, speed: f64, port: u16) -> SimApp {
        let options = SimOptions {
            profile,
            seed: 7,
            speed,
        };
        let sim = Sim::bind(SocketAddr::from(([127, 0, 0, 1], port)), options)
            .await
            .unwrap();
        let addr = sim.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(sim.serve(stop.clone()));
        SimApp {
            addr,
            stop,
            task: Some(task),
        }
    }

    /// Stops serving and closes the listener.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `GET /sim/truth`.
    pub async fn truth(&self) -> serde_json::Value {
        let body = http_get(&format!("http://{}/sim/truth", self.addr))
            .await
            .unwrap()
            .1;
        serde_json::from_str(&body).unwrap()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The real `warmgate run` binary with a temporary config file.
pub struct Warmgate {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    dir: PathBuf,
}

/// Settings short enough for tests: 1 s windows, 10 s lookback, 800 rps on one endpoint (the gate simulation puts a flat app's worst time to ready near 35 s).
pub fn fast_config(target: &str, extra: &str) -> String {
    format!(
        "target: {{url: \"{target}\", wait_timeout: 60s}}\n\
         shutdown_grace: 1s\n\
         log: {{level: info}}\n\
         traffic: {{rate: 800, ramp: 1s}}\n\
         {extra}"
    )
}

/// The gate section used with [`fast_config`].
pub const FAST_GATE: &str =
    "gate: {window: 1s, lookback: 10s, consecutive: 3, min_samples: 1500, deadline: 60s}\n";

impl Warmgate {
    /// Writes `yaml` (plus a `listen` on a free port) and starts `warmgate run`.
    pub fn spawn(yaml: &str) -> Warmgate {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("warmgate-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("warmgate.yaml");
        std::fs::write(&config, format!("listen: \"127.0.0.1:{port}\"\n{yaml}")).unwrap();
        let log = dir.join("warmgate.log");
        let child = Command::new(env!("CARGO_BIN_EXE_warmgate"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start warmgate");
        Warmgate {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            dir,
        }
    }

    /// The log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Status code of `GET path` (None if the connection failed).
    pub async fn code(&self, path: &str) -> Option<u16> {
        http_get(&format!("{}{path}", self.base))
            .await
            .map(|(c, _)| c)
    }

    /// The /status document.
    pub async fn status(&self) -> serde_json::Value {
        let body = http_get(&format!("{}/status", self.base))
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

    /// Polls /status until `phase` or `limit`.
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

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Warmgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh-connection GET (like the kubelet's probes): (status, body), None on connect error.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = client.get(url).send().await.ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().await.unwrap_or_default()))
}

/// Runs `warmgate` with `args` to completion: (exit code, stdout, stderr).
pub fn warmgate_cmd(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// User traffic right after "ready": `n` GETs of `path` at `rate` rps, open loop; returns the
/// latency p99 in ms (from intended send times) and the error count.
pub async fn user_p99(base: &str, path: &str, n: u64, rate: f64) -> (f64, u64) {
    let url = url::Url::parse(&format!("{base}{path}")).unwrap();
    let mut plan = loadgen::Plan::try_new(
        vec![loadgen::Endpoint::get("user", url)],
        loadgen::RateSchedule::Constant(rate),
        256,
        Duration::from_secs(60),
    )
    .unwrap();
    plan.duration = Some(Duration::from_secs_f64(n as f64 / rate));
    let engine = loadgen::run(plan, CancellationToken::new()).unwrap();
    let report = engine.finish().await;
    let p99 = report.total.latency.value_at_quantile(0.99) as f64 / 1000.0;
    (p99, report.total.outcomes.errors())
}

/// A raw HTTP/1.1 GET on a new connection, as the kubelet probes: (status, time taken).
pub async fn raw_probe(base: &str, path: &str) -> Option<(u16, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, took))
}
