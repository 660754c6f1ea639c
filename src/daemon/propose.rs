//! `sync --on-drift propose`: turns each open drift episode into a reviewable commit. The live
//! values are written into the manifests in place (only the drifted values change; see
//! `manifest::edit`), committed on top of the commit in force and pushed to a branch
//! `tenantsync/drift/<object>` of the git source: one branch per episode, updated when the drift
//! changes, deleted when the episode ends. Values a manifest takes from `${…}`, or writes over
//! several lines, are reported as not proposable instead.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::source::GitSource;
use crate::drift::{self, DriftRecord, DriftUpdate};
use crate::manifest::desired::SourceInfo;
use crate::manifest::edit::{self, ValueEdit};
use crate::manifest::DesiredState;
use crate::plan::diff::FieldChange;
use crate::plan::Plan;
use crate::state::address::Address;

/// The review branch of an object's drift: `tenantsync/drift/<kind>/<app>[/<name or key>]`,
/// each part lower-cased with anything but letters, digits, `-` and `_` turned into `-`.
pub fn branch_of(object: &Address) -> String {
    let slug = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect()
    };
    let kind = object.kind.to_string().to_ascii_lowercase();
    let parts: Vec<&str> = object
        .app
        .as_deref()
        .into_iter()
        .chain(Some(object.key.as_str()).filter(|k| !k.is_empty()))
        .collect();
    std::iter::once(format!("tenantsync/drift/{kind}"))
        .chain(parts.into_iter().map(slug))
        .collect::<Vec<_>>()
        .join("/")
}

/// The changes a plan held back for drift, of every kind: each drifted object's field changes
/// (what `--on-drift propose` writes back).
pub fn held_fields(plan: &Plan) -> BTreeMap<Address, Vec<FieldChange>> {
    plan.held_for_drift
        .iter()
        .map(|c| (c.address.clone(), c.fields.clone()))
        .collect()
}

/// What a round proposed.
#[derive(Debug, Default)]
pub struct Proposed {
    /// Episodes whose branch was pushed for the first time.
    pub new: Vec<DriftRecord>,
}

/// Keeps the review branches in step with the open drift episodes.
#[derive(Default)]
pub struct Proposer {
    /// What each branch was last pushed from (parent commit and edited files).
    pushed: HashMap<String, (String, Vec<(String, String)>)>,
}

impl Proposer {
    /// Proposes every open episode of `drift` (the live values come from the `held` changes,
    /// see [`held_fields`]) on top of `head`, and deletes the branches of the episodes that
    /// ended.
    pub fn round(
        &mut self,
        git: &GitSource,
        head: &str,
        desired: &DesiredState,
        held: &BTreeMap<Address, Vec<FieldChange>>,
        drift: &DriftUpdate,
    ) -> Proposed {
        let mut proposed = Proposed::default();
        for record in &drift.resolved {
            let branch = branch_of(&record.object);
            match git.retract(&branch) {
                Ok(()) => {
                    if self.pushed.remove(&branch).is_some() {
                        tracing::info!(branch, "drift ended: review branch deleted");
                    }
                }
                Err(e) => tracing::warn!(branch, error = %e, "could not delete the review branch"),
            }
        }
        for record in drift.open() {
            let Some(fields) = held.get(&record.object) else {
                continue;
            };
            let branch = branch_of(&record.object);
            let files = match edited_files(git, head, desired, &record.object, fields) {
                Ok(files) if !files.is_empty() => files,
                Ok(_) => continue,
                Err(why) => {
                    tracing::warn!(object = %record.object, reason = %why, "drift not proposable");
                    continue;
                }
            };
            let key = (head.to_owned(), files.clone());
            if self.pushed.get(&branch) == Some(&key) {
                continue;
            }
            let message = format!(
                "{}: take the live values changed outside tenantsync\n\nDrifted fields: {}\nFirst seen: {}\nProposed by tenantsync sync --on-drift propose.",
                record.object,
                record.fields.join(", "),
                record.first_seen
            );
            match git.propose(head, &files, &branch, &message, &record.first_seen) {
                Ok(commit) => {
                    tracing::info!(object = %record.object, branch, commit, "drift proposed for review");
                    if self.pushed.insert(branch, key).is_none() {
                        proposed.new.push(record.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(object = %record.object, error = %e, "could not push the review branch");
                }
            }
        }
        proposed
    }
}

/// The manifest files of `object` with its drifted values (`fields`) replaced by the live
/// ones, as (repository path, contents). Fields that cannot be written in place are logged and
/// left.
fn edited_files(
    git: &GitSource,
    head: &str,
    desired: &DesiredState,
    object: &Address,
    fields: &[FieldChange],
) -> Result<Vec<(String, String)>, String> {
    let (source, spec, file) = object_source(desired, object)
        .ok_or_else(|| "the object is not in the manifests in force".to_owned())?;
    let drifted = drift::drifted_fields(fields);
    if drifted == [drift::DELETED] {
        return Err("it was deleted outside tenantsync".to_owned());
    }
    // A hidden field (a secret, or a value read by interpolation) shows no live value: there is
    // nothing to write back, and its manifest names a source, not a value.
    let live: Map<String, Value> = fields
        .iter()
        .filter(|f| !f.sensitive)
        .filter_map(|f| Some((f.field.clone(), f.before.clone()?)))
        .collect();
    let mut edits: Vec<ValueEdit> = Vec::new();
    for (field, edit) in edit::edits_for(source, spec, &live, &drifted) {
        match edit {
            Ok(e) => edits.push(e),
            Err(why) => {
                tracing::warn!(object = %object, field, reason = %why, "drifted field not proposable");
            }
        }
    }
    if edits.is_empty() {
        return Err("no drifted field can be written in place".to_owned());
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let edited = edit::apply(&text, &edits).map_err(|e| e.to_string())?;
    let path = git
        .repo_path(head, file)
        .ok_or_else(|| format!("{} is not in the snapshot", file.display()))?;
    let mut files = BTreeMap::new();
    files.insert(path, edited);
    Ok(files.into_iter().collect())
}

/// Where the manifests define `object`: its source info, spec and file.
fn object_source<'a>(
    desired: &'a DesiredState,
    object: &Address,
) -> Option<(&'a SourceInfo, &'a Map<String, Value>, &'a std::path::Path)> {
    let written = desired.object(object)?;
    Some((
        &written.source,
        &written.spec,
        written.origin.file.as_path(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_named_after_the_object() {
        use crate::model::kinds::ObjKind;
        let branch = |a: Address| branch_of(&a);
        assert_eq!(
            branch(Address::app("shop")),
            "tenantsync/drift/application/shop"
        );
        assert_eq!(
            branch(Address::client("shop", "Web App")),
            "tenantsync/drift/client/shop/web-app"
        );
        assert_eq!(
            branch(Address::new(ObjKind::Role, Some("shop"), "Courier Lead")),
            "tenantsync/drift/role/shop/courier-lead"
        );
        assert_eq!(
            branch(Address::new(ObjKind::LoginPreferences, Some("shop"), "")),
            "tenantsync/drift/loginpreferences/shop"
        );
        assert_eq!(
            branch(Address::new(
                ObjKind::Resource,
                None,
                "https://api.example.com/pay"
            )),
            "tenantsync/drift/resource/https---api-example-com-pay"
        );
    }
}
