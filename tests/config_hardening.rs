//! Issue 10, the configuration half: configuration that could send traffic off the pod, kill
//! the process, or echo a secret is refused by `warmgate check` with exit 2 and a message that
//! names the key, within a few seconds. Each test names the item of the issue it guards.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warmgate::config::{self, Sources};
use warmgate::inject::{inject_str, Options};
use warmgate_testkit::manifests::opted_in_pod as pod;

/// What `warmgate check` did: exit code, stdout, stderr.
struct Checked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Checked {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts exit 2 (a configuration error) with `key` named on stderr.
    fn refused(&self, key: &str, what: &str) {
        assert_eq!(self.code, Some(2), "{what}: {}", self.all());
        assert!(
            self.stderr.contains(key),
            "{what}: {key} not named: {}",
            self.stderr
        );
    }
}

/// Runs `warmgate check` on `yaml`, inline (`WARMGATE_CONFIG_YAML`) or as a file; kills it and
/// fails if it takes more than 20 s (the bugs guarded here never ended, or aborted).
fn check(yaml: &str, as_file: bool) -> Checked {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmgate"));
    cmd.env_clear().arg("check");
    let path: PathBuf;
    if as_file {
        path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "hardening-{}-{}.yaml",
            std::process::id(),
            yaml.len()
        ));
        std::fs::write(&path, yaml).expect("write config");
        cmd.arg("--config").arg(&path);
    } else {
        cmd.env(config::ENV_YAML, yaml);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warmgate check");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("warmgate check ran for more than 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    Checked {
        code,
        stdout,
        stderr,
    }
}

fn load(yaml: &str) -> Result<config::Settings, config::ConfigErrors> {
    config::load(&Sources {
        yaml: Some(yaml.to_string()),
        ..Sources::default()
    })
}

// Item 3: traffic and credentials can leave the pod.

#[test]
fn item3_paths_that_name_a_host_are_refused() {
    for (yaml, key) in [
        (
            "endpoints: [{path: '//127.0.0.2:9/x'}]",
            "endpoints[0].path",
        ),
        (
            "endpoints: [{path: '/\\evil.example/x'}]",
            "endpoints[0].path",
        ),
        (
            "target: {readiness_path: '//evil.example/ready'}",
            "target.readiness_path",
        ),
        (
            "target: {readiness_path: '/\\evil.example/ready'}",
            "target.readiness_path",
        ),
    ] {
        check(yaml, false).refused(key, yaml);
    }
}

#[test]
fn item3_the_join_keeps_the_target_authority() {
    let s = load("endpoints: [{path: /a b?x=1}]").expect("valid");
    for path in ["//evil.example:80/x", "/\\evil.example/x", "/a b?x=1"] {
        let url = s.target.url_for(path);
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{path:?} -> {url}");
        assert_eq!(url.port(), Some(8080), "{path:?} -> {url}");
    }
    assert_eq!(
        s.target.url_for(&s.endpoints[0].path).as_str(),
        "http://127.0.0.1:8080/a%20b?x=1"
    );
}

#[test]
fn item3_inject_refuses_annotation_paths_that_name_a_host() {
    assert!(inject_str(&pod("/,/api"), &Options::default()).is_ok());
    for bad in ["/,//evil.example:80/x", "/\\evil.example/x"] {
        let e = inject_str(&pod(bad), &Options::default()).expect_err(bad);
        assert!(
            e.to_string().contains("warmgate.io/endpoints"),
            "{bad}: {e}"
        );
    }
}

// Item 4: configuration that kills the process.

fn alias_bomb() -> String {
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for c in b'b'..=b'i' {
        let (p, c) = ((c - 1) as char, c as char);
        let refs = vec![format!("*{p}"); 9].join(",");
        doc.push_str(&format!("{c}: &{c} [{refs}]\n"));
    }
    doc
}

#[test]
fn item4_an_alias_bomb_is_refused_inline_and_from_a_file() {
    let bomb = alias_bomb();
    assert!(bomb.len() < 400, "{}", bomb.len());
    check(&bomb, false).refused("aliases", "inline bomb");
    check(&bomb, true).refused("aliases", "file bomb");
}

#[test]
fn item4_deep_nesting_is_refused() {
    let block = format!("{}x\n", "- ".repeat(10_000));
    check(&block, false).refused("nest deeper", "block nesting");
    // Flow nesting is bounded by yaml-rust2's own scanner; either limit answers with exit 2.
    let flow = format!("x: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let out = check(&flow, true);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(
        out.stderr.contains("nest deeper") || out.stderr.contains("recursion limit"),
        "{}",
        out.stderr
    );
}

