//! The warm-up configuration `warmgate inject` writes into [`super::CONFIG_ENV`]: a few keys,
//! checked as the typed configuration warmgate itself would load, before anything is written.

use std::time::Duration;

use yaml_serde::{Mapping, Value};

use crate::config::{
    self, ConfigFile, EndpointSection, GateSection, LogFormat, LogSection, Problem,
    ReferenceSection, TargetSection, TrafficSection,
};
use crate::gate::ReferenceMode;

/// Slack on top of wait + deadline so the kubelet never gives up before warmgate decides.
pub const STARTUP_MARGIN_S: u64 = 60;
/// `periodSeconds` of the injected startupProbe.
pub const STARTUP_PERIOD_S: u64 = 10;

/// What `warmgate inject` configures for one app; every other key keeps warmgate's default.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineConfig {
    /// `target.url`, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// `target.insecure_tls`: set when the app's own probe used `scheme: HTTPS`.
    pub insecure_tls: bool,
    /// `target.readiness_path`: the app's own readiness httpGet path, still checked.
    pub readiness_path: Option<String>,
    /// `target.wait_timeout`, whole seconds.
    pub wait_timeout: Duration,
    /// `gate.deadline`, whole seconds.
    pub deadline: Duration,
    /// `(name, path)` of each endpoint.
    pub endpoints: Vec<(String, String)>,
    /// `traffic.rate`, when annotated.
    pub rate: Option<f64>,
    /// `log.format: json`: what cluster log collectors parse (injected pods always set it).
    pub json_logs: bool,
    /// `gate.reference`: the Prometheus URL and mode, when annotated (every other reference key
    /// keeps its default; `$namespace`, `$pod`, `$workload` come from the downward API env).
    pub reference: Option<(String, ReferenceMode)>,
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn number(x: f64) -> Value {
    // Whole rates are written as integers so the config reads `rate: 200`, not `200.0`.
    if x.fract() == 0.0 && x >= 0.0 && x < u64::MAX as f64 {
        Value::from(x as u64)
    } else {
        Value::from(x)
    }
}

fn seconds(d: Duration) -> Value {
    Value::from(format!("{}s", d.as_secs()))
}

impl InlineConfig {
    /// The configuration as warmgate's schema: these keys set, every other one its default.
    pub fn file(&self) -> ConfigFile {
        let endpoints = self
            .endpoints
            .iter()
            .map(|(name, path)| EndpointSection {
                name: Some(name.clone()),
                path: path.clone(),
                ..EndpointSection::default()
            })
            .collect();
        ConfigFile {
            target: TargetSection {
                url: self.url.clone(),
                insecure_tls: self.insecure_tls,
                readiness_path: self.readiness_path.clone(),
                wait_timeout: self.wait_timeout,
                ..TargetSection::default()
            },
            endpoints: Some(endpoints),
            traffic: TrafficSection {
                rate: self.rate,
                ..TrafficSection::default()
            },
            gate: GateSection {
                deadline: self.deadline,
                reference: self.reference.as_ref().map(|(url, mode)| ReferenceSection {
                    mode: *mode,
                    ..ReferenceSection::new(url)
                }),
                ..GateSection::default()
            },
            log: LogSection {
                format: if self.json_logs {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                },
                ..LogSection::default()
            },
            ..ConfigFile::default()
        }
    }

    /// What warmgate would refuse at start-up (e.g. a rate too low for the gate ever to
    /// collect enough samples), in the order its checks find them; empty when it would start.
    pub fn problems(&self) -> Vec<Problem> {
        config::validate(self.file()).err().unwrap_or_default()
    }

