//! The targets the benchmark starts fresh for every run: an in-process `loadgen` simulator on its
//! own thread and runtime, or a real runtime (JVM, Node.js) as a child process pinned to one CPU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use loadgen::sim::{Profile, SimOptions};
use warmgate_testkit::{ChildGuard, SimThread};

/// What a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `loadgen sim` with this profile, in process.
    Sim(Profile),
    /// tests/apps/jvm (`com.sun.net.httpserver`), JDK on the machine.
    Jvm,
    /// tests/apps/node (`node:http`), Node.js on the machine.
    Node,
}

/// The paths a case's traffic (warm-up and user) goes to, as `(name, path?query)`.
pub fn endpoints(kind: Kind) -> Vec<(&'static str, &'static str)> {
    match kind {
        Kind::Sim(_) => vec![("orders", "/api/orders"), ("search", "/api/search")],
        Kind::Jvm | Kind::Node => {
            vec![
                ("report", "/api/report?items=150"),
                ("search", "/api/search?q=str"),
            ]
        }
    }
}

/// Where the benchmark finds the repository and writes its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root (the warmgate package's manifest directory).
    pub repo: PathBuf,
    /// target/honesty: results, logs, configs, compiled JVM classes.
    pub out: PathBuf,
}

impl Paths {
    /// The repository root from Cargo, the output under `CARGO_TARGET_DIR` (or target/).
    pub fn from_env() -> Paths {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"));
        Paths {
            out: target.join("honesty"),
            repo,
        }
    }

    /// The log or config file `name` under target/honesty/runs.
    pub fn run_file(&self, name: &str) -> PathBuf {
        self.out.join("runs").join(name)
    }
}

/// A running target; dropping it stops it (thread joined or process killed).
#[derive(Debug)]
pub struct Target {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    /// When it was started (time to ready counts from here).
    pub started: Instant,
    /// Whether `/sim/truth` exists.
    pub is_sim: bool,
    _guard: Guard,
}

/// Held only for its `Drop`: stops the target when the [`Target`] goes.
#[derive(Debug)]
#[allow(dead_code)]
enum Guard {
    Sim(SimThread),
    Process(ChildGuard),
}

/// Starts a fresh target of `kind`. `speed` applies to simulators only; `label` names the log.
pub fn start(kind: Kind, speed: f64, seed: u64, paths: &Paths, label: &str) -> Result<Target> {
    let started = Instant::now();
    let (base, guard) = match kind {
        Kind::Sim(profile) => {
            let sim = SimThread::start(SimOptions {
                profile,
                seed,
                speed,
            })?;
            (sim.url(), Guard::Sim(sim))
        }
        Kind::Jvm => {
            let classes = paths.out.join("jvm-classes");
            let mut cmd = pinned("java");
            cmd.args(["-Xms128m", "-Xmx128m", "-XX:ActiveProcessorCount=1"])
                .arg("-Dsun.net.httpserver.nodelay=true")
                .arg("-cp")
                .arg(&classes)
                .args(["WarmApp", "0"]);
            spawn_app("JVM app", cmd, &paths.run_file(&format!("{label}.log")))?
        }
        Kind::Node => {
            let app = paths.repo.join("tests/apps/node/app.js");
            let mut cmd = pinned("node");
            cmd.arg(app).arg("0");
            spawn_app("Node.js app", cmd, &paths.run_file(&format!("{label}.log")))?
        }
    };
    Ok(Target {
        base,
        started,
        is_sim: matches!(kind, Kind::Sim(_)),
        _guard: guard,
    })
}

/// `taskset -c LAST_CPU PROGRAM` when taskset exists (one CPU for the app, as a 1-CPU container
/// limit would give it), else `PROGRAM` alone.
fn pinned(program: &str) -> Command {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus > 1 && which("taskset").is_some() {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", &(cpus - 1).to_string(), program]);
        cmd
    } else {
        Command::new(program)
    }
}

fn spawn_app(what: &str, cmd: Command, log: &Path) -> Result<(String, Guard)> {
    let mut child = ChildGuard::spawn(what, cmd, log)?;
    let addr = child.wait_for_line("listening on ", Duration::from_secs(30))?;
    if !addr.starts_with("http://127.0.0.1:") {
        bail!("{what} printed an unexpected address {addr:?}");
    }
    Ok((
        addr.trim_end_matches('/').to_string(),
        Guard::Process(child),
    ))
}

/// The full path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Compiles tests/apps/jvm into target/honesty/jvm-classes with the JDK's javac. Fails with a
/// clear message when no JDK is installed.
pub fn compile_jvm_app(paths: &Paths) -> Result<()> {
    for tool in ["javac", "java"] {
        if which(tool).is_none() {
            bail!("`{tool}` not found on PATH: the JVM case needs a JDK (17+), e.g. `apt-get install openjdk-17-jdk-headless`");
        }
    }
    let src = paths.repo.join("tests/apps/jvm");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .with_context(|| format!("cannot read {}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    files.sort();
    let classes = paths.out.join("jvm-classes");
    let status = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .args(&files)
        .status()
        .context("cannot run javac")?;
    if !status.success() {
        bail!("javac failed ({status}) on {}", src.display());
    }
    Ok(())
}

/// Fails with a clear message when Node.js is not installed.
pub fn check_node() -> Result<()> {
    if which("node").is_none() {
        bail!("`node` not found on PATH: the node case needs Node.js (18+), e.g. `apt-get install nodejs`");
    }
    Ok(())
}
