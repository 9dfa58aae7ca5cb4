//! `gate.reference`: the fleet reference's checks, into the gate's rule and the agent's query.

use std::time::Duration;

use url::Url;

use super::problem::Checks;
use super::schema::ReferenceSection;
use super::values::Secret;
use crate::gate::ReferenceRule;

/// The variables a `gate.reference.query` may use.
pub const QUERY_VARS: [&str; 7] = [
    "endpoint",
    "namespace",
    "pod",
    "workload",
    "quantile",
    "rate",
    "window",
];

/// The environment variables `$namespace`, `$pod` and `$workload` default to (the downward API
/// values `warmgate inject` and the Helm chart set).
pub const ENV_NAMESPACE: &str = "POD_NAMESPACE";
/// See [`ENV_NAMESPACE`].
pub const ENV_POD: &str = "POD_NAME";
/// See [`ENV_NAMESPACE`].
pub const ENV_WORKLOAD: &str = "POD_WORKLOAD";

/// The agent's part of `gate.reference`: what to ask and how.
#[derive(Debug, Clone)]
pub struct ReferenceQuery {
    /// Base URL of the Prometheus HTTP API.
    pub prometheus_url: Url,
    /// The PromQL template (variables checked).
    pub query: String,
    /// How often Prometheus is asked.
    pub refresh: Duration,
    /// Bound on one round of queries.
    pub timeout: Duration,
    /// The bearer token: a file (re-read at each query) or a variable's value; never shown.
    pub bearer_token: Option<Secret>,
    /// `$namespace`.
    pub namespace: String,
    /// `$pod`.
    pub pod: String,
    /// `$workload`.
    pub workload: String,
}

/// Checks `gate.reference` (reporting at `gate.reference.KEY`): the gate's rule and the
/// agent's query, or None when a problem makes it unusable.
pub(super) fn reference(
    r: &ReferenceSection,
    c: &mut Checks<'_>,
) -> Option<(ReferenceRule, ReferenceQuery)> {
    let before = c.count();
    let url = match Url::parse(&r.prometheus_url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            c.problem(
                "reference.prometheus_url",
                format!("scheme {:?} is not http or https", u.scheme()),
            );
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            // Never quoted: the URL holds a credential.
            c.problem(
                "reference.prometheus_url",
                "holds credentials (not shown): give them in gate.reference.bearer_token as {file: PATH} or {env: NAME}",
            );
            None
        }
        Ok(u) if u.host_str().is_none() => {
            c.problem("reference.prometheus_url", "has no host");
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            c.problem("reference.prometheus_url", format!("not a URL: {e}"));
            None
        }
    };
    if let Err(e) = check_template(&r.query) {
        c.problem("reference.query", e);
    }
    if !(r.tolerance.is_finite() && r.tolerance > 0.0 && r.tolerance < 10.0) {
        c.problem(
            "reference.tolerance",
            format!("{} must be between 0 and 10 (exclusive)", r.tolerance),
        );
    }
    if r.min_peers == 0 || r.min_peers > 1000 {
        c.problem(
            "reference.min_peers",
            format!("{} must be between 1 and 1000", r.min_peers),
        );
    }
    if r.refresh < Duration::from_millis(100) || r.refresh > Duration::from_secs(3600) {
        c.problem(
            "reference.refresh",
            format!(
                "{} must be between 100ms and 1h",
                humantime::format_duration(r.refresh)
            ),
        );
    }
    if r.timeout < Duration::from_millis(10) || r.timeout > Duration::from_secs(60) {
        c.problem(
            "reference.timeout",
            format!(
                "{} must be between 10ms and 1m",
                humantime::format_duration(r.timeout)
            ),
        );
    }
    match &r.bearer_token {
        None | Some(Secret::File { .. }) | Some(Secret::FromEnv(_)) => {}
        Some(Secret::Text(_)) => c.problem(
            "reference.bearer_token",
            "inline text is refused (the value is not shown): give {file: PATH} or {env: NAME}",
        ),
        Some(Secret::Env { env }) => c.problem(
            "reference.bearer_token",
            format!("environment variable {env} is not set"),
        ),
        Some(Secret::Invalid(why)) => c.problem("reference.bearer_token", why),
    }
    if let Some(Secret::File { prefix, .. }) = &r.bearer_token {
        if !prefix.is_empty() {
            c.problem(
                "reference.bearer_token",
                "takes no prefix: the token is sent as `Authorization: Bearer <file contents>`",
            );
        }
    }
    if c.count() > before {
        return None;
    }
    let rule = ReferenceRule {
        mode: r.mode,
        tolerance: r.tolerance,
        min_peers: r.min_peers,
    };
    let query = ReferenceQuery {
        prometheus_url: url?,
        query: r.query.clone(),
        refresh: r.refresh,
        timeout: r.timeout,
        bearer_token: r.bearer_token.clone(),
        namespace: r.namespace.clone().unwrap_or_default(),
        pod: r.pod.clone().unwrap_or_default(),
        workload: r.workload.clone().unwrap_or_default(),
    };
    Some((rule, query))
}

/// Every `$name` in `template` is one of [`QUERY_VARS`]; `$$` is a literal `$`.
fn check_template(template: &str) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("is empty".to_string());
    }
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        if !QUERY_VARS.contains(&name) {
            return Err(format!(
                "unknown variable ${name} (known: {}; $$ for a literal $)",
                QUERY_VARS.map(|v| format!("${v}")).join(", ")
            ));
        }
        rest = &after[end..];
    }
    Ok(())
}

/// `template` with each `$name` replaced by `value(name)` (escaped for a PromQL double-quoted
/// string, where every variable of the default query sits) and `$$` by `$`.
pub fn render(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        for ch in value(&after[..end]).chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_known_variables_and_values_are_escaped() {
        assert!(check_template(super::super::defaults::DEFAULT_REFERENCE_QUERY).is_ok());
        let err = check_template("x{a=\"$endpont\"}").unwrap_err();
        assert!(err.contains("unknown variable $endpont"), "{err}");
        assert!(check_template("  ").is_err());
        let q = render(
            "m{e=\"$endpoint\",p!=\"$pod\"} > $$5 + $rate",
            |v| match v {
                "endpoint" => "a\"b\\c".to_string(),
                "pod" => String::new(),
                "rate" => "200".to_string(),
                _ => "?".to_string(),
            },
        );
        assert_eq!(q, "m{e=\"a\\\"b\\\\c\",p!=\"\"} > $5 + 200");
    }
}
