//! The simulator's `/sim/truth` document: fetching it and reading the answers tests need.

use anyhow::{Context, Result};

/// `GET {base}/sim/truth` with `client`, parsed. Fails if the request fails or the body is not
/// JSON.
pub async fn fetch(client: &reqwest::Client, base: &str) -> Result<serde_json::Value> {
    let url = format!("{base}/sim/truth");
    let body = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .text()
        .await
        .with_context(|| format!("GET {url}: no body"))?;
    parse(&body).with_context(|| format!("GET {url}"))
}

/// A `/sim/truth` body as JSON. Fails if it is not JSON.
pub fn parse(body: &str) -> Result<serde_json::Value> {
    serde_json::from_str(body).context("/sim/truth is not JSON")
}

/// True once the simulator says it has settled and any one-off stall is over.
pub fn settled(t: &serde_json::Value) -> bool {
    let settled = t["settled"].as_bool().unwrap_or(false);
    let stall_over = match t.get("stall") {
        Some(s) => match (s["end_s"].as_f64(), t["elapsed_s"].as_f64()) {
            (Some(end), Some(now)) => now > end,
            _ => false,
        },
        None => true,
    };
    settled && stall_over
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settled_waits_for_the_curve_and_for_a_stall_to_end() {
        assert!(settled(&json!({"settled": true})));
        assert!(!settled(&json!({"settled": false})));
        assert!(!settled(&json!({})));
        let stall = |now: f64| json!({"settled": true, "elapsed_s": now, "stall": {"end_s": 5.0}});
        assert!(!settled(&stall(4.0)));
        assert!(settled(&stall(6.0)));
        // The stall has not started yet: no end time.
        assert!(!settled(
            &json!({"settled": true, "elapsed_s": 1.0, "stall": {"end_s": null}})
        ));
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        assert!(parse("<html>").is_err());
        assert_eq!(parse(r#"{"seed": 3}"#).expect("JSON")["seed"], 3);
    }
}
