//! Finding manifest files: `*.yaml` / `*.yml` under the given paths, directories recursed, hidden
//! entries skipped, in a stable (sorted) order. The only file-system access of this module tree
//! apart from `${file:…}`, which goes through [`super::Environment`].

use std::path::{Path, PathBuf};

use super::error::{ManifestError, ManifestErrors};
use super::validate::SourceFile;

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn io_error(path: &Path, message: String) -> ManifestError {
    ManifestError {
        file: path.to_owned(),
        line: 1,
        column: 1,
        field: "(document)".to_owned(),
        message,
    }
}

/// The largest manifest file read.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

/// Directories already read (by their resolved path): a symlink back to an ancestor, or a second
/// path to a directory, is reported instead of being followed again.
fn walk(
    dir: &Path,
    visited: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<ManifestError>,
) {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    if !visited.insert(real.clone()) {
        errors.push(io_error(
            dir,
            format!(
                "directory already read as {} (a symlink loop, or a second path to it); remove the link",
                real.display()
            ),
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(io_error(dir, format!("cannot read directory: {e}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            walk(&path, visited, out, errors);
        } else if is_manifest(&path) {
            out.push(path);
        }
    }
}

/// Reads every manifest under `paths` (files are taken as given, whatever their extension).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, ManifestErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut visited = std::collections::HashSet::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut visited, &mut files, &mut errors);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            errors.push(io_error(path, "no such file or directory".to_owned()));
        }
    }
    let mut sources = Vec::new();
    for file in files {
        match std::fs::metadata(&file) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                errors.push(io_error(
                    &file,
                    format!(
                        "the file is larger than {} MiB; refused (split it into several files)",
                        MAX_FILE_BYTES / (1024 * 1024)
                    ),
                ));
                continue;
            }
            Ok(m) if !m.is_file() => {
                errors.push(io_error(&file, "not a regular file; refused".to_owned()));
                continue;
            }
            _ => {}
        }
        match std::fs::read(&file) {
            Ok(bytes) => sources.push(SourceFile { path: file, bytes }),
            Err(e) => errors.push(io_error(&file, format!("cannot read file: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(ManifestErrors(errors))
    }
}
