//! Configuration in two stages: raw values from a YAML/TOML file, inline YAML and
//! `WARMGATE_<SECTION>__<KEY>` environment overrides (merged by the `config` crate) are read
//! into the typed schema, [`ConfigFile`]; then [`validate`] builds the [`Settings`] once. Every
//! problem is reported at once, with its key path.
//!
//! # Layout
//! - `schema`: every key, its type and its default ([`ConfigFile`] and its sections).
//! - `defaults`: the defaults as named constants (inject and the deploy tests use them too).
//! - `values`: how durations, status sets and secret header values are written.
//! - `vars`: an endpoint's `vars:` and the checks that build its request template.
//! - `read`: merged values -> [`ConfigFile`], field by field, collecting problems.
//! - `validate`: [`ConfigFile`] -> [`Settings`], collecting problems (`endpoints`: that list's).
//! - `limits`: how big, deep and long a configuration may be, checked before it loads.
//! - `numbers`: the merged values as JSON, refusing infinite and NaN numbers.
//! - `paths`: the rule for request paths, and their join onto the target URL.
//! - `problem`: [`Problem`], a key path and a message.
//! - `show`: [`Settings`] -> the effective configuration, through the schema's `Serialize`.

mod defaults;
mod endpoints;
mod limits;
mod numbers;
mod paths;
mod problem;
mod read;
pub mod reference;
mod schema;
mod show;
mod validate;
mod values;
mod vars;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use loadgen::{HttpVersion, StatusSet};
use url::Url;

pub use defaults::*;
pub use limits::{
    DEFAULT_MAX_MEMORY_MIB, MAX_CONFIG_BYTES, MAX_DURATION, MAX_ENDPOINTS, MAX_YAML_ALIASES,
    MAX_YAML_DEPTH, MAX_YAML_NODES,
};
pub use paths::{check_path, url_at};
pub use problem::{Problem, Section};
pub use reference::ReferenceQuery;
pub use schema::{
    ConfigFile, EndpointSection, GateSection, GrpcSection, HttpMode, LogSection, ReferenceSection,
    TargetSection, TrafficSection,
};
pub use show::{body_digest, effective};
pub use validate::validate;
pub use values::{Secret, Statuses, REDACTED};
pub use vars::{VarSpec, MAX_VARS};

/// Environment variable naming the configuration file (not an override).
pub const ENV_FILE: &str = "WARMGATE_CONFIG_FILE";
/// Environment variable holding the whole configuration as YAML (not an override).
pub const ENV_YAML: &str = "WARMGATE_CONFIG_YAML";
/// Prefix of override variables: `WARMGATE_<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "WARMGATE";

/// Where configuration comes from. Tests fill `env` from a map instead of the process
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A YAML or TOML file (by extension; anything else is read as YAML).
    pub file: Option<PathBuf>,
    /// Inline YAML (used when `file` is None).
    pub yaml: Option<String>,
    /// Environment variables; only `WARMGATE_*` ones other than [`ENV_FILE`]/[`ENV_YAML`] are
    /// read, as overrides.
    pub env: HashMap<String, String>,
}

impl Sources {
    /// Sources from the process environment, with an optional `--config` path that wins over
    /// [`ENV_FILE`].
    pub fn from_process(config_flag: Option<PathBuf>) -> Sources {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = config_flag.or_else(|| env.get(ENV_FILE).map(PathBuf::from));
        let yaml = env.get(ENV_YAML).cloned();
        Sources { file, yaml, env }
    }
}

/// Every problem found in the configuration, one line each (`path: message`).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigErrors(pub Vec<String>);

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What happens when the warm-up deadline passes without a ready verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDeadline {
    /// Stay unready for good (the kubelet restarts the container the startupProbe is on).
    Fail,
    /// Open anyway, with a loud log line and a metric.
    Open,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address of the probe/metrics/status server.
    pub listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directive (tracing EnvFilter syntax).
    pub log_level: String,
    /// Time allowed to drain after SIGTERM.
    pub shutdown_grace: Duration,
    /// The app.
    pub target: Target,
    /// The requests sent to warm it, judged one by one.
    pub endpoints: Vec<EndpointSettings>,
    /// Traffic shape.
    pub traffic: Traffic,
    /// The verdict's thresholds.
    pub gate: GateConfig,
}

