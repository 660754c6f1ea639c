//! `tenantsync render`: the manifests as an environment sees them, for review: its overlay
//! applied and its `${var:…}` values written in. `${env:…}` and `${file:…}` stay as written, so
//! nothing outside the repository is read; a secret written in (a literal, or a value) is
//! shown as `(sensitive)`.

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
            // A value standing alone that is a whole number or a boolean (`900`, `true`) is
            // shown typed, as the loader gives a number or boolean field; any other text stays
            // text (`1e3`, `0x10`, `1.50`: what a string field is sent).
            Ok(done) if whole_reference(text) => {
                let digits = done.strip_prefix('-').unwrap_or(&done);
                let integer = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'));
                *value = match done.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ if integer => done
                        .parse::<i64>()
                        .map_or(Value::String(done.clone()), |i| Value::Number(i.into())),
                    _ => Value::String(done),
                };
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

/// Every secret field's value (a name the catalogue gives a secret: `clientSecret`, a push
/// `key`, …) written as `(sensitive)`, unless it is still a reference read when applied
/// (`${env:…}`, `${file:…}`): a review output shows no secret, written in the manifests or in
/// the environment's values.
fn mask_secrets(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let secret = key
                    .as_str()
                    .is_some_and(crate::model::catalogue::is_secret_name);
                if secret && !item.is_null() {
                    let text = serde_yaml::to_string(item).unwrap_or_default();
                    if !text.contains("${env:") && !text.contains("${file:") {
                        *item = Value::String(crate::model::catalogue::SENSITIVE.to_owned());
                    }
                } else {
                    mask_secrets(item);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(mask_secrets),
        Value::Tagged(tagged) => mask_secrets(&mut tagged.value),
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
            mask_secrets(&mut value);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_standing_alone_is_typed_only_when_it_is_a_whole_number_or_a_boolean() {
        let values = EnvValues {
            environment: "prod".into(),
            values: [
                ("TTL", "900"),
                ("ON", "true"),
                ("DESC", "1e3"),
                ("HEX", "0x10"),
                ("PADDED", "007"),
                ("PRICE", "1.50"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        };
        let mut doc: Value = serde_yaml::from_str(
            "{ttl: '${var:TTL}', on: '${var:ON}', desc: '${var:DESC}', hex: '${var:HEX}', padded: '${var:PADDED}', price: '${var:PRICE}', text: 'at ${var:TTL}s'}",
        )
        .unwrap();
        let mut problems = Vec::new();
        substitute(&mut doc, &values, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let expected: Value = serde_yaml::from_str(
            "{ttl: 900, on: true, desc: '1e3', hex: '0x10', padded: '007', price: '1.50', text: 'at 900s'}",
        )
        .unwrap();
        assert_eq!(doc, expected);
    }

    #[test]
    fn secrets_are_masked_unless_still_read_when_applied() {
        let mut doc: Value = serde_yaml::from_str(
            "{spec: {google: {clientId: g, clientSecret: literal}, facebook: {clientSecret: '${env:FB_SECRET}'}, push: {apn: {key: '${file:apn.p8}', keyId: K1}, fcm: {key: {private_key: x}}}}}",
        )
        .unwrap();
        mask_secrets(&mut doc);
        let expected: Value = serde_yaml::from_str(
            "{spec: {google: {clientId: g, clientSecret: '(sensitive)'}, facebook: {clientSecret: '${env:FB_SECRET}'}, push: {apn: {key: '${file:apn.p8}', keyId: K1}, fcm: {key: '(sensitive)'}}}}",
        )
        .unwrap();
        assert_eq!(doc, expected);
    }
}
