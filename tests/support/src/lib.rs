//! # warmgate-testkit
//!
//! What the workspace's tests, benchmarks and fixtures share to drive real servers: simulators
//! (in the test's process or as the `loadgen sim` binary), the `warmgate` binary, free loopback
//! ports and the simulator's `/sim/truth`. Everything listens on 127.0.0.1, and every process or
//! server it starts is stopped (killed and reaped, or cancelled and joined) when its handle drops.
//!
//! Binaries are passed in by path (`env!("CARGO_BIN_EXE_loadgen")`): only the package that owns
//! a binary knows where Cargo built it.
//!
//! # Layout
//! - [`child`]: [`ChildGuard`], a child process logged to a file and killed on drop.
//! - [`sim`]: [`SimApp`] (on the caller's runtime), [`SimThread`] (own thread and runtime) and
//!   [`SimProcess`] (the `loadgen sim` binary, started within a timeout).
//! - [`warmgate`]: [`Warmgate`], the `warmgate run` binary on a written config, and its probes.
//! - [`grpc`]: [`GrpcApp`], the Python grpcio test server, with or without reflection.
//! - [`recorder`]: [`Recorder`], a server that answers at once and keeps every request.
//! - [`manifests`]: Kubernetes manifests for the inject tests.
//! - [`truth`]: fetching `/sim/truth` ([`truth::fetch`]) and reading it.

pub mod child;
pub mod grpc;
pub mod manifests;
pub mod prometheus;
pub mod recorder;
pub mod sim;
pub mod truth;
pub mod warmgate;

pub use child::ChildGuard;
pub use grpc::GrpcApp;
pub use prometheus::Prometheus;
pub use recorder::{Arrival, Recorder};
pub use sim::{SimApp, SimProcess, SimThread};
pub use warmgate::Warmgate;

/// A free loopback port: bound on 127.0.0.1:0, then released (another process could take it in
/// between; the caller's bind then fails loudly). Fails if no loopback port can be bound.
pub fn try_free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// [`try_free_port`] for tests: panics if no loopback port can be bound.
pub fn free_port() -> u16 {
    try_free_port().expect("bind a free loopback port")
}

/// A kept-alive HTTP client that never uses a proxy (tests talk to loopback only). Panics only
/// if the TLS backend cannot start.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// A fresh-connection GET (like the kubelet's probes): `(status, body)`, `None` when the
/// connection fails or times out (5 s).
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .ok()?;
    let r = client.get(url).send().await.ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().await.unwrap_or_default()))
}

/// helm or kubectl for the deploy tests: from `PATH`, else from the repository's target/tools,
/// where scripts/install-helm.sh puts them. Panics naming that script when neither has it.
pub fn deploy_tool(name: &str) -> std::path::PathBuf {
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools");
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.into_iter()
        .chain([tools])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH nor in target/tools: run scripts/install-helm.sh first")
        })
}

/// The path of `program` on `PATH`. Panics with the Debian package to install when it is missing:
/// a test that needs a tool fails clearly, never passes silently.
pub fn tool(program: &str, debian_package: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{program}` is not on PATH: apt-get install {debian_package}"))
}
