//! `warmgate inject`: adds warmgate to Kubernetes workloads in multi-document YAML.
//!
//! Every Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod annotated
//! `warmgate.io/inject: "true"` (or every one with `--all`, except those annotated `"false"`)
//! gets the warmgate container, its configuration inline in `WARMGATE_CONFIG_YAML`, and the app's
//! readiness and startup probes pointed at warmgate's `/readyz` and `/startupz`. Re-injecting
//! changes nothing; other documents and unknown fields come out with the same content.
//! Any problem anywhere means no output at all and exit code 2.
//!
//! # Layout
//! - `annotations`: the `warmgate.io/*` annotations, checked.
//! - `workload`: where each kind keeps its pod spec.
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
mod workload;

use std::io::{Read, Write};

use serde::Deserialize;
use yaml_serde::Value;

pub use annotations::{ANN_CONTAINER, ANN_ENDPOINTS, ANN_INJECT, ANN_PORT, ANN_RATE};
pub use container::{Layout, CONFIG_ENV, CONTAINER_NAME, DEFAULT_IMAGE, PORT, PORT_NAME};
pub use error::{DocRef, InjectError, InjectErrors};
pub use inline::{InlineConfig, STARTUP_MARGIN_S, STARTUP_PERIOD_S};
pub use workload::WORKLOADS;

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
    /// The warmgate image to use.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
}

/// What to inject, independent of where the YAML comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Inject every workload without an explicit opt-out.
    pub all: bool,
    /// Inject as a native sidecar (Jobs and CronJobs always are).
    pub native_sidecar: bool,
    /// The warmgate image.
    pub image: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            all: false,
            native_sidecar: false,
            image: DEFAULT_IMAGE.to_string(),
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

/// Injects warmgate into every opted-in workload of `docs`. Returns how many changed, or
/// every problem found (and then `docs` must be discarded: it may be partly changed).
pub fn inject_documents(docs: &mut [Value], opts: &Options) -> Result<usize, InjectErrors> {
    let mut changed = 0;
    let mut errors = Vec::new();
    for (i, doc) in docs.iter_mut().enumerate() {
        match workload::inject_document(doc, i + 1, opts) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(changed)
    } else {
        Err(InjectErrors(errors))
    }
}

/// The whole of `warmgate inject` on a string: YAML in, YAML out, or every problem found.
pub fn inject_str(input: &str, opts: &Options) -> Result<String, InjectErrors> {
    let mut docs = parse_documents(input).map_err(|e| InjectErrors(vec![e]))?;
    inject_documents(&mut docs, opts)?;
    render_documents(&docs).map_err(|e| InjectErrors(vec![e]))
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

/// Runs `warmgate inject`: reads the file (or stdin), writes the result to stdout.
/// Returns the exit code: 0 on success, 2 on bad input (nothing written), 1 if stdout fails.
pub fn run(args: InjectArgs) -> i32 {
    let opts = Options {
        all: args.all,
        native_sidecar: args.native_sidecar,
        image: args.image,
    };
    let result = read_input(&args.file)
        .map_err(|e| InjectErrors(vec![e]))
        .and_then(|text| inject_str(&text, &opts));
    match result {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("warmgate inject: cannot write output: {e}");
                    1
                }
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("warmgate inject: {e}");
            }
            2
        }
    }
}
