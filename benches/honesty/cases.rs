//! One case = two fresh runs of the same target (naive, then warmgate), then a steady-state
//! reference measured on the warmgate run's target once it is warm.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use loadgen::sim::Profile;
use serde::Serialize;

use super::measure::{self, Measured};
use super::sidecar::{self, Overrides};
use super::target::{self, Kind, Paths};

/// What a case is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Reaches a steady state: warmgate should open, with a penalty near 1.
    Warms,
    /// Never settles (drift, slowdown, creep): warmgate must never open.
    NeverSettles,
}

/// A named case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `jit`, `jvm`, ...
    pub name: String,
    /// What it runs against.
    pub kind: Kind,
    /// What should happen.
    pub expect: Expect,
}

/// Every case, in table order: each simulator profile, then the real runtimes.
pub fn all_cases() -> Vec<Case> {
    let mut out: Vec<Case> = Profile::ALL
        .into_iter()
        .map(|p| Case {
            name: p.name().to_string(),
            kind: Kind::Sim(p),
            expect: if matches!(p, Profile::Drift | Profile::Slowdown | Profile::Creep) {
                Expect::NeverSettles
            } else {
                Expect::Warms
            },
        })
        .collect();
    for (name, kind) in [("jvm", Kind::Jvm), ("node", Kind::Node)] {
        out.push(Case {
            name: name.into(),
            kind,
            expect: Expect::Warms,
        });
    }
    out
}

/// The measurement protocol of a mode: how long and how hard it runs.
#[derive(Debug, Clone)]
pub struct Protocol {
    /// `quick` or `full`.
    pub mode: &'static str,
    /// Simulator speed-up (1 = documented curves).
    pub speed: f64,
    /// User traffic: this many requests ...
    pub user_requests: u64,
    /// ... at this rate.
    pub user_rate: f64,
    /// warmgate's settings against simulators.
    pub gate: Overrides,
    /// warmgate's settings against real runtimes (a CPU-bound app cannot take the simulators'
    /// quick-mode rate).
    pub gate_runtime: Overrides,
    /// How long to wait for warmgate on a case that settles.
    pub bound_warming: Duration,
    /// How long to watch warmgate on a case that never settles.
    pub bound_never: Duration,
    /// How long to keep warming a simulator until `/sim/truth` says settled.
    pub settle_limit: Duration,
    /// Warm-up of a real runtime before its reference measurement, on top of warmgate's.
    pub long_warm: Duration,
}

impl Protocol {
    /// warmgate's settings for a target of `kind`.
    pub fn gate_for(&self, kind: Kind) -> &Overrides {
        match kind {
            Kind::Sim(_) => &self.gate,
            Kind::Jvm | Kind::Node => &self.gate_runtime,
        }
    }
}

/// One run (naive or warmgate) of a case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    /// Seconds from target start to "ready" (`None`: never within the bound).
    pub ready_s: Option<f64>,
    /// What user traffic saw right after "ready".
    pub user: Option<Measured>,
    /// `/sim/truth` at "ready" (simulators only).
    pub truth: Option<serde_json::Value>,
    /// warmgate's `/status` at "ready" (or the last one when it never opened).
    pub status: Option<serde_json::Value>,
    /// Seconds past the simulator's true settle point at "ready" (negative: before it).
    pub overshoot_s: Option<f64>,
}

/// Everything measured for one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case name.
    pub case: String,
    /// What it should do.
    pub expect: Expect,
    /// "ready" = first 200 from the app's /health.
    pub naive: Run,
    /// "ready" = first 200 from warmgate's /readyz.
    pub warmgate: Run,
    /// Steady-state user traffic, measured the same way once warm (`None` for never-settling
    /// cases, whose reference is the simulator's best-case p99).
    pub reference: Option<Measured>,
    /// The simulator's analytic steady p99 (ms), for comparison.
    pub truth_steady_p99_ms: Option<f64>,
    /// The p99 the penalties divide by, ms.
    pub reference_p99_ms: Option<f64>,
    /// Where `reference_p99_ms` comes from.
    pub reference_source: String,
    /// naive user p99 / reference p99.
    pub naive_penalty: Option<f64>,
    /// warmgate user p99 / reference p99.
    pub warmgate_penalty: Option<f64>,
    /// One line: warmgate's reasons at opening, or its last reason.
    pub verdict: String,
    /// Whether the case met the goal (penalty <= 1.25, or never opened when it never settles).
    pub goal_met: bool,
    /// Wall-clock seconds the case took.
    pub took_s: f64,
}

