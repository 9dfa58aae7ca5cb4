//! TLS for https targets, through rustls (ring provider, as reqwest used before).
//!
//! Roots are the Mozilla set of `webpki-roots`, so the sidecar needs no CA bundle in its image.
//! With `accept_invalid_certs` any certificate is accepted (pod-local apps often serve a
//! self-signed one), but the handshake's signatures are still checked with the provider's
//! algorithms: the peer must hold the key of the certificate it shows.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::engine::EngineError;
use crate::plan::HttpVersion;

/// The ALPN protocols offered for `http`: `Auto` lets the server choose h2 or HTTP/1.1.
fn alpn(http: HttpVersion) -> Vec<Vec<u8>> {
    match http {
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2PriorKnowledge => vec![b"h2".to_vec()],
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    }
}

/// Builds the client configuration every https connection of a run uses. Fails only if the provider
/// rejects the default protocol versions (a build without TLS 1.2 and 1.3).
pub(crate) fn connector(
    http: HttpVersion,
    accept_invalid_certs: bool,
) -> Result<Arc<rustls::ClientConfig>, EngineError> {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Client(format!("TLS: {e}")))?;
    let mut config = if accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth()
    } else {
        let roots: rustls::RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn(http);
    Ok(Arc::new(config))
}

/// Accepts any certificate (opt-in `accept_invalid_certs`), still checking signatures.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
