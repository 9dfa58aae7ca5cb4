//! Configuration tests: read from maps and strings, never from the process environment.

use std::collections::HashMap;
use std::time::Duration;

use super::*;

fn from_yaml(yaml: &str) -> Result<Settings, ConfigErrors> {
    load(&Sources {
        yaml: Some(yaml.to_string()),
        ..Sources::default()
    })
}

fn with_env(yaml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&Sources {
        yaml: Some(yaml.to_string()),
        env,
        ..Sources::default()
    })
}

fn errors(r: Result<Settings, ConfigErrors>) -> Vec<String> {
    match r {
        Ok(s) => panic!("expected errors, got {s:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn defaults_are_runnable() {
    let s = load(&Sources::default()).expect("defaults load");
    assert_eq!(s.listen.to_string(), "0.0.0.0:9901");
    assert_eq!(s.target.url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(s.endpoints[0].path, "/");
    assert_eq!(s.gate.criterion.quantile, 0.99);
    assert_eq!(s.gate.criterion.window, Duration::from_secs(5));
    assert_eq!(s.gate.criterion.lookback, Duration::from_secs(60));
    assert_eq!(s.gate.on_deadline, OnDeadline::Fail);
    assert_eq!(s.traffic.after_ready_rate, 0.0);
}

#[test]
fn default_rate_is_per_endpoint() {
    // One endpoint (the default): 200 rps; three: 600, so each still gets 200.
    assert_eq!(
        load(&Sources::default()).expect("defaults").traffic.rate,
        200.0
    );
    let s = from_yaml("endpoints:\n  - path: /a\n  - path: /b\n  - path: /c\n").expect("loads");
    assert_eq!(s.traffic.rate, 600.0);
    // An explicit rate wins.
    let s =
        from_yaml("endpoints: [{path: /a}, {path: /b}]\ntraffic: {rate: 300}\n").expect("loads");
    assert_eq!(s.traffic.rate, 300.0);
}

#[test]
fn human_durations_and_statuses_parse() {
    let s = from_yaml(
        "gate: {window: 2s, lookback: 20s, deadline: 2m, ceiling: 150ms}\n\
         endpoints:\n  - {name: a, path: /a, expect_status: \"200-299,404\", timeout: 1500ms}\n",
    )
    .expect("valid");
    assert_eq!(s.gate.criterion.window, Duration::from_secs(2));
    assert_eq!(s.gate.deadline, Duration::from_secs(120));
    assert_eq!(s.gate.ceiling, Some(Duration::from_millis(150)));
    assert!(s.endpoints[0].expect_status.contains(404));
    assert!(!s.endpoints[0].expect_status.contains(300));
    assert_eq!(s.endpoints[0].timeout, Duration::from_millis(1500));
}

#[test]
fn env_overrides_win_over_the_file() {
    let s = with_env(
        "traffic: {rate: 300}\n",
        &[
            ("WARMGATE_TRAFFIC__RATE", "500"),
            ("WARMGATE_GATE__ON_DEADLINE", "open"),
            ("HOME", "/x"),
        ],
    )
    .expect("valid");
    assert_eq!(s.traffic.rate, 500.0);
    assert_eq!(s.gate.on_deadline, OnDeadline::Open);
}

#[test]
fn config_source_variables_are_not_overrides() {
    let s =
        with_env("{}", &[(ENV_FILE, "/nonexistent.yaml"), (ENV_YAML, "x: 1")]).expect("ignored");
    assert_eq!(s.traffic.rate, 200.0);
}

#[test]
fn every_bad_field_is_named_at_once() {
    let errs = errors(from_yaml(
        "gate: {toleranse: 0.1, quantile: 1.5, window: fast}\n\
         traffic: {rate: -3}\n\
         target: {url: \"ftp://x\"}\n\
         endpoints:\n  - {name: \"bad name\", path: nope, method: \"G T\"}\n\
         colour: blue\n",
    ));
    let joined = errors_text(&errs);
    for needle in [
        "gate.toleranse: unknown key",
        "gate.quantile",
        "gate.window: invalid duration",
        "traffic.rate",
        "target.url",
        "endpoints[0].name",
        "endpoints[0].path",
        "endpoints[0].method",
        "colour: unknown key",
    ] {
        assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
    }
}

fn errors_text(errs: &[String]) -> String {
    errs.join("\n")
}

#[test]
fn remote_targets_are_refused_unless_allowed() {
    let errs = errors(from_yaml("target: {url: \"http://10.1.2.3:8080\"}\n"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("target.url") && e.contains("not loopback")),
        "{errs:?}"
    );
    let errs = errors(from_yaml("target: {url: \"http://example.com\"}\n"));
    assert!(errs.iter().any(|e| e.contains("not loopback")), "{errs:?}");
    let s = from_yaml("target: {url: \"http://10.1.2.3:8080\", allow_remote: true}\n")
        .expect("allowed");
    assert!(s.target.allow_remote);
    for ok in ["http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"] {
        from_yaml(&format!("target: {{url: \"{ok}\"}}\n")).expect(ok);
    }
}

#[test]
fn header_values_never_appear_in_errors_or_effective_config() {
    let secret = "Bearer s3cr3t-token";
    let s = from_yaml(&format!(
        "endpoints:\n  - {{path: /, headers: {{Authorization: \"{secret}\"}}}}\n"
    ))
    .expect("valid");
    let shown = effective(&s).to_string();
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("<redacted>"));
    let errs = errors(from_yaml(
        "endpoints:\n  - {path: /, headers: {X-Key: \"bad\\nvalue-s3cr3t\"}}\n",
    ));
    assert!(!errors_text(&errs).contains("s3cr3t"), "{errs:?}");
}

#[test]
fn too_little_traffic_for_min_samples_is_an_error() {
    let errs = errors(from_yaml("traffic: {rate: 20}\n"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("traffic.rate") && e.contains("min_samples")),
        "{errs:?}"
    );
}

#[test]
fn retired_gate_keys_name_their_replacement() {
    // Issue 9: the trend test and the drift bound are gone; their keys must not be silent no-ops.
    let errs = errors(from_yaml("gate: {trend_z: 2, max_drift: 0.1}\n"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("gate.trend_z") && e.contains("gate.confidence")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("gate.max_drift") && e.contains("gate.max_rise")),
        "{errs:?}"
    );
    let errs = errors(from_yaml("gate: {confidence: 0.2, horizon: 1s}\n"));
    assert!(
        errs.iter().any(|e| e.starts_with("gate.confidence")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("gate.horizon")),
        "{errs:?}"
    );
}

#[test]
fn lookback_must_be_whole_windows() {
    let errs = errors(from_yaml("gate: {window: 5s, lookback: 12s}\n"));
    assert!(
        errs.iter().any(|e| e.starts_with("gate.lookback")),
        "{errs:?}"
    );
}

#[test]
fn toml_files_load_by_extension() {
    let dir = std::env::temp_dir().join(format!("warmgate-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("w.toml");
    std::fs::write(
        &path,
        "[traffic]\nrate = 400\n[gate]\nwindow = \"2s\"\nlookback = \"20s\"\n",
    )
    .expect("write");
    let s = load(&Sources {
        file: Some(path),
        ..Sources::default()
    })
    .expect("toml");
    assert_eq!(s.traffic.rate, 400.0);
    assert_eq!(s.gate.criterion.window, Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let errs = errors(load(&Sources {
        file: Some("/nonexistent/w.yaml".into()),
        ..Sources::default()
    }));
    assert!(
        errs[0].contains("/nonexistent/w.yaml") && errs[0].contains("cannot read"),
        "{errs:?}"
    );
}

#[test]
fn each_endpoint_gets_its_own_ceiling_else_the_global_one() {
    let s = from_yaml(
        "gate: {ceiling: 200ms}\nendpoints:\n  - {name: a, path: /a, ceiling: 50ms}\n  - {name: b, path: /b}\ntraffic: {rate: 400}\n",
    )
    .expect("valid");
    let ceilings: Vec<(&str, Option<Duration>)> = s
        .gate
        .criterion
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.ceiling))
        .collect();
    assert_eq!(
        ceilings,
        vec![
            ("a", Some(Duration::from_millis(50))),
            ("b", Some(Duration::from_millis(200)))
        ]
    );
}

#[test]
fn env_overrides_of_durations_may_be_plain_seconds() {
    // try_parsing(true) turns "600" into an integer: it must still read as a duration.
    let s = with_env(
        "{}",
        &[
            ("WARMGATE_GATE__DEADLINE", "900"),
            ("WARMGATE_TARGET__WAIT_TIMEOUT", "2m"),
        ],
    )
    .expect("valid");
    assert_eq!(s.gate.deadline, Duration::from_secs(900));
    assert_eq!(s.target.wait_timeout, Duration::from_secs(120));
}

#[test]
fn the_effective_config_loads_back_as_itself() {
    // `warmgate check` prints what the schema serializes; read back, it is the same config
    // (bodies excepted: they print as a length and a hash).
    for yaml in [
        "{}",
        "gate: {ceiling: 200ms, window: 2s, lookback: 20s, on_deadline: open}\n\
         target: {http: h2c, readiness_path: /ready, insecure_tls: true}\n\
         log: {format: json}\n\
         endpoints:\n  - {name: a, path: /a, method: post, expect_status: [200, 204], ceiling: 50ms}\n  \
         - {path: /b/c, weight: 3, timeout: 1500ms}\n\
         traffic: {rate: 900, ramp: 0s, after_ready_rate: 5}\n",
    ] {
        let first = effective(&from_yaml(yaml).expect("valid"));
        let text = serde_json::to_string(&first).expect("writes");
        let again = effective(&from_yaml(&text).expect("reloads"));
        assert_eq!(first, again, "{yaml}");
    }
}

#[test]
fn problems_carry_their_section_for_callers() {
    let file = ConfigFile {
        traffic: TrafficSection {
            rate: Some(1.0),
            ..TrafficSection::default()
        },
        ..ConfigFile::default()
    };
    let problems = validate(file).expect_err("a trickle is refused");
    assert_eq!(problems[0].section, Section::Traffic, "{problems:?}");
    assert!(problems[0].to_string().starts_with("traffic.rate: "));
}

#[test]
fn the_fleet_reference_is_checked_and_its_secrets_never_shown() {
    let s = with_env(
        "gate: {reference: {prometheus_url: \"http://prom:9090\", bearer_token: {env: PROM_TOKEN}}}",
        &[("PROM_TOKEN", "s3cr3t-token"), ("POD_NAME", "shop-1")],
    )
    .expect("loads");
    let q = s.gate.reference.as_ref().expect("query");
    assert_eq!(q.pod, "shop-1");
    assert_eq!(q.refresh, Duration::from_secs(2));
    let rule = s.gate.criterion.reference.as_ref().expect("rule");
    assert_eq!((rule.tolerance, rule.min_peers), (0.15, 1));
    let shown = effective(&s).to_string();
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    assert!(
        shown.contains("\"prometheus_url\":\"http://prom:9090/\""),
        "{shown}"
    );
    assert!(!format!("{s:?}").contains("s3cr3t-token"));

    let e = errors(from_yaml(
        "gate:\n  reference:\n    prometheus_url: \"http://user:hunter2@prom:9090\"\n    bearer_token: inline-token\n    query: 'up{a=\"$endpont\"}'\n    tolerance: 0\n    refresh: 10ms\n    min_peers: 0\n",
    ))
    .join("\n");
    for want in [
        "gate.reference.prometheus_url: holds credentials",
        "gate.reference.bearer_token: inline text is refused",
        "gate.reference.query: unknown variable $endpont",
        "gate.reference.tolerance",
        "gate.reference.refresh",
        "gate.reference.min_peers",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
    assert!(!e.contains("hunter2") && !e.contains("inline-token"), "{e}");
    let e = errors(with_env(
        "gate: {reference: {prometheus_url: \"ftp://prom\", bearer_token: {env: NOPE}}}",
        &[],
    ))
    .join("\n");
    assert!(e.contains("scheme \"ftp\""), "{e}");
    assert!(e.contains("environment variable NOPE is not set"), "{e}");
    let e = errors(from_yaml("gate: {reference: {prometheus_ur: x}}")).join("\n");
    assert!(e.contains("gate.reference"), "{e}");
}
