//! [`GrpcApp`]: the real Python `grpcio` server of `tests/apps/grpc/server.py` (shop.Cart/Get on
//! 127.0.0.1, h2c, or TLS with [`GrpcApp::start_tls`]), which appends every message it receives to a log as protobuf's JSON mapping
//! and answers `NOT_FOUND` for ids ending in 0, `INVALID_ARGUMENT` for ids ending in 1, else
//! `OK`. Started with or without server reflection; it can also write its schema as a
//! `FileDescriptorSet` file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::child::ChildGuard;

/// The PyPI packages the server needs (scripts/test.sh installs them when missing).
pub const PIP_PACKAGES: &str = "grpcio grpcio-reflection grpcio-tools";

/// A running gRPC test server; killed on drop.
#[derive(Debug)]
pub struct GrpcApp {
    /// Its loopback port.
    pub port: u16,
    /// The JSON Lines file of the messages it received.
    pub received: PathBuf,
    /// The descriptor-set file it wrote (`None` unless asked for).
    pub descriptor_set: Option<PathBuf>,
    tls: bool,
    _child: ChildGuard,
}

/// The path of `python3` after checking the server's packages import. Panics naming the pip
/// packages when they are missing: a gRPC test fails clearly, never passes silently.
pub fn python_with_grpc() -> PathBuf {
    let python = crate::tool("python3", "python3");
    let ok = Command::new(&python)
        .args(["-c", "import grpc, grpc_reflection, grpc_tools"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 cannot import grpc, grpc_reflection and grpc_tools: pip install {PIP_PACKAGES}"
    );
    python
}

impl GrpcApp {
    /// Starts the server in `dir` (its logs go there), with server reflection unless
    /// `reflection` is false, writing a descriptor set when `descriptor_set` is true. Fails if
    /// it does not print its "listening" line within 60 s.
    pub fn start(dir: &Path, reflection: bool, descriptor_set: bool) -> Result<GrpcApp> {
        Self::start_with(dir, reflection, descriptor_set, None)
    }

    /// As [`GrpcApp::start`] with reflection, serving TLS with the PEM certificate `cert` and its
    /// key `key` (HTTP/2 negotiated by ALPN, as grpcio does).
    pub fn start_tls(dir: &Path, cert: &Path, key: &Path) -> Result<GrpcApp> {
        Self::start_with(dir, true, false, Some((cert, key)))
    }

    fn start_with(
        dir: &Path,
        reflection: bool,
        descriptor_set: bool,
        tls: Option<(&Path, &Path)>,
    ) -> Result<GrpcApp> {
        let python = python_with_grpc();
        let port = crate::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/grpc/server.py");
        let received = dir.join(format!("grpc-received-{port}.jsonl"));
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--log")
            .arg(&received);
        if !reflection {
            cmd.arg("--no-reflection");
        }
        let set = descriptor_set.then(|| dir.join(format!("shop-{port}.binpb")));
        if let Some(path) = &set {
            cmd.arg("--descriptor-out").arg(path);
        }
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let log = dir.join(format!("grpc-server-{port}.log"));
        let mut child = ChildGuard::spawn("the gRPC test server", cmd, &log)?;
        child
            .wait_for_line("listening on", Duration::from_secs(60))
            .context("the gRPC test server did not start")?;
        Ok(GrpcApp {
            port,
            received,
            descriptor_set: set,
            tls: tls.is_some(),
            _child: child,
        })
    }

    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.received).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
