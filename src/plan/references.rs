//! References between objects, resolved for one plan. Pure.
//!
//! - [`resolve_references`]: the desired applications, clients and objects with every reference
//!   field written as the ids it names: the state's id, a live object's adopted by natural key,
//!   or, for an object this plan creates, a placeholder ([`REF_PREFIX`]) execution fills in once
//!   the object exists. A default client created with its application cannot name a role of
//!   that application (the role needs the application first): that field is deferred to a
//!   second round of the same apply.
//! - [`known_app_ids`]: each application's live id, from the state or the one it adopts.
//! - [`name_removed_references`]: names for the ids a change takes out of a reference field.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::identify::{Identity, LiveSet, Mapping};
use super::observed::{LiveObject, LiveObjects, Observed};
use super::refresh::ReadSet;
use super::types::Plan;
use crate::manifest::{DesiredState, Ref};
use crate::model::kinds::{self, AnyKind, ObjKind, APPLICATION};
use crate::state::address::Address;
use crate::state::entry::StateSnapshot;

/// How a reference to an object not created yet is written in a planned body; execution
/// replaces it by the id once the object exists.
pub const REF_PREFIX: &str = "tenantsync-ref:";

/// The id of `address` as this plan knows it: its state entry's (unless the collection was read
/// and the object is gone: this plan creates it anew), or a live object's it will adopt; `None`
/// when this plan creates it.
fn known_id(
    address: &Address,
    moved: &HashMap<&Address, &Address>,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
) -> Option<String> {
    let app_id = address
        .app
        .as_ref()
        .and_then(|app| app_ids.get(app))
        .map(String::as_str);
    if let Some(id) = state.entry(address).and_then(|e| e.id.clone()) {
        // Its application is created by this plan (anew, when it was deleted outside
        // tenantsync): so is the object.
        let parent_new = address.app.is_some() && app_id.is_none();
        let gone = parent_new
            || live.was_read(address.kind, app_id)
                && live.mapped(address.kind, app_id, Some(&id)).is_none();
        if !gone {
            return Some(id);
        }
    }
    let spec = address.kind.spec();
    let app_id = match &address.app {
        Some(_) => Some(app_id?),
        None => None,
    };
    match live.by_key(address.kind, app_id, &address.key).as_slice() {
        [one] => spec.id_of(&one.object),
        [] => {
            // Its document's natural key changed: the object its old entry maps, which the
            // plan writes the new key to in place (`objects::moves`), if it is live.
            let old = state.entry(moved.get(address)?)?;
            let id = old.id.as_deref()?;
            live.mapped(address.kind, app_id, Some(id))?;
            Some(id.to_owned())
        }
        _ => None,
    }
}

/// The desired state with every reference field written as ids (or placeholders), the name each
/// id or placeholder stands for (plans show names), and the warnings of deferred fields.
pub fn resolve_references<'d>(
    desired: &'d DesiredState,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
) -> (Cow<'d, DesiredState>, BTreeMap<String, String>, Vec<String>) {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let any = desired.objects.values().any(|o| !o.refs.is_empty());
    if !any {
        // Nothing to resolve: no copy of the desired state.
        return (Cow::Borrowed(desired), names, warnings);
    }
    let mut out = desired.clone();
    let moved = super::objects::moves(desired, state);
    let resolve = |refs: &[Ref], names: &mut BTreeMap<String, String>| -> (Vec<Value>, bool) {
        let mut placeholder = false;
        let ids = refs
            .iter()
            .map(|r| match r {
                Ref::Id(id) => Value::String(id.clone()),
                Ref::Managed { address, name } => {
                    let shown = format!("{}/{name}", address.kind);
                    let id = match known_id(address, &moved, state, live, app_ids) {
                        Some(id) => id,
                        None => {
                            placeholder = true;
                            format!("{REF_PREFIX}{address}")
                        }
                    };
                    names.insert(id.clone(), shown);
                    Value::String(id)
                }
            })
            .collect();
        (ids, placeholder)
    };
    for (address, object) in &mut out.objects {
        if object.refs.is_empty() {
            continue;
        }
        // Copied only now, and only an object that names something (the clone of the desired
        // state above shares the rest).
        let object = std::sync::Arc::make_mut(object);
        // The default client of an application this plan creates is created with it, before
        // any role of that application can exist.
        let created_with_its_app = object.client().is_some_and(|c| c.is_default)
            && !app_ids.contains_key(address.app_name());
        for (field, refs) in &object.refs {
            let (ids, placeholder) = resolve(refs, &mut names);
            let same_app_role = kinds::REFERENCES
                .iter()
                .any(|r| r.field == *field && r.same_application);
            if placeholder && created_with_its_app && same_app_role {
                warnings.push(format!(
                    "{address}: `{field}` names roles of its own application, which is created first; it is set in a second round of this apply (after `apply --plan`, by the next apply)"
                ));
                continue;
            }
            // Objects that name objects (a role group its roles): those this plan creates
            // run first (execution goes kind by kind in creation order), so a placeholder is
            // filled by then.
            object.spec.insert((*field).to_owned(), Value::Array(ids));
        }
    }
    (Cow::Owned(out), names, warnings)
}

