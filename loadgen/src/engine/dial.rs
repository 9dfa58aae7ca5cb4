//! Opening one connection to an origin: TCP (no Nagle), TLS for https, then hyper's HTTP/1.1 or
//! HTTP/2 handshake. The connection's own task runs on the current runtime until the pool drops
//! its sender (HTTP/1.1: after the answer in progress) or the app closes it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use url::Url;

use crate::engine::EngineError;
use crate::plan::HttpVersion;

/// The request body type: the endpoint's pre-built bytes (empty for none), shared, never copied.
pub(crate) type Body = Full<Bytes>;

/// A fresh connection, ready for its first request.
pub(crate) enum Conn {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<Body>),
    /// HTTP/2: many streams at once (cloned per request).
    H2(http2::SendRequest<Body>),
}

/// Where and how to connect to one origin (scheme, host, port).
#[derive(Debug)]
pub(crate) struct Target {
    /// Host as the resolver wants it (IPv6 without brackets).
    host: String,
    port: u16,
    /// TLS name and configuration for https; `None` for plain http.
    tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
    /// HTTP/2 from the first byte (h2c, or `h2` only in ALPN).
    prior_knowledge: bool,
}

/// The dial failed, at the step it names: refused, unreachable or unknown host ("connect"), the
/// TLS handshake (an untrusted or mismatched certificate, no common protocol), or the HTTP one.
/// A static string, so the request path pays nothing for it; errors shown to people say it.
#[derive(Debug)]
pub(crate) struct DialFailed(pub(crate) &'static str);

impl Target {
    /// The target of `url`'s origin. `tls` must be given for https URLs. Fails on a URL without
    /// a host or a port, or a host rustls cannot use as a TLS name.
    pub(crate) fn new(
        url: &Url,
        http: HttpVersion,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Target, EngineError> {
        let bad = |why: &str| EngineError::Client(format!("{url}: {why}"));
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        let port = url.port_or_known_default().ok_or_else(|| bad("no port"))?;
        let tls = match (url.scheme(), tls) {
            ("https", Some(config)) => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| bad("the host is not a valid TLS name"))?;
                Some((name, Arc::clone(config)))
            }
            ("https", None) => return Err(bad("https without a TLS configuration")),
            _ => None,
        };
        Ok(Target {
            host,
            port,
            tls,
            prior_knowledge: http == HttpVersion::Http2PriorKnowledge,
        })
    }

    /// True when connections to this target may turn out to be HTTP/2 (shared by every request).
    pub(crate) fn may_be_h2(&self) -> bool {
        self.prior_knowledge || self.tls.is_some()
    }

    /// Opens a connection. HTTP/2 is spoken with prior knowledge, or when ALPN chose `h2`.
    pub(crate) async fn dial(&self) -> Result<Conn, DialFailed> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|_| DialFailed("connect failed"))?;
        // Requests are small and written at once: never wait for an ACK to send them.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp, self.prior_knowledge).await,
            Some((name, config)) => {
                let tls = TlsConnector::from(Arc::clone(config))
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| DialFailed("TLS handshake failed"))?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                handshake(tls, h2 || self.prior_knowledge).await
            }
        }
    }
}

/// Runs hyper's handshake on `io` and spawns the connection's task.
async fn handshake<I>(io: I, h2: bool) -> Result<Conn, DialFailed>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let (send, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| DialFailed("HTTP/2 handshake failed"))?;
        // The task ends when the app closes the connection or every sender is dropped; its
        // error (if any) reaches the requests in flight, which count it.
        drop(tokio::spawn(conn));
        Ok(Conn::H2(send))
    } else {
        let (send, conn) = http1::handshake(io)
            .await
            .map_err(|_| DialFailed("HTTP/1.1 handshake failed"))?;
        drop(tokio::spawn(conn));
        Ok(Conn::H1(send))
    }
}
