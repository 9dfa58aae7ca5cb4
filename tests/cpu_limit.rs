//! warmgate under a CPU limit (issue 12): a generator starved of CPU must never report ready,
//! and /status must say that the generator (its rate or schedule lag) is what holds it back.
//!
//! The limit is a cgroup made for the test: v2 `cpu.max` where the cpu controller is delegated,
//! else v1 `cpu.cfs_quota_us`. Where neither can be created (no permission, no controller) the
//! test is skipped with a message saying so.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fast_config, SimApp, Warmgate, FAST_GATE, WARMGATE};
use loadgen::sim::Profile;

/// A cgroup that limits its processes to `quota / period` of one core; removed when dropped
/// (after its processes ended).
struct CpuLimit {
    dir: PathBuf,
}

impl CpuLimit {
    /// Creates the cgroup, or says why it cannot be created here.
    fn create(quota_us: u64, period_us: u64) -> Result<CpuLimit, String> {
        let name = format!("warmgate-test-{}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup");
        let delegated = std::fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"));
        if delegated {
            let dir = v2.join(&name);
            if std::fs::create_dir(&dir).is_ok() {
                let limit = CpuLimit { dir };
                if std::fs::write(limit.dir.join("cpu.max"), format!("{quota_us} {period_us}"))
                    .is_ok()
                {
                    return Ok(limit);
                }
            }
        }
        let v1 = v2.join("cpu");
        let dir = v1.join(&name);
        std::fs::create_dir(&dir).map_err(|e| {
            format!("no cgroup v2 cpu.max nor v1 cpu controller can be created here ({e})")
        })?;
        let limit = CpuLimit { dir };
        std::fs::write(limit.dir.join("cpu.cfs_period_us"), period_us.to_string())
            .and_then(|()| std::fs::write(limit.dir.join("cpu.cfs_quota_us"), quota_us.to_string()))
            .map_err(|e| format!("cgroup v1 cpu quota cannot be set ({e})"))?;
        Ok(limit)
    }

    /// Moves process `pid` (all its threads) into the cgroup.
    fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_starved_of_cpu_never_says_ready() {
    // 5% of a core for 800 rps: the engine needs several times that, so it cannot keep its
    // schedule. Unlimited, the same flat app is ready within about 35 s (see `fast_config`).
    let limit = match CpuLimit::create(5_000, 100_000) {
        Ok(limit) => limit,
        Err(why) => {
            eprintln!("SKIPPED a_generator_starved_of_cpu_never_says_ready: {why}");
            return;
        }
    };
    let sim = SimApp::start(Profile::Flat, 1.0, 0).await;
    let wg = Warmgate::spawn(WARMGATE, &fast_config(&sim.url(), FAST_GATE));
    limit
        .add(wg.child.id())
        .expect("move warmgate into the cgroup");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(45) {
        let code = wg.code("/readyz").await;
        assert_ne!(
            code,
            Some(200),
            "ready while starved after {:?}:\n{}\n{}",
            t0.elapsed(),
            wg.status().await,
            wg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = wg.status().await;
    eprintln!("starved warmgate after 45 s: {}", status["reason"]);
    assert_eq!(status["phase"], "warming", "{status}");
    let text = status.to_string();
    assert!(
        text.contains("generator:"),
        "/status names the starved generator: {status}"
    );
    drop(wg);
    drop(limit);
}
