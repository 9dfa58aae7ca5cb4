//! The results: a table on stdout, and target/honesty/{results.json,results.md}.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::cases::{CaseResult, Expect, Protocol, Run};

/// Everything one benchmark invocation measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// `quick` or `full`.
    pub mode: String,
    /// warmgate settings used.
    pub gate: String,
    /// Simulator speed-up.
    pub sim_speed: f64,
    /// User traffic per run.
    pub user_traffic: String,
    /// Machine description (CPU, cores, kernel, JDK, Node.js).
    pub machine: String,
    /// UTC start time.
    pub started: String,
    /// One entry per case that ran.
    pub cases: Vec<CaseResult>,
    /// Cases that failed to run, with the error.
    pub errors: Vec<(String, String)>,
}

impl Results {
    /// An empty result set for `s`.
    pub fn new(s: &Protocol, machine: String, started: String) -> Results {
        Results {
            mode: s.mode.into(),
            gate: format!(
                "simulators: {}; runtimes: {}",
                s.gate.describe(),
                s.gate_runtime.describe()
            ),
            sim_speed: s.speed,
            user_traffic: format!(
                "{} requests at {} rps, open loop",
                s.user_requests, s.user_rate
            ),
            machine,
            started,
            cases: Vec::new(),
            errors: Vec::new(),
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn ready(r: &Run, bound_s: f64) -> String {
    match r.ready_s {
        Some(s) => format!("{s:.1}"),
        None => format!("never ({bound_s:.0} s)"),
    }
}

fn errors(r: &Run) -> String {
    r.user.as_ref().map_or("-".into(), |u| {
        let pct = 100.0 * u.errors as f64 / u.requests.max(1) as f64;
        format!("{pct:.1}%")
    })
}

const HEAD: [&str; 11] = [
    "case",
    "naive ready s",
    "naive p99 ms",
    "naive penalty",
    "naive errors",
    "warmgate ready s",
    "warmgate p99 ms",
    "warmgate penalty",
    "steady p99 ms",
    "overshoot s",
    "goal",
];

fn row(c: &CaseResult, bound_never_s: f64, bound_warm_s: f64) -> Vec<String> {
    let bound = match c.expect {
        Expect::Warms => bound_warm_s,
        Expect::NeverSettles => bound_never_s,
    };
    let goal = match (c.expect, c.goal_met) {
        (Expect::NeverSettles, true) => "ok: never opened".to_string(),
        (Expect::NeverSettles, false) => "FAIL: opened".to_string(),
        (Expect::Warms, true) => "ok".to_string(),
        (Expect::Warms, false) => "MISSED".to_string(),
    };
    vec![
        c.case.clone(),
        ready(&c.naive, bound),
        opt(c.naive.user.as_ref().map(|u| u.p99_ms), 1),
        opt(c.naive_penalty, 2),
        errors(&c.naive),
        ready(&c.warmgate, bound),
        opt(c.warmgate.user.as_ref().map(|u| u.p99_ms), 1),
        opt(c.warmgate_penalty, 2),
        opt(c.reference_p99_ms, 1),
        // Only meaningful at an opening: a run that never opened has no overshoot.
        opt(c.warmgate.ready_s.and(c.warmgate.overshoot_s), 1),
        goal,
    ]
}

/// The plain-text table for stdout.
pub fn text_table(res: &Results, bound_never_s: f64, bound_warm_s: f64) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEAD.iter().map(|h| h.to_string()).collect()];
    rows.extend(
        res.cases
            .iter()
            .map(|c| row(c, bound_never_s, bound_warm_s)),
    );
    let widths: Vec<usize> = (0..HEAD.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    for c in &res.cases {
        let _ = writeln!(out, "  {}: {}", c.case, c.verdict);
    }
    for (case, e) in &res.errors {
        let _ = writeln!(out, "  {case}: ERROR {e}");
    }
    out
}

/// The Markdown report (table, then the verdict lines and the run's settings).
pub fn markdown(res: &Results, bound_never_s: f64, bound_warm_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {} | verdict at opening (or last reason) |",
        HEAD.join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(HEAD.len() + 1));
    for c in &res.cases {
        let verdict = c.verdict.replace('|', "/");
        let _ = writeln!(
            out,
            "| {} | {verdict} |",
            row(c, bound_never_s, bound_warm_s).join(" | ")
        );
    }
    for (case, e) in &res.errors {
        let _ = writeln!(
            out,
            "| {case} | ERROR: {} |",
            e.replace('|', "/").replace('\n', " ")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- mode: {}; warmgate: {}; sim speed: {}",
        res.mode, res.gate, res.sim_speed
    );
    let _ = writeln!(out, "- user traffic per run: {}", res.user_traffic);
    let _ = writeln!(out, "- machine: {}", res.machine);
    let _ = writeln!(out, "- started: {}", res.started);
    out
}

/// Writes results.json and results.md into `dir`.
pub fn write_files(res: &Results, dir: &Path, bound_never_s: f64, bound_warm_s: f64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(res).context("cannot serialize results")?;
    std::fs::write(dir.join("results.json"), json).context("cannot write results.json")?;
    std::fs::write(
        dir.join("results.md"),
        markdown(res, bound_never_s, bound_warm_s),
    )
    .context("cannot write results.md")?;
    Ok(())
}