/// The app to warm.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL (loopback unless `allow_remote`).
    pub url: Url,
    /// Whether a non-loopback host was allowed.
    pub allow_remote: bool,
    /// The app's own readiness path, checked before warming and passed through after.
    pub readiness_path: Option<String>,
    /// How long `waiting` may last.
    pub wait_timeout: Duration,
    /// HTTP version.
    pub http: HttpVersion,
    /// Accept a self-signed certificate.
    pub insecure_tls: bool,
}

impl Target {
    /// The URL of `path_and_query` on this target: always the target's scheme, host and port
    /// (see [`url_at`]). Never fails.
    pub fn url_for(&self, path_and_query: &str) -> Url {
        url_at(&self.url, path_and_query)
    }
}

/// One warm-up endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// Label value.
    pub name: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Method.
    pub method: Method,
    /// Extra headers (values secret).
    pub headers: HeaderMap,
    /// Body.
    pub body: Option<String>,
    /// Share of the rate.
    pub weight: u32,
    /// Accepted statuses.
    pub expect_status: StatusSet,
    /// Text the answer must contain.
    pub expect_body: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Absolute bound on this endpoint's gate quantile.
    pub ceiling: Option<Duration>,
    /// The variables as written (empty: the request is sent as written).
    pub vars: BTreeMap<String, VarSpec>,
    /// The request template built from `vars` (None without vars).
    pub template: Option<Arc<loadgen::RequestTemplate>>,
    /// Headers read from files (mounted Secrets), re-read when they change.
    pub secret_files: Vec<(http::HeaderName, Arc<loadgen::SecretFile>)>,
    /// The file of recorded requests, if any.
    pub requests_file: Option<PathBuf>,
    /// Its requests, sent round-robin (empty without a file).
    pub recorded: Vec<loadgen::RecordedRequest>,
    /// The gRPC call, if the endpoint is one.
    pub grpc: Option<GrpcSettings>,
}

/// A gRPC endpoint's method, message and schema.
#[derive(Debug, Clone)]
pub struct GrpcSettings {
    /// `package.Service`.
    pub service: String,
    /// Method name.
    pub method: String,
    /// The message as JSON (the template's body when the endpoint has `vars`).
    pub message: String,
    /// The descriptor-set file, as configured.
    pub descriptor_set: Option<PathBuf>,
    /// The method resolved from `descriptor_set` at load; `None`: by server reflection at
    /// warm-up start (the app must be up for it).
    pub call: Option<loadgen::grpc::GrpcCall>,
}

/// Traffic shape.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Requests per second, all endpoints together.
    pub rate: f64,
    /// Cap on requests in flight.
    pub max_inflight: usize,
    /// Linear ramp from 10% of `rate` to `rate` (zero: none).
    pub ramp: Duration,
    /// Requests per second once ready (0: stop).
    pub after_ready_rate: f64,
    /// Seed of the endpoint choice and the templates' draws (None: a new one each start).
    pub seed: Option<u64>,
}

/// The `gate:` section: the criterion itself, plus what happens around it.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// The verdict's thresholds, with one [`crate::gate::EndpointSpec`] per endpoint (by name)
    /// whose ceiling is resolved: the endpoint's own, else [`GateConfig::ceiling`].
    pub criterion: crate::gate::GateSettings,
    /// The global ceiling as configured.
    pub ceiling: Option<Duration>,
    /// How long a warm-up may take.
    pub deadline: Duration,
    /// What happens at the deadline.
    pub on_deadline: OnDeadline,
    /// The bound on the gate's histogram memory, MiB, as configured.
    pub max_memory_mib: u64,
    /// `gate.reference`'s query (its rule is in `criterion.reference`).
    pub reference: Option<ReferenceQuery>,
}

