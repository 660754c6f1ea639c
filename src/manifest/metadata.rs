//! A document's `metadata`: its name (checked), the tenantsync annotations (`protect`,
//! `policy-ignore`) and its labels.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::document::DocContext;
use super::yaml::Mark;
use crate::model::schema::{did_you_mean, FieldPath};

use super::raw::SCHEMAS;

/// The annotation that protects an object from deletion.
pub const PROTECT_ANNOTATION: &str = "tenantsync/protect";

/// The annotation that silences policy rules for an object: `"TS001: why; TS004: why"`.
pub const POLICY_IGNORE_ANNOTATION: &str = "tenantsync/policy-ignore";

/// What a document's metadata says.
pub(super) struct Meta {
    pub(super) name: String,
    pub(super) name_mark: Mark,
    pub(super) protect: bool,
    pub(super) labels: BTreeMap<String, String>,
    /// The `tenantsync/policy-ignore` text, and where it is written.
    pub(super) policy_ignore: Option<(String, Mark)>,
}

pub(super) fn valid_object_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        })
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

impl DocContext<'_> {
    /// Checks `metadata` and reads what tenantsync uses of it.
    pub(super) fn metadata(&mut self, root: &Map<String, Value>) -> Option<Meta> {
        let path = FieldPath::root().key("metadata");
        let Some(meta) = root.get("metadata") else {
            self.missing(&path, "every document needs `metadata.name`");
            return None;
        };
        let mut meta = meta.clone();
        if !self.check(&SCHEMAS.metadata, &mut meta, &path) {
            return None;
        }
        let name_path = path.key("name");
        if self.failed.contains(&name_path) {
            return None; // already reported
        }
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        let name_mark = self.locate(&name_path, false);
        if !valid_object_name(&name) {
            self.error(
                &name_path,
                format!("`{name}` is not a valid name: use lowercase letters, digits, `-`, `.` and `_`, starting and ending with a letter or digit (at most 128 characters)"),
            );
        }
        let mut protect = false;
        let mut policy_ignore = None;
        if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
            for (k, v) in annotations {
                let apath = path.key("annotations").key(k);
                if k == POLICY_IGNORE_ANNOTATION {
                    match v.as_str() {
                        Some(text) => {
                            policy_ignore = Some((text.to_owned(), self.locate(&apath, true)));
                        }
                        None => self.error(&apath, "must be a string: \"TS001: why; TS004: why\""),
                    }
                } else if k == PROTECT_ANNOTATION {
                    match v.as_str() {
                        Some("true") => protect = true,
                        Some("false") => {}
                        _ => self.error(&apath, "must be \"true\" or \"false\" (quoted)"),
                    }
                } else if let Some(rest) = k.strip_prefix("tenantsync/") {
                    let hint = did_you_mean(rest, ["protect", "policy-ignore"].into_iter())
                        .map(|c| format!(" (did you mean `tenantsync/{c}`?)"))
                        .unwrap_or_default();
                    self.error(&apath, format!("unknown tenantsync annotation `{k}`{hint}; known: {PROTECT_ANNOTATION}, {POLICY_IGNORE_ANNOTATION}"));
                }
            }
        }
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Some(Meta {
            name,
            name_mark,
            protect,
            labels,
            policy_ignore,
        })
    }
}
