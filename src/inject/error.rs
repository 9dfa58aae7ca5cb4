//! Errors of `warmgate inject`: each names the document and the field at fault.

use std::fmt;

/// Where in the input a problem was found: the document's 1-based index, its kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRef {
    /// 1-based position of the document in the input stream.
    pub index: usize,
    /// The document's `kind`, or empty when it has none.
    pub kind: String,
    /// The document's `metadata.name`, or empty when it has none.
    pub name: String,
}

impl fmt::Display for DocRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.index)?;
        match (self.kind.is_empty(), self.name.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => write!(f, " ({})", self.kind),
            (true, false) => write!(f, " ({})", self.name),
            (false, false) => write!(f, " ({}/{})", self.kind, self.name),
        }
    }
}

/// One reason `warmgate inject` refused its input. Nothing is written when any occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectError {
    /// The input could not be read (file missing, not UTF-8, ...).
    Read {
        /// The file name, or `-` for standard input.
        source_name: String,
        /// The underlying I/O error, as text.
        message: String,
    },
    /// A document is not valid YAML.
    Yaml {
        /// 1-based index of the document that failed to parse.
        index: usize,
        /// The parser's message, with its line and column.
        message: String,
    },
    /// A workload asks for something that cannot be done.
    Field {
        /// The document at fault.
        doc: DocRef,
        /// The field path inside the document, e.g. `metadata.annotations.warmgate.io/rate`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl InjectError {
    /// Builds a [`InjectError::Field`] error.
    pub(crate) fn field(
        doc: &DocRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InjectError::Field {
            doc: doc.clone(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectError::Read {
                source_name,
                message,
            } => write!(f, "cannot read {source_name}: {message}"),
            InjectError::Yaml { index, message } => {
                write!(f, "document {index}: invalid YAML: {message}")
            }
            InjectError::Field {
                doc,
                field,
                message,
            } => write!(f, "{doc}: {field}: {message}"),
        }
    }
}

impl std::error::Error for InjectError {}

/// Every problem found in one input, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectErrors(pub Vec<InjectError>);

impl fmt::Display for InjectErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InjectErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_names_document_kind_name_and_field() {
        let doc = DocRef {
            index: 2,
            kind: "Deployment".into(),
            name: "web".into(),
        };
        let e = InjectError::field(
            &doc,
            "metadata.annotations.warmgate.io/rate",
            "not a number",
        );
        assert_eq!(
            e.to_string(),
            "document 2 (Deployment/web): metadata.annotations.warmgate.io/rate: not a number"
        );
    }

    #[test]
    fn doc_without_kind_or_name_shows_only_index() {
        let doc = DocRef {
            index: 1,
            kind: String::new(),
            name: String::new(),
        };
        assert_eq!(doc.to_string(), "document 1");
    }
}
