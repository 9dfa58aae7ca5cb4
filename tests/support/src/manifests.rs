//! Kubernetes manifests the inject and config tests feed to `warmgate inject`.

/// A bare Pod opted in to injection, with one app container on port 8080 and `paths` as its
/// `warmgate.io/endpoints` annotation (written as a YAML string, so any text goes).
pub fn opted_in_pod(paths: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    \
         warmgate.io/inject: \"true\"\n    warmgate.io/endpoints: {paths:?}\n\
         spec:\n  containers:\n  - name: app\n    image: app\n    ports:\n    \
         - containerPort: 8080\n"
    )
}

/// The valid manifests under `tests/fixtures/inject/`, each injected with `--all` by the deploy
/// tests (the invalid ones, `bad-*.yaml`, have tests of their own).
pub const INJECT_FIXTURES: [&str; 5] = [
    "deployment-probes.yaml",
    "deployment-noprobes.yaml",
    "multi.yaml",
    "cronjob.yaml",
    "unannotated.yaml",
];
