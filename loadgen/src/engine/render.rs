//! A templated endpoint's per-request parts: one lock, held while drawing and rendering into the
//! renderer's kept buffer (see [`crate::template`]), then the request target and header values
//! made from slices of that buffer without copying.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Uri};

use crate::template::{Escape, Renderer, RequestTemplate, MAX_TEMPLATED_HEADERS};

/// A templated endpoint's parts, and its renderer.
#[derive(Debug)]
pub(crate) struct Templated {
    spec: Arc<RequestTemplate>,
    renderer: Mutex<Renderer>,
    scheme: Scheme,
    authority: Authority,
}

/// One request's rendered parts.
pub(crate) struct Rendered {
    /// Origin-form target, for HTTP/1.1.
    pub(crate) h1_uri: Uri,
    /// Absolute target, for HTTP/2.
    pub(crate) h2_uri: Uri,
    headers: [Option<HeaderValue>; MAX_TEMPLATED_HEADERS],
    /// The body, when it is templated.
    pub(crate) body: Option<Bytes>,
}

impl Templated {
    /// The renderer of `spec`, drawing from `seed`, for requests to `base`'s scheme and host.
    pub(crate) fn new(
        spec: &Arc<RequestTemplate>,
        base: &Uri,
        seed: u64,
    ) -> Result<Templated, &'static str> {
        if spec.headers.len() > MAX_TEMPLATED_HEADERS {
            return Err("too many templated headers");
        }
        Ok(Templated {
            spec: Arc::clone(spec),
            renderer: Mutex::new(Renderer::new(seed)),
            scheme: base.scheme().cloned().ok_or("no scheme")?,
            authority: base.authority().cloned().ok_or("no host")?,
        })
    }

    /// Draws this request's values and renders its parts; `None` if a rendered part is not
    /// valid HTTP (values with control characters are refused when the variables are built,
    /// and paths are percent-encoded, so this is a safety net).
    pub(crate) fn render(&self) -> Option<Rendered> {
        let spec = &*self.spec;
        // A poisoned lock only means a render panicked; its state is still a valid RNG.
        let mut r = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        r.draw(&spec.vars);
        let path = r.render(&spec.path, &spec.vars, Escape::Target);
        let mut headers: [Option<HeaderValue>; MAX_TEMPLATED_HEADERS] = Default::default();
        for (slot, (_, template)) in headers.iter_mut().zip(&spec.headers) {
            let bytes = r.render(template, &spec.vars, Escape::None);
            let mut value = HeaderValue::from_maybe_shared(bytes).ok()?;
            value.set_sensitive(true);
            *slot = Some(value);
        }
        let body = spec
            .body
            .as_ref()
            .map(|b| r.render(b, &spec.vars, Escape::None));
        drop(r);
        let path = PathAndQuery::from_maybe_shared(path).ok()?;
        let h1_uri = Uri::from(path.clone());
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path);
        let h2_uri = Uri::from_parts(parts).ok()?;
        Some(Rendered {
            h1_uri,
            h2_uri,
            headers,
            body,
        })
    }

    /// Puts `rendered`'s header values into `headers`, replacing the template text in place
    /// (the names are in the map already).
    pub(crate) fn apply(&self, rendered: &Rendered, headers: &mut HeaderMap) {
        for ((name, _), value) in self.spec.headers.iter().zip(&rendered.headers) {
            if let Some(value) = value {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}
