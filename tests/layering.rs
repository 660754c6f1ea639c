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
    "src/export",
    "src/doctor",
    "src/state/entry.rs",
    "src/state/address.rs",
    "src/state/schema.rs",
    "src/daemon/decide.rs",
    "src/credentials.rs",
    "src/drift.rs",
    "src/policy",
    "src/project",
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

/// Lines of `text` that name an I/O crate: a path through it (`tokio::spawn`), or a `use` /
/// `extern crate` statement that names it in any form (`use tokio;`, `use tokio as _;`,
/// `use {sled, tokio::sync};`, over several lines too). Comments are ignored.
pub fn io_uses(text: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let names = |piece: &str, krate: &str, path_only: bool| {
        piece.match_indices(krate).any(|(at, _)| {
            let before = piece[..at].chars().next_back();
            let after = &piece[at + krate.len()..];
            let whole_word = before.is_none_or(|c| !is_ident(c)) && !after.starts_with(is_ident);
            whole_word && (!path_only || after.starts_with("::"))
        })
    };
    let mut found = Vec::new();
    let mut statement = String::new();
    let mut statement_line = 0;
    for (n, line) in code.iter().enumerate() {
        if statement.trim().is_empty() {
            statement_line = n;
        }
        statement.push_str(line);
        statement.push('\n');
        let flagged = IO_CRATES.iter().any(|krate| names(line, krate, true));
        if flagged {
            found.push((n + 1, line.trim().to_owned()));
        }
        if line.contains(';') || line.trim_end().ends_with('}') {
            let s = statement.trim_start();
            let declares = s.starts_with("use ")
                || s.starts_with("pub use ")
                || s.starts_with("pub(crate) use ")
                || s.starts_with("extern crate ");
            if declares && !flagged && IO_CRATES.iter().any(|krate| names(s, krate, false)) {
                found.push((statement_line + 1, s.trim().to_owned()));
            }
            statement.clear();
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
    assert_eq!(io_uses("use tokio as _;").len(), 1);
    assert_eq!(io_uses("use tokio;").len(), 1);
    assert_eq!(io_uses("extern crate sled;").len(), 1);
    assert_eq!(io_uses("use {\n    axum,\n    serde,\n};").len(), 1);
    assert!(io_uses("use crate::manifest::notify_x;").is_empty());
    assert!(io_uses("let tokio_like = 1;").is_empty());
}
