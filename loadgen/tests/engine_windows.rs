//! Windows, cancellation, ramps and weights: one snapshot per window into a channel that closes
//! after the last, partial window; a cancelled run stops promptly and still reports.

mod engine_fixture;

use std::time::{Duration, Instant};

use engine_fixture::{plan, run_plan, Fixture};
use loadgen::{Endpoint, Plan, RateSchedule};
use tokio_util::sync::CancellationToken;

#[test]
fn one_snapshot_per_window_then_the_channel_closes() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/"), 100.0, 8, Duration::from_millis(1050));
    p.window = Duration::from_millis(200);
    let (windows, report) = run_plan(p);
    // 5 full windows and a last one of ~50 ms.
    assert_eq!(
        windows.len(),
        6,
        "{:?}",
        windows.iter().map(|w| w.length).collect::<Vec<_>>()
    );
    assert_eq!(report.windows, 6);
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(w.index, i as u64);
        assert_eq!(w.endpoints.len(), 1);
        assert_eq!(w.endpoints[0].name, "e");
    }
    for w in &windows[..5] {
        let len = w.length.as_secs_f64();
        assert!((0.18..0.26).contains(&len), "window length {len}");
        assert!(
            (w.target_rate - 100.0).abs() < 1.0,
            "target {}",
            w.target_rate
        );
        assert!(
            (w.achieved_rate / 100.0 - 1.0).abs() < 0.3,
            "achieved {}",
            w.achieved_rate
        );
    }
    assert!(windows[5].length < Duration::from_millis(150));
    for pair in windows.windows(2) {
        assert!(pair[1].start >= pair[0].start + pair[0].length - Duration::from_millis(1));
    }
    let scheduled: u64 = windows.iter().map(|w| w.endpoints[0].scheduled).sum();
    assert_eq!(scheduled, 105);
    assert_eq!(report.scheduled, 105);
    let completed: u64 = windows
        .iter()
        .map(|w| w.endpoints[0].outcomes.total())
        .sum();
    assert_eq!(completed, report.total.outcomes.total());
}

#[test]
fn cancel_stops_a_run_without_duration_promptly() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/"), 200.0, 8, Duration::from_secs(1));
    p.duration = None;
    p.window = Duration::from_millis(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (report, stopped_in) = rt.block_on(async {
        let cancel = CancellationToken::new();
        let mut engine = loadgen::run(p, cancel.clone()).expect("engine starts");
        let started = Instant::now();
        let mut cancelled_at = None;
        while let Some(_w) = engine.next_window().await {
            if cancelled_at.is_none() && started.elapsed() >= Duration::from_millis(500) {
                cancel.cancel();
                cancelled_at = Some(Instant::now());
            }
        }
        let stopped_in = cancelled_at.map(|c| c.elapsed());
        (engine.finish().await, stopped_in)
    });
    let stopped_in = stopped_in.expect("cancelled");
    assert!(
        stopped_in < Duration::from_millis(300),
        "stopped {stopped_in:?} after cancel"
    );
    let sent = report.total.sent;
    assert!(
        (90..=140).contains(&sent),
        "sent {sent} in ~0.5-0.6 s at 200/s"
    );
    let after = fixture.requests();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fixture.requests(), after, "no request after the run ended");
}

#[test]
fn dropping_the_engine_stops_its_traffic() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/"), 200.0, 8, Duration::from_secs(1));
    p.duration = None;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let engine = loadgen::run(p, CancellationToken::new()).expect("engine starts");
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(engine);
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    let after = fixture.requests();
    assert!(after > 20, "traffic flowed: {after}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        fixture.requests(),
        after,
        "no request after the engine was dropped"
    );
}

#[test]
fn a_ramp_schedules_the_integral_of_its_rate() {
    let fixture = Fixture::start();
    let mut p = plan(fixture.url("/"), 1.0, 16, Duration::from_secs(2));
    p.rate = RateSchedule::Ramp {
        from: 20.0,
        to: 200.0,
        over: Duration::from_secs(1),
    };
    p.window = Duration::from_millis(250);
    let (windows, report) = run_plan(p);
    // 110 during the ramp, then 200.
    assert!(
        (309..=311).contains(&report.scheduled),
        "{}",
        report.scheduled
    );
    assert_eq!(report.total.sent, report.scheduled);
    assert!(
        windows[0].target_rate < 60.0,
        "first window {}",
        windows[0].target_rate
    );
    assert!(
        windows[5].target_rate > 195.0,
        "after the ramp {}",
        windows[5].target_rate
    );
}

#[test]
fn weights_split_the_traffic() {
    let fixture = Fixture::start();
    let mut a = Endpoint::get("a", fixture.url("/a"));
    a.weight = 3;
    let b = Endpoint::get("b", fixture.url("/b"));
    let mut zero = Endpoint::get("never", fixture.url("/never"));
    zero.weight = 0;
    let mut p = Plan::try_new(
        vec![a, b, zero],
        RateSchedule::Constant(200.0),
        16,
        Duration::from_millis(500),
    )
    .expect("plan");
    p.duration = Some(Duration::from_secs(1));
    p.seed = 7;
    let (_, report) = run_plan(p);
    let sent: Vec<u64> = report.endpoints.iter().map(|e| e.sent).collect();
    assert_eq!(sent, vec![150, 50, 0]);
    assert_eq!(report.endpoints[0].name, "a");
    assert_eq!(report.total.sent, 200);
}

#[test]
fn absurd_but_valid_plans_run_without_panicking() {
    let fixture = Fixture::start();
    // One request at t0, the next in ~30,000 years; a window and a timeout longer than any run.
    let mut p = plan(fixture.url("/"), 1e-12, 4, Duration::from_millis(300));
    p.window = Duration::MAX;
    p.endpoints[0].timeout = Duration::from_secs(1);
    let (windows, report) = run_plan(p);
    assert_eq!(windows.len(), 1, "only the final window");
    assert_eq!(report.scheduled, 1);
    assert_eq!(report.total.outcomes.ok, 1);
}
