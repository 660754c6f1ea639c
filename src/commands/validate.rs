//! `tenantsync validate` and `tenantsync schema`: check manifests without touching any target, and
//! print the JSON Schema of the format.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::cli::{GlobalArgs, OutputFormat, ValidateArgs};
use crate::manifest::{self, files, DesiredState, ManifestErrors, ProcessEnvironment};

/// The environment manifests under `paths` are interpolated in: `${file:…}` confined to their
/// directories and the `--allow-file-dir`s, `${env:…}` to what `--env-allow` permits.
pub fn manifest_environment(global: &GlobalArgs, paths: &[PathBuf]) -> ProcessEnvironment {
    let mut roots = paths.to_vec();
    roots.extend(overlay_dir(global));
    ProcessEnvironment::for_manifests(&roots, &global.read_allowance())
}

/// The chosen environment's overlay directory, if it has one.
pub fn overlay_dir(global: &GlobalArgs) -> Option<PathBuf> {
    global.environment.as_ref().and_then(|e| e.overlay.clone())
}

/// The manifest files under `paths`, with the chosen environment's overlay applied.
pub fn manifest_sources(
    global: &GlobalArgs,
    paths: &[PathBuf],
) -> Result<Vec<manifest::SourceFile>, ManifestErrors> {
    let sources = files::read_sources(paths)?;
    match overlay_dir(global) {
        Some(dir) => manifest::overlay::apply(sources, &files::read_sources(&[dir])?),
        None => Ok(sources),
    }
}

/// The manifests under `paths` as the repository says them, for review (`render`, `env
/// diff`): the chosen environment's overlay and values applied, every `${env:…}` and
/// `${file:…}` a placeholder, so nothing outside the repository is read. The files and the
/// validated state.
pub fn load_reviewed(
    global: &GlobalArgs,
    paths: &[PathBuf],
) -> Result<(Vec<manifest::SourceFile>, DesiredState), ManifestErrors> {
    let sources = manifest_sources(global, paths)?;
    let review = manifest::interpolate::ReviewEnvironment {
        values: global.read_allowance().values,
    };
    let desired = manifest::load(&sources, &review)?;
    Ok((sources, desired))
}

/// Reads and validates the manifests under `paths` (with the chosen environment's overlay and
/// values).
pub fn load_manifests(
    global: &GlobalArgs,
    paths: &[PathBuf],
) -> Result<DesiredState, ManifestErrors> {
    let sources = manifest_sources(global, paths)?;
    manifest::load(&sources, &manifest_environment(global, paths))
}

/// Prints manifest errors in the chosen format (text on stderr, JSON on stdout).
pub fn report_errors(errors: &ManifestErrors, format: OutputFormat) {
    match format {
        OutputFormat::Json => {
            let body = json!({
                "format_version": 1,
                "valid": false,
                "errors": errors.0,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&body).expect("errors serialize")
            );
        }
        OutputFormat::Text | OutputFormat::Markdown => eprintln!("{errors}"),
    }
}

/// `tenantsync validate`.
pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    match load_manifests(global, &args.manifests.paths) {
        Ok(state) => {
            let apps = state.app_count();
            let clients = state.client_count();
            // Every described kind, counted (zero included: the JSON keys are stable).
            let kinds: Vec<(crate::model::kinds::ObjKind, usize)> =
                crate::model::kinds::ObjKind::ALL
                    .into_iter()
                    .map(|k| {
                        (
                            k,
                            state.objects.keys().filter(|a| a.kind == k.into()).count(),
                        )
                    })
                    .collect();
            match args.format {
                OutputFormat::Json => {
                    let mut out = json!({
                        "format_version": 1,
                        "valid": true,
                        "applications": apps,
                        "clients": clients,
                    });
                    for (kind, n) in &kinds {
                        out[kind.name()] = json!(n);
                    }
                    outln!("{}", serde_json::to_string_pretty(&out)?);
                }
                _ => {
                    let mut line = format!("{apps} applications, {clients} clients");
                    for (kind, n) in kinds.iter().filter(|(_, n)| *n > 0) {
                        let spec = kind.spec();
                        let noun = if *n == 1 { spec.noun } else { spec.plural };
                        line.push_str(&format!(", {n} {noun}"));
                    }
                    outln!("{line}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            report_errors(&errors, args.format);
            Ok(ExitCode::from(1))
        }
    }
}

/// `tenantsync schema`.
pub fn schema(args: &crate::cli::SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = match args.of {
        crate::cli::SchemaOf::Project => crate::project::json_schema(),
        crate::cli::SchemaOf::Manifest => manifest::raw::document_schema(),
    };
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
