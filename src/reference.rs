//! The fleet reference's client: asks Prometheus for the warm peers' quantile of each endpoint,
//! every `gate.reference.refresh`, in the background. The agent reads what is known at each
//! window ([`FleetWatch::fleet`]) and never waits for Prometheus: a slow or dead server delays no
//! verdict, and a failed or stale answer turns into the reason the gate judges alone.
//!
//! Each series of an answer is one peer; the reference is their median. Queries are bounded by
//! `gate.reference.timeout` per round, answers by [`MAX_ANSWER_BYTES`]. The bearer token (a file
//! re-read at each round, or a variable's value) is sent as `Authorization: Bearer`, and never
//! appears in a log, a reason or a metric; nor do the answers' bodies beyond an error's text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{reference::render, ReferenceQuery, Secret};
use crate::gate::{Fleet, PeerLevel};
use crate::metrics::Metrics;

/// Largest answer read from Prometheus; a larger one is an error (a query that matches far more
/// than a workload's pods).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Longest error text from Prometheus kept in a reason.
const MAX_ERROR_CHARS: usize = 200;

/// One endpoint's query, rendered once.
#[derive(Debug, Clone)]
pub struct EndpointQuery {
    /// The endpoint's name.
    pub name: String,
    /// The PromQL text.
    pub promql: String,
}

/// Renders `query`'s template for each endpoint: `(name, rate per second)`, the gate's quantile
/// and window.
pub fn endpoint_queries(
    query: &ReferenceQuery,
    endpoints: &[(String, f64)],
    quantile: f64,
    window: Duration,
) -> Vec<EndpointQuery> {
    endpoints
        .iter()
        .map(|(name, rate)| EndpointQuery {
            name: name.clone(),
            promql: render(&query.query, |var| match var {
                "endpoint" => name.clone(),
                "namespace" => query.namespace.clone(),
                "pod" => query.pod.clone(),
                "workload" => query.workload.clone(),
                "quantile" => format!("{quantile}"),
                "rate" => format!("{rate}"),
                "window" => format!("{}", window.as_secs_f64()),
                _ => String::new(),
            }),
        })
        .collect()
}

/// What the last round found.
#[derive(Debug, Clone)]
enum Known {
    /// No round has ended yet.
    Nothing,
    /// The last round failed as a whole (why).
    Failed(String),
    /// The last round's answers, per endpoint, received at `at`.
    Answered {
        endpoints: Vec<Result<PeerLevel, String>>,
        at: Instant,
    },
}

/// The background queries of one warm-up; dropping it (or its stop token) ends them.
#[derive(Debug)]
pub struct FleetWatch {
    known: Arc<Mutex<Known>>,
    endpoints: usize,
    /// An answer older than this is stale.
    stale_after: Duration,
    _stop: tokio_util::sync::DropGuard,
}

impl FleetWatch {
    /// Starts asking Prometheus for `queries` every `query.refresh` until `stop` fires or the
    /// watch is dropped. Fails only if the HTTP client cannot be built.
    pub fn start(
        query: &ReferenceQuery,
        queries: Vec<EndpointQuery>,
        metrics: Metrics,
        stop: &CancellationToken,
    ) -> anyhow::Result<FleetWatch> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(query.timeout)
            .user_agent(concat!("warmgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let known = Arc::new(Mutex::new(Known::Nothing));
        let token = stop.child_token();
        let round = Round {
            client,
            base: query.prometheus_url.clone(),
            token: query.bearer_token.clone(),
            timeout: query.timeout,
            queries,
        };
        let endpoints = round.queries.len();
        let (kept, stopped, refresh) = (known.clone(), token.clone(), query.refresh);
        tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                let result = round.run().await;
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(_) => "error",
                };
                metrics
                    .reference_queries
                    .with_label_values(&[outcome])
                    .inc();
                let next = match result {
                    Ok(endpoints) => {
                        if !last_error.is_empty() {
                            info!("Fleet reference: Prometheus answers again.");
                            last_error.clear();
                        }
                        Known::Answered {
                            endpoints,
                            at: Instant::now(),
                        }
                    }
                    Err(why) => {
                        if why != last_error {
                            warn!(reason = %why, "Fleet reference unavailable; judging alone.");
                            last_error.clone_from(&why);
                        }
                        Known::Failed(why)
                    }
                };
                if let Ok(mut k) = kept.lock() {
                    *k = next;
                }
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    _ = tokio::time::sleep(refresh) => {}
                }
            }
        });
        Ok(FleetWatch {
            known,
            endpoints,
            // One refresh late plus a round's timeout, and a second of slack.
            stale_after: query.refresh + query.timeout + Duration::from_secs(1),
            _stop: token.drop_guard(),
        })
    }

    /// What is known now, for the gate: never waits.
    pub fn fleet(&self) -> Fleet {
        let known = self
            .known
            .lock()
            .map(|k| k.clone())
            .unwrap_or(Known::Nothing);
        match known {
            Known::Nothing => Fleet::unavailable(self.endpoints, "no answer from Prometheus yet"),
            Known::Failed(why) => Fleet::unavailable(self.endpoints, &why),
            Known::Answered { endpoints, at } => {
                let age = at.elapsed();
                if age > self.stale_after {
                    let why = format!(
                        "the last answer from Prometheus is {:.0}s old",
                        age.as_secs_f64()
                    );
                    return Fleet::unavailable(self.endpoints, &why);
                }
                Fleet {
                    endpoints,
                    age_s: Some(age.as_secs_f64()),
                }
            }
        }
    }
}

/// One round of queries: every endpoint, within `timeout` together.
#[derive(Debug)]
struct Round {
    client: reqwest::Client,
    base: url::Url,
    token: Option<Secret>,
    timeout: Duration,
    queries: Vec<EndpointQuery>,
}

