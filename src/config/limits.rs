//! Limits on what configuration may ask of warmgate, so that no document, however written,
//! can exhaust its memory, its stack or its time before `check` answers (docs/DESIGN.md,
//! "Limits").
//!
//! The `config` crate parses YAML with yaml-rust2 and expands every alias into a copy of its
//! anchor: 342 bytes of nested aliases grow past any memory limit, and deep nesting overflows
//! the stack. So the text is scanned first, as a stream of yaml-rust2's own parser events (the
//! same parser, so the scan sees the document the loader will see), and refused before it is
//! loaded: the events are counted, never expanded. Each anchor's expanded size is computed
//! from its events once, and an alias adds that size: a bomb is refused by arithmetic.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Largest configuration document read (file or `WARMGATE_CONFIG_YAML`), bytes. A full
/// configuration of [`MAX_ENDPOINTS`] endpoints fits in well under half of it.
pub const MAX_CONFIG_BYTES: usize = 512 * 1024;
/// Deepest nesting of lists and tables in a YAML document (the schema needs 4; inject's YAML
/// parser allows 128).
pub const MAX_YAML_DEPTH: usize = 32;
/// Most aliases (`*name`) in a YAML document.
pub const MAX_YAML_ALIASES: usize = 64;
/// Most values in a YAML document once every alias is expanded.
pub const MAX_YAML_NODES: u64 = 100_000;
/// Most endpoints: each is a label value of every per-endpoint metric, and holds its own
/// histograms (at the default window and lookback, 100 endpoints fit the default
/// [`DEFAULT_MAX_MEMORY_MIB`]).
pub const MAX_ENDPOINTS: usize = 100;
pub use crate::duration::MAX_DURATION;
/// Default bound on the gate's histogram memory, MiB (`gate.max_memory_mib`): a third of the
/// 96Mi memory limit the chart and `warmgate inject` give the container.
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 32;

/// One open list or table while scanning: where it is and how big it has grown.
struct Frame {
    /// Anchor id of the collection (0: none).
    anchor: usize,
    /// Values in it so far, aliases expanded, itself included.
    nodes: u64,
    /// `Some(key)` for a table (the last key read), None for a list.
    key: Option<String>,
    /// In a table: the next value is a key.
    at_key: bool,
    /// In a list: the index of the next item.
    index: usize,
}

/// What the scan has seen so far.
#[derive(Default)]
struct Scan {
    stack: Vec<Frame>,
    /// Expanded size of each anchor, by id.
    anchors: std::collections::HashMap<usize, u64>,
    aliases: usize,
    nodes: u64,
}

impl Scan {
    /// The key path of the value being read (`gate.window`, `endpoints[3].path`).
    fn path(&self) -> String {
        let mut out = String::new();
        for f in &self.stack {
            match &f.key {
                Some(key) if !f.at_key => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Some(_) => {}
                None => out.push_str(&format!("[{}]", f.index)),
            }
        }
        if out.is_empty() {
            "(top level)".to_string()
        } else {
            out
        }
    }

    /// A value of `nodes` (expanded) values ended: count it into its parent.
    fn value(&mut self, anchor: usize, nodes: u64, key_text: Option<String>) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, nodes);
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.nodes = parent.nodes.saturating_add(nodes);
                if parent.key.is_some() {
                    if parent.at_key {
                        parent.key = Some(key_text.unwrap_or_else(|| "?".to_string()));
                    }
                    parent.at_key = !parent.at_key;
                } else {
                    parent.index += 1;
                }
            }
            None => self.nodes = self.nodes.saturating_add(nodes),
        }
        let open: u64 = self.stack.iter().map(|f| f.nodes).sum();
        if self.nodes.saturating_add(open) > MAX_YAML_NODES {
            return Err(format!(
                "{}: the document holds more than {MAX_YAML_NODES} values (aliases expanded)",
                self.path()
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Scalar(text, _, anchor, _) => self.value(anchor, 1, Some(text)),
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > MAX_YAML_ALIASES {
                    return Err(format!(
                        "{}: more than {MAX_YAML_ALIASES} aliases in the document",
                        self.path()
                    ));
                }
                let nodes = self.anchors.get(&id).copied().unwrap_or(1);
                self.value(0, nodes, None)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_YAML_DEPTH {
                    return Err(format!(
                        "{}: lists and tables nest deeper than {MAX_YAML_DEPTH} levels",
                        self.path()
                    ));
                }
                let table = matches!(event, Event::MappingStart(..));
                self.stack.push(Frame {
                    anchor,
                    nodes: 1,
                    key: table.then(String::new),
                    at_key: table,
                    index: 0,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(f) => self.value(f.anchor, f.nodes, None),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// Whether a YAML document holds nothing (only whitespace, comments or `---`/`null`).
pub(super) fn is_empty_document(text: &str) -> bool {
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return true,
            Ok((Event::Scalar(v, TScalarStyle::Plain, 0, None), _))
                if matches!(v.as_str(), "" | "~" | "null" | "Null" | "NULL") => {}
            Ok((
                Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_),
                _,
            ))
            | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Checks a YAML document against the limits above before anything loads it. Fails with the
/// first limit passed, as `key.path: message`. Syntax errors
/// are left to the loader, which reports them with their position.
pub(super) fn check_yaml(text: &str) -> Result<(), String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_CONFIG_BYTES} a configuration may hold",
            text.len()
        ));
    }
    let mut parser = Parser::new_from_str(text);
    let mut scan = Scan::default();
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) | Err(_) => return Ok(()),
            Ok((event, _)) => scan.event(event)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_bomb_is_refused_without_expanding_it() {
        let mut doc = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            doc.push_str(&format!("{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = check_yaml(&doc).expect_err("a bomb");
        assert!(
            e.contains("values (aliases expanded)") || e.contains("aliases"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_with_its_path() {
        let deep = format!("endpoints:\n  - {}x\n", "- ".repeat(10_000));
        let e = check_yaml(&deep).expect_err("deep");
        assert!(
            e.starts_with("endpoints[0][0]") && e.contains("nest deeper"),
            "{e}"
        );
        assert_eq!(check_yaml("gate: {quantile: 0.99, window: 5s}\n"), Ok(()));
    }

    #[test]
    fn empty_documents_are_told_apart() {
        for empty in ["", "  \n", "# nothing\n", "---\n", "null\n", "~"] {
            assert!(is_empty_document(empty), "{empty:?}");
        }
        for full in ["{}", "a: 1", "- x", "x"] {
            assert!(!is_empty_document(full), "{full:?}");
        }
    }
}
