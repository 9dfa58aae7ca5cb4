//! HTTP/2 with prior knowledge (h2c): every request of a run shares one connection, answers
//! are read to the end and checked like HTTP/1.1 ones.

mod engine_fixture;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine_fixture::{ms, plan, run_plan};
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loadgen::HttpVersion;

/// An h2c-only app on its own thread: counts connections and HTTP/2 requests, answers
/// `hello warm world`. Runs until the test process ends.
fn start_h2c_app() -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let conns = Arc::new(AtomicU64::new(0));
    let h2_requests = Arc::new(AtomicU64::new(0));
    let (c, r) = (Arc::clone(&conns), Arc::clone(&h2_requests));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("app runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let r = Arc::clone(&r);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        if req.version() == Version::HTTP_2 {
                            r.fetch_add(1, Ordering::SeqCst);
                        }
                        async move {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                b"hello warm world",
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    (addr, conns, h2_requests)
}

#[test]
fn h2c_shares_one_connection_for_every_request() {
    let (addr, conns, h2_requests) = start_h2c_app();
    let url = url::Url::parse(&format!("http://{addr}/api")).expect("url");
    let mut p = plan(url, 400.0, 32, Duration::from_secs(1));
    p.http = HttpVersion::Http2PriorKnowledge;
    p.endpoints[0].expect_body = Some("warm".into());
    let (_, report) = run_plan(p);
    let t = &report.total;
    assert_eq!(t.outcomes.ok, 400, "{:?}", t.outcomes);
    assert_eq!(h2_requests.load(Ordering::SeqCst), 400, "all spoke HTTP/2");
    assert_eq!(conns.load(Ordering::SeqCst), 1, "one shared connection");
    let p50 = ms(&t.service, 0.5);
    assert!(p50 < 20.0, "service p50 {p50} ms");
}

#[test]
fn h2c_against_an_http_1_app_is_counted_not_fatal() {
    // The engine's HTTP/1.1 fixture does not speak h2c: every request fails, as data.
    let fixture = engine_fixture::Fixture::start();
    let mut p = plan(fixture.url("/"), 20.0, 4, Duration::from_millis(500));
    p.http = HttpVersion::Http2PriorKnowledge;
    p.endpoints[0].timeout = Duration::from_secs(1);
    let (_, report) = run_plan(p);
    let o = report.total.outcomes;
    assert_eq!(o.total(), 10, "{o:?}");
    assert_eq!(o.ok, 0, "{o:?}");
}
