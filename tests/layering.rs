//! The layering rule, checked like cargo's own tidy checks: the pure core (`src/model`,
//! `src/manifest`, `src/plan`, and the pure single-file modules) never names an I/O crate. A
//! planner that reached for tokio, sled, reqwest, axum or notify would stop being a function over
//! values; this test fails the build first.

use std::path::{Path, PathBuf};

/// Crates only the edges may use.
const IO_CRATES: &[&str] = &["tokio", "sled", "reqwest", "axum", "notify"];

/// The pure modules (directories are checked recursively).
const PURE: &[&str] = &[
    "src/model",
    "src/manifest",
    "src/plan",
    "src/export.rs",
    "src/doctor.rs",
    "src/state/entry.rs",
    "src/daemon/decide.rs",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Lines of `text` that name an I/O crate: `use tokio…`, `tokio::…`, `extern crate tokio`.
pub fn io_uses(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for krate in IO_CRATES {
            let named = code.match_indices(krate).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = &code[at + krate.len()..];
                let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                starts_word && (after.starts_with("::") || after.trim_start().starts_with(';'))
            });
            if named {
                found.push((n + 1, line.trim().to_owned()));
            }
        }
    }
    found
}

#[test]
fn pure_modules_use_no_io_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PURE {
        rust_files(&root.join(p), &mut files);
    }
    assert!(files.len() > 10, "the pure modules were not found");
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, code) in io_uses(&text) {
            violations.push(format!("{}:{line}: {code}", file.display()));
        }
    }
    assert!(
        violations.is_empty(),
        "pure modules must not use I/O crates (move the I/O to an edge behind a trait):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_imports_and_paths() {
    assert_eq!(io_uses("use tokio::sync::Mutex;").len(), 1);
    assert_eq!(io_uses("let db = sled::open(p)?;").len(), 1);
    assert_eq!(io_uses("    reqwest::Client::new()").len(), 1);
    assert!(io_uses("// tokio::spawn is not used here").is_empty());
    assert!(io_uses("fn notify_user() {}").is_empty());
}
