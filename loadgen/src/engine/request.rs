//! One request: the HTTP client, the pre-built request per endpoint, and how an answer becomes an
//! [`Outcome`].
//!
//! Timeout rule: the endpoint's timeout runs from the **actual** send, so the app always gets the
//! whole timeout to answer however late the request left. A request that times out is recorded
//! with service time = timeout and latency = lag + timeout, i.e. latency is
//! `min(completion, actual send + timeout) - intended send`: what a user would have waited before
//! giving up. Its outcome is [`Outcome::Timeout`].

use std::time::Duration;

use crate::engine::EngineError;
use crate::outcome::Outcome;
use crate::plan::{Endpoint, HttpVersion, Plan, StatusSet};

/// Builds the kept-alive client for `plan`: no proxy, no redirects, the plan's HTTP version,
/// user agent and TLS leniency. Fails if the TLS backend cannot be set up.
pub(crate) fn build_client(plan: &Plan) -> Result<reqwest::Client, EngineError> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(plan.user_agent.clone())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(plan.max_inflight)
        .pool_idle_timeout(Duration::from_secs(90))
        .danger_accept_invalid_certs(plan.accept_invalid_certs);
    builder = match plan.http {
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2PriorKnowledge => builder.http2_prior_knowledge(),
        HttpVersion::Auto => builder,
    };
    builder
        .build()
        .map_err(|e| EngineError::Client(e.to_string()))
}

/// An endpoint with its request built once; each send clones it (a few cheap copies).
#[derive(Debug)]
pub(crate) struct Prepared {
    request: reqwest::Request,
    accept: StatusSet,
    expect_body: Option<Vec<u8>>,
    /// The endpoint's timeout.
    pub(crate) timeout: Duration,
    body_cap: usize,
}

impl Prepared {
    /// Builds `endpoint`'s request with `client`. Fails on a header or body the client rejects.
    pub(crate) fn new(
        client: &reqwest::Client,
        endpoint: &Endpoint,
        body_cap: usize,
    ) -> Result<Prepared, EngineError> {
        let mut builder = client
            .request(endpoint.method.clone(), endpoint.url.clone())
            .headers(endpoint.headers.clone());
        if let Some(body) = &endpoint.body {
            builder = builder.body(body.clone());
        }
        // The error text names no header value (reqwest reports the kind of problem only).
        let request = builder.build().map_err(|e| {
            EngineError::Client(format!("endpoint {:?}: {}", endpoint.name, e.without_url()))
        })?;
        Ok(Prepared {
            request,
            accept: endpoint.accept.clone(),
            expect_body: endpoint
                .expect_body
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
            timeout: endpoint.timeout,
            body_cap,
        })
    }

    /// Sends one request and reads the answer (without the timeout, which the caller applies).
    pub(crate) async fn exchange(&self, client: &reqwest::Client) -> Outcome {
        let Some(request) = self.request.try_clone() else {
            // Only streaming bodies cannot be cloned; plans only hold byte bodies.
            return Outcome::Other;
        };
        let mut response = match client.execute(request).await {
            Ok(r) => r,
            Err(e) => return classify(&e),
        };
        let status = response.status().as_u16();
        let mut matcher = self.expect_body.as_deref().map(Matcher::new);
        let mut read = 0usize;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read = read.saturating_add(chunk.len());
                    if read > self.body_cap {
                        // Stop reading: dropping the response closes this connection.
                        return if self.accept.contains(status) {
                            Outcome::BodyTooLarge
                        } else {
                            Outcome::HttpStatus(status)
                        };
                    }
                    if let Some(m) = matcher.as_mut() {
                        m.feed(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => return classify(&e),
            }
        }
        if !self.accept.contains(status) {
            Outcome::HttpStatus(status)
        } else if matcher.is_some_and(|m| !m.found) {
            Outcome::UnexpectedBody
        } else {
            Outcome::Ok
        }
    }
}

/// Maps a client error to an outcome: refused/unreachable connections are `Connect`.
fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_connect() {
        Outcome::Connect
    } else if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::Other
    }
}

/// Looks for `needle` in a body that arrives in chunks, keeping only `needle.len() - 1` bytes
/// of the previous chunks (never the whole body).
#[derive(Debug)]
pub(crate) struct Matcher<'a> {
    needle: &'a [u8],
    carry: Vec<u8>,
    /// True once the needle was seen.
    pub(crate) found: bool,
}

impl<'a> Matcher<'a> {
    /// A matcher for a non-empty `needle`.
    pub(crate) fn new(needle: &'a [u8]) -> Matcher<'a> {
        Matcher {
            needle,
            carry: Vec::with_capacity(needle.len()),
            found: needle.is_empty(),
        }
    }

    /// Feeds the next chunk of the body.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.found {
            return;
        }
        let n = self.needle.len();
        // Matches that straddle the previous chunk: carry + the first n-1 bytes of this one.
        let head = &chunk[..chunk.len().min(n - 1)];
        self.carry.extend_from_slice(head);
        if contains(&self.carry, self.needle) || contains(chunk, self.needle) {
            self.found = true;
            return;
        }
        // Keep the last n-1 bytes of everything seen so far.
        if chunk.len() >= n - 1 {
            self.carry.clear();
            self.carry.extend_from_slice(&chunk[chunk.len() - (n - 1)..]);
        } else {
            let excess = self.carry.len().saturating_sub(n - 1);
            self.carry.drain(..excess);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found_in(chunks: &[&str], needle: &str) -> bool {
        let mut m = Matcher::new(needle.as_bytes());
        for c in chunks {
            m.feed(c.as_bytes());
        }
        m.found
    }

    #[test]
    fn matcher_finds_text_across_chunk_boundaries() {
        assert!(found_in(&["{\"status\":\"o", "k\"}"], "\"ok\""));
        assert!(found_in(&["ab", "c", "d", "ef"], "bcde"));
        assert!(found_in(&["xxhello"], "hello"));
        assert!(!found_in(&["hel", "xlo"], "hello"));
        assert!(!found_in(&[], "hello"));
        assert!(found_in(&["a", "b", "c"], "c"));
    }

    #[test]
    fn matcher_keeps_only_a_short_tail() {
        let mut m = Matcher::new(b"needle");
        for _ in 0..1000 {
            m.feed(&[b'x'; 4096]);
        }
        assert!(!m.found);
        assert!(m.carry.len() < 6, "{}", m.carry.len());
    }
}
