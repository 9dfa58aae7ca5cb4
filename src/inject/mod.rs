//! `warmgate inject` and `warmgate uninject`: add warmgate to Kubernetes workloads in
//! multi-document YAML, and take it out again. The admission webhook ([`crate::webhook`])
//! runs the same code on each Pod.
//!
//! Every Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, Argo `Rollout`
//! and Knative `Service` annotated `warmgate.io/inject: "true"` (on the workload or on its pod
//! template; or every one with `--all`, except those annotated `"false"`) gets the warmgate
//! container, its configuration inline in `WARMGATE_CONFIG_YAML`, and the app's readiness and
//! startup probes pointed at warmgate's `/readyz` and `/startupz`. Pods that run to completion
//! get warmgate as a native sidecar. What was replaced is kept in `warmgate.io/original`, so
//! re-injecting (a new `--image`, a newer warmgate) and uninjecting are exact. Other documents
//! and unknown fields come out with the same content. One line per workload goes to stderr;
//! any problem anywhere means no output at all and exit code 2.
//!
//! # Layout
//! - `annotations`: the `warmgate.io/*` annotations, checked.
//! - `workload`: where each kind keeps its pod template; inject or uninject one document.
//! - `restore`: the `warmgate.io/original` record, and uninject.
//! - `report`: the one line per workload on stderr.
//! - `pod`: injects one pod spec, step by step (select, port, probes, budget, check, render).
//! - `ports`: the app's port, and warmgate's own still free.
//! - `probes`: what the app's own probes say (readiness path and scheme, startup budget).
//! - `inline`: [`InlineConfig`], the configuration written inline, checked as typed config.
//! - `container`: the injected container and the app's new probes.
//! - `error`: errors naming the document and the field.

mod annotations;
mod container;
mod error;
mod inline;
mod pod;
mod ports;
mod probes;
mod report;
mod restore;
mod workload;

use std::io::{Read, Write};

use serde::Deserialize;
use yaml_serde::Value;

pub use annotations::{
    ANN_CONTAINER, ANN_ENDPOINTS, ANN_INJECT, ANN_ORIGINAL, ANN_PORT, ANN_RATE, ANN_VERSION,
};
pub use container::{Layout, CONFIG_ENV, CONTAINER_NAME, DEFAULT_IMAGE, PORT, PORT_NAME};
pub use error::{DocRef, InjectError, InjectErrors};
pub use inline::{InlineConfig, STARTUP_MARGIN_S, STARTUP_PERIOD_S};
pub use report::{Outcome, Report};
pub use restore::DEFAULT_PROGRESS_DEADLINE_S;
pub use workload::{Action, Workload, WORKLOADS};

/// Command-line arguments of `warmgate inject`.
#[derive(Debug, Clone, clap::Args)]
pub struct InjectArgs {
    /// Manifest file to read; `-` reads standard input.
    #[arg(short = 'f', long = "filename", default_value = "-")]
    pub file: String,
    /// Inject every workload, not only those annotated `warmgate.io/inject: "true"`
    /// (a workload annotated `"false"` is still skipped).
    #[arg(long)]
    pub all: bool,
    /// Add warmgate as a native sidecar (initContainers, `restartPolicy: Always`; Kubernetes
    /// >= 1.29) instead of a regular container. Jobs and CronJobs always get this layout.
    #[arg(long)]
    pub native_sidecar: bool,
    /// The warmgate image to use [default: the one already injected, else
    /// `ghcr.io/warmgate/warmgate:VERSION`]. On an injected workload it updates the image.
    #[arg(long)]
    pub image: Option<String>,
    /// The app's port (a number or a port name) for workloads without `warmgate.io/port`:
    /// what a container that declares no containerPort needs.
    #[arg(long)]
    pub port: Option<String>,
}

/// Command-line arguments of `warmgate uninject`.
#[derive(Debug, Clone, clap::Args)]
pub struct UninjectArgs {
    /// Manifest file to read; `-` reads standard input.
    #[arg(short = 'f', long = "filename", default_value = "-")]
    pub file: String,
}

/// What to inject, independent of where the YAML comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Inject every workload without an explicit opt-out.
    pub all: bool,
    /// Inject as a native sidecar (pods that run to completion always are).
    pub native_sidecar: bool,
    /// The warmgate image; `None` keeps the injected one, else uses `default_image`.
    pub image: Option<String>,
    /// The image for workloads not injected yet when `image` is `None`.
    pub default_image: String,
    /// The app's port where no `warmgate.io/port` annotation names one.
    pub port: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            all: false,
            native_sidecar: false,
            image: None,
            default_image: DEFAULT_IMAGE.to_string(),
            port: None,
        }
    }
}

