//! The described kinds' creates (`model::kinds`), the references to objects this run created
//! filled in before any change is carried out, the collections a saved plan's checks list, and
//! the waves a phase runs in ([`waves`]: the described kinds kind by kind). A create needs no
//! journal: the kinds' natural keys are unique upstream, so an object created before a crash is
//! adopted by its key on the next plan.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{new_key, refuse_unrestored, Execution, Step, StepError};
use crate::model::kinds::{read_as_written, AnyKind, ObjKind};
use crate::plan::{Action, AppRef, Body, Change, Phase, Record, REF_PREFIX};
use crate::state::address::Address;
use crate::targets::JsonObject;

/// Every placeholder in `value` replaced by `id_of(placeholder)`; `Err` names the first one
/// with no id. Returns whether anything was replaced.
fn fill(value: &mut Value, id_of: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    match value {
        Value::String(s) if s.starts_with(REF_PREFIX) => match id_of(s) {
            Some(id) => {
                *s = id;
                Ok(true)
            }
            None => Err(s[REF_PREFIX.len()..].to_owned()),
        },
        Value::Array(items) => {
            let mut any = false;
            for v in items {
                any |= fill(v, id_of)?;
            }
            Ok(any)
        }
        Value::Object(map) => fill_map(map, id_of),
        _ => Ok(false),
    }
}

fn fill_map(
    map: &mut Map<String, Value>,
    id_of: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, String> {
    let mut any = false;
    for v in map.values_mut() {
        any |= fill(v, id_of)?;
    }
    Ok(any)
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(s) => s.starts_with(REF_PREFIX),
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map.values().any(has_placeholder),
        _ => false,
    }
}

fn map_has_placeholder(map: Option<&Map<String, Value>>) -> bool {
    map.is_some_and(|m| m.values().any(has_placeholder))
}

/// The maps of a change that may hold placeholders of objects the plan creates: its bodies
/// and records.
fn maps(change: &Change) -> impl Iterator<Item = &Map<String, Value>> {
    let record = change.record.as_ref().map(|r| &r.last_applied);
    let default = change
        .default_client
        .as_ref()
        .map(|d| &d.record.last_applied);
    change
        .body
        .iter()
        .flat_map(Body::maps)
        .chain(record)
        .chain(default)
}

/// The same, to fill them in.
fn maps_mut(change: &mut Change) -> impl Iterator<Item = &mut Map<String, Value>> {
    let record = change.record.as_mut().map(|r| &mut r.last_applied);
    let default = change
        .default_client
        .as_mut()
        .map(|d| &mut d.record.last_applied);
    change
        .body
        .iter_mut()
        .flat_map(Body::maps_mut)
        .chain(record)
        .chain(default)
}

