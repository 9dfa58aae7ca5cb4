//! Random and mutated YAML fed to the configuration loader and to `warmgate inject`, for a
//! bounded number of cases (a few seconds in CI): nothing panics or aborts, and every refusal
//! comes with a message (through the binary: exit 2 and a message on stderr).

use std::process::Command;

use proptest::prelude::*;
use warmgate::config::{self, Sources};
use warmgate::inject::{inject_str, Options};
use warmgate_testkit::manifests::opted_in_pod as pod;

/// Pieces of YAML, the schema's keys and the values that broke warmgate before.
const TOKENS: &[&str] = &[
    "\n",
    "\n  ",
    "\n    ",
    "\n- ",
    "- ",
    ": ",
    ", ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: *a",
    "---\n",
    "...\n",
    "# c\n",
    "'",
    "\"",
    "|\n  ",
    ">\n  ",
    "!!str ",
    "!!map ",
    "?",
    "listen",
    "log",
    "format",
    "level",
    "target",
    "url",
    "readiness_path",
    "allow_remote",
    "endpoints",
    "path",
    "name",
    "method",
    "headers",
    "Authorization",
    "body",
    "weight",
    "timeout",
    "ceiling",
    "traffic",
    "rate",
    "max_inflight",
    "ramp",
    "gate",
    "quantile",
    "window",
    "lookback",
    "deadline",
    "shutdown_grace",
    "max_memory_mib",
    "on_deadline",
    "open",
    "json",
    "h2c",
    "true",
    "null",
    "~",
    "0",
    "1",
    "-1",
    "0.99",
    "1e999",
    ".inf",
    ".nan",
    "5s",
    "100ms",
    "10000000000000000000s",
    "/",
    "/a",
    "//evil:80/x",
    "/\\evil",
    "?q=1",
    "http://127.0.0.1:8080",
    "http://u:p@127.0.0.1",
    "http://[::1]:9",
    "200-399",
    "\u{e9}",
    "\t",
    "\\",
    "%",
    "@",
    "`",
];

/// A valid configuration using most sections, the seed of the mutations.
const SEED: &str = "\
listen: 127.0.0.1:9901
log: {format: json, level: info}
target: {url: 'http://127.0.0.1:8080', readiness_path: /ready}
endpoints:
  - {name: a, path: /a, method: POST, headers: {Authorization: 'Bearer x'}, body: '{}'}
  - {path: /b?x=1, weight: 3, timeout: 1500ms}
traffic: {rate: 900, ramp: 0s}
gate: {window: 2s, lookback: 20s, ceiling: 200ms, deadline: 10m}
";

fn tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

/// `text` with up to 8 byte edits (insert, delete or replace), kept valid UTF-8.
fn mutated(text: &'static str) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(TOKENS),
    );
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut s = text.to_string();
        for (at, op, token) in edits {
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            match op {
                0 => s.insert_str(i, token),
                1 => {
                    let end = (i..=s.len()).find(|j| s.is_char_boundary(*j) && *j > i);
                    if let Some(end) = end {
                        s.replace_range(i..end, "");
                    }
                }
                _ => {
                    let end = (i + token.len()).min(s.len());
                    let end = (end..=s.len())
                        .find(|j| s.is_char_boundary(*j))
                        .unwrap_or(s.len());
                    s.replace_range(i..end, token);
                }
            }
        }
        s
    })
}

/// Loads `yaml` in-process: no panic (proptest reports one), and a refusal has messages.
fn loads_or_explains(yaml: &str) -> Result<(), TestCaseError> {
    if let Err(e) = config::load(&Sources {
        yaml: Some(yaml.to_string()),
        ..Sources::default()
    }) {
        prop_assert!(!e.0.is_empty(), "refused without a message");
        prop_assert!(e.0.iter().all(|m| !m.trim().is_empty()), "{e}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_yaml_never_crashes_the_loader(yaml in tokens()) {
        loads_or_explains(&yaml)?;
    }

    #[test]
    fn mutated_configurations_never_crash_the_loader(yaml in mutated(SEED)) {
        loads_or_explains(&yaml)?;
    }

    #[test]
    fn inject_never_crashes_and_explains_refusals(paths in tokens(), doc in mutated("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {warmgate.io/inject: \"true\"}\nspec:\n  containers:\n  - {name: app, image: app, ports: [{containerPort: 8080}]}\n")) {
        for input in [pod(&paths), doc] {
            match inject_str(&input, &Options::default()) {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
            }
        }
        // An accepted annotation never names a host.
        if inject_str(&pod(&paths), &Options::default()).is_ok() {
            for p in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                prop_assert!(config::check_path(p).is_ok(), "{p:?}");
            }
        }
    }
}

proptest! {
    // Through the real binary: fewer cases, each is a process.
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn check_exits_0_or_2_with_a_message(yaml in prop_oneof![tokens(), mutated(SEED)]) {
        prop_assume!(!yaml.contains('\0'));
        let out = Command::new(env!("CARGO_BIN_EXE_warmgate"))
            .env_clear()
            .env(config::ENV_YAML, &yaml)
            .arg("check")
            .output()
            .expect("warmgate check runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(2) => prop_assert!(stderr.contains("warmgate: "), "{stderr}"),
            other => prop_assert!(false, "exit {other:?}: {stderr}\n{yaml}"),
        }
    }
}
