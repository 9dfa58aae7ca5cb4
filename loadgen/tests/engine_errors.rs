//! Failures are data: timeouts, refused connections, unaccepted statuses, missing body text and
//! oversized bodies are counted as outcomes and the run goes on.

mod engine_fixture;

use std::time::Duration;

use engine_fixture::{closed_port, ms, plan, run_plan, Fixture};
use loadgen::StatusSet;

const HALF_SECOND: Duration = Duration::from_millis(500);

#[test]
fn timeouts_are_counted_and_recorded_as_the_timeout() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/delay/400"), 20.0, 64, Duration::from_secs(1));
    p.endpoints[0].timeout = Duration::from_millis(100);
    let (_, report) = run_plan(p);
    let t = &report.total;
    assert_eq!(t.outcomes.timeout, 20, "{:?}", t.outcomes);
    assert_eq!(t.outcomes.total(), 20);
    // Service time of a timeout is exactly the timeout (1% histogram precision).
    let svc_max = ms(&t.service, 1.0);
    let svc_min = ms(&t.service, 0.0);
    assert!(
        (99.0..=101.0).contains(&svc_min) && svc_max <= 101.0,
        "{svc_min}..{svc_max}"
    );
    // Latency = lag + timeout.
    let lat = ms(&t.latency, 0.5);
    assert!((99.0..130.0).contains(&lat), "latency p50 {lat} ms");
}

#[test]
fn refused_connections_are_counted_not_fatal() {
    let addr = closed_port();
    let url = url::Url::parse(&format!("http://{addr}/")).expect("url");
    let (windows, report) = run_plan(plan(url, 40.0, 8, Duration::from_secs(1)));
    let t = &report.total;
    assert_eq!(t.outcomes.connect_error, 40, "{:?}", t.outcomes);
    assert_eq!(t.sent, 40);
    assert!(windows.len() >= 2, "windows keep coming: {}", windows.len());
}

#[test]
fn statuses_outside_the_accepted_set_are_http_errors() {
    let fixture = Fixture::start();
    let (_, report) = run_plan(plan(fixture.url("/status/503"), 20.0, 8, HALF_SECOND));
    assert_eq!(
        report.total.outcomes.http_error, 10,
        "{:?}",
        report.total.outcomes
    );
    let mut p = plan(fixture.url("/status/503"), 20.0, 8, HALF_SECOND);
    p.endpoints[0].accept = StatusSet(vec![503..=503]);
    let (_, report) = run_plan(p);
    assert_eq!(report.total.outcomes.ok, 10, "{:?}", report.total.outcomes);
    // A redirect is just a status: not followed, accepted by the default 200-399.
    let (_, report) = run_plan(plan(fixture.url("/status/302"), 20.0, 8, HALF_SECOND));
    assert_eq!(report.total.outcomes.ok, 10, "{:?}", report.total.outcomes);
    assert_eq!(fixture.requests(), 30, "redirects are not followed");
}

#[test]
fn a_missing_expected_text_is_an_unexpected_body() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/text"), 20.0, 8, HALF_SECOND);
    p.endpoints[0].expect_body = Some("warm".into());
    let (_, report) = run_plan(p.clone());
    assert_eq!(report.total.outcomes.ok, 10, "{:?}", report.total.outcomes);
    p.endpoints[0].expect_body = Some("cold".into());
    let (_, report) = run_plan(p);
    assert_eq!(
        report.total.outcomes.unexpected_body, 10,
        "{:?}",
        report.total.outcomes
    );
}

#[test]
fn bodies_beyond_the_cap_are_too_large() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/bytes/5000"), 20.0, 8, HALF_SECOND);
    p.body_cap = 1000;
    let (_, report) = run_plan(p.clone());
    assert_eq!(
        report.total.outcomes.body_too_large, 10,
        "{:?}",
        report.total.outcomes
    );
    p.body_cap = 5000;
    let (_, report) = run_plan(p);
    assert_eq!(report.total.outcomes.ok, 10, "{:?}", report.total.outcomes);
}