/// Runs one case: naive run, warmgate run, reference.
pub async fn run_case(case: &Case, s: &Protocol, paths: &Paths, seed: u64) -> Result<CaseResult> {
    let began = Instant::now();
    let client = measure::probe_client()?;
    let eps = target::endpoints(case.kind);
    let label = format!("{}-{}", s.mode, case.name);

    // Naive: a fresh target; ready at its first /health 200; users at once.
    let mut naive = Run::default();
    {
        let t = target::start(case.kind, s.speed, seed, paths, &format!("{label}-naive"))?;
        let health = format!("{}/health", t.base);
        let Some(ready) =
            measure::poll_ready(&client, &health, t.started, s.bound_warming, || Ok(())).await?
        else {
            bail!(
                "{}: /health never answered 200 within {:?}",
                case.name,
                s.bound_warming
            );
        };
        naive.ready_s = Some(ready.as_secs_f64());
        let (user, truth) = tokio::join!(
            measure::open_loop(&t.base, &eps, s.user_requests, s.user_rate, seed),
            sim_truth(&client, &t)
        );
        naive.user = Some(user?);
        naive.truth = truth;
    }

    // warmgate: another fresh target, warmgate started with it.
    let mut wg_run = Run::default();
    let t = target::start(
        case.kind,
        s.speed,
        seed,
        paths,
        &format!("{label}-warmgate-app"),
    )?;
    {
        let mut wg = sidecar::start(paths, &label, &t.base, &eps, s.gate_for(case.kind))?;
        let bound = match case.expect {
            Expect::Warms => s.bound_warming,
            Expect::NeverSettles => s.bound_never,
        };
        let readyz = format!("{}/readyz", wg.base);
        let opened = measure::poll_ready(&client, &readyz, t.started, bound, || {
            wg.child.check_alive()
        })
        .await?;
        wg_run.ready_s = opened.map(|d| d.as_secs_f64());
        if opened.is_some() {
            let (user, (status, truth)) = tokio::join!(
                measure::open_loop(&t.base, &eps, s.user_requests, s.user_rate, seed + 1),
                async {
                    (
                        sidecar::status(&client, &wg.base).await,
                        sim_truth(&client, &t).await,
                    )
                }
            );
            wg_run.user = Some(user?);
            wg_run.status = status;
            wg_run.truth = truth;
        } else {
            wg_run.status = sidecar::status(&client, &wg.base).await;
            wg_run.truth = sim_truth(&client, &t).await;
        }
    }

    // Reference: the same user traffic on the warmgate run's target once it is warm.
    let truth_steady = wg_run
        .truth
        .as_ref()
        .and_then(|t| t["steady_p99_ms"].as_f64());
    let mut reference = None;
    let (reference_p99_ms, reference_source) = match case.expect {
        Expect::NeverSettles => (
            truth_steady,
            "sim truth (best-case p99; never settles)".to_string(),
        ),
        Expect::Warms => {
            let source = if t.is_sim {
                let settled = warm_until_settled(&client, &t, &eps, s).await?;
                if settled {
                    "measured after /sim/truth settled".to_string()
                } else {
                    format!(
                        "measured, NOT settled after {:?} more warm-up",
                        s.settle_limit
                    )
                }
            } else {
                warm_for(&t, &eps, s, s.long_warm).await?;
                format!(
                    "measured after warmgate's warm-up, the user burst and {} s more at {} rps",
                    s.long_warm.as_secs(),
                    s.user_rate
                )
            };
            let m =
                measure::open_loop(&t.base, &eps, s.user_requests, s.user_rate, seed + 2).await?;
            let p99 = m.p99_ms;
            reference = Some(m);
            (Some(p99), source)
        }
    };
    drop(t);

    for run in [&mut naive, &mut wg_run] {
        run.overshoot_s = run
            .truth
            .as_ref()
            .and_then(|tr| overshoot_s(tr, s, eps.len()));
    }
    let penalty = |r: &Run| match (r.user.as_ref(), reference_p99_ms) {
        (Some(u), Some(rp)) if rp > 0.0 => Some(u.p99_ms / rp),
        _ => None,
    };
    let naive_penalty = penalty(&naive);
    let warmgate_penalty = penalty(&wg_run);
    let verdict = wg_run
        .status
        .as_ref()
        .map_or_else(|| "no /status".into(), sidecar::summarize);
    let goal_met = match case.expect {
        Expect::Warms => warmgate_penalty.is_some_and(|p| p <= 1.25),
        Expect::NeverSettles => wg_run.ready_s.is_none(),
    };
    Ok(CaseResult {
        case: case.name.clone(),
        expect: case.expect,
        naive,
        warmgate: wg_run,
        reference,
        truth_steady_p99_ms: truth_steady,
        reference_p99_ms,
        reference_source,
        naive_penalty,
        warmgate_penalty,
        verdict,
        goal_met,
        took_s: began.elapsed().as_secs_f64(),
    })
}

