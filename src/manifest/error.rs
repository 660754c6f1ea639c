//! Manifest errors: each names the file, line and column, the field path inside the document,
//! and what to do. All of a run's errors are collected and reported together.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// One problem in the manifests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ManifestError {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// Field path inside the document, e.g. `spec.clients[0].redirect_uris[1]`; `(document)` for
    /// the document itself.
    pub field: String,
    /// What is wrong and how to fix it. Never contains an interpolated or sensitive value.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

/// Every problem found in one load, sorted by file and position.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        write!(
            f,
            "{} error{} in the manifests; nothing was sent to the target",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )
    }
}
