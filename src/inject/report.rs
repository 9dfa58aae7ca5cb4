//! One line per workload on stderr: what `warmgate inject` or `uninject` did to it and why.

use std::fmt;

use super::error::DocRef;

/// What happened to one document (or one item of a `List`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// warmgate was added.
    Injected,
    /// It was injected already and something changed: the image, an annotation, the version.
    Updated,
    /// Left as it was, and why (e.g. already injected with the same request).
    Unchanged(String),
    /// warmgate was taken out and the original probes put back.
    Uninjected,
    /// Not a candidate, and why (not a workload, not opted in, no port...).
    Skipped(String),
}

/// One line of the report: `deployment/web injected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The document's kind, lower case as kubectl prints it.
    pub kind: String,
    /// The document's name (or `generateName`).
    pub name: String,
    /// What happened to it.
    pub outcome: Outcome,
}

impl Report {
    /// A report line for `doc`.
    pub fn new(doc: &DocRef, outcome: Outcome) -> Self {
        Report {
            kind: doc.kind.to_ascii_lowercase(),
            name: doc.name.clone(),
            outcome,
        }
    }

    /// True when the document was changed.
    pub fn changed(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Injected | Outcome::Updated | Outcome::Uninjected
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.kind.is_empty() {
            "document"
        } else {
            &self.kind
        };
        write!(f, "{kind}/{} ", self.name)?;
        match &self.outcome {
            Outcome::Injected => write!(f, "injected"),
            Outcome::Updated => write!(f, "updated"),
            Outcome::Uninjected => write!(f, "uninjected"),
            Outcome::Unchanged(why) => write!(f, "unchanged: {why}"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_kubectl() {
        let doc = DocRef {
            index: 1,
            kind: "Pod".into(),
            name: "x".into(),
        };
        let skipped = Report::new(
            &doc,
            Outcome::Skipped("no containerPort, pass --port".into()),
        );
        assert_eq!(
            skipped.to_string(),
            "pod/x skipped: no containerPort, pass --port"
        );
        assert!(!skipped.changed());
        assert_eq!(
            Report::new(&doc, Outcome::Injected).to_string(),
            "pod/x injected"
        );
    }
}
