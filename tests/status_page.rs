//! The status page at `/` in a real headless Chromium (Debian package `chromium`), during a
//! warm-up and after ready: after its script ran, the DOM shows the phase and the reason and
//! has one SVG chart per endpoint with one point per window in /status; after ready, the chart
//! marks the moment the gate opened. A screenshot of each is written under target/ and its path
//! printed, so a person can look at it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use loadgen::sim::Profile;

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`chromium` is not on PATH: apt-get install chromium"))
}

/// Runs headless Chromium on `url` with a fresh profile in `dir` (no network but loopback, no
/// background services), bounded by coreutils' `timeout`; returns its stdout.
fn headless(dir: &Path, url: &str, action: &[&str]) -> String {
    let profile = dir.join(format!("profile-{}", free_port()));
    std::fs::create_dir_all(&profile).unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=800,1000",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(action)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Window counts per endpoint in a /status document (none before it answers).
fn window_counts(status: &serde_json::Value) -> Vec<usize> {
    status["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["windows"].as_array().map_or(0, Vec::len))
        .collect()
}

/// The text inside the element with `id` in serialised HTML, entities decoded.
fn text_of(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let open = at + dom[at..].find('>').unwrap() + 1;
    let close = open + dom[open..].find('<').unwrap();
    dom[open..close]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Loads the page, checks its DOM against /status as it was while Chromium ran (read every
/// 50 ms: while warming, the reason changes with every window), screenshots it.
async fn check_page(wg: &Warmgate, dir: &Path, moment: &str, phase: &str) -> String {
    let before = wg.status().await;
    let url = format!("{}/", wg.base);
    let browsing = {
        let dir = dir.to_path_buf();
        let url = url.clone();
        tokio::task::spawn_blocking(move || headless(&dir, &url, &["--dump-dom"]))
    };
    let mut reasons = vec![before["reason"].as_str().unwrap().to_string()];
    while !browsing.is_finished() {
        let s = wg.status().await;
        reasons.extend(s["reason"].as_str().map(str::to_string));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dom = browsing.await.unwrap();
    let after = wg.status().await;
    reasons.extend(after["reason"].as_str().map(str::to_string));
    assert_eq!(text_of(&dom, "phase"), phase, "{moment}: {dom}");
    let reason = text_of(&dom, "reason");
    assert!(
        reasons.contains(&reason),
        "{moment}: the page says {reason:?}, /status said {reasons:?}"
    );
    let charts: Vec<&str> = dom.split("<svg").skip(1).collect();
    let (lo, hi) = (window_counts(&before), window_counts(&after));
    assert_eq!(charts.len(), lo.len(), "{moment}: one chart per endpoint");
    for (i, chart) in charts.iter().enumerate() {
        let chart = &chart[..chart.find("</svg>").unwrap()];
        let points = chart.matches("class=\"point\"").count();
        assert!(
            (lo[i]..=hi[i]).contains(&points) && points > 0,
            "{moment}: chart {i} has {points} points, /status {}..{} windows",
            lo[i],
            hi[i]
        );
    }
    let shot = dir.join(format!("status-page-{moment}.png"));
    let _ = std::fs::remove_file(&shot);
    headless(dir, &url, &[&format!("--screenshot={}", shot.display())]);
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    println!("status page {moment}: screenshot {}", shot.display());
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_draws_the_warm_up_in_chromium() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    let sim = SimApp::start(Profile::Flat, 1.0, 0).await;
    let wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), READY_GATE));

    // Warming, with a few windows to draw.
    let t0 = Instant::now();
    while window_counts(&wg.status().await)
        .first()
        .is_none_or(|n| *n < 3)
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", wg.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dom = check_page(&wg, &dir, "warming", "warming").await;
    assert!(
        !dom.contains("class=\"opened\""),
        "gate drawn open while warming"
    );

    assert!(
        wg.wait_ready(Duration::from_secs(90)).await.is_some(),
        "{}",
        wg.log_text()
    );
    let dom = check_page(&wg, &dir, "ready", "ready").await;
    assert!(
        dom.contains("class=\"opened\""),
        "no gate-opened mark: {dom}"
    );
    assert!(
        dom.contains("class=\"checks\""),
        "no verdict numbers: {dom}"
    );
    sim.stop().await;
}
