//! https targets through rustls: a self-signed app is refused unless `accept_invalid_certs`,
//! HTTP/1.1 is kept alive over TLS, and `Auto` speaks HTTP/2 when ALPN chooses it.

mod engine_fixture;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine_fixture::{plan, run_plan};
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loadgen::HttpVersion;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A self-signed certificate for 127.0.0.1 and localhost (P-256, valid until 2126), made for
/// this test only: `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
/// -days 36500 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost`.
const CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUWoZkBCA5Xq0DBLv/02JPkv05/4YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTE5MDM1OFoYDzIxMjYxMTA3
MTkwMzU4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQpP7VlTqAirpwcdsltr6gfYG8aof/WDSTjn+rmN70OsSJ3Aom4lbB6
A7HJsRQoouBL3lxc9yxSeC++L8JMLkkio28wbTAdBgNVHQ4EFgQUshgkxSCE8bcp
VUyuSXVzbrye748wHwYDVR0jBBgwFoAUshgkxSCE8bcpVUyuSXVzbrye748wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgLisEL8ivwxaTVienTSFyJS2dDsoubh7oMbUu1wOef1ICIQCH
Mqr5AgGiIPVjW1GpiOTwhX343sTbMewHuvz5ys8n+w==
-----END CERTIFICATE-----
";
const KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgF05s0c3ZW2wgMMZI
WkE8hYxUinkUy6Z8FicztAR/giGhRANCAAQpP7VlTqAirpwcdsltr6gfYG8aof/W
DSTjn+rmN70OsSJ3Aom4lbB6A7HJsRQoouBL3lxc9yxSeC++L8JMLkki
-----END PRIVATE KEY-----
";

/// What the https app saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    http1: AtomicU64,
    http2: AtomicU64,
}

/// An https app on its own thread offering ALPN `h2` and `http/1.1`; runs until the process ends.
fn start_https_app() -> (SocketAddr, Arc<Seen>) {
    let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).expect("test certificate");
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("app runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, s) = (acceptor.clone(), Arc::clone(&s));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let counter = if req.version() == Version::HTTP_2 {
                            &s.http2
                        } else {
                            &s.http1
                        };
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                b"hello warm world",
                            ))))
                        }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, svc)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    }
                });
            }
        });
    });
    (addr, seen)
}

fn https_plan(addr: SocketAddr, http: HttpVersion, lenient: bool) -> loadgen::Plan {
    let url = url::Url::parse(&format!("https://{addr}/api")).expect("url");
    let mut p = plan(url, 100.0, 8, Duration::from_secs(1));
    p.http = http;
    p.accept_invalid_certs = lenient;
    p.endpoints[0].expect_body = Some("warm".into());
    p
}

#[test]
fn a_self_signed_app_is_a_connect_error_unless_invalid_certs_are_accepted() {
    let (addr, seen) = start_https_app();
    let (_, report) = run_plan(https_plan(addr, HttpVersion::Http1, false));
    let o = report.total.outcomes;
    assert_eq!(o.connect_error, 100, "{o:?}");
    assert_eq!(seen.http1.load(Ordering::SeqCst), 0);
}

#[test]
fn https_http1_is_kept_alive() {
    let (addr, seen) = start_https_app();
    let (_, report) = run_plan(https_plan(addr, HttpVersion::Http1, true));
    let o = report.total.outcomes;
    assert_eq!(o.ok, 100, "{o:?}");
    assert_eq!(seen.http1.load(Ordering::SeqCst), 100);
    assert!(seen.connections.load(Ordering::SeqCst) <= 8, "kept alive");
}

#[test]
fn auto_speaks_http2_when_alpn_chooses_it() {
    let (addr, seen) = start_https_app();
    let (_, report) = run_plan(https_plan(addr, HttpVersion::Auto, true));
    let o = report.total.outcomes;
    assert_eq!(o.ok, 100, "{o:?}");
    assert_eq!(seen.http2.load(Ordering::SeqCst), 100);
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "one shared connection"
    );
}
