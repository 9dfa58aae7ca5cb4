//! Request templates: a path, header values or a body with `{name}` placeholders, filled per
//! request from the endpoint's variables ([`Var`]).
//!
//! A template is parsed once into segments (literal bytes, or a variable's index); `{{` and `}}`
//! are a literal brace. Each request draws every variable once (so `{id}` used twice in one
//! request has one value), then writes the segments into a kept [`BytesMut`]; the rendered parts
//! are frozen slices of it. A slice keeps its chunk alive until its request ends, so a new chunk
//! of [`CHUNK`] bytes is allocated only when the current one is used up, about once every
//! `CHUNK / request size` requests: no allocation of its own per request.
//!
//! Draws come from one seeded [`StdRng`] per endpoint, so a seed replays the same values in the
//! same order (the order requests are rendered in).

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bytes a renderer allocates at once; rendered requests are slices of such chunks.
pub const CHUNK: usize = 16 * 1024;

/// Why a template or a variable could not be built. Messages quote placeholder names, never
/// the template's text (a header value may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` names no variable of the endpoint.
    #[error("placeholder {{{0}}} names no variable (declare it under `vars`, or write {{{{ for a literal brace)")]
    UnknownVar(String),
    /// A `{` without its `}`, or a name that is not `[A-Za-z0-9_]+`.
    #[error("a '{{' opens no valid placeholder (names are [A-Za-z0-9_]; write {{{{ for a literal brace)")]
    BadPlaceholder,
    /// A `}` that closes nothing.
    #[error("a '}}' closes no placeholder (write }}}} for a literal brace)")]
    StrayBrace,
    /// A variable that can produce no value, or inconsistent weights.
    #[error("{0}")]
    BadVar(String),
}

/// Where a draw's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Var {
    /// A uniform integer in `lo..=hi`.
    Range {
        /// Smallest value.
        lo: i64,
        /// Largest value.
        hi: i64,
    },
    /// One of `values`, uniform or by weight (`cumulative[i]`: sum of the weights up to `i`).
    Values {
        /// The values, as sent.
        values: Arc<[Bytes]>,
        /// Running sums of the weights; `None`: uniform.
        cumulative: Option<Vec<u64>>,
    },
    /// A random (version 4) UUID, lower-case hex with dashes.
    Uuid,
}

impl Var {
    /// A range variable. Fails when `lo > hi`.
    pub fn range(lo: i64, hi: i64) -> Result<Var, TemplateError> {
        if lo > hi {
            return Err(TemplateError::BadVar(format!(
                "range [{lo}, {hi}] is empty (the first bound must not exceed the second)"
            )));
        }
        Ok(Var::Range { lo, hi })
    }

    /// One of `values`, with optional `weights` (same length, not all zero). Fails on no
    /// values, a value with a control character, or weights that do not fit.
    pub fn one_of(values: Vec<String>, weights: Option<Vec<u32>>) -> Result<Var, TemplateError> {
        if values.is_empty() {
            return Err(TemplateError::BadVar(
                "one_of needs at least one value".into(),
            ));
        }
        if values.iter().any(|v| v.chars().any(char::is_control)) {
            return Err(TemplateError::BadVar(
                "a one_of value contains a control character".into(),
            ));
        }
        let cumulative = match weights {
            None => None,
            Some(w) if w.len() != values.len() => {
                return Err(TemplateError::BadVar(format!(
                    "{} weights for {} values (give one weight per value)",
                    w.len(),
                    values.len()
                )))
            }
            Some(w) => {
                let sums: Vec<u64> = w
                    .iter()
                    .scan(0u64, |s, &x| {
                        *s += u64::from(x);
                        Some(*s)
                    })
                    .collect();
                if sums.last().copied().unwrap_or(0) == 0 {
                    return Err(TemplateError::BadVar("the weights are all zero".into()));
                }
                Some(sums)
            }
        };
        Ok(Var::Values {
            values: values.into_iter().map(Bytes::from).collect(),
            cumulative,
        })
    }

