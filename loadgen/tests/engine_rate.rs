//! The open-loop schedule keeps its rate: achieved rate within 2% of the target at 200 and
//! 2,000 requests/s, every scheduled request sent and answered, and small schedule lag.

mod engine_fixture;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use engine_fixture::{ms, plan, run_plan, Fixture};

/// Runs `rate` req/s for `secs` against a fast local server. `check_lag`: also require small
/// schedule lag (a debug build's client needs ~0.4 ms of CPU per request, so at 2,000 req/s
/// on a busy box requests may wait for the cap: they are then late, but still all sent).
fn check_rate(rate: f64, secs: u64, check_lag: bool) {
    // Timing tests: one at a time, not in parallel with each other.
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let fixture = Fixture::start();
    let (windows, report) = run_plan(plan(fixture.url("/"), rate, 64, Duration::from_secs(secs)));
    let expected = rate * secs as f64;
    let t = &report.total;
    let achieved = report.achieved_rate;
    assert!(
        (achieved / rate - 1.0).abs() <= 0.02,
        "achieved {achieved:.1} req/s for a target of {rate}"
    );
    assert!(
        (report.scheduled as f64 - expected).abs() <= 1.0,
        "scheduled {} of {expected}",
        report.scheduled
    );
    assert_eq!(t.sent, report.scheduled, "every due request is sent");
    assert_eq!(
        t.outcomes.ok, t.sent,
        "every request answered: {:?}",
        t.outcomes
    );
    assert_eq!(
        fixture.requests(),
        t.sent,
        "the server saw every request once"
    );
    if check_lag {
        // Pacing from an OS thread: lag is sub-millisecond normally; allow a noisy shared box.
        assert_eq!(t.late, 0, "a fast server never fills the cap");
        let lag_p50 = ms(&t.lag, 0.5);
        assert!(lag_p50 < 2.0, "median schedule lag {lag_p50} ms");
    }
    // Every full window's target rate is the schedule's.
    for w in &windows[..windows.len() - 1] {
        assert!(
            (w.target_rate / rate - 1.0).abs() < 0.01,
            "{}",
            w.target_rate
        );
    }
    let sum: u64 = windows.iter().map(|w| w.endpoints[0].sent).sum();
    assert_eq!(sum, t.sent, "windows add up to the report");
}

#[test]
fn achieved_rate_is_within_2_percent_at_200_rps() {
    check_rate(200.0, 5, true);
}

#[test]
fn achieved_rate_is_within_2_percent_at_2000_rps() {
    check_rate(2000.0, 5, false);
}
