//! The engine's own connections: apps that close them (`Connection: close` on every answer,
//! HTTP/1.0, a close after N answers) get every request answered on a new connection without
//! losing its timing; a connection reset mid-answer is counted as `connection_lost` and never
//! reused; a malformed answer is a `protocol_error`; an expected text split across chunks is
//! found.

mod engine_fixture;
mod raw_app;

use std::sync::atomic::Ordering;
use std::time::Duration;

use engine_fixture::{ms, plan, run_plan};
use raw_app::{read_head, RawApp};
use tokio::io::AsyncWriteExt;

const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const OK_KEEP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Every request of `report` was answered ok, with the service time of a fast local app.
fn all_ok_and_fast(report: &loadgen::Report, expected: u64) {
    let t = &report.total;
    assert_eq!(report.scheduled, expected);
    assert_eq!(t.outcomes.ok, expected, "{:?}", t.outcomes);
    assert_eq!(t.latency.len(), expected, "every request has its latency");
    assert_eq!(
        t.service.len(),
        expected,
        "every request has its service time"
    );
    // A new connection costs a loopback handshake: far under 50 ms even on a busy machine.
    let p50 = ms(&t.service, 0.5);
    assert!(p50 < 50.0, "service p50 {p50} ms");
}

#[test]
fn an_app_that_closes_every_connection_gets_every_request_on_a_new_one() {
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        if read_head(&mut s, &mut buf).await {
            c.request();
            let _ = s.write_all(OK_CLOSE).await;
        }
    });
    let (_, report) = run_plan(plan(app.url("/"), 100.0, 8, Duration::from_secs(1)));
    all_ok_and_fast(&report, 100);
    assert_eq!(app.requests(), 100, "no request sent twice");
    assert_eq!(app.connections(), 100, "one connection per request");
}

#[test]
fn an_http_1_0_app_is_answered_to_the_end_of_each_connection() {
    // HTTP/1.0 without a length: the body ends when the app closes the connection.
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        if read_head(&mut s, &mut buf).await {
            c.request();
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nhello warm world")
                .await;
        }
    });
    let mut p = plan(app.url("/"), 100.0, 8, Duration::from_secs(1));
    p.endpoints[0].expect_body = Some("warm".into());
    let (_, report) = run_plan(p);
    all_ok_and_fast(&report, 100);
    assert_eq!(app.connections(), 100);
}

#[test]
fn an_app_that_closes_kept_alive_connections_after_5_answers_loses_no_request() {
    // No `Connection: close`: the app just closes after its 5th answer, as servers with a
    // per-connection request limit do; the engine must notice, not send on a dead connection.
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        for _ in 0..5 {
            if !read_head(&mut s, &mut buf).await {
                return;
            }
            c.request();
            if s.write_all(OK_KEEP).await.is_err() {
                return;
            }
        }
    });
    let (_, report) = run_plan(plan(app.url("/"), 200.0, 4, Duration::from_secs(1)));
    all_ok_and_fast(&report, 200);
    assert_eq!(app.requests(), 200, "every request reached the app once");
    let conns = app.connections();
    assert!(
        (40..=60).contains(&conns),
        "{conns} connections for 200 requests"
    );
}

#[test]
fn a_connection_reset_mid_answer_is_an_error_and_never_reused() {
    // Every third request gets half an answer, then a reset (RST, zero linger); the others are
    // answered on a kept-alive connection.
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        while read_head(&mut s, &mut buf).await {
            if c.request() % 3 == 2 {
                let half = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf";
                let _ = s.write_all(half).await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = s.set_zero_linger();
                return;
            }
            if s.write_all(OK_KEEP).await.is_err() {
                return;
            }
        }
    });
    let (_, report) = run_plan(plan(app.url("/"), 90.0, 4, Duration::from_secs(1)));
    let t = &report.total;
    assert_eq!(t.outcomes.total(), 90, "{:?}", t.outcomes);
    assert_eq!(t.outcomes.connection_lost, 30, "{:?}", t.outcomes);
    assert_eq!(t.outcomes.other, 0, "{:?}", t.outcomes);
    // A reused broken connection would fail the request after the reset too.
    assert_eq!(t.outcomes.ok, 60, "{:?}", t.outcomes);
    assert_eq!(
        app.requests(),
        90,
        "no request retried after an answer began"
    );
    assert!(app.connections() >= 30, "a new connection after each reset");
}

#[test]
fn a_malformed_answer_is_a_protocol_error_not_other() {
    // Issue 10, item 9: every failure used to be `other`, with no detail. Half the answers have
    // a status line HTTP cannot parse.
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        while read_head(&mut s, &mut buf).await {
            if c.request() % 2 == 1 {
                let _ = s.write_all(b"HTTP/1.1 twohundred OK\r\n\r\n").await;
                return;
            }
            if s.write_all(OK_KEEP).await.is_err() {
                return;
            }
        }
    });
    let (_, report) = run_plan(plan(app.url("/"), 100.0, 4, Duration::from_secs(1)));
    let o = &report.total.outcomes;
    assert_eq!(o.total(), 100, "{o:?}");
    assert_eq!(o.protocol_error, 50, "{o:?}");
    assert_eq!((o.ok, o.other), (50, 0), "{o:?}");
}

#[test]
fn an_expected_text_split_across_chunks_is_found() {
    // A chunked answer whose "warm" straddles two chunks written apart.
    let app = RawApp::start(|mut s, c| async move {
        let mut buf = Vec::new();
        while read_head(&mut s, &mut buf).await {
            c.request();
            let parts: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nhello wa\r\n",
                b"8\r\nrm world\r\n",
                b"0\r\n\r\n",
            ];
            for part in parts {
                if s.write_all(part).await.is_err() {
                    return;
                }
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut p = plan(app.url("/"), 50.0, 8, Duration::from_secs(1));
    p.endpoints[0].expect_body = Some("warm".into());
    let (_, report) = run_plan(p.clone());
    assert_eq!(report.total.outcomes.ok, 50, "{:?}", report.total.outcomes);
    p.endpoints[0].expect_body = Some("warm world!".into());
    let (_, report) = run_plan(p);
    assert_eq!(
        report.total.outcomes.unexpected_body, 50,
        "{:?}",
        report.total.outcomes
    );
    assert!(
        app.counters.connections.load(Ordering::SeqCst) <= 16,
        "kept alive across chunked answers"
    );
}