    /// One value per non-empty line of `text` (trailing `\r` and spaces trimmed), uniform.
    /// Fails when no line has a value or a line holds a control character; the message gives
    /// the line number, not its text.
    pub fn lines(text: &str) -> Result<Var, TemplateError> {
        let mut values = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if line.chars().any(char::is_control) {
                return Err(TemplateError::BadVar(format!(
                    "line {} contains a control character",
                    n + 1
                )));
            }
            values.push(Bytes::copy_from_slice(line.as_bytes()));
        }
        if values.is_empty() {
            return Err(TemplateError::BadVar(
                "the file has no non-empty line".into(),
            ));
        }
        Ok(Var::Values {
            values: values.into(),
            cumulative: None,
        })
    }

    /// Draws one value.
    fn draw(&self, rng: &mut StdRng) -> Pick {
        match self {
            Var::Range { lo, hi } => Pick::Int(rng.random_range(*lo..=*hi)),
            Var::Values { values, cumulative } => match cumulative {
                None => Pick::Index(rng.random_range(0..values.len())),
                Some(sums) => {
                    let total = sums.last().copied().unwrap_or(1).max(1);
                    let x = rng.random_range(0..total);
                    Pick::Index(sums.partition_point(|&s| s <= x))
                }
            },
            Var::Uuid => Pick::Uuid(rng.random()),
        }
    }
}

/// One drawn value.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Int(i64),
    Index(usize),
    Uuid(u128),
}