/// A warning for each `{id: …}` reference that no live object of its kind has, where the plan
/// read the collection it would be in (a mistyped id, or a name written as an id): upstream may
/// refuse the write or keep a reference to nothing.
pub(super) fn unknown_ids(
    desired: &DesiredState,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    // The live ids of each collection an `{id}` is checked against, gathered once.
    let mut live_ids: BTreeMap<(ObjKind, Option<&str>), BTreeSet<&str>> = BTreeMap::new();
    for (address, object) in desired.each() {
        let (spec, refs) = (&object.spec, &object.refs);
        for reference in kinds::references_of(address.kind) {
            let field = reference.field;
            // Ids beside names stay in `refs`; a field of ids alone is in the spec as they are.
            let ids: Vec<&str> = match refs.get(field) {
                Some(items) => items
                    .iter()
                    .filter_map(|r| match r {
                        Ref::Id(id) => Some(id.as_str()),
                        Ref::Managed { .. } => None,
                    })
                    .collect(),
                None => spec
                    .get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect(),
            };
            if ids.is_empty() {
                continue;
            }
            let target = reference.target;
            let scope = match reference.same_application {
                true => address.app.as_ref().and_then(|a| app_ids.get(a)),
                false => None,
            };
            let scope = scope.map(String::as_str);
            if (reference.same_application && scope.is_none()) || !live.was_read(target, scope) {
                continue;
            }
            let kind = target.spec();
            let known = live_ids.entry((target, scope)).or_insert_with(|| {
                live.of(target, scope)
                    .filter_map(|o| kind.api.id_field.and_then(|f| o.object.get(f)))
                    .filter_map(Value::as_str)
                    .collect()
            });
            for id in ids.into_iter().filter(|id| !known.contains(id)) {
                // Redacted before it is escaped (the plan redacts warnings, but an escaped
                // value would no longer match).
                let redacted = desired.redactions.redact(id);
                let id = crate::shown::escape_controls(&redacted);
                // A described kind's object by its document's name; an application or client
                // by its address (which is its name).
                let shown = match address.is_app() {
                    true => address.to_string(),
                    false => format!("{}/{}", address.kind, object.name),
                };
                out.push(format!(
                    "{shown}: `{field}` names {{id: \"{id}\"}}, which no live {} has; upstream may refuse the write or keep a reference to nothing. Check the id, or name a {target} document",
                    kind.noun
                ));
            }
        }
    }
    out
}

/// The ids of the managed applications by `metadata.name`, as the state records them.
pub fn app_ids(state: &StateSnapshot) -> BTreeMap<String, String> {
    state
        .app_entries()
        .filter(|(a, _)| a.kind == AnyKind::Application)
        .map(|(a, e)| (a.app_name().to_owned(), e.application_id().to_owned()))
        .collect()
}

/// Names, in `plan.references`, the ids of managed objects that reference fields shown by the
/// plan lose (a role a role group no longer lists): the manifests no longer name them, the
/// state does.
pub(super) fn name_removed_references(
    plan: &mut Plan,
    desired: &DesiredState,
    state: &StateSnapshot,
) {
    let reference_fields: BTreeSet<&str> = kinds::REFERENCES.iter().map(|r| r.field).collect();
    let unnamed: BTreeSet<String> = plan
        .changes
        .iter()
        .flat_map(|c| &c.fields)
        .filter(|f| reference_fields.contains(f.field.as_str()))
        .filter_map(|f| f.before.as_ref()?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .filter(|id| !plan.references.contains_key(*id))
        .map(str::to_owned)
        .collect();
    if unnamed.is_empty() {
        return;
    }
    for (address, entry) in state.object_entries() {
        if let Some(id) = entry.id.as_deref().filter(|id| unnamed.contains(*id)) {
            let mut name = entry.shown();
            // Its document now names another object (a new natural key): told apart from it.
            let rekeyed = desired.described().any(|(a, o)| {
                a.kind == address.kind
                    && a.app == address.app
                    && o.name == entry.name
                    && a != address
            });
            if rekeyed {
                name = format!(
                    "{name} (the old one: {} `{}`)",
                    address.kind.spec().key_field(),
                    address.key
                );
            }
            plan.references.insert(id.to_owned(), name);
        }
    }
}

/// The live id of each application by `metadata.name`: the state's, or the live application
/// a desired one adopts by `app_name`, found as the applications' planner finds it (the same
/// order, the same claims: one live application is adopted once), so an application's
/// objects and references go to the application the plan adopts. The mapped applications in
/// `gone` ([`gone_apps`]; empty before anything is read) are left out: deleted outside
/// tenantsync, they took their objects with them, and this plan creates them again with them.
pub fn known_app_ids(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    gone: &BTreeSet<&str>,
) -> BTreeMap<String, String> {
    let mut ids = app_ids(state);
    let claimed: BTreeSet<String> = ids.values().cloned().collect();
    ids.retain(|_, id| !gone.contains(id.as_str()));
    let apps: Vec<&LiveObject> = observed.objects.of(AnyKind::Application, None).collect();
    let mut live = LiveSet::new(&APPLICATION, apps);
    for app in desired.apps() {
        let key = &app.name;
        if ids.contains_key(key) || state.entry(&app.address).is_some() {
            continue;
        }
        // Several candidates refuse the plan (the applications' planner says so).
        if let Ok(Identity::Adopt { live: one, .. }) =
            live.identify(key, Mapping::Unmapped, app.app_name(), |id| {
                claimed.contains(id)
            })
        {
            ids.insert(key.clone(), APPLICATION.id_str(&one.object).to_owned());
        }
    }
    ids
}

/// The ids of the mapped applications `read` read (`None`: all) that `observed` does not hold:
/// deleted outside tenantsync (a list that left one out was followed by a lookup by id).
pub fn gone_apps<'s>(
    state: &'s StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
) -> BTreeSet<&'s str> {
    let live: BTreeSet<&str> = observed.app_ids().collect();
    state
        .app_entries()
        .filter(|(a, e)| a.client_name().is_none() && read.is_none_or(|r| r.reads(e)))
        .map(|(_, e)| e.application_id())
        .filter(|id| !live.contains(id))
        .collect()
}
