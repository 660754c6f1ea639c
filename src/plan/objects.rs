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
use super::diff::{FieldChange, FieldOp, ObjectParts};
use super::fields::{read_live, same_value as same, LiveField};
use super::identify::{Identity, LiveSet, Mapping, ADOPTION_NOTE};
use super::observed::{LiveObject, LiveObjects};
use super::types::{Action, Change, PlanError, PlanOptions, Record, SkippedDelete};
use crate::manifest::{DesiredObject, DesiredState};
use crate::model::catalogue::FieldFacts;
use crate::model::kinds::{self, FieldType, KindSpec, ObjKind};
use crate::state::entry::{
    hidden_record, salted_hash, Ownership, StateEntry, StateSnapshot, MEMBERS_KEY, SENSITIVE_KEY,
};

/// A field's value as the state records it: secret sub-fields and hidden (interpolated)
/// values as salted hashes.
pub fn recorded(
    spec: &KindSpec,
    obj: &DesiredObject,
    field: &str,
    value: &Value,
    salt: &[u8],
) -> Value {
    if obj.rules.hidden_fields().contains(field) {
        return hidden_record(salt, value);
    }
    let mut value = value.clone();
    if let Some(row) = spec.field(field) {
        kinds::map_secrets(
            &mut value,
            row.secret_subfields,
            &mut |v| serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, v) }),
        );
    }
    value
}

/// Whether two records of an object are the same: field by field, a hidden one by its hash
/// alone ([`same_record`]).
pub(super) fn same_records(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| v == w || both_hashed_alike(v, w)))
}

/// Whether a field's record is the same as another: a hidden one by its hash alone (the names
/// of its members follow from the value, and a record written before they were kept has none).
fn same_record(a: &Value, b: &Value, set: bool) -> bool {
    both_hashed_alike(a, b) || same(a, b, set)
}

/// Both records are hashes, of the same value.
fn both_hashed_alike(a: &Value, b: &Value) -> bool {
    matches!((a.get(SENSITIVE_KEY), b.get(SENSITIVE_KEY)), (Some(x), Some(y)) if x == y)
}

/// What the state records as applied of `obj`: every field the manifest sets and does not
/// ignore, as [`recorded`]. An object whose entry holds exactly this (and its `protect`) is
/// unchanged since its last apply.
pub(super) fn applied(spec: &KindSpec, obj: &DesiredObject, salt: &[u8]) -> Map<String, Value> {
    obj.spec
        .iter()
        .filter(|(field, _)| {
            !obj.rules
                .ignored
                .iter()
                .any(|p| p.head() == Some(field.as_str()) && p.0.len() == 1)
        })
        .map(|(field, value)| (field.clone(), recorded(spec, obj, field, value, salt)))
        .collect()
}

