//! Planning the described kinds (`model::kinds`) and the references to them. Pure.
//!
//! - [`resolve_references`]: the desired applications and clients with every reference field
//!   written as the ids it names: the state's id, a live object's adopted by natural key, or,
//!   for an object this plan creates, a placeholder ([`REF_PREFIX`]) execution fills in once the
//!   object exists. A default client created with its application cannot name a role of that
//!   application (the role needs the application first): that field is deferred to a second
//!   round of the same apply.
//! - [`plan_objects`]: create, adopt, update, delete (or release) each object of a described
//!   kind, from the manifest, its state entry and the live collection, with upstream's update
//!   semantics (partial PUT, or whole replacement) and secrets compared by hash.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::departures::{departure, Presence};
use super::diff::{diff_fields, shown, FieldChange, FieldOp, Subject};
use super::identify::{Identity, LiveSet, Mapping, ADOPTION_NOTE};
use super::observed::{LiveObject, LiveObjects};
use super::records::{applied, same_record, same_records};
use super::types::{Action, Change, PlanError, PlanOptions, Record, SkippedDelete, StateUpdate};
use crate::manifest::DesiredState;
use crate::model::kinds::{AnyKind, ObjKind};
use crate::state::entry::{Ownership, StateEntry, StateSnapshot};
use crate::state::object::AnyAddress;

