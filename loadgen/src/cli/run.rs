//! `loadgen run URL --rate R --duration D ...`: a wrk2-like open-loop client.
//!
//! Prints a percentile table (or one JSON object with `--json`) of latency from the intended
//! send time, service time from the actual send, and schedule lag. Header values are secret:
//! they are never printed, not even in error messages. For a maximum-throughput measurement,
//! ask for a rate far above what the target can serve: every request then waits for the
//! in-flight cap, the achieved rate is the throughput, and latency shows the growing backlog.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hdrhistogram::Histogram;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::plan::{Endpoint, HttpVersion, Plan, RateSchedule};
use crate::snapshot::Report;
use crate::template::{RequestTemplate, Template, Var};

/// Arguments of `loadgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URL (http:// or https://).
    pub url: String,
    /// Requests per second (open loop: the schedule never waits for answers).
    #[arg(long, short = 'R')]
    pub rate: f64,
    /// How long to send, e.g. "10s", "2m".
    #[arg(long, short = 'd', value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Cap on requests in flight (and on kept-alive connections).
    #[arg(long, short = 'c', default_value_t = 64)]
    pub concurrency: usize,
    /// Per-request timeout, from the actual send.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// HTTP method.
    #[arg(short = 'X', long = "method", default_value = "GET")]
    pub method: String,
    /// Extra header "Name: value" (repeatable). Values are never printed.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long)]
    pub body: Option<String>,
    /// Ramp linearly from 10% of the rate to the rate over this long first.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ramp: Option<Duration>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// HTTP/2 with prior knowledge (h2c on http://).
    #[arg(long)]
    pub http2: bool,
    /// Accept an invalid (self-signed) certificate on https://.
    #[arg(long)]
    pub insecure: bool,
    /// Tokio worker threads for the requests (the pacer has its own thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// A template variable NAME=SPEC (repeatable); with any, `{NAME}` in the URL's path, the
    /// header values and the body is filled per request. SPEC: `range:A:B`, `one_of:a,b,c`
    /// (weights: `one_of:a,b,c@6,3,1`), `file:PATH` (one value per line) or `uuid`.
    #[arg(long = "var", value_name = "NAME=SPEC")]
    pub vars: Vec<String>,
    /// Seed of the variables' draws (same seed, same requests).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replay the requests of a HAR or JSON Lines file round-robin instead of the URL's path.
    #[arg(long, value_name = "PATH")]
    pub requests_file: Option<std::path::PathBuf>,
    /// Send unary gRPC calls to this method (`package.Service/Method`) over HTTP/2 (h2c on
    /// http://, TLS on https://) instead of plain requests; the URL gives only the origin.
    #[arg(long, value_name = "SERVICE/METHOD")]
    pub grpc: Option<String>,
    /// The gRPC message, as protobuf's JSON mapping (templated like a body with `--var`).
    #[arg(long, value_name = "JSON", requires = "grpc", default_value = "{}")]
    pub message: String,
    /// The gRPC schema from this FileDescriptorSet file (`protoc --descriptor_set_out
    /// --include_imports`) instead of server reflection.
    #[arg(long, value_name = "PATH", requires = "grpc")]
    pub descriptor_set: Option<std::path::PathBuf>,
}

/// Reads one `--var` SPEC. Fails with a one-line reason (a file's lines are never quoted).
fn parse_var(spec: &str) -> anyhow::Result<Var> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let var = match kind {
        "uuid" if arg.is_empty() => Var::Uuid,
        "range" => {
            let (a, b) = arg
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("range is range:A:B"))?;
            Var::range(a.trim().parse()?, b.trim().parse()?)?
        }
        "one_of" => {
            let (values, weights) = match arg.rsplit_once('@') {
                Some((v, w)) => {
                    let w = w
                        .split(',')
                        .map(|x| x.trim().parse())
                        .collect::<Result<Vec<u32>, _>>()?;
                    (v, Some(w))
                }
                None => (arg, None),
            };
            Var::one_of(values.split(',').map(str::to_string).collect(), weights)?
        }
        "file" => {
            let text =
                std::fs::read_to_string(arg).with_context(|| format!("cannot read {arg}"))?;
            Var::lines(&text).with_context(|| arg.to_string())?
        }
        _ => bail!("unknown variable {spec:?}: use range:A:B, one_of:a,b,c, file:PATH or uuid"),
    };
    Ok(var)
}