async fn sim_truth(client: &reqwest::Client, t: &target::Target) -> Option<serde_json::Value> {
    if t.is_sim {
        warmgate_testkit::truth::fetch(client, &t.base).await.ok()
    } else {
        None
    }
}

/// Keeps user-rate traffic going in 5 s bursts until `/sim/truth` says settled (true) or the
/// limit passes (false).
async fn warm_until_settled(
    client: &reqwest::Client,
    t: &target::Target,
    eps: &[(&str, &str)],
    s: &Protocol,
) -> Result<bool> {
    let start = Instant::now();
    loop {
        if warmgate_testkit::truth::fetch(client, &t.base)
            .await
            .is_ok_and(|tr| warmgate_testkit::truth::settled(&tr))
        {
            return Ok(true);
        }
        if start.elapsed() >= s.settle_limit {
            return Ok(false);
        }
        warm_for(t, eps, s, Duration::from_secs(5)).await?;
    }
}

async fn warm_for(
    t: &target::Target,
    eps: &[(&str, &str)],
    s: &Protocol,
    d: Duration,
) -> Result<()> {
    let n = (s.user_rate * d.as_secs_f64()).round() as u64;
    measure::open_loop(&t.base, eps, n.max(1), s.user_rate, 99).await?;
    Ok(())
}

/// Seconds between the true settle point and `truth`'s moment: for time-based curves directly,
/// for request-based ones from the slowest path's requests past the settle count at the
/// warm-up rate per path. `None` when the curve never settles.
fn overshoot_s(truth: &serde_json::Value, s: &Protocol, n_endpoints: usize) -> Option<f64> {
    let after = &truth["settle_after"];
    if after.is_null() {
        return None;
    }
    let elapsed = truth["elapsed_s"].as_f64()?;
    let by_time = after["seconds"].as_f64().map(|sec| elapsed - sec);
    let by_requests = after["requests"].as_f64().and_then(|need| {
        // warmgate's default rate is per endpoint; an explicit one is split evenly.
        let per_path = s
            .gate
            .rate
            .map_or(warmgate::config::DEFAULT_RATE_PER_ENDPOINT, |r| {
                r / n_endpoints.max(1) as f64
            });
        let paths = truth["paths"].as_object()?;
        paths
            .values()
            .filter_map(|p| p["served"].as_f64())
            .map(|served| (served - need) / per_path)
            .reduce(f64::min)
    });
    match (by_time, by_requests) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