impl Round {
    /// Per endpoint its level or why none; Err when the round failed as a whole (Prometheus
    /// unreachable, slow, refusing the query, or the token unreadable).
    async fn run(&self) -> Result<Vec<Result<PeerLevel, String>>, String> {
        let bearer = self.bearer()?;
        let all = async {
            let mut out = Vec::with_capacity(self.queries.len());
            for q in &self.queries {
                out.push(self.one(q, bearer.as_deref()).await?);
            }
            Ok(out)
        };
        match tokio::time::timeout(self.timeout, all).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "prometheus did not answer within {} (gate.reference.timeout)",
                humantime::format_duration(self.timeout)
            )),
        }
    }

    /// The token, read now (a projected token file rotates). The error names the file only.
    fn bearer(&self) -> Result<Option<String>, String> {
        match &self.token {
            None => Ok(None),
            Some(Secret::File { file, .. }) => std::fs::read_to_string(file)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| {
                    format!(
                        "cannot read gate.reference.bearer_token file {}: {}",
                        file.display(),
                        e.kind()
                    )
                }),
            Some(Secret::FromEnv(t)) | Some(Secret::Text(t)) => Ok(Some(t.trim().to_string())),
            Some(_) => Err("gate.reference.bearer_token has no value".to_string()),
        }
    }

    /// One endpoint: `Ok(Ok(level))`, `Ok(Err(why))` when the answer holds no usable peer,
    /// `Err(why)` when Prometheus could not be asked.
    async fn one(
        &self,
        q: &EndpointQuery,
        bearer: Option<&str>,
    ) -> Result<Result<PeerLevel, String>, String> {
        let mut url = self.base.clone();
        {
            let path = format!("{}/api/v1/query", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        let mut req = self.client.get(url).query(&[("query", q.promql.as_str())]);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let mut resp = req.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "prometheus answered more than {} KiB for endpoint {}",
                    MAX_ANSWER_BYTES / 1024,
                    q.name
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let detail = json
                .as_ref()
                .map(|j| {
                    format!(
                        "{}: {}",
                        j["errorType"].as_str().unwrap_or("error"),
                        j["error"].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_else(|| "not a Prometheus API answer".to_string());
            return Err(format!(
                "prometheus refused the query for endpoint {} ({} {})",
                q.name,
                status.as_u16(),
                clip(&detail)
            ));
        }
        let json = json.ok_or_else(|| {
            format!(
                "prometheus answered endpoint {}'s query with something other than JSON",
                q.name
            )
        })?;
        Ok(peer_level(&json))
    }
}

/// The level of an instant-query answer: the median of its series' values (each series one
/// peer). NaN, infinite and non-positive values are not peers.
pub fn peer_level(answer: &Value) -> Result<PeerLevel, String> {
    if answer["status"].as_str() != Some("success") {
        return Err(format!(
            "prometheus answered status {}",
            clip(&answer["status"].to_string())
        ));
    }
    let data = &answer["data"];
    let values: Vec<f64> = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|r| r.iter().filter_map(|s| number(&s["value"])).collect())
            .unwrap_or_default(),
        Some("scalar") => number(&data["result"]).into_iter().collect(),
        other => {
            return Err(format!(
                "the query gives {}, not an instant vector",
                other.unwrap_or("nothing")
            ))
        }
    };
    let mut values: Vec<f64> = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if values.is_empty() {
        return Err("no peers: the query returned no series".to_string());
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Ok(PeerLevel {
        seconds: median,
        peers: u32::try_from(n).unwrap_or(u32::MAX),
    })
}

/// `[timestamp, "value"]` -> value.
fn number(sample: &Value) -> Option<f64> {
    sample.get(1)?.as_str()?.parse().ok()
}

/// A transport error in words: unreachable (with the cause), or timed out.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "prometheus did not answer within gate.reference.timeout".to_string();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let cause = cause.to_string();
    if e.is_connect() {
        let short = if cause.contains("refused") {
            "connection refused".to_string()
        } else {
            clip(&cause)
        };
        format!("prometheus unreachable ({short})")
    } else {
        format!("prometheus query failed ({})", clip(&cause))
    }
}

/// At most [`MAX_ERROR_CHARS`] characters, on one line.
fn clip(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_ERROR_CHARS {
        one_line
    } else {
        let mut s: String = one_line.chars().take(MAX_ERROR_CHARS).collect();
        s.push_str("...");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_level_is_the_median_of_positive_finite_series() {
        let answer = |values: &[&str]| {
            json!({"status": "success", "data": {"resultType": "vector", "result":
                values.iter().map(|v| json!({"metric": {}, "value": [1.0, v]})).collect::<Vec<_>>()}})
        };
        let l = peer_level(&answer(&["0.012", "0.010", "0.030"])).expect("three peers");
        assert_eq!((l.seconds, l.peers), (0.012, 3));
        let l = peer_level(&answer(&["0.010", "0.020", "NaN", "-1"])).expect("two peers");
        assert!((l.seconds - 0.015).abs() < 1e-12 && l.peers == 2);
        let why = peer_level(&answer(&[])).unwrap_err();
        assert!(why.starts_with("no peers"), "{why}");
        let why = peer_level(
            &json!({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        )
        .unwrap_err();
        assert!(why.contains("matrix"), "{why}");
    }

    #[test]
    fn errors_are_clipped_to_one_line() {
        let long = "x\n".repeat(300);
        let c = clip(&long);
        assert!(c.len() <= MAX_ERROR_CHARS + 3 && !c.contains('\n'), "{c}");
    }
}