/// The template of `args`' path, headers and body, when `--var` is given.
fn template_from_args(
    args: &RunArgs,
    headers: &HeaderMap,
) -> anyhow::Result<Option<RequestTemplate>> {
    if args.vars.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::new();
    let mut vars = Vec::new();
    for v in &args.vars {
        let (name, spec) = v
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--var {v:?}: expected NAME=SPEC"))?;
        vars.push(parse_var(spec).with_context(|| format!("--var {name}"))?);
        names.push(name);
    }
    // The path as typed: a parsed URL would have percent-encoded the braces.
    let after_scheme = args.url.split_once("://").map_or("", |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = Template::parse(path, &names).context("the URL's path")?;
    let mut templated = Vec::new();
    for (name, value) in headers {
        let text = value
            .to_str()
            .map_err(|_| anyhow::anyhow!("header {name}: not text (value not shown)"))?;
        let t = Template::parse(text, &names).map_err(|e| anyhow::anyhow!("header {name}: {e}"))?;
        if t.has_vars() {
            templated.push((name.clone(), t));
        }
    }
    let body_text = if args.grpc.is_some() {
        Some(&args.message)
    } else {
        args.body.as_ref()
    };
    let body = match body_text {
        Some(b) => Some(Template::parse(b, &names).context("the body")?),
        None => None,
    };
    Ok(Some(RequestTemplate {
        vars,
        path,
        headers: templated,
        body,
    }))
}

/// Builds the plan `args` describe. Fails with a one-line reason on a bad URL, method, header,
/// rate or cap; header values never appear in the reason.
pub fn plan_from_args(args: &RunArgs) -> anyhow::Result<Plan> {
    plan_with_grpc(args, None)
}

/// The gRPC method of `args`, its schema from `--descriptor-set` or else server reflection
/// (run on `runtime`); `None` without `--grpc`.
fn grpc_call(
    args: &RunArgs,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<crate::grpc::GrpcCall>> {
    let Some(full) = &args.grpc else {
        return Ok(None);
    };
    let (service, method) = crate::grpc::split_method(full)?;
    let call = match &args.descriptor_set {
        Some(path) => crate::grpc::GrpcCall::from_descriptor_set(path, service, method)?,
        None => {
            let url = Url::parse(&args.url)
                .map_err(|e| anyhow::anyhow!("bad URL {:?}: {e}", args.url))?;
            runtime.block_on(crate::grpc::reflect(&url, service, method, args.insecure))?
        }
    };
    Ok(Some(call))
}

/// [`plan_from_args`] with the gRPC method already resolved (`--grpc` needs one).
fn plan_with_grpc(args: &RunArgs, grpc: Option<crate::grpc::GrpcCall>) -> anyhow::Result<Plan> {
    if args.grpc.is_some() && grpc.is_none() {
        bail!("--grpc needs its schema resolved first (server reflection or --descriptor-set)");
    }
    if args.grpc.is_some() && (args.body.is_some() || args.requests_file.is_some()) {
        bail!("--grpc sends --message: it takes no --body or --requests-file");
    }
    let url = Url::parse(&args.url).map_err(|e| anyhow::anyhow!("bad URL {:?}: {e}", args.url))?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| anyhow::anyhow!("bad method {:?}", args.method))?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("bad header (expected \"Name: value\"; value not shown)");
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow::anyhow!("bad header name {:?}", name.trim()))?;
        let mut value = HeaderValue::from_str(value.trim())
            .map_err(|_| anyhow::anyhow!("bad value for header {name} (value not shown)"))?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    let template = template_from_args(args, &headers)?;
    let mut endpoint = Endpoint::get("run", url);
    endpoint.template = template.map(std::sync::Arc::new);
    if let Some(file) = &args.requests_file {
        endpoint.recorded = crate::recorded::load(file)?;
    }
    endpoint.method = method;
    endpoint.headers = headers;
    endpoint.body = args.body.clone().map(Into::into);
    endpoint.timeout = args.timeout;
    if let Some(call) = grpc {
        endpoint.set_grpc(call, &args.message)?;
    }
    let rate = match args.ramp {
        Some(over) if !over.is_zero() => RateSchedule::Ramp {
            from: args.rate / 10.0,
            to: args.rate,
            over,
        },
        _ => RateSchedule::Constant(args.rate),
    };
    let window = Duration::from_secs(1);
    let mut plan = Plan::try_new(vec![endpoint], rate, args.concurrency, window)?;
    if args.duration.is_zero() {
        bail!("--duration must be longer than zero");
    }
    plan.duration = Some(args.duration);
    plan.http = if args.http2 || args.grpc.is_some() {
        HttpVersion::Http2PriorKnowledge
    } else {
        HttpVersion::Http1
    };
    plan.accept_invalid_certs = args.insecure;
    plan.seed = args.seed;
    Ok(plan)
}