impl Execution<'_> {
    /// The id of the object a placeholder names: created earlier in this run, or recorded in
    /// the state (a run that stopped after creating it).
    fn placeholder_id(&self, placeholder: &str) -> Option<String> {
        if let Some(id) = self
            .object_ids
            .lock()
            .expect("not poisoned")
            .get(placeholder)
        {
            return Some(id.clone());
        }
        let address = Address::parse(&placeholder[REF_PREFIX.len()..])?;
        self.state.snapshot().ok()?.entry(&address)?.id.clone()
    }

    /// `change` with every placeholder of an object created in this run replaced by its id
    /// (borrowed as is when it has none); skipped, naming it, when a named object was not
    /// created.
    pub(super) fn with_references<'c>(&self, change: &'c Change) -> Step<Cow<'c, Change>> {
        if !maps(change).any(|m| map_has_placeholder(Some(m))) {
            return Ok(Cow::Borrowed(change));
        }
        let mut out = change.clone();
        let id_of = |p: &str| self.placeholder_id(p);
        for map in maps_mut(&mut out) {
            fill_map(map, &id_of).map_err(|name| {
                StepError::Skipped(format!("skipped: the {name} it references was not created"))
            })?;
        }
        Ok(Cow::Owned(out))
    }

    /// The one live object with the change's natural key (a create whose answer upstream does
    /// not type).
    async fn find_object(&self, address: &Address, app_id: Option<&str>) -> Step<Option<String>> {
        let spec = address.kind.spec();
        let listed = self.target.list_objects(address.kind, app_id).await?;
        let matching: Vec<&JsonObject> = listed
            .iter()
            .filter(|o| spec.has_key(o, &address.key))
            .collect();
        Ok(match matching.as_slice() {
            [one] => spec.id_of(one),
            _ => None,
        })
    }

    /// A collection as it is now, for saved plans' checks of objects not read one by id: listed
    /// once per run (an object's own entry changes only by its own change, after its check).
    pub(super) async fn listed(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Step<std::sync::Arc<Vec<JsonObject>>> {
        let mut lists = self.checked.lock().await;
        let key = (kind, app_id.map(str::to_owned));
        if let Some(listed) = lists.get(&key) {
            return Ok(listed.clone());
        }
        let mut listed = self.target.list(kind, app_id).await?;
        for object in &mut listed {
            read_as_written(kind.spec(), object);
        }
        let listed = std::sync::Arc::new(listed);
        lists.insert(key, listed.clone());
        Ok(listed)
    }

    /// Creates an object whose create is not journaled (a described kind's: its references
    /// filled in), finds its id where the create's answer does not type it, and records it.
    pub(super) async fn create_object(
        &self,
        change: &Change,
        kind: AnyKind,
        app: Option<AppRef<'_>>,
        body: &JsonObject,
        record: &Record,
    ) -> Step {
        let spec = kind.spec();
        let app_id = self.app_id_of(app)?;
        refuse_unrestored(change)?;
        let created = self
            .gated(
                self.target
                    .create(spec.kind, app_id.as_deref(), body, &new_key()),
            )
            .await??;
        let id = match spec.id_of(&created) {
            Some(id) => Some(id),
            None => match change.object_address() {
                Some(address) => self.find_object(address, app_id.as_deref()).await?,
                None => None,
            },
        };
        if id.is_none() && spec.api.id_field.is_some() {
            return Err(StepError::Failed(format!(
                "created, but its id could not be found; the next plan adopts it by {}",
                spec.identified_by()
            )));
        }
        self.record(change, record, id, app_id)
    }
}

/// The changes of `phase` (with their indexes) in the waves they run in, one after another:
/// the described kinds' one kind at a time, in creation order (`ObjKind::ALL`), deletions in
/// reverse, so an object that names another of the same phase (a role group its roles) finds
/// it created, and is gone before it is deleted; applications' and clients' all at once (they
/// have phases of their own).
pub(super) fn waves(changes: &[Change], phase: Phase) -> Vec<Vec<(usize, &Change)>> {
    let mut waves: BTreeMap<(bool, usize), Vec<(usize, &Change)>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate().filter(|(_, c)| c.phase == phase) {
        let rank = c
            .object_address()
            .and_then(|a| AnyKind::ALL.iter().position(|k| *k == a.kind))
            .unwrap_or_default();
        let delete = c.action == Action::Delete;
        let order = if delete {
            ObjKind::ALL.len() - rank
        } else {
            rank
        };
        waves.entry((delete, order)).or_default().push((i, c));
    }
    waves.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_filled_anywhere_in_a_body_or_named_when_missing() {
        let mut body = json!({"first_client": {"resources": ["tenantsync-ref:Resource/https://a", "r0"]}, "x": 1});
        let id_of = |p: &str| (p == "tenantsync-ref:Resource/https://a").then(|| "r1".to_owned());
        assert_eq!(fill(&mut body, &id_of), Ok(true));
        assert_eq!(body["first_client"]["resources"], json!(["r1", "r0"]));
        let mut missing = json!(["tenantsync-ref:ServiceProvider/https://b"]);
        assert_eq!(
            fill(&mut missing, &id_of),
            Err("ServiceProvider/https://b".to_owned())
        );
        assert!(!has_placeholder(&json!({"a": ["b"]})));
    }
}
