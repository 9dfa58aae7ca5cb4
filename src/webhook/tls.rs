//! The webhook's certificate, reloaded when its files change: cert-manager (or a Secret
//! update that the kubelet projects into the pod) rotates them in place, and the API server
//! must see the new one without a restart. A bad or half-written pair keeps the old one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls::crypto::ring::sign::any_supported_type;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the files are checked for a change (cheap: two `stat` calls).
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// A certificate chain and key in PEM files, loaded and reloaded.
#[derive(Debug)]
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

/// Reads `cert` (a PEM chain) and `key` (a PEM private key). Errors name the file, never
/// print its contents.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let key_pem = read(key)?;
    let der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key in the file", key.display()))?;
    let signing = any_supported_type(&der)
        .map_err(|e| format!("{}: unsupported private key: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{} and {} do not match: {e}", cert.display(), key.display()))?;
    Ok(certified)
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl CertFiles {
    /// Loads the pair once; fails when either file is unreadable or they do not match.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertFiles>, String> {
        let current = load(cert, key)?;
        Ok(Arc::new(CertFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// A rustls server configuration answering with the current pair (HTTP/1.1 only).
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map(|b| b.with_no_client_auth())
                // The ring provider supports the default versions; fall back to TLS 1.3 alone.
                .unwrap_or_else(|_| {
                    ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
                        .with_no_client_auth()
                })
                .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Reloads the pair whenever either file's modification time or size changes, until
    /// `stop` fires. A pair that fails to load is logged and the old one kept.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut seen = (stamp(&self.cert), stamp(&self.key));
        let mut tick = tokio::time::interval(RELOAD_POLL);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = (stamp(&self.cert), stamp(&self.key));
            if now == seen {
                continue;
            }
            match load(&self.cert, &self.key) {
                Ok(pair) => {
                    seen = now;
                    if let Ok(mut current) = self.current.write() {
                        *current = Arc::new(pair);
                    }
                    info!(cert = %self.cert.display(), "Certificate reloaded.");
                }
                // Kept `seen` as it was: the next tick tries again (a rotation writes two
                // files, and the first tick may see only one of them).
                Err(error) => warn!(%error, "Certificate not reloaded; keeping the old one."),
            }
        }
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}
