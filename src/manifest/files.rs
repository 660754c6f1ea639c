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

/// Reads at most [`MAX_FILE_BYTES`] from `reader`; `None` when there is more. The size a file
/// reports is not trusted: `/proc` files report 0 and never end.
fn read_capped(reader: impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_FILE_BYTES).then_some(bytes))
}

fn too_large(path: &Path) -> ManifestError {
    io_error(
        path,
        format!(
            "the file is larger than {} MiB; refused (split it into several files)",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

/// Walks `dir`, inside the manifest directory `root` (resolved). Symlinks are followed only
/// where they resolve inside `root`; one that leads out is refused, naming the link. Directories
/// already read (by their resolved path): a symlink back to an ancestor, or a second path to a
/// directory, is reported instead of being followed again.
fn walk(
    dir: &Path,
    root: &Path,
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
        let Ok(own) = std::fs::symlink_metadata(&path) else {
            continue; // gone since it was listed
        };
        let meta = if own.file_type().is_symlink() {
            match std::fs::canonicalize(&path) {
                Ok(target) if target.starts_with(root) => match std::fs::metadata(&target) {
                    Ok(m) => m,
                    Err(e) => {
                        errors.push(io_error(
                            &path,
                            format!("cannot read the symlink's target: {e}"),
                        ));
                        continue;
                    }
                },
                Ok(_) => {
                    // Refused before anything of the target is read; only the link is named.
                    if path.is_dir() || is_manifest(&path) {
                        errors.push(io_error(
                            &path,
                            "a symlink that leads outside the manifest directory; refused (manifests are read only from inside it)".to_owned(),
                        ));
                    }
                    continue;
                }
                Err(e) => {
                    if is_manifest(&path) {
                        errors.push(io_error(
                            &path,
                            format!("a symlink that cannot be followed: {e}"),
                        ));
                    }
                    continue;
                }
            }
        } else {
            own
        };
        if meta.is_dir() {
            walk(&path, root, visited, out, errors);
        } else if is_manifest(&path) {
            out.push(path);
        }
    }
}

/// Reads every manifest under `paths` (files are taken as given, whatever their extension).
/// In a directory, symlinks are followed only where they stay inside it; every file is read up
/// to [`MAX_FILE_BYTES`], whatever size it reports, and only if it is a regular file.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, ManifestErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut visited = std::collections::HashSet::new();
    for path in paths {
        if path.is_dir() {
            let root = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            walk(path, &root, &mut visited, &mut files, &mut errors);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            errors.push(io_error(path, "no such file or directory".to_owned()));
        }
    }
    let mut sources = Vec::new();
    for file in files {
        // Checked before opening: opening a FIFO would wait for a writer.
        match std::fs::metadata(&file) {
            Ok(m) if !m.is_file() => {
                errors.push(io_error(&file, "not a regular file; refused".to_owned()));
                continue;
            }
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                errors.push(too_large(&file));
                continue;
            }
            _ => {}
        }
        match std::fs::File::open(&file).and_then(read_capped) {
            Ok(Some(bytes)) => sources.push(SourceFile { path: file, bytes }),
            Ok(None) => errors.push(too_large(&file)),
            Err(e) => errors.push(io_error(&file, format!("cannot read file: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(ManifestErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(paths: &[PathBuf]) -> String {
        match read_sources(paths) {
            Ok(s) => panic!("read {} files", s.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_size_a_file_reports_is_not_trusted() {
        assert!(read_capped(std::io::repeat(b'a')).unwrap().is_none());
        let exact = vec![b'a'; MAX_FILE_BYTES as usize];
        assert_eq!(read_capped(&exact[..]).unwrap().unwrap().len(), exact.len());
        // A /proc file reports size 0 and reads on far past the cap (or, in some sandboxes,
        // cannot be read at all): refused either way, never read whole.
        let pagemap = PathBuf::from("/proc/self/pagemap");
        if pagemap.exists() {
            let text = messages(&[pagemap]);
            assert!(
                text.contains("larger than 5 MiB") || text.contains("cannot read file"),
                "{text}"
            );
        }
    }

    #[test]
    fn symlinks_are_followed_only_inside_the_manifest_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("m");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(outside.join("o.yaml"), "kind: OUTSIDE-CANARY\n").unwrap();
        // Inside: a file link and a directory link are read.
        std::os::unix::fs::symlink(root.join("sub/a.yaml"), root.join("b.yaml")).unwrap();
        let read = read_sources(std::slice::from_ref(&root)).unwrap();
        assert_eq!(read.len(), 2);
        // Outside: a file link, a directory link and a device are refused, naming the link.
        std::os::unix::fs::symlink(outside.join("o.yaml"), root.join("c.yaml")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("z.yaml")).unwrap();
        let text = messages(std::slice::from_ref(&root));
        for link in ["c.yaml", "/d:", "z.yaml"] {
            assert!(text.contains(link), "{link} in {text}");
        }
        assert_eq!(
            text.matches("leads outside the manifest directory").count(),
            3,
            "{text}"
        );
        assert!(!text.contains("OUTSIDE-CANARY"));
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.yaml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        assert!(messages(&[dir.path().to_owned()]).contains("not a regular file"));
    }
}
