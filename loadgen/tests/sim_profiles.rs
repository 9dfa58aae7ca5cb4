//! Each profile's curve, measured from outside through the real `loadgen sim` binary.
//!
//! Latency noise is seeded, so the multiset of base latencies of the first N requests is the same
//! on every run; the margins below cover client overhead and scheduling on a noisy 2-core box.

mod sim_support;

use std::time::{Duration, Instant};

use sim_support::{
    burst, client, intended_latencies, latencies, quantile, server_latencies, start_sim, truth,
    Conn, SERIAL,
};

#[tokio::test]
async fn flat_median_matches_the_analytic_one() {
    let _serial = SERIAL.lock().await;
    // Fixed 10 ms: the timer thread must not add tokio's ~0.5 ms rounding (5%).
    let c = client();
    let sim = start_sim(&["--profile", "flat", "--sigma", "0"]);
    let answers = burst(&sim.base, "/x", 300, 1).await;
    let median = quantile(&mut latencies(&answers, 50..300), 0.5);
    let server = quantile(&mut server_latencies(&answers, 50..300), 0.5);
    let timer = truth(&c, &sim.base).await["timer"].clone();
    eprintln!("fixed 10 ms: median {median:.3} ms (server side {server:.3}), timer {timer}");
    // Server side, from arrival to answer: the simulator's own precision.
    let late = timer["median_lateness_us"].as_i64().expect("lateness");
    assert!(late.abs() < 100, "timer wakes {late} us after the deadline");
    assert!(
        (server / 10.0 - 1.0).abs() < 0.02,
        "server-side median {server} ms"
    );
    // End to end the client's own wake-up after a 10 ms sleep adds 0.1-0.3 ms on an idle box
    // and up to ~0.7 ms at load 8 on 2 cores (measured): bound it at 10%.
    assert!(
        (median / 10.0 - 1.0).abs() < 0.10,
        "median {median} ms for 10 ms"
    );

    // Default lognormal (median 10 ms, sigma 0.5): sample median and p99 near the truth.
    let sim = start_sim(&["--profile", "flat", "--seed", "3"]);
    let answers = burst(&sim.base, "/y", 1500, 4).await;
    let t = truth(&c, &sim.base).await;
    let p50 = t["steady_p50_ms"].as_f64().expect("p50");
    let p99 = t["steady_p99_ms"].as_f64().expect("p99");
    // The simulated latencies follow the analytic distribution (seeded: the same sample on
    // every run; sampling sd for n = 1500, sigma 0.5: 1.6% at the median, ~4% at p99).
    let mut intended = intended_latencies(&answers, 0..1500);
    let i50 = quantile(&mut intended, 0.5);
    let i99 = quantile(&mut intended, 0.99);
    // And the server delivers each on time.
    let mut error: Vec<f64> = answers
        .iter()
        .map(|a| a.server_ms.expect("app") - a.intended_ms.expect("sim"))
        .collect();
    let err50 = quantile(&mut error, 0.5);
    let err90 = quantile(&mut error, 0.9);
    let e50 = quantile(&mut latencies(&answers, 0..1500), 0.5);
    eprintln!(
        "lognormal: simulated median {i50:.3} (truth {p50:.3}), p99 {i99:.3} (truth {p99:.3}); \
         server-side error p50 {err50:.3} p90 {err90:.3}; client median {e50:.3} ms"
    );
    assert!((i50 / p50 - 1.0).abs() < 0.05, "median {i50} vs {p50}");
    assert!((i99 / p99 - 1.0).abs() < 0.12, "p99 {i99} vs {p99}");
    assert!(err50.abs() < 0.2, "server-side error median {err50} ms");
    // No end-to-end bound here: with 4 client threads at load 9 on 2 cores the client's
    // wake-ups alone cost 0.5-1.5 ms (printed above for the record).
}

#[tokio::test]
async fn jit_warms_per_path_and_settles_where_truth_says() {
    let _serial = SERIAL.lock().await;
    // speed 50: 40 requests per e-fold, settled after 256 requests on a path.
    let sim = start_sim(&["--profile", "jit", "--speed", "50", "--sigma", "0.2"]);
    let c = client();
    let first = burst(&sim.base, "/w", 100, 8).await;
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["settle_after"]["requests"], 256);
    assert_eq!(t["settled"], false, "{t}");
    let rest = burst(&sim.base, "/w", 300, 8).await;
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["paths"]["/w"]["served"], 400);
    assert_eq!(t["settled"], true, "{t}");
    let cold: Vec<f64> = latencies(&first, 0..5);
    let mut warm = latencies(&rest, 300..400);
    let warm = quantile(&mut warm, 0.5);
    let cold_min = cold.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        cold_min >= 10.0 * warm,
        "cold {cold:?} vs warm median {warm}"
    );
    assert!(warm < 10.0 * 1.05 * 1.1, "settled median {warm} ms");
    // Another path starts cold on its own, and makes the app unsettled again.
    let other = Conn::open(&sim.base).get("/other");
    assert_eq!(other.n, 0);
    assert!(
        other.ms >= 10.0 * warm,
        "new path {} ms vs {warm}",
        other.ms
    );
    assert_eq!(truth(&c, &sim.base).await["settled"], false);
}

