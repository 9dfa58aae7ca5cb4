//! The status page at `GET /`: one static HTML document with its script inline (no external
//! assets, a few kilobytes in the binary). It reads /status from the browser and draws each
//! endpoint's window curve as inline SVG, so serving it costs the probe server a static copy:
//! no lock, no formatting, nothing that could slow a probe.

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::Full;

/// The page: HTML, CSS and script in one document.
pub const STATUS_PAGE: &str = include_str!("status.html");

/// The 200 answer to `GET /`: [`STATUS_PAGE`] as HTML, not cached (the script always reads a
/// fresh /status, but a cached page would outlive an upgrade). Never fails.
pub fn response() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(STATUS_PAGE.as_bytes())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_self_contained() {
        assert!(STATUS_PAGE.len() < 16 * 1024, "{} bytes", STATUS_PAGE.len());
        assert!(STATUS_PAGE.contains("fetch(\"/status\""));
        // Nothing loaded from elsewhere: a pod may have no egress, and probes must not wait.
        for outside in ["src=\"http", "href=\"http", "@import", "<link"] {
            assert!(!STATUS_PAGE.contains(outside), "{outside}");
        }
    }
}