/// Parses multi-document YAML into one [`Value`] per non-empty document.
/// Fails on the first document that is not valid YAML, naming its 1-based index.
pub fn parse_documents(input: &str) -> Result<Vec<Value>, InjectError> {
    let mut docs = Vec::new();
    for (i, de) in yaml_serde::Deserializer::from_str(input).enumerate() {
        let value = Value::deserialize(de).map_err(|e| InjectError::Yaml {
            index: i + 1,
            message: e.to_string(),
        })?;
        // Empty documents (a leading `---`, a trailing one) carry nothing: kubectl skips them too.
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Writes documents back as one multi-document YAML stream, separated by `---`.
pub fn render_documents(docs: &[Value]) -> Result<String, InjectError> {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        let text = yaml_serde::to_string(doc).map_err(|e| InjectError::Yaml {
            index: i + 1,
            message: format!("cannot write back: {e}"),
        })?;
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// Injects warmgate into every opted-in workload of `docs`. Returns one report per
/// workload, or every problem found (and then `docs` must be discarded: it may be partly
/// changed).
pub fn inject_documents(docs: &mut [Value], opts: &Options) -> Result<Vec<Report>, InjectErrors> {
    handle_documents(docs, opts, Action::Inject)
}

/// Injects or uninjects every document; see [`inject_documents`].
pub fn handle_documents(
    docs: &mut [Value],
    opts: &Options,
    action: Action,
) -> Result<Vec<Report>, InjectErrors> {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for (i, doc) in docs.iter_mut().enumerate() {
        match workload::handle(doc, i + 1, opts, action) {
            Ok(r) => reports.extend(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(reports)
    } else {
        Err(InjectErrors(errors))
    }
}

/// The whole of `warmgate inject` on a string: YAML in, YAML out, or every problem found.
pub fn inject_str(input: &str, opts: &Options) -> Result<String, InjectErrors> {
    transform_str(input, opts, Action::Inject).map(|(out, _)| out)
}

/// The whole of `warmgate uninject` on a string: YAML in, YAML out, or every problem found.
pub fn uninject_str(input: &str) -> Result<String, InjectErrors> {
    transform_str(input, &Options::default(), Action::Uninject).map(|(out, _)| out)
}

/// YAML in, YAML and one report per workload out, or every problem found.
pub fn transform_str(
    input: &str,
    opts: &Options,
    action: Action,
) -> Result<(String, Vec<Report>), InjectErrors> {
    let mut docs = parse_documents(input).map_err(|e| InjectErrors(vec![e]))?;
    let reports = handle_documents(&mut docs, opts, action)?;
    let out = render_documents(&docs).map_err(|e| InjectErrors(vec![e]))?;
    Ok((out, reports))
}

fn read_input(file: &str) -> Result<String, InjectError> {
    let mut text = String::new();
    let result = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    result.map_err(|e| InjectError::Read {
        source_name: file.to_string(),
        message: e.to_string(),
    })?;
    Ok(text)
}

/// Runs `warmgate inject`: reads the file (or stdin), writes the result to stdout and one
/// line per workload to stderr. Returns the exit code: 0 on success, 2 on bad input (nothing
/// written), 1 if stdout fails.
pub fn run(args: InjectArgs) -> i32 {
    let opts = Options {
        all: args.all,
        native_sidecar: args.native_sidecar,
        image: args.image,
        port: args.port,
        ..Options::default()
    };
    run_action(&args.file, &opts, Action::Inject, "inject")
}

/// Runs `warmgate uninject`, like [`run`].
pub fn run_uninject(args: UninjectArgs) -> i32 {
    run_action(
        &args.file,
        &Options::default(),
        Action::Uninject,
        "uninject",
    )
}

fn run_action(file: &str, opts: &Options, action: Action, verb: &str) -> i32 {
    let result = read_input(file)
        .map_err(|e| InjectErrors(vec![e]))
        .and_then(|text| transform_str(&text, opts, action));
    match result {
        Ok((out, reports)) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => {
                    for r in &reports {
                        eprintln!("{r}");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("warmgate {verb}: cannot write output: {e}");
                    1
                }
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("warmgate {verb}: {e}");
            }
            2
        }
    }
}