/// A parsed template: literal bytes and variable indices, in order. `Debug` shows the shape
/// only: a header's literal text may be a credential.
#[derive(Clone, PartialEq)]
pub struct Template {
    literals: Vec<u8>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `literals[from..to]`.
    Literal(usize, usize),
    /// The variable at this index.
    Var(usize),
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("literal_bytes", &self.literals.len())
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Template {
    /// Parses `text`; a placeholder's name is looked up in `names` (its index is the variable's
    /// index at render time). Fails on an unknown name or an unbalanced brace.
    pub fn parse(text: &str, names: &[&str]) -> Result<Template, TemplateError> {
        let bytes = text.as_bytes();
        let mut t = Template {
            literals: Vec::with_capacity(bytes.len()),
            segments: Vec::new(),
        };
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1)) {
                (b'{', Some(b'{')) | (b'}', Some(b'}')) => {
                    t.literals.push(bytes[i]);
                    i += 2;
                }
                (b'{', _) => {
                    let rest = &text[i + 1..];
                    let end = rest.find('}').ok_or(TemplateError::BadPlaceholder)?;
                    let name = &rest[..end];
                    let valid = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !valid {
                        return Err(TemplateError::BadPlaceholder);
                    }
                    let index = names
                        .iter()
                        .position(|n| *n == name)
                        .ok_or_else(|| TemplateError::UnknownVar(name.to_string()))?;
                    t.close_literal(&mut start);
                    t.segments.push(Segment::Var(index));
                    i += end + 2;
                }
                (b'}', _) => return Err(TemplateError::StrayBrace),
                (b, _) => {
                    t.literals.push(b);
                    i += 1;
                }
            }
        }
        t.close_literal(&mut start);
        Ok(t)
    }

    /// Ends the literal run that began at `literals[*start]`, if any.
    fn close_literal(&mut self, start: &mut usize) {
        if self.literals.len() > *start {
            self.segments
                .push(Segment::Literal(*start, self.literals.len()));
        }
        *start = self.literals.len();
    }

    /// True when the template has at least one placeholder.
    pub fn has_vars(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Var(_)))
    }

    /// The text with every placeholder replaced by `stand_in` (for checking a path's shape).
    pub fn with_stand_in(&self, stand_in: &str) -> String {
        let mut out = Vec::with_capacity(self.literals.len());
        for s in &self.segments {
            match s {
                Segment::Literal(a, b) => out.extend_from_slice(&self.literals[*a..*b]),
                Segment::Var(_) => out.extend_from_slice(stand_in.as_bytes()),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Templated headers one endpoint may have (their rendered values travel in a fixed array, so a
/// request needs no list of its own).
pub const MAX_TEMPLATED_HEADERS: usize = 8;

/// The templated parts of one endpoint's request: its variables (in placeholder-index order),
/// the path and query, the header values that hold placeholders, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTemplate {
    /// The variables; a [`Template`]'s placeholder index points into this list.
    pub vars: Vec<Var>,
    /// Path and query (origin form, starting with `/`); rendered percent-encoded.
    pub path: Template,
    /// Header values with placeholders, at most [`MAX_TEMPLATED_HEADERS`]; each name must also
    /// be in the endpoint's headers (whose value there is replaced per request).
    pub headers: Vec<(http::HeaderName, Template)>,
    /// The body, if it is templated.
    pub body: Option<Template>,
}

/// How rendered bytes are written: as they are (headers, bodies), or percent-encoded where a
/// request target may not hold them (paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Bytes as they are.
    None,
    /// Bytes outside `!`..`~`, and `"#<>\^`{|}`, as `%XX`.
    Target,
}

/// Draws and writes templates for one endpoint: its RNG, the kept buffer and the draws of the
/// request being rendered.
#[derive(Debug)]
pub(crate) struct Renderer {
    rng: StdRng,
    buf: BytesMut,
    picks: Vec<Pick>,
}

impl Renderer {
    /// A renderer whose draws follow `seed`.
    pub(crate) fn new(seed: u64) -> Renderer {
        Renderer {
            rng: StdRng::seed_from_u64(seed),
            buf: BytesMut::with_capacity(CHUNK),
            picks: Vec::new(),
        }
    }

    /// Draws every variable once, for the next request.
    pub(crate) fn draw(&mut self, vars: &[Var]) {
        self.picks.clear();
        for v in vars {
            let pick = v.draw(&mut self.rng);
            self.picks.push(pick);
        }
    }

    /// Writes `template` with this request's draws and returns it as a slice of the kept buffer.
    pub(crate) fn render(&mut self, template: &Template, vars: &[Var], escape: Escape) -> Bytes {
        if self.buf.capacity() - self.buf.len() < 1024 {
            // Reclaims the chunk if no request still holds a slice of it, else takes a new one.
            self.buf.reserve(CHUNK);
        }
        for s in &template.segments {
            match *s {
                Segment::Literal(a, b) => put(&mut self.buf, &template.literals[a..b], escape),
                Segment::Var(i) => match (self.picks.get(i), vars.get(i)) {
                    (Some(Pick::Int(n)), _) => {
                        let _ = write!(self.buf, "{n}");
                    }
                    (Some(Pick::Index(k)), Some(Var::Values { values, .. })) => {
                        if let Some(v) = values.get(*k) {
                            put(&mut self.buf, v, escape);
                        }
                    }
                    (Some(Pick::Uuid(bits)), _) => put_uuid(&mut self.buf, *bits),
                    _ => {}
                },
            }
        }
        self.buf.split().freeze()
    }
}

/// Appends `bytes`, percent-encoding what `escape` asks for.
fn put(buf: &mut BytesMut, bytes: &[u8], escape: Escape) {
    if escape == Escape::None {
        buf.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let keep = (b'!'..=b'~').contains(&b) && !b"\"#<>\\^`{|}".contains(&b);
        if keep {
            buf.put_u8(b);
        } else {
            buf.put_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Appends `bits` as a version 4 UUID (RFC 9562: version nibble 4, variant bits 10).
fn put_uuid(buf: &mut BytesMut, bits: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = (bits & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            buf.put_u8(b'-');
        }
        let nibble = (bits >> (124 - 4 * i)) & 0xF;
        buf.put_u8(HEX[nibble as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_once(text: &str, names: &[&str], vars: &[Var], seed: u64) -> String {
        let t = Template::parse(text, names).expect("parses");
        let mut r = Renderer::new(seed);
        r.draw(vars);
        String::from_utf8(r.render(&t, vars, Escape::Target).to_vec()).expect("utf-8")
    }

    #[test]
    fn braces_placeholders_and_errors() {
        let vars = [Var::range(7, 7).expect("range")];
        assert_eq!(
            render_once("/a/{id}?x={{y}}", &["id"], &vars, 1),
            "/a/7?x=%7By%7D"
        );
        assert_eq!(
            Template::parse("/{nope}", &["id"]),
            Err(TemplateError::UnknownVar("nope".into()))
        );
        assert_eq!(
            Template::parse("/{id", &["id"]),
            Err(TemplateError::BadPlaceholder)
        );
        assert_eq!(
            Template::parse("/{a b}", &["id"]),
            Err(TemplateError::BadPlaceholder)
        );
        assert_eq!(
            Template::parse("/a}", &["id"]),
            Err(TemplateError::StrayBrace)
        );
        assert!(!Template::parse("/{{x}}", &[]).expect("parses").has_vars());
    }

    #[test]
    fn one_draw_per_variable_per_request_and_escaping() {
        let vars = [Var::one_of(vec!["a b".into()], None).expect("one_of")];
        assert_eq!(render_once("/{v}/{v}", &["v"], &vars, 3), "/a%20b/a%20b");
    }

    #[test]
    fn uuids_are_version_4() {
        let s = render_once("{u}", &["u"], &[Var::Uuid], 9);
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{s}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{s}"
        );
    }

    #[test]
    fn a_seed_replays_the_same_values_and_another_seed_differs() {
        let vars = [Var::range(1, 1_000_000).expect("range"), Var::Uuid];
        let t = Template::parse("/{a}/{b}", &["a", "b"]).expect("parses");
        let run = |seed| {
            let mut r = Renderer::new(seed);
            (0..200)
                .map(|_| {
                    r.draw(&vars);
                    r.render(&t, &vars, Escape::Target)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn weights_and_bad_vars() {
        assert!(Var::range(2, 1).is_err());
        assert!(Var::one_of(vec![], None).is_err());
        assert!(Var::one_of(vec!["a".into()], Some(vec![1, 2])).is_err());
        assert!(Var::one_of(vec!["a".into(), "b".into()], Some(vec![0, 0])).is_err());
        assert!(Var::lines("\n  \n").is_err());
        let e = Var::lines("ok\nbad\u{7}x\n").expect_err("control character");
        assert!(e.to_string().contains("line 2") && !e.to_string().contains("bad"));
        // Weight 0 is never drawn.
        let v = Var::one_of(vec!["a".into(), "b".into()], Some(vec![0, 1])).expect("one_of");
        let mut rng = StdRng::seed_from_u64(5);
        assert!((0..1000).all(|_| matches!(v.draw(&mut rng), Pick::Index(1))));
    }

    #[test]
    fn the_kept_buffer_is_reused_once_requests_end() {
        let vars = [Var::range(1, 9).expect("range")];
        let t = Template::parse("/item/{n}", &["n"]).expect("parses");
        let mut r = Renderer::new(1);
        r.draw(&vars);
        let first = r.render(&t, &vars, Escape::Target);
        let base = first.as_ptr() as usize;
        drop(first);
        // Thousands of renders whose slices are dropped stay inside the first chunk's memory.
        for _ in 0..10_000 {
            r.draw(&vars);
            let b = r.render(&t, &vars, Escape::Target);
            let at = b.as_ptr() as usize;
            assert!(at >= base && at < base + CHUNK, "a new chunk was allocated");
        }
    }
}