/// A value as plans show it: hidden fields and secret sub-fields as `(sensitive)`. An object
/// field hidden in part (a secret or interpolated member) shows its other members, which a
/// saved plan sends again as they are (those carried over from the target among them); the
/// hidden ones are taken from the manifest again when it is applied.
fn shown(spec: &KindSpec, obj: &DesiredObject, field: &str, value: &Value) -> Value {
    if obj.rules.hidden_fields().contains(field) {
        let Some(members) = value.as_object().filter(|_| !obj.rules.hides_whole(field)) else {
            return Value::String("(sensitive)".into());
        };
        return Value::Object(
            members
                .iter()
                .map(|(k, v)| {
                    let v = if obj.rules.hides_member(field, k) {
                        Value::String("(sensitive)".into())
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        );
    }
    let mut value = value.clone();
    if let Some(row) = spec.field(field) {
        kinds::map_secrets(&mut value, row.secret_subfields, &mut |_| {
            Value::String("(sensitive)".into())
        });
    }
    value
}

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
        let mut fields = Vec::new();
        let mut body = Map::new();
        let mut body_secret = Map::new();
        let mut record = Map::new();
        let mut drift = drifted_away;
        let mut pending = entry.is_none();
        let applied = applied(spec, obj, &state.salt);
        for (field, value) in &obj.spec {
            let Some(rec) = applied.get(field) else {
                continue; // ignored
            };
            let row = spec.field(field);
            let set = row.is_some_and(|r| r.set);
            let secrets = row.map(|r| r.secret_subfields).unwrap_or_default();
            record.insert(field.clone(), rec.clone());
            let hidden = obj.rules.hidden_fields().contains(field.as_str());
            let was = last.and_then(|l| l.get(field));
            let changed_since = was.is_none_or(|w| !same_record(w, rec, set));
            // Recorded as one hash last time: its values, read from the environment or secret,
            // must not be shown even where the manifest now writes them in clear.
            let was_hashed = was.is_some_and(|w| w.get(SENSITIVE_KEY).is_some());
            let mut field_drift = false;
            let mut members = None;
            // What the live object says of the field: the rule of every kind's fields.
            let live_field = current.map(|c| read_live(row, c.object.get(field)));
            let live_value = live_field.as_ref().and_then(LiveField::seen);
            let differs = match &live_field {
                None => true, // created
                // A field the live object does not show (left out of the answer, never
                // returned) compares with the value last applied, as for applications and
                // clients. An object adopted (or found again by its key) has no value of its
                // own last applied: the field is written.
                Some(LiveField::Unseen) => action != Action::Update || changed_since,
                Some(LiveField::Seen(live_value)) => {
                    // An object field is compared member by member (documented defaults and
                    // members nobody manages are no difference); any other as a whole.
                    members = match (row, value, live_value) {
                        (Some(row), Value::Object(want), Value::Object(live))
                            if row.ty == FieldType::Object =>
                        {
                            use super::members::Before;
                            let before = match was {
                                // An adopted object's record, if any, is another object's.
                                _ if action != Action::Update => Before::Unknown,
                                Some(w) if was_hashed => {
                                    match w.get(MEMBERS_KEY).and_then(Value::as_array) {
                                        Some(names) => Before::Named(names),
                                        None if changed_since => Before::Rewritten,
                                        None => Before::Unknown,
                                    }
                                }
                                Some(Value::Object(last)) => Before::Applied(last),
                                _ => Before::Unknown,
                            };
                            let since = super::members::Since {
                                unchanged: action == Action::Update && !changed_since,
                                secrets_changed: changed_since
                                    && secrets.iter().any(|name| want.contains_key(*name)),
                            };
                            Some(super::members::compare(
                                row,
                                want,
                                live,
                                before,
                                &super::members::ignored(row, &obj.rules, field),
                                since,
                            ))
                        }
                        _ => None,
                    };
                    let visible = match &members {
                        Some(m) => m.differs,
                        None => !same(
                            &kinds::without_secrets(live_value, secrets),
                            &kinds::without_secrets(value, secrets),
                            set,
                        ),
                    };
                    let secret_changed = !secrets.is_empty()
                        && kinds::map_secrets(&mut value.clone(), secrets, &mut |v| v.clone())
                        && changed_since;
                    // Drift: the live value is no longer what was last applied, whether or not
                    // the manifest changed the field too (as for applications and clients). A
                    // hidden value is recorded as the hash of all of it, secrets included, which
                    // the live value never shows: it drifted only where the manifest did not move.
                    field_drift = match was {
                        Some(_) if hidden => visible && !changed_since,
                        Some(_) if members.is_some() => members.as_ref().is_some_and(|m| m.drift),
                        Some(was) => {
                            let live = recorded(spec, obj, field, live_value, &state.salt);
                            !same(
                                &kinds::without_secrets(&live, secrets),
                                &kinds::without_secrets(was, secrets),
                                set,
                            )
                        }
                        None => false,
                    };
                    visible || secret_changed
                }
            };
            // Drift that needs no write (the live value is already what the manifest now says)
            // is not reported, as for applications and clients.
            field_drift &= differs;
            drift |= field_drift;
            if changed_since && entry.is_some() {
                pending = true;
            }
            // What is sent: an object field with the live members it carries over.
            let sent_members = members
                .as_mut()
                .map(|m| Value::Object(std::mem::take(&mut m.sent)));
            let sent = sent_members.as_ref().unwrap_or(value);
            if differs || spec.api.replace_whole || current.is_none() {
                body.insert(field.clone(), shown(spec, obj, field, sent));
                body_secret.insert(field.clone(), sent.clone());
            }
            if differs {
                fields.push(FieldChange {
                    field: field.clone(),
                    op: if live_value.is_some() {
                        FieldOp::Change
                    } else {
                        FieldOp::Add
                    },
                    // Recorded hidden last time: the live value may be what was read from the
                    // environment then, though the manifest now writes it in clear.
                    before: live_value.map(|v| {
                        if hidden || was_hashed {
                            Value::String("(sensitive)".into())
                        } else {
                            kinds::without_secrets(v, secrets)
                        }
                    }),
                    after: Some(shown(spec, obj, field, sent)),
                    sensitive: hidden
                        || was_hashed
                        || !secrets.is_empty()
                            && kinds::map_secrets(&mut value.clone(), secrets, &mut |v| v.clone()),
                    drift: field_drift,
                    pending: changed_since && entry.is_some(),
                    unseen: matches!(live_field, Some(LiveField::Unseen)),
                    object: members.map(|m| shown_parts(m.parts, obj, field, hidden || was_hashed)),
                });
            }
        }
        // Fields the manifest no longer sets: reset where the kind says how (a partial update
        // cannot unset), else no longer managed. A whole replacement drops them by itself.
        if let Some(last) = last {
            for field in last.keys().filter(|f| !obj.spec.contains_key(*f)) {
                pending = true;
                let row = spec.field(field);
                let reset = row.and_then(FieldFacts::reset);
                let live = current.map(|c| read_live(row, c.object.get(field)));
                let live_value = live.as_ref().and_then(LiveField::seen);
                // A value the manifest read from the environment was recorded hashed: its live
                // value stays hidden after it leaves the manifest.
                let hidden = last[field].get(SENSITIVE_KEY).is_some();
                match reset {
                    _ if spec.api.replace_whole && live_value.is_some() => {
                        fields.push(removed(spec, field, live_value, None, hidden));
                    }
                    _ if spec.api.replace_whole => {}
                    // An answer that left the field out may hide a value: reset it too.
                    Some(reset)
                        if current.is_some()
                            && live_value.is_none_or(|v| !same(v, &reset, false)) =>
                    {
                        body.insert(field.clone(), reset.clone());
                        body_secret.insert(field.clone(), reset.clone());
                        fields.push(removed(spec, field, live_value, Some(reset), hidden));
                    }
                    _ => {}
                }
            }
        }
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
        // A new metadata.name alone changes nothing upstream (the state is keyed by the natural
        // key; the name it shows is refreshed with the next write).
        let nothing = fields.is_empty()
            && action == Action::Update
            && entry.is_some_and(|e| {
                e.protect == obj.protect && same_records(&e.last_applied, &record.last_applied)
            });
        if nothing {
            unchanged += 1;
            continue;
        }
        let has_writes = !fields.is_empty() || action == Action::Create;
        let mut notes = Vec::new();
        // A whole replacement keeps what the manifest never managed (as an object field's
        // unmanaged sub-fields are carried over): live fields neither desired nor last applied
        // are sent back as they are. One holding a secret cannot be: the live object does not
        // show the secret, and sending it without would erase it upstream.
        if spec.api.replace_whole && has_writes {
            let unmanaged = current
                .into_iter()
                .flat_map(|c| &c.object)
                .filter(|(k, _)| {
                    !obj.spec.contains_key(*k)
                        && !last.is_some_and(|l| l.contains_key(*k))
                        && spec.field(k).is_some_and(|f| !f.generated)
                });
            let mut blocked = Vec::new();
            for (k, v) in unmanaged {
                if spec.has_secrets(k) {
                    blocked.push(k.clone());
                    continue;
                }
                body.insert(k.clone(), v.clone());
                body_secret.insert(k.clone(), v.clone());
                notes.push(format!(
                    "`{k}` is carried over as it is live (the manifest does not set it)"
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
}

/// An object field's members as plans show them: the values of those the manifest hides
/// (secret, or read from the environment) as `(sensitive)`. For a field that is hidden, or
/// was recorded hidden, the live values of the members it changes or drops as well: they may
/// be what was read from the environment. Members carried over are live values the manifest
/// does not write (unmanaged, ignored, or at their default); a saved plan sends them again.
fn shown_parts(
    mut parts: ObjectParts,
    obj: &DesiredObject,
    field: &str,
    hidden: bool,
) -> ObjectParts {
    for sub in parts
        .changed
        .iter_mut()
        .chain(&mut parts.unchanged)
        .chain(&mut parts.carried_over)
        .filter(|sub| obj.rules.hides_member(field, &sub.name))
    {
        sub.hide();
    }
    if hidden {
        parts.hide_live_values();
    }
    parts
}

/// A field the manifest no longer sets: reset to `after`, or dropped by a whole replacement.
/// Its live value is shown without its secret sub-fields, as everywhere, and not at all when
/// the manifest had it `hidden` (read from the environment).
fn removed(
    spec: &KindSpec,
    field: &str,
    before: Option<&Value>,
    after: Option<Value>,
    hidden: bool,
) -> FieldChange {
    let secrets = spec
        .field(field)
        .map(|r| r.secret_subfields)
        .unwrap_or_default();
    FieldChange {
        field: field.to_owned(),
        op: if after.is_some() {
            FieldOp::Reset
        } else {
            FieldOp::Change
        },
        before: before.map(|v| {
            if hidden {
                Value::String("(sensitive)".into())
            } else {
                kinds::without_secrets(v, secrets)
            }
        }),
        after,
        sensitive: hidden,
        drift: false,
        pending: true,
        unseen: before.is_none(),
        object: None,
    }
}

/// The state entry an object change records.
pub fn entry_of(
    change: &Change,
    id: Option<String>,
    app_id: Option<String>,
    applied_at: String,
) -> Option<StateEntry> {
    let record = change.record.as_ref()?;
    Some(StateEntry {
        address: change.object_address()?.clone().into(),
        name: record.name.clone().unwrap_or_default(),
        id,
        app_id,
        ownership: record.ownership,
        last_applied: record.last_applied.clone(),
        protect: record.protect,
        applied_at,
    })
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
