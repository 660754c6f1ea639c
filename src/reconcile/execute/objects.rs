//! Carrying out the changes of the described kinds (`model::kinds`), and filling in the
//! references to objects this run created. Each change does exactly what the plan says: POST,
//! PUT or DELETE, then the state record. A create needs no journal: the kinds' natural keys are
//! unique upstream, so an object created before a crash is adopted by its key on the next plan.
//! A phase runs them kind by kind ([`waves`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{as_planned, new_key, now_rfc3339, Shared, Step, StepError};
use crate::model::kinds::ObjKind;
use crate::plan::{entry_of, object_fingerprint, Action, Change, Phase, REF_PREFIX};
use crate::state::entry::Address;
use crate::state::object::ObjectAddress;
use crate::targets::Object;

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
    [
        change.body.as_ref(),
        change.body_secret.as_ref(),
        record,
        default,
    ]
    .into_iter()
    .flatten()
}

/// The same, to fill them in.
fn maps_mut(change: &mut Change) -> impl Iterator<Item = &mut Map<String, Value>> {
    let record = change.record.as_mut().map(|r| &mut r.last_applied);
    let default = change
        .default_client
        .as_mut()
        .map(|d| &mut d.record.last_applied);
    [
        change.body.as_mut(),
        change.body_secret.as_mut(),
        record,
        default,
    ]
    .into_iter()
    .flatten()
}

impl Shared<'_> {
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
        let address = ObjectAddress::parse(&placeholder[REF_PREFIX.len()..])?;
        self.state
            .snapshot()
            .ok()?
            .object_entry(&address)?
            .id
            .clone()
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

    /// The live id of a parented object's application: as planned, or created in this run.
    fn object_app_id(&self, change: &Change, address: &ObjectAddress) -> Step<Option<String>> {
        let Some(app) = &address.app else {
            return Ok(None);
        };
        if let Some(id) = &change.app_id {
            return Ok(Some(id.clone()));
        }
        if let Some(created) = self.new_app_ids.lock().expect("not poisoned").get(app) {
            return match created {
                Ok(id) => Ok(Some(id.clone())),
                Err(()) => Err(StepError::Skipped(format!(
                    "skipped: its application `{app}` was not created"
                ))),
            };
        }
        match self.state.get(Address::app(app))? {
            Some(e) => Ok(e.app_id),
            None => Err(StepError::Skipped(format!(
                "skipped: its application `{app}` does not exist yet"
            ))),
        }
    }

    /// The one live object with the change's natural key (a create whose answer upstream does
    /// not type).
    async fn find_object(
        &self,
        address: &ObjectAddress,
        app_id: Option<&str>,
    ) -> Step<Option<String>> {
        let spec = address.kind.spec();
        let listed = self.target.list_objects(address.kind, app_id).await?;
        let matching: Vec<&Object> = listed
            .iter()
            .filter(|o| spec.has_key(o, &address.key))
            .collect();
        Ok(match matching.as_slice() {
            [one] => spec.id_of(one),
            _ => None,
        })
    }

    /// For saved plans: refuses when the object changed or vanished since the plan was made
    /// (its collection listed again, once per run, and the object found by id, or the
    /// singleton).
    async fn verify_object(
        &self,
        change: &Change,
        address: &ObjectAddress,
        app_id: Option<&str>,
    ) -> Step {
        let Some(expected) = change
            .live_fingerprint
            .as_ref()
            .filter(|_| self.options.verify_live)
        else {
            return Ok(());
        };
        let spec = address.kind.spec();
        let listed = {
            let mut lists = self.checked.lock().await;
            let key = (address.kind, app_id.map(str::to_owned));
            match lists.get(&key) {
                Some(listed) => listed.clone(),
                None => {
                    let listed =
                        std::sync::Arc::new(self.target.list_objects(address.kind, app_id).await?);
                    lists.insert(key, listed.clone());
                    listed
                }
            }
        };
        let live = listed.iter().find(|o| match spec.api.id_field {
            Some(_) => spec.id_of(o).as_deref() == change.id.as_deref(),
            None => true,
        });
        as_planned(
            live.map(|l| object_fingerprint(spec, l, &change.fingerprint_fields)),
            expected,
        )
    }

    /// Carries out one change of a described kind (its references filled in).
    pub(super) async fn object_step(&self, change: &Change, address: &ObjectAddress) -> Step {
        let spec = address.kind.spec();
        let kind = address.kind;
        let app_id = self.object_app_id(change, address)?;
        let app = app_id.as_deref();
        let placeholder = format!("{REF_PREFIX}{address}");
        let writes = match change.action {
            Action::Delete => !change.state_only,
            _ => change.body.is_some(),
        };
        if writes {
            self.verify_object(change, address, app).await?;
        }
        if change.action == Action::Delete {
            return self
                .delete(change, app, change.id.as_deref().unwrap_or_default())
                .await;
        }
        let body = change.body_secret.as_ref().or(change.body.as_ref());
        if change.body_secret.is_none()
            && body.is_some_and(|b| b.values().any(|v| v.to_string().contains("(sensitive)")))
        {
            return Err(StepError::Failed(
                "a saved plan does not hold secret values; plan again and apply directly"
                    .to_owned(),
            ));
        }
        let id = match (change.action, body) {
            (Action::Create, Some(body)) => {
                let created = self
                    .gated(self.target.create_object(kind, app, body, &new_key()))
                    .await??;
                match spec.id_of(&created) {
                    Some(id) => Some(id),
                    None => match self.find_object(address, app).await? {
                        Some(id) => Some(id),
                        None if spec.api.id_field.is_none() => None,
                        None => {
                            return Err(StepError::Failed(format!(
                            "created, but its id could not be found; the next plan adopts it by {}",
                            spec.identified_by()
                        )))
                        }
                    },
                }
            }
            (_, Some(body)) => {
                self.gated(
                    self.target
                        .update_object(kind, app, change.id.as_deref(), body),
                )
                .await??;
                change.id.clone()
            }
            (_, None) => change.id.clone(),
        };
        if let Some(id) = &id {
            self.object_ids
                .lock()
                .expect("not poisoned")
                .insert(placeholder, id.clone());
        }
        if let Some(entry) = entry_of(change, id, app_id, now_rfc3339()) {
            self.state.put_pending(&entry)?;
        }
        Ok(())
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
            .and_then(|a| ObjKind::ALL.iter().position(|k| *k == a.kind))
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