/// Loads, merges and validates configuration from `sources`. Fails with every problem found:
/// unreadable file, syntax errors, unknown keys, bad values, impossible combinations.
pub fn load(sources: &Sources) -> Result<Settings, ConfigErrors> {
    let raw = merge(sources)?;
    let mut problems = problem::Problems::default();
    let mut file = read::config_file(raw, &mut problems);
    resolve_env(&mut file, &sources.env);
    // Checked even when some fields were bad (they hold their defaults): every problem at once.
    let settings = validate::settings(file, &mut problems);
    if problems.0.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigErrors(
            problems.0.iter().map(ToString::to_string).collect(),
        ))
    }
}

/// Replaces every `{env: NAME}` header value by the variable's value from `env` (a missing one
/// stays, and validation reports it by name).
fn resolve_env(file: &mut ConfigFile, env: &HashMap<String, String>) {
    if let Some(r) = file.gate.reference.as_mut() {
        if let Some(Secret::Env { env: name }) = &r.bearer_token {
            if let Some(value) = env.get(name.as_str()) {
                r.bearer_token = Some(Secret::FromEnv(value.clone()));
            }
        }
        for (slot, var) in [
            (&mut r.namespace, reference::ENV_NAMESPACE),
            (&mut r.pod, reference::ENV_POD),
            (&mut r.workload, reference::ENV_WORKLOAD),
        ] {
            if slot.is_none() {
                *slot = env.get(var).cloned();
            }
        }
    }
    for e in file.endpoints.iter_mut().flatten() {
        for v in e.headers.values_mut() {
            if let Secret::Env { env: name } = v {
                if let Some(value) = env.get(name.as_str()) {
                    *v = Secret::FromEnv(value.clone());
                }
            }
        }
    }
}

/// What [`load`] prints (on stderr) when no source holds any configuration.
pub const NO_CONFIGURATION: &str = "no configuration given, using defaults";

fn merge(sources: &Sources) -> Result<serde_json::Value, ConfigErrors> {
    use config::{Config, Environment, File, FileFormat};
    let mut builder = Config::builder();
    let mut empty = true;
    if let Some(path) = &sources.file {
        let text = read_capped(path)?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let format = if is_toml {
            FileFormat::Toml
        } else {
            // TOML has no aliases, and its parser bounds nesting itself.
            limits::check_yaml(&text)
                .map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?;
            FileFormat::Yaml
        };
        empty = if is_toml {
            text.trim().is_empty()
        } else {
            limits::is_empty_document(&text)
        };
        builder = builder.add_source(File::from_str(&text, format));
    } else if let Some(yaml) = &sources.yaml {
        limits::check_yaml(yaml).map_err(|e| ConfigErrors(vec![format!("{ENV_YAML}: {e}")]))?;
        empty = limits::is_empty_document(yaml);
        builder = builder.add_source(File::from_str(yaml, FileFormat::Yaml));
    }
    let overrides: config::Map<String, String> = sources
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("WARMGATE_") && *k != ENV_FILE && *k != ENV_YAML)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if empty && overrides.is_empty() {
        // Not an error (the defaults warm a loopback app on :8080), but never silent: an empty
        // ConfigMap or a mistyped variable name looks just like this.
        eprintln!("warmgate: {NO_CONFIGURATION}");
    }
    builder = builder.add_source(
        Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(overrides)),
    );
    let origin = sources
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ENV_YAML.to_string());
    let cfg = builder
        .build()
        .map_err(|e| ConfigErrors(vec![format!("{origin}: {e}")]))?;
    cfg.try_deserialize::<numbers::Finite>()
        .map(|f| f.0)
        .map_err(|e| ConfigErrors(vec![format!("{origin}: {e}")]))
}

/// Reads the file at `path`, refusing one longer than [`MAX_CONFIG_BYTES`] without reading
/// past that (it could be a device that never ends).
fn read_capped(path: &std::path::Path) -> Result<String, ConfigErrors> {
    use std::io::Read;
    let fail = |e: String| ConfigErrors(vec![format!("{}: {e}", path.display())]);
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    if text.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!(
            "longer than the {MAX_CONFIG_BYTES} bytes a configuration may hold"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