#[tokio::test]
async fn path_table_stays_bounded() {
    let _serial = SERIAL.lock().await;
    let sim = start_sim(&["--profile", "jit", "--base-ms", "0"]);
    let c = client();
    let mut conn = Conn::open(&sim.base);
    for i in 0..100 {
        conn.get(&format!("/garbage/{i}"));
    }
    let t = truth(&c, &sim.base).await;
    let paths = t["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 64);
    assert_eq!(t["untracked"]["served"], 36);
    assert_eq!(t["served"], 100);
}

#[tokio::test]
async fn tiered_shows_two_plateaus() {
    let _serial = SERIAL.lock().await;
    // speed 20: interpreter (15x) until 50 requests, C1 (2.5x) until 500, then C2 (1x).
    let sim = start_sim(&[
        "--profile",
        "tiered",
        "--speed",
        "20",
        "--base-ms",
        "10",
        "--sigma",
        "0",
    ]);
    let c = client();
    let answers = burst(&sim.base, "/t", 600, 8).await;
    let interp = quantile(&mut latencies(&answers, 0..50), 0.5);
    let c1 = quantile(&mut latencies(&answers, 100..450), 0.5);
    let c2 = quantile(&mut latencies(&answers, 510..600), 0.5);
    assert!(
        (4.0..8.0).contains(&(interp / c1)),
        "interp {interp} / C1 {c1}"
    );
    assert!((1.7..3.2).contains(&(c1 / c2)), "C1 {c1} / C2 {c2}");
    assert_eq!(truth(&c, &sim.base).await["settled"], true);
}

#[tokio::test]
async fn cache_decays_with_wall_time() {
    let _serial = SERIAL.lock().await;
    // speed 20: 0.5 s per e-fold, settled after 3.0 s.
    let sim = start_sim(&[
        "--profile",
        "cache",
        "--speed",
        "20",
        "--base-ms",
        "20",
        "--sigma",
        "0",
    ]);
    let start = Instant::now();
    let c = client();
    let cold = Conn::open(&sim.base).get("/c");
    assert_eq!(truth(&c, &sim.base).await["settled"], false);
    tokio::time::sleep(Duration::from_millis(3200).saturating_sub(start.elapsed())).await;
    // A new path is warm too: the cache is shared, by time.
    let warm = Conn::open(&sim.base).get("/d");
    assert!(
        cold.ms >= 8.0 * warm.ms,
        "cold {} vs warm {}",
        cold.ms,
        warm.ms
    );
    assert!(warm.ms < 20.0 * 1.05 + 5.0, "warm {} ms", warm.ms);
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["settled"], true, "{t}");
    assert!((t["settle_after"]["seconds"].as_f64().expect("seconds") - 2.996).abs() < 0.01);
}

#[tokio::test]
async fn gc_pauses_delay_a_few_requests_each_second() {
    let _serial = SERIAL.lock().await;
    // Pauses of 40 ms at 1 s and 2 s after start (never scaled).
    let sim = start_sim(&["--profile", "gc", "--base-ms", "5", "--sigma", "0"]);
    let start = Instant::now();
    let c = client();
    let mut conn = Conn::open(&sim.base);
    let mut ms = Vec::new();
    while start.elapsed() < Duration::from_millis(2500) {
        ms.push(conn.get("/g").ms);
    }
    let slow = ms.iter().filter(|&&m| m >= 25.0).count();
    let max = ms.iter().copied().fold(0.0, f64::max);
    let median = quantile(&mut ms, 0.5);
    assert!((4.5..8.0).contains(&median), "median {median}");
    assert!(slow >= 2, "{slow} requests hit a pause; max {max}");
    assert!(max < 1000.0, "max {max}: a pause lasts 40 ms");
    assert!(slow * 20 < ms.len(), "{slow} slow of {}", ms.len());
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["settled"], true);
    assert!(t["steady_p99_ms"].as_f64().expect("p99") > 5.0);
}