#[test]
fn item4_too_many_endpoints_are_refused_quickly() {
    let many = |n: usize| format!("endpoints:\n{}", "- {}\n".repeat(n));
    let started = Instant::now();
    check(&many(40_000), true).refused(&format!("more than {}", config::MAX_ENDPOINTS), "40k");
    check(&many(1_500_000), true).refused("bytes", "1.5M endpoints");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let distinct: String = (0..config::MAX_ENDPOINTS)
        .map(|i| format!("- {{path: /e{i}}}\n"))
        .collect();
    let most = format!("traffic: {{rate: 60000}}\nendpoints:\n{distinct}");
    load(&most).expect("the most endpoints allowed load");
}

#[test]
fn item4_inject_refuses_more_endpoints_than_warmgate_accepts() {
    let paths = |n: usize| {
        (0..n)
            .map(|i| format!("/e{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let e = inject_str(&pod(&paths(config::MAX_ENDPOINTS + 1)), &Options::default())
        .expect_err("too many");
    assert!(e.to_string().contains("endpoints"), "{e}");
}

#[test]
fn item4_durations_past_the_maximum_are_refused() {
    for (yaml, key) in [
        ("gate: {deadline: 10000000000000000000s}", "gate.deadline"),
        ("shutdown_grace: 10000000000000000000s", "shutdown_grace"),
        ("target: {wait_timeout: 1000000000}", "target.wait_timeout"),
    ] {
        check(yaml, false).refused(key, yaml);
    }
}

#[test]
fn item4_histograms_past_the_memory_bound_are_refused() {
    let endpoints: String = (0..50).map(|i| format!("- {{path: /e{i}}}\n")).collect();
    let yaml = format!("gate: {{window: 100ms, lookback: 100s}}\ntraffic: {{rate: 50000}}\nendpoints:\n{endpoints}");
    check(&yaml, false).refused("gate.max_memory_mib", "50 x 1000 windows");
    // The bound is configurable.
    let raised = yaml.replace("lookback: 100s", "lookback: 100s, max_memory_mib: 2000");
    let out = check(&raised, false);
    assert_eq!(out.code, Some(0), "{}", out.all());
}

// Item 7: secrets outside headers.

#[test]
fn item7_url_passwords_are_never_shown() {
    for yaml in [
        "target: {url: 'http://admin:hunter2@127.0.0.1:8080'}",
        "target: {url: 'http://admin:hunter2@[::1'}",
        "target: {url: 'ftp://admin:hunter2@127.0.0.1/'}",
    ] {
        let out = check(yaml, false);
        out.refused("target.url", yaml);
        assert!(!out.all().contains("hunter2"), "{yaml}: {}", out.all());
    }
}

#[test]
fn item7_header_values_are_never_echoed_in_type_errors() {
    for yaml in [
        "endpoints: [{path: /, headers: {X-Api-Key: 8675309}}]",
        "endpoints: [{path: /, headers: 8675309}]",
        "endpoints: [{path: /, headers: {X-Api-Key: [8675309]}}]",
    ] {
        let out = check(yaml, false);
        out.refused("endpoints[0].headers", yaml);
        assert!(!out.all().contains("8675309"), "{yaml}: {}", out.all());
    }
}

#[test]
fn item7_check_shows_bodies_as_a_length_and_a_hash() {
    let out = check(
        "endpoints: [{path: /, method: POST, body: '{\"password\": \"hunter2\"}'}]",
        false,
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(out.stdout.contains("23 bytes"), "{}", out.stdout);
}

// Item 8 (part): numbers that silently became defaults, and silence on an empty file.

#[test]
fn item8_infinite_numbers_are_refused_not_defaulted() {
    for (yaml, key) in [
        ("traffic: {rate: 1e999}", "traffic.rate"),
        ("gate: {quantile: 1e999}", "gate.quantile"),
        ("gate: {tolerance: -1e999}", "gate.tolerance"),
    ] {
        check(yaml, false).refused(key, yaml);
    }
    // TOML's `inf`/`nan` and an override's `inf` take the same way in.
    let toml = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hardening-inf.toml");
    std::fs::write(&toml, "[traffic]\nrate = inf\n[gate]\nquantile = nan\n").expect("write");
    let env = [("WARMGATE_TRAFFIC__RATE", "inf")];
    for (args, env) in [
        (vec!["--config", toml.to_str().expect("utf-8")], &[][..]),
        (vec![], &env[..]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_warmgate"))
            .env_clear()
            .envs(env.iter().copied())
            .arg("check")
            .args(&args)
            .output()
            .expect("warmgate check runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains("is not a finite number for key"),
            "{stderr}"
        );
    }
}

#[test]
fn item8_an_empty_configuration_says_so() {
    for (yaml, as_file) in [("", true), ("# nothing yet\n", true), ("", false)] {
        let out = check(yaml, as_file);
        assert_eq!(out.code, Some(0), "{}", out.all());
        assert!(
            out.stderr.contains(config::NO_CONFIGURATION),
            "{yaml:?}: {}",
            out.stderr
        );
    }
    let out = check("target: {url: 'http://127.0.0.1:9000'}", false);
    assert!(
        !out.stderr.contains(config::NO_CONFIGURATION),
        "{}",
        out.stderr
    );
}