/// Plans every object of the described kinds. `app_ids`: the live id of each managed (or
/// adopted) application, by `metadata.name`; an application missing from it is created by
/// this plan. Several live objects sharing a manifest object's natural key (which upstream
/// keeps unique: a list that repeats one) are an error, as for applications.
pub fn plan_objects(
    desired: &DesiredState,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
    options: &PlanOptions,
) -> Result<ObjectPlan, PlanError> {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    let mut state_updates = Vec::new();
    // Live ids the state maps (never adopted by another manifest object), and each
    // collection indexed once.
    let claimed: HashSet<(ObjKind, &str)> = state
        .object_entries()
        .filter_map(|(a, e)| Some((a.kind, e.id.as_deref()?)))
        .collect();
    let mut sets: HashMap<(ObjKind, Option<&str>), LiveSet<'_, LiveObject>> = HashMap::new();
    for (address, obj) in &desired.objects {
        let spec = address.kind.spec();
        let app_id: Option<&str> = address
            .app
            .as_ref()
            .and_then(|a| app_ids.get(a))
            .map(String::as_str);
        let entry = state.object_entry(address);
        // An application this plan creates (or creates again) has none yet.
        let parentless = spec.parent.is_some() && app_id.is_none();
        if !parentless && !live.was_read(address.kind, app_id) {
            if let Some(app_id) = app_id.filter(|id| live.missing_parents.contains(*id)) {
                warnings.push(format!(
                    "{address}: not planned: its application's {} answered 404, though the application ({app_id}) was found",
                    spec.plural
                ));
                continue;
            }
            if entry.is_some() {
                // Not read this time (`--refresh changed`): counted as not refreshed, as an
                // application is, never as unchanged.
                continue;
            }
            // Whether it exists is unknown (its collection could not be read): neither
            // created nor adopted blind.
            warnings.push(format!(
                "{address}: not planned: the {} it would be among could not be read",
                spec.plural
            ));
            continue;
        }
        let collection = sets.entry((address.kind, app_id)).or_insert_with(|| {
            LiveSet::new(spec, live.of(address.kind, app_id).filter(|_| !parentless))
        });
        let identity = collection.identify(&address, Mapping::of(entry), &address.key, |id| {
            claimed.contains(&(address.kind, id))
        })?;
        let (action, current, drifted_away) = match identity {
            Identity::Mapped(l) => (Action::Update, Some(l), false),
            Identity::Adopt { live, gone } => (Action::Adopt, Some(live), gone),
            // A kind that always exists (one per application) and was not listed.
            Identity::New { .. } if !spec.api.create => (Action::Adopt, None, false),
            Identity::New { gone } => (Action::Create, None, gone),
        };
        let last = entry.map(|e| &e.last_applied);
        let mut drift = drifted_away;
        let subject = Subject::described(spec);
        let applied = applied(subject, &obj.spec, &obj.rules, last, &state.salt);
        let pending = last.is_none_or(|l| !same_records(l, &applied, subject));
        let facts = |field: &str| subject.facts(field);
        let mut notes = Vec::new();
        let (fields, sent, has_writes, carried, blocked) = match current {
            // Created (or one of a kind that always exists, not listed): every field the
            // manifest sets is written, one it ignores too (it is left alone once it exists, as
            // an application's is; its record does not hold it), unless it holds a secret
            // member: upstream never shows that, so every later whole replacement, which must
            // keep it live, would wait for it.
            None => {
                // An object field with a secret member (a social login's `clientSecret`).
                let holds_secret = |field: &str, value: &Value| {
                    let facts = facts(field);
                    value
                        .as_object()
                        .is_some_and(|m| m.keys().any(|k| facts.member_is_secret(k)))
                };
                let sent: Map<String, Value> = obj
                    .spec
                    .iter()
                    .filter(|(field, value)| {
                        applied.contains_key(*field) || !holds_secret(field, value)
                    })
                    .map(|(field, value)| (field.clone(), value.clone()))
                    .collect();
                let fields = sent
                    .iter()
                    .map(|(field, value)| {
                        let was = last.and_then(|l| l.get(field));
                        FieldChange {
                            field: field.clone(),
                            op: FieldOp::Add,
                            before: None,
                            after: Some(shown(facts(field), &obj.rules, field, value)),
                            sensitive: obj.rules.is_hidden(field) || holds_secret(field, value),
                            drift: false,
                            pending: entry.is_some()
                                && applied.get(field).is_some_and(|now| {
                                    was.is_none_or(|w| !same_record(w, now, facts(field).is_set()))
                                }),
                            unseen: false,
                            object: None,
                        }
                    })
                    .collect::<Vec<_>>();
                (fields, sent, true, Vec::new(), Vec::new())
            }
            // The one field diff of every kind; an adopted object's record, if any, is another
            // object's.
            Some(live) => {
                let last = last.filter(|_| action == Action::Update);
                let diff = diff_fields(
                    subject,
                    &obj.spec,
                    last,
                    &live.object,
                    &obj.rules,
                    &state.salt,
                );
                let writes = diff.needs_write();
                drift |= diff.fields.iter().any(|f| f.drift);
                notes.extend(diff.notes().map(str::to_owned));
                let sent = if spec.api.replace_whole {
                    diff.whole
                } else {
                    diff.body
                };
                (diff.fields, sent, writes, diff.carried, diff.blocked)
            }
        };
        let body: Map<String, Value> = sent
            .iter()
            .map(|(field, v)| (field.clone(), shown(facts(field), &obj.rules, field, v)))
            .collect();
        let body_secret = sent;
        let record = applied;
        let ownership = match (entry, action) {
            (Some(e), _) if !drifted_away => e.ownership,
            (_, Action::Create) => Ownership::Created,
            _ => Ownership::Adopted,
        };
        let record = Record {
            name: Some(obj.name.clone()),
            ownership,
            last_applied: record,
            protect: obj.protect,
        };
        // An object whose diff needs no write is unchanged, whatever kind it is: a field
        // released (upstream cannot clear it) or a new `protect` is recorded with no request
        // upstream. A new metadata.name alone changes nothing upstream either (the state is
        // keyed by the natural key; the name it shows is refreshed with the next write).
        if let (Action::Update, false, Some(e)) = (action, has_writes, entry) {
            unchanged += 1;
            state_updates.extend(StateUpdate::of_unchanged(address.into(), e, record));
            continue;
        }
        // What a whole replacement sends back as it is live (in `sent` already), and what it
        // cannot (a secret upstream never shows): then the update waits, saying why.
        if spec.api.replace_whole && has_writes {
            for k in &carried {
                notes.push(format!(
                    "`{k}` is carried over as it is live (the manifest {} it)",
                    if obj.rules.ignores(k) {
                        "ignores"
                    } else {
                        "does not set"
                    }
                ));
            }
            if !blocked.is_empty() {
                warnings.push(format!(
                    "{}/{}: not updated: {} live but not in the manifest, and a replacement cannot keep {} secret (upstream never shows it). Add {} to the manifest with {} secret",
                    address.kind,
                    obj.name,
                    blocked.join(", "),
                    if blocked.len() == 1 { "its" } else { "their" },
                    if blocked.len() == 1 { "it" } else { "them" },
                    if blocked.len() == 1 { "its" } else { "their" },
                ));
                continue;
            }
        }
        if drifted_away {
            notes.push(format!(
                "the live {} was deleted outside tenantsync",
                spec.noun
            ));
            drift = true;
        }
        match (action, current) {
            (Action::Adopt, None) => notes.push(format!(
                "{} always exist; tenantsync starts managing them",
                spec.plural
            )),
            (Action::Adopt, Some(_)) if !drifted_away => notes.push(ADOPTION_NOTE.to_owned()),
            _ => {}
        }
        let id = match action {
            Action::Create => None,
            _ => current.and_then(|c| spec.id_of(&c.object)),
        };
        // What a saved plan checks before writing: the managed fields as they were live; for a
        // whole replacement, every field it sends back (the unmanaged ones carried over too).
        let fingerprint_fields: Vec<String> = match current {
            Some(_) if spec.api.replace_whole => {
                spec.writable().map(|f| f.name.to_owned()).collect()
            }
            Some(_) => {
                let managed: std::collections::BTreeSet<&String> = record
                    .last_applied
                    .keys()
                    .chain(last.into_iter().flat_map(|l| l.keys()))
                    .collect();
                managed.into_iter().cloned().collect()
            }
            None => Vec::new(),
        };
        let live_fingerprint = current
            .map(|c| super::fingerprint::object_fingerprint(spec, &c.object, &fingerprint_fields));
        changes.push(Change {
            id,
            app_id: app_id.map(str::to_owned),
            drift,
            pending,
            fields,
            notes,
            body: has_writes.then_some(body),
            body_secret: has_writes.then_some(body_secret),
            record: Some(record),
            live_fingerprint,
            fingerprint_fields,
            ..Change::new(
                action,
                address.clone().into(),
                format!("{}/{}", address.kind, obj.name),
            )
        });
    }
    // Entries that left the manifests.
    for (address, entry) in state.object_entries() {
        if desired.objects.contains_key(address) {
            continue;
        }
        let spec = address.kind.spec();
        let shown = format!("{}/{}", address.kind, entry.name);
        if let Some(reason) = super::guards::kept_because(desired, entry.protect, options) {
            skipped.push(SkippedDelete {
                name: shown,
                reason: reason.to_owned(),
            });
            continue;
        }
        // No live application (it left the manifests and is gone, or is created again this
        // plan): the object went with it.
        let app_gone = address
            .app
            .as_ref()
            .is_some_and(|a| !app_ids.contains_key(a));
        let presence = match live.mapped(address.kind, entry.app_id.as_deref(), entry.id.as_deref())
        {
            _ if app_gone => Presence::WithItsApplication,
            Some(l) => Presence::Listed(&l.object),
            None if live.was_read(address.kind, entry.app_id.as_deref()) => Presence::Gone,
            None => Presence::Unread,
        };
        changes.push(departure(
            spec,
            address.clone().into(),
            shown,
            entry,
            presence,
            |live, fields| super::fingerprint::object_fingerprint(spec, live, fields),
        ));
    }
    changes.sort_by(|a, b| (a.phase, &a.address).cmp(&(b.phase, &b.address)));
    Ok(ObjectPlan {
        changes,
        unchanged,
        skipped,
        warnings,
        state_updates,
    })
}

/// What [`plan_objects`] planned.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPlan {
    /// The changes, in execution order.
    pub changes: Vec<Change>,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Deletions not carried out (and objects left alone), and why.
    pub skipped: Vec<SkippedDelete>,
    /// Objects not planned, and why.
    pub warnings: Vec<String>,
    /// Records written again with no request upstream.
    pub state_updates: Vec<StateUpdate>,
}

/// The state entry an object of any kind is recorded with: `record` (what was applied) at
/// `address`, with the ids of the live object (`id`, its own; `app_id`, its application's:
/// an application's entry holds its own id there).
pub fn entry_of(
    address: &AnyAddress,
    record: &Record,
    id: Option<String>,
    app_id: Option<String>,
    applied_at: String,
) -> StateEntry {
    let (id, app_id) = match address.kind() {
        AnyKind::Application => (None, id.or(app_id)),
        _ => (id, app_id),
    };
    StateEntry {
        address: address.clone(),
        name: record.name.clone().unwrap_or_default(),
        id,
        app_id,
        ownership: record.ownership,
        last_applied: record.last_applied.clone(),
        protect: record.protect,
        applied_at,
    }
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
