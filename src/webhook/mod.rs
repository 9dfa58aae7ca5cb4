//! `warmgate webhook`: a mutating admission webhook that injects warmgate into Pods as they
//! are created, the way linkerd and Istio inject their proxies. Each Pod goes through the same
//! code as `warmgate inject` (opt-in by the `warmgate.io/inject` annotation, or every Pod the
//! API server sends with `--all`, which pairs with a namespaceSelector), and the difference
//! goes back as a JSONPatch. Pods that did not opt in, or cannot be injected, are allowed
//! unchanged: with `failurePolicy: Ignore`, an outage never blocks pod creation either.
//!
//! # Layout
//! - `review`: AdmissionReview in, response with the JSONPatch out (no I/O).
//! - `tls`: the certificate pair, reloaded when the files change.
//! - `serve`: the HTTPS server (bounded connections and body size).

mod review;
mod serve;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::LogFormat;
use crate::inject::{Options, DEFAULT_IMAGE};
pub use review::{inject_pod, review, BadReview, Verdict, API_VERSION};
pub use serve::{Server, MAX_BODY, MAX_CONNECTIONS};
pub use tls::{CertFiles, RELOAD_POLL};

/// Command-line arguments of `warmgate webhook`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate chain (reloaded when the file changes).
    #[arg(long)]
    pub tls_cert: PathBuf,
    /// PEM private key (reloaded when the file changes).
    #[arg(long)]
    pub tls_key: PathBuf,
    /// The warmgate image injected into new pods.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// Inject every Pod sent (unless annotated `warmgate.io/inject: "false"`): for opt-in by
    /// namespace label, through the webhook's namespaceSelector.
    #[arg(long)]
    pub all: bool,
    /// Inject as a native sidecar (Kubernetes >= 1.29) in every pod.
    #[arg(long)]
    pub native_sidecar: bool,
    /// Log lines as `json` or `text`.
    #[arg(long, default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

/// Runs `warmgate webhook` until SIGTERM or SIGINT. Returns the exit code: 2 when the
/// certificate cannot be loaded or the address bound, 0 after a clean stop.
pub fn run(args: WebhookArgs) -> i32 {
    let format = if args.log_format == "text" {
        LogFormat::Text
    } else {
        LogFormat::Json
    };
    crate::sidecar::init_logging(format, "info");
    let certs = match CertFiles::load(&args.tls_cert, &args.tls_key) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warmgate webhook: {e}");
            return crate::sidecar::EXIT_CONFIG;
        }
    };
    let runtime = match crate::sidecar::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warmgate webhook: cannot start the runtime: {e}");
            return crate::sidecar::EXIT_RUNTIME;
        }
    };
    let opts = Options {
        all: args.all,
        native_sidecar: args.native_sidecar,
        // Pods already injected (by `warmgate inject` on their template) keep their image.
        image: None,
        default_image: args.image,
        port: None,
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("warmgate webhook: cannot listen on {}: {e}", args.listen);
                return crate::sidecar::EXIT_CONFIG;
            }
        };
        let addr = listener.local_addr().unwrap_or(args.listen);
        let stop = CancellationToken::new();
        let watcher = tokio::spawn(certs.clone().watch(stop.clone()));
        let server = Server {
            tls: tokio_rustls::TlsAcceptor::from(certs.server_config()),
            opts: Arc::new(opts),
        };
        let serving = tokio::spawn(server.run(listener, stop.clone()));
        info!(%addr, "Webhook listening.");
        let signal = crate::sidecar::shutdown_signal().await;
        info!(signal, "Stopping.");
        stop.cancel();
        if let Err(e) = serving.await {
            error!(error = %e, "server task failed");
        }
        let _ = watcher.await;
        0
    })
}
