//! `warmgate demo`: starts a simulated cold app (the `jit` profile of `loadgen sim`) in this
//! process and the real agent against it, and shows each window's p99 falling and why the
//! verdict passes or fails.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use loadgen::sim::{Profile, Sim, SimOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::WindowEvent;
use crate::config::{self, Sources};
use crate::phase::Phase;
use crate::sidecar::{self, init_logging, shutdown_signal, Linger, Sidecar};
use crate::sidecar::{EXIT_CONFIG, EXIT_RUNTIME};

/// The demo's configuration, embedded in the binary.
pub const DEMO_YAML: &str = include_str!("demo.yaml");

/// Arguments of `warmgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep running once ready (until Ctrl-C), to look at /status and /metrics.
    #[arg(long)]
    pub keep: bool,
    /// Address of warmgate's probe server.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub listen: SocketAddr,
    /// Simulated app profile (jit, tiered, cache, gc, drift, slowdown, errors, stall, flat).
    #[arg(long, default_value = "jit")]
    pub profile: Profile,
    /// Speed-up of the simulated warm-up (1 = the documented curve).
    #[arg(long, default_value_t = 4.0)]
    pub speed: f64,
    /// Seed of the simulated latency noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Judge against a fleet reference read from this Prometheus (`gate.reference`): the demo
    /// then prints the reference, its peers and age, and the rule that opened the gate.
    #[arg(long, value_name = "PROMETHEUS_URL")]
    pub reference: Option<String>,
}

/// Runs the demo; returns the exit code (0 once ready, 1 if the warm-up failed).
pub fn main(args: DemoArgs) -> i32 {
    let rt = match sidecar::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warmgate demo: cannot start the runtime: {e}");
            return EXIT_RUNTIME;
        }
    };
    rt.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> i32 {
    let sim_stop = CancellationToken::new();
    let options = SimOptions {
        profile: args.profile,
        seed: args.seed,
        speed: args.speed,
    };
    let sim = match Sim::bind(SocketAddr::from(([127, 0, 0, 1], 0)), options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warmgate demo: cannot start the simulated app: {e}");
            return EXIT_RUNTIME;
        }
    };
    let app = match sim.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("warmgate demo: {e}");
            return EXIT_RUNTIME;
        }
    };
    tokio::spawn(sim.serve(sim_stop.clone()));

    let mut env = std::collections::HashMap::new();
    env.insert("WARMGATE_TARGET__URL".to_string(), format!("http://{app}"));
    env.insert("WARMGATE_LISTEN".to_string(), args.listen.to_string());
    let mut yaml = DEMO_YAML.to_string();
    if let Some(url) = &args.reference {
        // The gate table is the file's last: one more key in it (a JSON string is valid YAML).
        let quoted = serde_json::Value::from(url.as_str()).to_string();
        yaml.push_str(&format!(
            "  reference: {{prometheus_url: {quoted}, refresh: 1s}}\n"
        ));
    }
    let sources = Sources {
        yaml: Some(yaml),
        env,
        ..Sources::default()
    };
    let settings = match config::load(&sources) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warmgate demo: {e}");
            return EXIT_CONFIG;
        }
    };
    init_logging(settings.log_format, &settings.log_level);
    let q = settings.gate.criterion.quantile_label();
    let (tx, mut rx) = mpsc::channel::<WindowEvent>(64);
    let sidecar = match Sidecar::spawn_with_events(settings.clone(), tx) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "warmgate demo: {e:#} (is another warmgate running? try --listen 127.0.0.1:0)"
            );
            return EXIT_RUNTIME;
        }
    };
    let base = format!("http://{}", sidecar.addr());
    println!(
        "warmgate demo: simulated cold app ({}) on http://{app}",
        args.profile.name()
    );
    println!("  status: {base}/status   readiness: {base}/readyz   metrics: {base}/metrics");
    println!(
        "  gate: {q} per endpoint, {}s windows, residual slowness within {:.0}% ({:.0}% confidence), {} passing evaluations in a row\n",
        settings.gate.criterion.window.as_secs_f64(),
        settings.gate.criterion.tolerance * 100.0,
        settings.gate.criterion.confidence * 100.0,
        settings.gate.criterion.consecutive
    );
    println!(
        "{:>6}  {:<10} {:>7} {:>9} {:>9} {:>6}  {:<15} {:>7} {:>15}  verdict",
        "t",
        "endpoint",
        "reqs",
        "p50 ms",
        format!("{q} ms"),
        "errors",
        "class",
        "settle",
        "residual (max)"
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut announced = false;
    let code = loop {
        tokio::select! {
            sig = shutdown_signal() => { println!("\n{sig}: stopping."); break 0; }
            ev = rx.recv() => if let Some(ev) = ev { print_event(&ev) },
            _ = ticker.tick() => {
                let (phase, reason) = sidecar.board().phase_and_reason();
                match phase {
                    Phase::Ready if !announced => {
                        while let Ok(ev) = rx.try_recv() { print_event(&ev); }
                        println!("\nREADY: {reason}\n  {base}/readyz now answers 200.");
                        announced = true;
                        if !args.keep {
                            break 0;
                        }
                        println!("  --keep: still running; Ctrl-C to stop.");
                    }
                    Phase::Failed => { println!("\nFAILED: {reason}"); break 1; }
                    _ => {}
                }
            }
        }
    };
    sidecar.drain("demo finished", Linger::No).await;
    sim_stop.cancel();
    code
}

