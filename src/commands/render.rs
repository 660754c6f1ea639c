//! `tenantsync render`: the manifests as an environment sees them, for review: its overlay
//! applied and its `${var:…}` values written in. `${env:…}` and `${file:…}` stay as written, so
//! nothing outside the repository is read and no secret is printed.

use std::process::ExitCode;

use serde_yaml::Value;

use super::validate::{load_reviewed, report_errors};
use crate::cli::{GlobalArgs, OutputFormat, RenderArgs};
use crate::manifest::interpolate::substitute_values;
use crate::manifest::{EnvValues, ManifestError, ManifestErrors};

/// Whether `text` is exactly one `${var:NAME}`.
fn whole_reference(text: &str) -> bool {
    text.strip_prefix("${var:")
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(|name| !name.contains('}'))
}

/// Every string in `value` with the values written in.
fn substitute(value: &mut Value, values: &EnvValues, problems: &mut Vec<String>) {
    match value {
        Value::String(text) => match substitute_values(text, values) {
            // A value standing alone is typed as YAML types a plain scalar (`900`, `true`).
            Ok(done) if whole_reference(text) => {
                *value = serde_yaml::from_str::<Value>(&done)
                    .ok()
                    .filter(|v| v.is_number() || v.is_bool())
                    .unwrap_or(Value::String(done));
            }
            Ok(done) => *text = done,
            Err(mut e) => problems.append(&mut e),
        },
        Value::Sequence(items) => {
            for item in items {
                substitute(item, values, problems);
            }
        }
        Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                substitute(item, values, problems);
            }
        }
        Value::Tagged(tagged) => substitute(&mut tagged.value, values, problems),
        _ => {}
    }
}

/// Runs `render`.
pub fn run(global: &GlobalArgs, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let paths = &args.manifests.paths;
    let sources = match load_reviewed(global, paths) {
        Ok((sources, _)) => sources,
        Err(errors) => {
            report_errors(&errors, OutputFormat::Text);
            return Ok(ExitCode::from(1));
        }
    };
    let values = global.read_allowance().values;
    let values = values.unwrap_or_default();
    let mut rendered = String::new();
    let mut errors = Vec::new();
    for source in &sources {
        let text = String::from_utf8_lossy(&source.bytes);
        for document in serde_yaml::Deserializer::from_str(&text) {
            let mut value: Value = match serde::Deserialize::deserialize(document) {
                Ok(v) => v,
                Err(e) => anyhow::bail!("{}: {e}", source.path.display()),
            };
            if value.is_null() {
                continue;
            }
            let mut problems = Vec::new();
            substitute(&mut value, &values, &mut problems);
            errors.extend(problems.into_iter().map(|message| ManifestError {
                file: source.path.clone(),
                line: 1,
                column: 1,
                field: "(document)".into(),
                message,
            }));
            rendered.push_str(&format!(
                "---\n# Source: {}\n{}",
                crate::shown::escape_controls(&source.path.display().to_string()),
                serde_yaml::to_string(&value)?
            ));
        }
    }
    if !errors.is_empty() {
        report_errors(&ManifestErrors(errors), OutputFormat::Text);
        return Ok(ExitCode::from(1));
    }
    out!("{rendered}");
    Ok(ExitCode::SUCCESS)
}
