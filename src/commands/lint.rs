//! `tenantsync lint`: the security policy over the manifests, loaded as `validate` loads them
//! (interpolation included, so limits are checked on the values in force). No network, no
//! state.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::validate::load_manifests;
use crate::cli::{GlobalArgs, LintArgs, LintFormat};
use crate::policy::{self, render, Policy};

/// Runs `lint`.
pub fn run(global: &GlobalArgs, args: &LintArgs) -> anyhow::Result<ExitCode> {
    if args.rules {
        out!("{}", render::rules_text());
        return Ok(ExitCode::SUCCESS);
    }
    let policy = match &args.policy {
        None => Policy::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
    };
    let desired = match load_manifests(global, &args.manifests.paths) {
        Ok(d) => d,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("error: the manifests are invalid; fix them (see `tenantsync validate`) before linting");
            return Ok(ExitCode::from(1));
        }
    };
    let findings = policy::lint(&desired, &policy);
    match args.format {
        LintFormat::Text => out!("{}", render::text(&findings)),
        LintFormat::Json => outln!("{:#}", render::json(&findings)),
        LintFormat::Markdown => out!("{}", render::markdown(&findings)),
        LintFormat::Sarif => {
            let root = repository_root();
            let located: Vec<_> = findings
                .iter()
                .cloned()
                .map(|mut f| {
                    f.file = std::path::absolute(&f.file).unwrap_or(f.file);
                    f
                })
                .collect();
            outln!("{:#}", render::sarif(&located, &root));
        }
    }
    Ok(if policy::fails(&findings, args.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The git work tree around the current directory (SARIF artifact URIs are relative to it), or
/// the current directory.
fn repository_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map_or(cwd.clone(), Path::to_path_buf)
}