#[tokio::test]
async fn drift_grows_without_end() {
    let _serial = SERIAL.lock().await;
    // speed 100: latency e-folds every 3 s.
    let sim = start_sim(&[
        "--profile",
        "drift",
        "--speed",
        "100",
        "--base-ms",
        "20",
        "--sigma",
        "0",
    ]);
    let start = Instant::now();
    let c = client();
    let early = Conn::open(&sim.base).get("/d");
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(start.elapsed())).await;
    let late = Conn::open(&sim.base).get("/d");
    assert!(
        late.ms > 2.0 * early.ms,
        "early {} late {}",
        early.ms,
        late.ms
    );
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["settled"], false);
    assert!(
        t["paths"]["/d"]["multiplier"].as_f64().expect("multiplier") > 2.5,
        "{t}"
    );
}

#[tokio::test]
async fn slowdown_warms_then_degrades() {
    let _serial = SERIAL.lock().await;
    // speed 100: 20 requests per e-fold of warm-up; degrades from request 80, e-fold per 240.
    let sim = start_sim(&[
        "--profile",
        "slowdown",
        "--speed",
        "100",
        "--base-ms",
        "5",
        "--sigma",
        "0",
    ]);
    let c = client();
    let answers = burst(&sim.base, "/s", 700, 8).await;
    let early = quantile(&mut latencies(&answers, 0..4), 0.5);
    let best = quantile(&mut latencies(&answers, 80..140), 0.5);
    let middle = quantile(&mut latencies(&answers, 400..440), 0.5);
    let late = quantile(&mut latencies(&answers, 660..700), 0.5);
    assert!(early > 5.0 * best, "early {early} best {best}");
    assert!(
        late > 2.0 * middle && middle > 2.0 * best,
        "{best} {middle} {late}"
    );
    assert_eq!(truth(&c, &sim.base).await["settled"], false);
}

#[tokio::test]
async fn errors_answers_5xx_first_then_warms_like_jit() {
    let _serial = SERIAL.lock().await;
    // speed 10: 503 for 2 s, then jit (31x at first).
    let sim = start_sim(&[
        "--profile",
        "errors",
        "--speed",
        "10",
        "--base-ms",
        "5",
        "--sigma",
        "0",
    ]);
    let start = Instant::now();
    let c = client();
    let first = Conn::open(&sim.base).get("/e");
    assert_eq!(first.status, 503);
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(start.elapsed())).await;
    let after = Conn::open(&sim.base).get("/e");
    assert_eq!(after.status, 200);
    assert_eq!(after.n, 0, "the warm-up count starts after the errors");
    assert!(
        after.ms > 10.0 * 5.0,
        "first request after the errors: {} ms",
        after.ms
    );
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["errors"], 1);
    assert_eq!(t["settle_after"]["seconds"], 2.0);
    assert_eq!(t["settle_after"]["requests"], 1280);
}

#[tokio::test]
async fn stall_holds_every_request_until_it_ends() {
    let _serial = SERIAL.lock().await;
    // A 1 s stall from 2 s after the first request.
    let sim = start_sim(&["--profile", "stall", "--base-ms", "5", "--sigma", "0"]);
    let c = client();
    let mut conn = Conn::open(&sim.base);
    let first_at = Instant::now();
    assert!(conn.get("/st").ms < 100.0);
    tokio::time::sleep(Duration::from_millis(1900).saturating_sub(first_at.elapsed())).await;
    let mut answers = Vec::new();
    while first_at.elapsed() < Duration::from_millis(3400) {
        answers.push((first_at.elapsed(), conn.get("/st").ms));
    }
    let max = answers.iter().map(|a| a.1).fold(0.0, f64::max);
    assert!((900.0..1300.0).contains(&max), "longest wait {max} ms");
    let after: Vec<f64> = answers
        .iter()
        .filter(|a| a.0 > Duration::from_millis(3150))
        .map(|a| a.1)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|&m| m < 100.0),
        "after the stall: {after:?}"
    );
    let t = truth(&c, &sim.base).await;
    assert_eq!(t["stall"]["duration_s"], 1.0);
}

#[tokio::test]
async fn error_rate_fails_that_fraction() {
    let _serial = SERIAL.lock().await;
    let sim = start_sim(&["--profile", "flat", "--base-ms", "0", "--error-rate", "0.2"]);
    let c = client();
    let answers = burst(&sim.base, "/r", 500, 4).await;
    let failed = answers.iter().filter(|a| a.status == 500).count();
    // Binomial(500, 0.2): mean 100, sd 9.
    assert!((64..=136).contains(&failed), "{failed} of 500 failed");
    assert_eq!(truth(&c, &sim.base).await["errors"], failed as u64);
}
