//! Request paths stay paths: an endpoint's `path` or `target.readiness_path` is checked to be a
//! path (never an authority), and is joined to the target URL structurally, by setting the
//! path and query of a copy of that URL. Parsing `base + path` as a URL reference would let
//! `//host/x` (or `/\host/x`, which WHATWG parsers read the same way) replace the host, and
//! the configured headers would go with it.

use url::Url;

/// Checks that `path` is a request path: exactly `/`, or `/` followed by a character other
/// than `/` and `\` (either would start an authority), with no fragment (never sent) and no
/// control characters. Fails with a message that says which rule is broken.
pub fn check_path(path: &str) -> Result<(), String> {
    let mut chars = path.chars();
    if chars.next() != Some('/') {
        return Err(format!("{path:?} must start with '/'"));
    }
    if let Some(second @ ('/' | '\\')) = chars.next() {
        return Err(format!(
            "{path:?} must not start with \"/{second}\": that names a host, not a path"
        ));
    }
    if path.contains('#') {
        return Err(format!(
            "{path:?} has a fragment ('#'), which is never sent"
        ));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains a control character"));
    }
    Ok(())
}

/// The URL of `path_and_query` (`/a/b?x=1`) on `base`'s scheme, host and port. The path and the
/// query are set on a copy of `base` (percent-encoded as needed), so whatever `path_and_query`
/// holds, the authority stays `base`'s. Never fails: a path that [`check_path`] would refuse
/// still lands on `base`'s host (e.g. `//evil/x` becomes the path `//evil/x`).
pub fn url_at(base: &Url, path_and_query: &str) -> Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(query);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_name_a_host_are_refused() {
        for bad in ["//evil:80/x", "/\\evil/x", "x", "", "/a#b", "/a\nb"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["/", "/a", "/a//b", "/a?x=1&y=/z", "/%2F/x", "/caf\u{e9}"] {
            assert_eq!(check_path(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn the_join_keeps_the_authority_whatever_the_path() {
        let base = Url::parse("http://127.0.0.1:8080/ignored?q=1").expect("parses");
        for path in [
            "//evil:80/x",
            "/\\evil/x",
            "/../../x",
            "evil.example/x",
            "/a b?c d",
        ] {
            let url = url_at(&base, path);
            assert_eq!(url.host_str(), Some("127.0.0.1"), "{path:?} -> {url}");
            assert_eq!(url.port(), Some(8080), "{path:?} -> {url}");
            assert!(url.username().is_empty() && url.password().is_none());
        }
        assert_eq!(
            url_at(&base, "/a b?c=d").as_str(),
            "http://127.0.0.1:8080/a%20b?c=d"
        );
        assert_eq!(url_at(&base, "/").as_str(), "http://127.0.0.1:8080/");
    }
}