fn print_event(ev: &WindowEvent) {
    for (i, r) in ev.rows.iter().enumerate() {
        let verdict = if i + 1 == ev.rows.len() {
            let v = &ev.verdict;
            if v.pass {
                format!("PASS ({}/{})", v.streak, v.required)
            } else {
                format!("fail: {}", v.reasons.first().cloned().unwrap_or_default())
            }
        } else {
            String::new()
        };
        let t = if i == 0 {
            format!("{:.0}s", ev.at_s)
        } else {
            String::new()
        };
        let judged = ev.verdict.endpoints.iter().find(|e| e.name == r.name);
        let class = judged.map_or("-", |e| e.class.as_str()).replace('_', " ");
        let settle = judged
            .and_then(|e| e.settle_s)
            .map_or("-".to_string(), |s| format!("{s:.0}s"));
        let residual = judged
            .and_then(|e| Some((e.residual?, e.residual_bound?)))
            .map_or("-".to_string(), |(r, b)| {
                format!("{:.1}% ({:.1}%)", r * 100.0, b * 100.0)
            });
        println!(
            "{t:>6}  {:<10} {:>7} {:>9.1} {:>9.1} {:>6}  {class:<15} {settle:>7} {residual:>15}  {verdict}",
            r.name, r.count, r.p50_ms, r.q_ms, r.errors
        );
    }
    if let Some(line) = reference_line(&ev.verdict) {
        println!("{:>6}  {line}", "");
    }
}

/// `reference: checkout 12.3 ms, search 20.1 ms (3 peers, 1s old)`, or why there is none; None
/// without `gate.reference`.
fn reference_line(v: &crate::gate::Verdict) -> Option<String> {
    let r = v.reference.as_ref()?;
    let levels: Vec<String> = v
        .endpoints
        .iter()
        .filter_map(|e| {
            let ms = e.reference_ms?;
            Some(format!(
                "{} {ms:.1} ms ({} peers)",
                e.name, e.reference_peers?
            ))
        })
        .collect();
    let age = r.age_s.map_or(String::new(), |a| format!(", {a:.0}s old"));
    let mut line = format!("reference ({}{age}): ", r.mode.as_str());
    if levels.is_empty() {
        line.push_str("none");
    } else {
        line.push_str(&levels.join(", "));
    }
    if let Some(note) = &r.note {
        line.push_str(&format!("; {note}"));
    }
    if let Some(rule) = v.rule {
        line.push_str(&format!(
            "; passing by the {} rule",
            rule.as_str().replace('_', "-")
        ));
    }
    Some(line)
}
