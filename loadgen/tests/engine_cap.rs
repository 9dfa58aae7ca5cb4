//! The in-flight cap: the server never sees more requests at once than the cap; due requests
//! that find it full wait, count as late, keep their intended time (so their latency includes
//! the wait) and are never dropped; the schedule does not pause.

mod engine_fixture;

use std::time::Duration;

use engine_fixture::{ms, plan, run_plan, Fixture};

#[test]
fn a_stall_fills_the_cap_and_the_backlog_catches_up_afterwards() {
    // 100 req/s, cap 5; the server holds every answer for 0.5 s starting 1 s in.
    let fixture = Fixture::with_stall(Some((Duration::from_secs(1), Duration::from_millis(500))));
    let (_, report) = run_plan(plan(fixture.url("/"), 100.0, 5, Duration::from_secs(3)));
    let t = &report.total;
    assert!(
        fixture.peak_inflight() <= 5,
        "server saw {} at once",
        fixture.peak_inflight()
    );
    assert_eq!(fixture.peak_inflight(), 5, "the stall must fill the cap");
    assert_eq!(report.scheduled, 300);
    assert_eq!(t.sent, 300, "nothing dropped");
    assert_eq!(t.outcomes.ok, 300, "{:?}", t.outcomes);
    // About 50 requests fall due during the stall; all but the 5 in flight wait.
    assert!((35..=60).contains(&t.late), "late {}", t.late);
    // Latency from the intended time shows the stall; lag shows the wait for the cap.
    let max_latency = ms(&t.latency, 1.0);
    assert!(max_latency >= 400.0, "max latency {max_latency} ms");
    let max_lag = ms(&t.lag, 1.0);
    assert!(max_lag >= 300.0, "max lag {max_lag} ms");
    assert!(
        ms(&t.latency, 0.95) > 2.0 * ms(&t.service, 0.95),
        "latency p95 {} vs service p95 {}",
        ms(&t.latency, 0.95),
        ms(&t.service, 0.95)
    );
}

#[test]
fn a_slow_server_never_sees_more_than_the_cap_and_the_schedule_never_pauses() {
    // Each answer takes 100 ms and at most 4 are in flight: 40 req/s of capacity for 60 asked.
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/delay/100"), 60.0, 4, Duration::from_secs(2));
    p.endpoints[0].timeout = Duration::from_secs(5);
    let (windows, report) = run_plan(p);
    let t = &report.total;
    assert!(
        fixture.peak_inflight() <= 4,
        "server saw {} at once",
        fixture.peak_inflight()
    );
    assert!(windows.iter().all(|w| w.inflight <= 4));
    // The schedule kept counting while the cap was full, and the backlog was sent after.
    assert_eq!(report.scheduled, 120);
    assert_eq!(t.sent, 120, "the backlog is sent, not dropped");
    assert_eq!(t.outcomes.ok, 120, "{:?}", t.outcomes);
    assert!(t.late >= 40, "late {}", t.late);
    // The backlog grows by ~20 requests/s: the last ones wait about a second.
    let p99 = ms(&t.latency, 0.99);
    let service_p99 = ms(&t.service, 0.99);
    assert!(p99 > 600.0, "latency p99 {p99} ms");
    assert!(service_p99 < 400.0, "service p99 {service_p99} ms");
    // Achieved rate is bounded by capacity (40/s), measured over the time it took to send.
    assert!(
        report.achieved_rate < 50.0,
        "achieved {}",
        report.achieved_rate
    );
}
