//! The `endpoints:` checks of stage two: names (given or derived from the path), paths,
//! methods, secret headers and timeouts, one entry at a time.

use std::collections::HashSet;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use super::limits::MAX_ENDPOINTS;
use super::paths::check_path;
use super::problem::{Checks, Problems, Section};
use super::schema::EndpointSection;
use super::values::Secret;
use super::vars::template;
use super::{EndpointSettings, DEFAULT_ENDPOINT_NAME};

/// The endpoints `list` describes (None: the single default endpoint), recording problems.
pub(super) fn endpoints(
    list: Option<Vec<EndpointSection>>,
    problems: &mut Problems,
) -> Vec<EndpointSettings> {
    let Some(list) = list else {
        let mut none = Problems::default();
        return vec![endpoint(
            "endpoints[0]",
            EndpointSection::default(),
            &mut none,
        )];
    };
    if list.is_empty() {
        problems.push(
            Section::Endpoints,
            Section::Endpoints.key(),
            "the list is empty; give at least one endpoint",
        );
    }
    if list.len() > MAX_ENDPOINTS {
        problems.push(
            Section::Endpoints,
            Section::Endpoints.key(),
            format!("{} endpoints, more than {MAX_ENDPOINTS}", list.len()),
        );
    }
    let mut out: Vec<EndpointSettings> = Vec::new();
    let mut names = HashSet::new();
    // Past the limit, the rest is not checked: one problem, not one per entry.
    for (i, section) in list.into_iter().enumerate().take(MAX_ENDPOINTS) {
        let path = format!("endpoints[{i}]");
        let e = endpoint(&path, section, problems);
        if !names.insert(e.name.clone()) {
            problems.push(
                Section::Endpoints,
                &format!("{path}.name"),
                format!("duplicate endpoint name {:?}", e.name),
            );
        }
        out.push(e);
    }
    out
}

/// The name an endpoint without one gets: its path, made a valid label.
fn name_from_path(path: &str) -> String {
    let name: String = path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        DEFAULT_ENDPOINT_NAME.to_string()
    } else {
        name
    }
}

fn endpoint(path: &str, e: EndpointSection, problems: &mut Problems) -> EndpointSettings {
    let mut c = Checks::new(Section::Endpoints, path, problems);
    if let Err(message) = check_path(&e.path) {
        c.problem("path", message);
    }
    let name = e
        .name
        .clone()
        .unwrap_or_else(|| match (&e.grpc, &e.requests_file) {
            (Some(g), _) => name_from_path(&format!("{}/{}", g.service, g.method)),
            (None, Some(file)) => {
                name_from_path(&file.file_stem().unwrap_or_default().to_string_lossy())
            }
            (None, None) => name_from_path(&e.path),
        });
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        c.problem(
            "name",
            format!("{name:?} must be 1-64 characters of [a-zA-Z0-9_-]"),
        );
    }
    let method =
        Method::from_bytes(e.method.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
            c.problem("method", format!("invalid method {:?}", e.method));
            Method::GET
        });
    let mut headers = HeaderMap::new();
    let mut secret_files = Vec::new();
    for (k, v) in &e.headers {
        let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
            c.problem("headers", format!("invalid header name {k:?}"));
            continue;
        };
        let at = format!("headers.{k}");
        let text = match v {
            Secret::Text(t) | Secret::FromEnv(t) => t,
            Secret::File { file, prefix } => {
                // Read now, so a missing file is a configuration error; re-read when it changes.
                match loadgen::SecretFile::open(file, prefix.as_str()) {
                    Ok(f) => secret_files.push((name, Arc::new(f))),
                    Err(err) => c.problem(&at, err),
                }
                continue;
            }
            Secret::Env { env } => {
                c.problem(&at, format!("the environment variable {env:?} is not set"));
                continue;
            }
            Secret::Invalid(why) => {
                c.problem(&at, why);
                continue;
            }
        };
        match HeaderValue::from_str(text) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            // Never echo the value: it may be a secret.
            Err(_) => c.problem(
                "headers",
                format!("header {k:?} has an invalid value (not shown)"),
            ),
        }
    }
    // A gRPC endpoint's message is its templated body.
    let body = e
        .grpc
        .as_ref()
        .map_or(e.body.as_deref(), |g| Some(g.message.as_str()));
    let template = template(&e.vars, &e.path, &e.headers, body, &mut c);
    let grpc = e
        .grpc
        .as_ref()
        .map(|g| grpc(g, &e, template.is_some(), &mut c));
    let recorded = match &e.requests_file {
        None => Vec::new(),
        Some(_) if !e.vars.is_empty() => {
            c.problem(
                "requests_file",
                "cannot be combined with vars (a recording is replayed as is)",
            );
            Vec::new()
        }
        Some(file) => loadgen::recorded::load(file).unwrap_or_else(|err| {
            c.problem("requests_file", err);
            Vec::new()
        }),
    };
    if e.timeout.is_zero() {
        c.problem("timeout", "must be longer than zero");
    }
    EndpointSettings {
        name,
        path: e.path,
        method,
        headers,
        body: e.body,
        weight: e.weight,
        expect_status: e.expect_status.0,
        expect_body: e.expect_body,
        timeout: e.timeout,
        ceiling: e.ceiling,
        vars: e.vars,
        template,
        secret_files,
        requests_file: e.requests_file,
        recorded,
        grpc,
    }
}

/// A `grpc:` entry's checks: no `body` or `requests_file` beside it, a valid method name, and
/// with `descriptor_set` the method found in the file and (without `vars`) the message encoded.
fn grpc(
    g: &super::schema::GrpcSection,
    e: &EndpointSection,
    templated: bool,
    c: &mut Checks<'_>,
) -> super::GrpcSettings {
    if e.body.is_some() {
        c.problem(
            "grpc",
            "cannot be combined with body (the message is grpc.message)",
        );
    }
    if e.requests_file.is_some() {
        c.problem("grpc", "cannot be combined with requests_file");
    }
    let full = format!("{}/{}", g.service, g.method);
    if let Err(err) = loadgen::grpc::split_method(&full) {
        c.problem("grpc", err);
    }
    let call =
        g.descriptor_set.as_ref().and_then(
            |path| match loadgen::grpc::GrpcCall::from_descriptor_set(path, &g.service, &g.method) {
                Ok(call) => Some(call),
                Err(err) => {
                    c.problem("grpc.descriptor_set", err);
                    None
                }
            },
        );
    if let (Some(call), false) = (&call, templated) {
        if let Err(err) = call.encode(g.message.as_bytes()) {
            c.problem("grpc.message", err);
        }
    }
    super::GrpcSettings {
        service: g.service.clone(),
        method: g.method.clone(),
        message: g.message.clone(),
        descriptor_set: g.descriptor_set.clone(),
        call,
    }
}
