//! One problem with the configuration: where (section and key path) and what.

use std::fmt;

/// The part of the configuration a problem is in, so that callers (`warmgate inject`) can tell
/// which of their own inputs to blame without reading the path's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// A top-level key (`listen`, `shutdown_grace`, or an unknown one).
    Top,
    /// `log:`.
    Log,
    /// `target:`.
    Target,
    /// `endpoints:` (the list or one of its entries).
    Endpoints,
    /// `traffic:`.
    Traffic,
    /// `gate:`.
    Gate,
}

impl Section {
    /// The section's key at the top level (empty for [`Section::Top`]).
    pub fn key(self) -> &'static str {
        match self {
            Section::Top => "",
            Section::Log => "log",
            Section::Target => "target",
            Section::Endpoints => "endpoints",
            Section::Traffic => "traffic",
            Section::Gate => "gate",
        }
    }
}

/// One problem: the key path (`gate.window`, `endpoints[0].name`) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The section the key is in.
    pub section: Section,
    /// The dotted key path.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    /// Records a problem with the key at `path`.
    pub(crate) fn push(&mut self, section: Section, path: &str, message: impl fmt::Display) {
        self.0.push(Problem {
            section,
            path: path.to_string(),
            message: message.to_string(),
        });
    }
}

/// The checks of one table: reports problems under its path.
pub(crate) struct Checks<'p> {
    section: Section,
    prefix: String,
    problems: &'p mut Problems,
}

impl<'p> Checks<'p> {
    /// Checks of the table at `prefix` (empty: the top level) in `section`.
    pub(crate) fn new(section: Section, prefix: &str, problems: &'p mut Problems) -> Checks<'p> {
        Checks {
            section,
            prefix: prefix.to_string(),
            problems,
        }
    }

    /// Checks of the section's own table (`gate`, `traffic`, ...).
    pub(crate) fn of(section: Section, problems: &'p mut Problems) -> Checks<'p> {
        Checks::new(section, section.key(), problems)
    }

    /// Problems recorded so far (in every section).
    pub(crate) fn count(&self) -> usize {
        self.problems.0.len()
    }

    /// Reports a problem with `key` of this table.
    pub(crate) fn problem(&mut self, key: &str, message: impl fmt::Display) {
        let path = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        };
        self.problems.push(self.section, &path, message);
    }
}