    /// Renders the configuration as the YAML text warmgate reads from [`super::CONFIG_ENV`]:
    /// only the keys set here, so the pod spec stays short. Fails only if the YAML writer
    /// does (a tree of strings, numbers and mappings).
    pub fn to_yaml(&self) -> Result<String, String> {
        let mut target = vec![("url", Value::from(self.url.as_str()))];
        if self.insecure_tls {
            target.push(("insecure_tls", Value::Bool(true)));
        }
        if let Some(path) = &self.readiness_path {
            target.push(("readiness_path", Value::from(path.as_str())));
        }
        target.push(("wait_timeout", seconds(self.wait_timeout)));
        let endpoints = self
            .endpoints
            .iter()
            .map(|(name, path)| {
                map(vec![
                    ("name", Value::from(name.as_str())),
                    ("path", Value::from(path.as_str())),
                ])
            })
            .collect();
        let mut top = Vec::new();
        if self.json_logs {
            top.push(("log", map(vec![("format", Value::from("json"))])));
        }
        top.extend([
            ("target", map(target)),
            ("endpoints", Value::Sequence(endpoints)),
        ]);
        if let Some(rate) = self.rate {
            top.push(("traffic", map(vec![("rate", number(rate))])));
        }
        let mut gate = vec![("deadline", seconds(self.deadline))];
        if let Some((url, mode)) = &self.reference {
            let mut r = vec![("prometheus_url", Value::from(url.as_str()))];
            if *mode != ReferenceMode::default() {
                r.push(("mode", Value::from(mode.as_str())));
            }
            gate.push(("reference", map(r)));
        }
        top.push(("gate", map(gate)));
        yaml_serde::to_string(&map(top)).map_err(|e| format!("cannot write the configuration: {e}"))
    }

    /// `failureThreshold` of the app's startupProbe: covers wait + deadline + margin.
    pub fn startup_failure_threshold(&self) -> u64 {
        (self.wait_timeout.as_secs() + self.deadline.as_secs() + STARTUP_MARGIN_S)
            .div_ceil(STARTUP_PERIOD_S)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Sources, DEFAULT_DEADLINE, DEFAULT_TARGET_URL, DEFAULT_WAIT_TIMEOUT};

    fn inline() -> InlineConfig {
        InlineConfig {
            url: DEFAULT_TARGET_URL.into(),
            insecure_tls: false,
            readiness_path: Some("/healthz".into()),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            endpoints: vec![("root".into(), "/".into())],
            rate: Some(200.0),
            json_logs: true,
            reference: None,
        }
    }

    fn load(yaml: &str) -> Result<config::Settings, config::ConfigErrors> {
        config::load(&Sources {
            yaml: Some(yaml.to_string()),
            ..Sources::default()
        })
    }

    #[test]
    fn config_yaml_carries_target_endpoints_rate_and_deadline() {
        let text = inline().to_yaml().expect("writes");
        assert!(load(&text).is_ok(), "{text}");
        let v: Value = yaml_serde::from_str(&text).expect("valid YAML");
        assert_eq!(v["target"]["url"].as_str(), Some("http://127.0.0.1:8080"));
        assert_eq!(v["target"]["readiness_path"].as_str(), Some("/healthz"));
        assert_eq!(v["target"]["wait_timeout"].as_str(), Some("300s"));
        assert_eq!(v["endpoints"][0]["path"].as_str(), Some("/"));
        assert_eq!(v["traffic"]["rate"].as_u64(), Some(200));
        assert_eq!(v["gate"]["deadline"].as_str(), Some("600s"));
        assert_eq!(v["log"]["format"].as_str(), Some("json"));
    }

    #[test]
    fn the_text_written_loads_as_the_typed_config_checked() {
        for c in [
            inline(),
            InlineConfig {
                insecure_tls: true,
                readiness_path: None,
                rate: None,
                json_logs: false,
                endpoints: vec![("a".into(), "/a".into()), ("b".into(), "/b".into())],
                ..inline()
            },
        ] {
            let text = c.to_yaml().expect("writes");
            let loaded = load(&text).expect("loads");
            let checked = config::validate(c.file()).expect("valid");
            assert_eq!(
                config::effective(&loaded),
                config::effective(&checked),
                "{text}"
            );
        }
    }

    #[test]
    fn a_trickle_is_refused_in_the_traffic_section() {
        let c = InlineConfig {
            rate: Some(5.0),
            ..inline()
        };
        let problems = c.problems();
        assert_eq!(
            problems[0].section,
            config::Section::Traffic,
            "{problems:?}"
        );
        assert!(problems[0].message.contains("min_samples"), "{problems:?}");
    }

    #[test]
    fn startup_budget_covers_wait_deadline_and_margin() {
        let c = inline();
        let need = c.wait_timeout.as_secs() + c.deadline.as_secs() + STARTUP_MARGIN_S;
        let budget = c.startup_failure_threshold() * STARTUP_PERIOD_S;
        assert!(budget >= need);
        assert!(budget < need + STARTUP_PERIOD_S);
    }
}
