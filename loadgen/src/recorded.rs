//! Recorded requests to replay: a HAR file (what browsers and mitmproxy export) or JSON Lines of
//! `{method, path, headers, body}`. An endpoint with recorded requests sends them round-robin in
//! file order, all under the endpoint's one name (one histogram, a bounded label set); a request
//! that should weigh more is written more often.
//!
//! Only the path and query of a recorded URL are kept: every request goes to the plan's target,
//! whatever host it was recorded on. Headers that belong to one connection or one body
//! (`Host`, `Content-Length`, `Connection`, `Transfer-Encoding`, HTTP/2 pseudo-headers...) are
//! dropped; the engine writes its own.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

/// The most requests one file may hold.
pub const MAX_RECORDED: usize = 10_000;
/// The largest file read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// One request to replay. `Debug` shows the method, path and header names only.
#[derive(Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Headers (values marked sensitive: recordings often hold cookies and tokens).
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
}

impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Why a file of recorded requests could not be read. Names the file and the entry, never a
/// header value or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?}: {what}")]
pub struct RecordedError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, and where.
    pub what: String,
}

/// Headers never replayed: the engine writes them for its own connection and body.
const DROPPED: [&str; 8] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "proxy-connection",
    "te",
];

/// Reads `path`: HAR when it is one JSON document with a `log` table, else JSON Lines. Fails
/// on an unreadable file, a bad entry, no entries or more than [`MAX_RECORDED`].
pub fn load(path: &Path) -> Result<Vec<RecordedRequest>, RecordedError> {
    let fail = |what: String| RecordedError {
        path: path.to_path_buf(),
        what,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail("longer than 64 MiB".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let har = serde_json::from_str::<Value>(&text)
        .ok()
        .filter(|v| v.get("log").is_some());
    let requests = match har {
        Some(doc) => from_har(&doc).map_err(fail)?,
        None => from_lines(&text).map_err(fail)?,
    };
    if requests.is_empty() {
        return Err(fail("holds no request".into()));
    }
    if requests.len() > MAX_RECORDED {
        return Err(fail(format!("more than {MAX_RECORDED} requests")));
    }
    Ok(requests)
}

fn from_har(doc: &Value) -> Result<Vec<RecordedRequest>, String> {
    let entries = doc
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or("a HAR file needs log.entries (a list)")?;
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let at = format!("log.entries[{i}].request");
            let r = e.get("request").ok_or(format!("{at}: missing"))?;
            let url = r
                .get("url")
                .and_then(Value::as_str)
                .ok_or(format!("{at}.url: missing"))?;
            let parsed =
                url::Url::parse(url).map_err(|_| format!("{at}.url: not an absolute URL"))?;
            let path = match parsed.query() {
                Some(q) => format!("{}?{q}", parsed.path()),
                None => parsed.path().to_string(),
            };
            let mut headers = Vec::new();
            for h in r
                .get("headers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = h.get("name").and_then(Value::as_str);
                let value = h.get("value").and_then(Value::as_str);
                match (name, value) {
                    (Some(n), Some(v)) => headers.push((n.to_string(), v.to_string())),
                    _ => return Err(format!("{at}.headers: entries need a name and a value")),
                }
            }
            let body = r
                .pointer("/postData/text")
                .and_then(Value::as_str)
                .unwrap_or("");
            let method = r.get("method").and_then(Value::as_str).unwrap_or("GET");
            request(&at, method, path, &headers, body)
        })
        .collect()
}

fn from_lines(text: &str) -> Result<Vec<RecordedRequest>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("line {}", n + 1);
        let v: Value = serde_json::from_str(line)
            .map_err(|_| format!("{at}: not a JSON object (nor is the file a HAR document)"))?;
        let path = v
            .get("path")
            .and_then(Value::as_str)
            .ok_or(format!("{at}: needs a path"))?;
        let mut headers = Vec::new();
        match v.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, val) in map {
                    let val = val
                        .as_str()
                        .ok_or(format!("{at}: header {k:?} must be text"))?;
                    headers.push((k.clone(), val.to_string()));
                }
            }
            Some(_) => return Err(format!("{at}: headers must be a table")),
        }
        let body = match v.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            // A JSON body written as JSON.
            Some(other) => other.to_string(),
        };
        let method = v.get("method").and_then(Value::as_str).unwrap_or("GET");
        out.push(request(&at, method, path.to_string(), &headers, &body)?);
    }
    Ok(out)
}

fn request(
    at: &str,
    method: &str,
    path: String,
    headers: &[(String, String)],
    body: &str,
) -> Result<RecordedRequest, String> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| format!("{at}: bad method"))?;
    let starts_right = path.starts_with('/') && !path.starts_with("//");
    if !starts_right || path.chars().any(char::is_control) || path.parse::<http::Uri>().is_err() {
        return Err(format!(
            "{at}: the path must be a request target starting with one '/'"
        ));
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(':') || DROPPED.contains(&lower.as_str()) {
            continue;
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| format!("{at}: bad header name {name:?}"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("{at}: header {name} has an invalid value (not shown)"))?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(RecordedRequest {
        method,
        path,
        headers: map,
        body: Bytes::copy_from_slice(body.as_bytes()),
    })
}