/// Runs `loadgen run`; returns the exit code. Ctrl-C ends the run early and still reports.
pub fn main(args: RunArgs) -> anyhow::Result<i32> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let runtime = super::runtime(args.threads).context("cannot start the tokio runtime")?;
    let grpc = grpc_call(&args, &runtime)?;
    let plan = plan_with_grpc(&args, grpc)?;
    let report = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let mut engine = crate::engine::run(plan, cancel)?;
        while engine.next_window().await.is_some() {}
        anyhow::Ok(engine.finish().await)
    })?;
    let shown = shown_url(&args.url);
    if args.json {
        println!("{}", to_json(&report, &shown, args.rate));
    } else {
        print!("{}", to_table(&report, &shown, args.rate, args.concurrency));
    }
    Ok(0)
}

/// The URL without any password, for printing.
fn shown_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

/// p50, p90, p99, p99.9 and max of a microsecond histogram, in milliseconds.
fn quantiles_ms(h: &Histogram<u64>) -> [f64; 5] {
    let ms = |us: u64| us as f64 / 1000.0;
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

fn quantiles_json(h: &Histogram<u64>) -> Value {
    let [p50, p90, p99, p999, max] = quantiles_ms(h);
    json!({"p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max, "mean": h.mean() / 1000.0})
}

/// The `--json` object.
pub fn to_json(report: &Report, url: &str, target_rate: f64) -> Value {
    let t = &report.total;
    let outcomes: serde_json::Map<String, Value> = t
        .outcomes
        .by_label()
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    json!({
        "url": url,
        "target_rate": target_rate,
        "achieved_rate": report.achieved_rate,
        "duration_s": report.elapsed.as_secs_f64(),
        "requests": t.outcomes.total(),
        "scheduled": report.scheduled,
        "sent": t.sent,
        "late": t.late,
        "errors": t.outcomes.errors(),
        "latency_ms": quantiles_json(&t.latency),
        "service_ms": quantiles_json(&t.service),
        "lag_ms": quantiles_json(&t.lag),
        "outcomes": outcomes,
    })
}

/// The human table.
pub fn to_table(report: &Report, url: &str, target_rate: f64, cap: usize) -> String {
    let t = &report.total;
    let mut out = format!(
        "{} requests to {url} in {:.2}s (target {target_rate} req/s, at most {cap} in flight)\n\n",
        t.outcomes.total(),
        report.elapsed.as_secs_f64()
    );
    out.push_str(&format!(
        "{:<10}{:>11}{:>11}{:>11}{:>11}{:>11}\n",
        "(ms)", "p50", "p90", "p99", "p99.9", "max"
    ));
    for (name, h) in [
        ("latency", &t.latency),
        ("service", &t.service),
        ("lag", &t.lag),
    ] {
        out.push_str(&format!("{name:<10}"));
        for v in quantiles_ms(h) {
            out.push_str(&format!("{v:>11.3}"));
        }
        out.push('\n');
    }
    out.push_str("\nlatency: from the intended send time; service: from the actual send\n");
    let counts: Vec<String> = t
        .outcomes
        .by_label()
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.push_str(&format!("outcomes: {}\n", counts.join(", ")));
    out.push_str(&format!(
        "scheduled {}, sent {}, late (waited for the cap) {}\n",
        report.scheduled, t.sent, t.late
    ));
    out.push_str(&format!(
        "achieved rate: {:.1} req/s ({:.1}% of target)\n",
        report.achieved_rate,
        100.0 * report.achieved_rate / target_rate
    ));
    out
}
