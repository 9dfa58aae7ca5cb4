//! deploy/prometheus and deploy/grafana, checked offline with `promtool` (Debian `prometheus`):
//! the PrometheusRule's groups pass `promtool check rules` and the unit tests in
//! warmgate-rules.test.yaml; every dashboard query is valid PromQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_serde::{Mapping, Value};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn promtool() -> PathBuf {
    warmgate_testkit::tool("promtool", "prometheus")
}

/// A fresh directory under the target's temp dir for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn promtool_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn rule_resource() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/prometheus/warmgate-rules.yaml"))
        .expect("rules file");
    yaml_serde::from_str(&text).expect("rules file is YAML")
}

/// Writes the PrometheusRule's `spec` (the plain rule-file form) into `dir`.
fn write_plain_rules(dir: &Path) {
    let spec = &rule_resource()["spec"];
    let text = yaml_serde::to_string(spec).expect("spec serialises");
    std::fs::write(dir.join("warmgate-rules.plain.yaml"), text).expect("write rules");
}

#[test]
fn prometheus_rule_resource_is_well_formed() {
    let rule = rule_resource();
    assert_eq!(
        rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    assert!(rule["metadata"]["name"]
        .as_str()
        .is_some_and(|n| !n.is_empty()));
    let groups = rule["spec"]["groups"].as_sequence().expect("groups");
    let alerts: Vec<String> = groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .filter_map(|r| r.get("alert").and_then(Value::as_str).map(str::to_string))
        .collect();
    for want in [
        "WarmgateWarmupFailed",
        "WarmgateStuckWarming",
        "WarmgateTimeToReadyRising",
    ] {
        assert!(
            alerts.iter().any(|a| a == want),
            "missing alert {want}: {alerts:?}"
        );
    }
}

#[test]
fn rules_pass_promtool_check_rules() {
    let dir = scratch("promtool-check");
    write_plain_rules(&dir);
    let out = promtool_ok(&dir, &["check", "rules", "warmgate-rules.plain.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alerts_pass_promtool_unit_tests() {
    let dir = scratch("promtool-test");
    write_plain_rules(&dir);
    std::fs::copy(
        repo().join("deploy/prometheus/warmgate-rules.test.yaml"),
        dir.join("warmgate-rules.test.yaml"),
    )
    .expect("copy unit tests");
    let out = promtool_ok(&dir, &["test", "rules", "warmgate-rules.test.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/warmgate-dashboard.json"))
        .expect("dashboard");
    serde_json::from_str(&text).expect("dashboard is JSON")
}

/// Every `expr` of every panel target, and the selectors inside the variables' `label_values`.
fn dashboard_queries(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((
                    format!("panel {:?} {}", p["title"], t["refId"]),
                    e.to_string(),
                ));
            }
        }
    }
    for v in d["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = v["query"]["query"].as_str() {
            // label_values(SELECTOR, label): the selector is PromQL.
            let inner = q
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .map(|(s, _)| s.to_string());
            out.push((
                format!("variable {}", v["name"]),
                inner.expect("label_values(selector, label)"),
            ));
        }
    }
    out
}

/// Grafana's variables replaced by values PromQL accepts.
fn substitute(expr: &str) -> String {
    expr.replace("$cluster", ".*")
        .replace("$namespace", ".*")
        .replace("$pod", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
}

#[test]
fn dashboard_has_variables_and_the_required_panels() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert_eq!(var("cluster")["type"], "query");
    // A single-cluster Prometheus has no `cluster` label: "All" must still match.
    assert_eq!(var("cluster")["allValue"], ".*");
    assert_eq!(var("namespace")["type"], "query");
    assert_eq!(var("pod")["type"], "query");
    let panels = d["panels"].as_array().expect("panels");
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {:?} ignores the datasource variable",
            p["title"]
        );
    }
    let exprs: Vec<String> = dashboard_queries(&d).into_iter().map(|(_, e)| e).collect();
    let uses = |needle: &str| exprs.iter().any(|e| e.contains(needle));
    for needle in [
        "warmgate_phase{",
        "warmgate_window_latency_seconds{",
        "warmgate_gate_pass{",
        "warmgate_requests_total{",
        "warmgate_time_to_ready_seconds{",
    ] {
        assert!(uses(needle), "no panel queries {needle}");
    }
    for (at, e) in dashboard_queries(&d) {
        if !at.starts_with("variable") {
            assert!(
                e.contains("$cluster") && e.contains("$namespace") && e.contains("$pod"),
                "{at} ignores the cluster/namespace/pod selectors: {e}"
            );
        }
    }
}

/// `$__range` spans the whole time picker: in a range query every point would count the
/// whole range again, so only instant queries may use it.
#[test]
fn range_variable_only_in_instant_queries() {
    let d = dashboard();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            if t["expr"].as_str().is_some_and(|e| e.contains("$__range")) {
                assert!(
                    t["instant"] == true && t["range"] != true,
                    "panel {:?} uses $__range in a range query",
                    p["title"]
                );
            }
        }
    }
}

/// A GitHub anchor of a Markdown heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_a_runbook_section_of_deploy_md() {
    let deploy = std::fs::read_to_string(repo().join("docs/DEPLOY.md")).expect("DEPLOY.md");
    let anchors: Vec<String> = deploy
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect();
    let base = "https://github.com/warmgate/warmgate/blob/main/docs/DEPLOY.md#";
    let mut alerts = 0;
    for g in rule_resource()["spec"]["groups"]
        .as_sequence()
        .expect("groups")
    {
        for r in g["rules"].as_sequence().expect("rules") {
            let Some(name) = r["alert"].as_str() else {
                continue;
            };
            alerts += 1;
            let url = r["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no runbook_url"));
            let section = url
                .strip_prefix(base)
                .unwrap_or_else(|| panic!("{name}: {url} is not a DEPLOY.md section"));
            assert!(
                anchors.iter().any(|a| a == section),
                "{name}: no section #{section} in docs/DEPLOY.md"
            );
        }
    }
    assert!(alerts >= 4, "{alerts} alerts");
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let queries = dashboard_queries(&dashboard());
    let mut rules = Vec::new();
    for (i, (_, expr)) in queries.iter().enumerate() {
        let mut m = Mapping::new();
        m.insert(
            Value::from("record"),
            Value::from(format!("dashboard:query_{i}")),
        );
        m.insert(Value::from("expr"), Value::from(substitute(expr)));
        rules.push(Value::Mapping(m));
    }
    let mut group = Mapping::new();
    group.insert(Value::from("name"), Value::from("dashboard"));
    group.insert(Value::from("rules"), Value::Sequence(rules));
    let mut file = Mapping::new();
    file.insert(
        Value::from("groups"),
        Value::Sequence(vec![Value::Mapping(group)]),
    );
    let dir = scratch("promtool-dashboard");
    std::fs::write(
        dir.join("dashboard.rules.yaml"),
        yaml_serde::to_string(&file).expect("yaml"),
    )
    .expect("write");
    let out = promtool_ok(&dir, &["check", "rules", "dashboard.rules.yaml"]);
    assert!(
        out.contains(&format!("{} rules found", queries.len())),
        "{out}"
    );
}
