//! The described kinds' side of a plan (`model::kinds`): [`Described`] creates, adopts,
//! updates, deletes (or releases) each object of a described kind, from the manifest, its state
//! entry and the live collection, with upstream's update semantics (partial PUT, or whole
//! replacement) and secrets compared by hash; a document whose natural key changed is updated
//! in place where its kind allows it ([`moves`]). The references it sends were resolved before
//! (`references.rs`). Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::created::{asked_for, create_body, created_fields};
use super::departures::{departure, Presence};
use super::diff::{shown_fields, Subject};
use super::identify::{recreated_note, Identity, LiveSet, Mapping};
use super::matched::{plan_matched, Matched, PlanPart, Planned};
use super::observed::{LiveObject, LiveObjects};
use super::records::applied;
use super::types::{
    Action, Body, Change, PlanError, PlanOptions, Record, SkippedDelete, StateUpdate,
};
use crate::manifest::{DesiredObject, DesiredState};
use crate::model::kinds::AnyKind;
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry, StateSnapshot};

/// The described kinds' side of a plan: each collection read indexed once, the live ids the
/// state maps (never adopted by another manifest object), and the documents whose natural key
/// changed. [`Described::plan`] plans one manifest object, [`Described::departure`] one state
/// entry that left the manifests.
pub(super) struct Described<'a> {
    desired: &'a DesiredState,
    state: &'a StateSnapshot,
    live: &'a LiveObjects,
    app_ids: &'a BTreeMap<String, String>,
    options: &'a PlanOptions,
    claimed: HashSet<(AnyKind, &'a str)>,
    sets: HashMap<(AnyKind, Option<&'a str>), LiveSet<'a, LiveObject>>,
    /// Documents whose natural key changed, written in place where their kind allows it; the
    /// entries they leave are not departures.
    moves: HashMap<&'a Address, &'a Address>,
    moved_from: HashSet<&'a Address>,
    /// A document whose natural key changed: its entry under the old address (left the
    /// manifests), and its object under the new one, by kind, application and metadata.name.
    left: HashMap<DocKey<'a>, &'a Address>,
    documents: HashMap<DocKey<'a>, &'a Address>,
}

impl<'a> Described<'a> {
    /// `app_ids`: the live id of each managed (or adopted) application, by `metadata.name`;
    /// an application missing from it is created by this plan.
    pub(super) fn new(
        desired: &'a DesiredState,
        state: &'a StateSnapshot,
        live: &'a LiveObjects,
        app_ids: &'a BTreeMap<String, String>,
        options: &'a PlanOptions,
    ) -> Self {
        let claimed = state
            .object_entries()
            .filter_map(|(a, e)| Some((a.kind, e.id.as_deref()?)))
            .collect();
        let left = state
            .object_entries()
            .filter(|(a, _)| !desired.objects.contains_key(*a))
            .map(|(a, e)| ((a.kind, a.app.as_deref(), e.name.as_str()), a))
            .collect();
        let documents = desired
            .described()
            .map(|(a, o)| ((a.kind, a.app.as_deref(), o.name.as_str()), a))
            .collect();
        Described {
            desired,
            state,
            live,
            app_ids,
            options,
            claimed,
            sets: HashMap::new(),
            moves: moves(desired, state),
            moved_from: HashSet::new(),
            left,
            documents,
        }
    }

    /// Plans the manifest object `obj` at `address`: created, adopted, updated, moved to a new
    /// natural key, or not planned (its collection unread), into `part`.
    pub(super) fn plan(
        &mut self,
        part: &mut PlanPart,
        address: &'a Address,
        obj: &'a DesiredObject,
    ) -> Result<(), PlanError> {
        let (state, live, app_ids) = (self.state, self.live, self.app_ids);
        let (sets, claimed, moves) = (&mut self.sets, &self.claimed, &self.moves);
        let (moved_from, left) = (&mut self.moved_from, &self.left);
        let spec = address.kind.spec();
        let app_id: Option<&str> = address
            .app
            .as_ref()
            .and_then(|a| app_ids.get(a))
            .map(String::as_str);
        let entry = state.entry(address);
        // An application this plan creates (or creates again) has none yet.
        let parentless = spec.parent.is_some() && app_id.is_none();
        if !parentless && !live.was_read(address.kind, app_id) {
            if let Some(app_id) = app_id.filter(|id| live.missing_parents.contains(*id)) {
                part.warnings.push(format!(
                    "{address}: not planned: its application's {} answered 404, though the application ({app_id}) was found",
                    spec.plural
                ));
                return Ok(());
            }
            if entry.is_some() {
                // Not read this time (`--refresh changed`): counted as not refreshed, as an
                // application is, never as unchanged.
                return Ok(());
            }
            // Whether it exists is unknown (its collection could not be read): neither
            // created nor adopted blind.
            part.warnings.push(format!(
                "{address}: not planned: the {} it would be among could not be read",
                spec.plural
            ));
            return Ok(());
        }
        let collection = sets.entry((address.kind, app_id)).or_insert_with(|| {
            LiveSet::new(spec, live.of(address.kind, app_id).filter(|_| !parentless))
        });
        let identity = collection.identify(&address, Mapping::of(entry), &address.key, |id| {
            claimed.contains(&(address.kind, id))
        })?;
        let last = entry.map(|e| &e.last_applied);
        let subject = Subject::described(spec);
        let applied = applied(subject, &obj.spec, &obj.rules, last, &state.salt);
        let name = format!("{}/{}", address.kind, obj.name);
        let app_id = app_id.map(str::to_owned);
        let record = |ownership| Record {
            name: Some(obj.name.clone()),
            ownership,
            last_applied: applied.clone(),
            protect: obj.protect,
        };
        // Its natural key changed, and nothing live holds the new one: the object its old
        // entry maps is updated in place (its key written), and the entry moves.
        let moved = match (&identity, entry) {
            (Identity::New { .. }, None) => moves.get(address).and_then(|old| {
                let old_entry = state.entry(old).filter(|e| e.app_id == app_id)?;
                let app = old_entry.app_id.as_deref();
                let live = live.mapped(address.kind, app, old_entry.id.as_deref())?;
                Some((*old, old_entry, live))
            }),
            _ => None,
        };
        if let Some((old, old_entry, live_object)) = moved {
            moved_from.insert(old);
            let field = spec.key_field();
            let matched = Matched {
                address: address.clone(),
                name,
                subject,
                entry: Some(old_entry),
                replaces: None,
                live: &live_object.object,
                spec: &obj.spec,
                rules: &obj.rules,
                record: record(old_entry.ownership),
                id: spec.id_of(&live_object.object),
                app_id,
            };
            let planned = match plan_matched(matched, &state.salt) {
                Planned::Change(mut change) => {
                    change.moved_from = Some(old.clone());
                    change.notes.push(format!(
                        "its document named the {} with {field} `{}` before: the {field} is written in place (what is assigned to it upstream stays with it), and its state entry moves to the new {field}",
                        spec.noun, old.key
                    ));
                    Planned::Change(change)
                }
                // The key already written (an update sent, then not recorded): the entry
                // moves alone.
                Planned::Unchanged(update) => {
                    let mut update = update.unwrap_or_else(|| {
                        Box::new(StateUpdate {
                            address: address.clone(),
                            record: record(old_entry.ownership),
                            reasons: Vec::new(),
                            moved_from: None,
                        })
                    });
                    update.moved_from = Some(old.clone());
                    update.reasons.insert(
                        0,
                        format!(
                            "its {field} is already `{}` live: the entry moves from `{}`",
                            address.key, old.key
                        ),
                    );
                    Planned::Unchanged(Some(update))
                }
                waits @ Planned::Waits(_) => waits,
            };
            part.add(planned);
            return Ok(());
        }
        let (live_object, entry, gone) = match identity {
            Identity::Mapped(live) => (live, entry, false),
            Identity::Adopt { live, gone } => (live, entry.filter(|_| !gone), gone),
            // Created; or, one of a kind that always exists (one per application) not listed:
            // adopted, every field the manifest sets written.
            Identity::New { gone } => {
                // One that always exists was only not listed (an application created again,
                // an answer without it): nothing was deleted.
                let gone = gone && spec.api.create;
                let action = match spec.api.create {
                    true => Action::Create,
                    false => Action::Adopt,
                };
                let ownership = match entry {
                    Some(e) if !gone => e.ownership,
                    _ if action == Action::Create => Ownership::Created,
                    _ => Ownership::Adopted,
                };
                let mut change = Change {
                    app_id,
                    drift: gone,
                    record: Some(record(ownership)),
                    ..Change::new(action, address.clone(), name)
                };
                write_every_field(&mut change, subject, obj, last, &applied);
                if gone {
                    change.notes.push(recreated_note(spec.noun));
                }
                let old = left.get(&(address.kind, address.app.as_deref(), obj.name.as_str()));
                if let (Action::Create, Some(old)) = (action, old) {
                    let field = spec.key_field();
                    change.notes.push(format!(
                        "its document named the {} with {field} `{}` before: a {field} names another {} upstream, so this creates one, and the old one is deleted (with --prune); what is assigned to it upstream does not move to the new one",
                        spec.noun, old.key, spec.noun
                    ));
                }
                match (action, entry) {
                    (Action::Adopt, None) => change.notes.push(format!(
                        "{} always exist; tenantsync starts managing them",
                        spec.plural
                    )),
                    (Action::Adopt, Some(_)) => change.notes.push(format!(
                        "{} always exist; written whole as the manifest says",
                        spec.plural
                    )),
                    _ => {}
                }
                part.changes.push(change);
                return Ok(());
            }
        };
        let matched = Matched {
            address: address.clone(),
            name,
            subject,
            entry,
            replaces: last.filter(|_| gone),
            live: &live_object.object,
            spec: &obj.spec,
            rules: &obj.rules,
            record: record(entry.map_or(Ownership::Adopted, |e| e.ownership)),
            id: spec.id_of(&live_object.object),
            app_id,
        };
        part.add(plan_matched(matched, &state.salt));
        Ok(())
    }

    /// What becomes of the state entry at `address`, which left the manifests (none: its
    /// document moved it to a new natural key): deleted, or kept and why, into `part`.
    pub(super) fn departure(
        &self,
        part: &mut PlanPart,
        address: &'a Address,
        entry: &'a StateEntry,
    ) {
        let (desired, live, app_ids, options) =
            (self.desired, self.live, self.app_ids, self.options);
        let (moved_from, documents) = (&self.moved_from, &self.documents);
        if moved_from.contains(address) {
            return;
        }
        let shown = entry.shown();
        // Its document now names another object (a new natural key): said where it goes.
        let rekeyed = documents
            .get(&(address.kind, address.app.as_deref(), entry.name.as_str()))
            .map(|new| {
                let (spec, field) = (address.kind.spec(), address.kind.spec().key_field());
                let created = part.changes.iter().any(|c| {
                    c.action == Action::Create && c.address.as_object() == Some(*new)
                });
                format!(
                    "its document `{}` now has {field} `{}`, another {} upstream{}; this one ({field} `{}`)",
                    entry.name,
                    new.key,
                    spec.noun,
                    if created { " (created by this plan)" } else { "" },
                    address.key
                )
            });
        if let Some(reason) = super::guards::kept_because(desired, entry.protect, options) {
            part.skipped.push(SkippedDelete {
                name: shown,
                reason: match &rekeyed {
                    Some(why) if reason == super::guards::NOT_PRUNED => {
                        format!("{why} stays: run with --prune to delete it")
                    }
                    Some(why) => format!("{why} stays: {reason}"),
                    None => reason.to_owned(),
                },
            });
            return;
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
        let mut change = departure(address.clone(), shown, entry, presence);
        change
            .notes
            .extend(rekeyed.map(|why| format!("{why} is deleted")));
        part.changes.push(change);
    }
}

/// Plans every object of the described kinds alone, as [`Described`] plans each in the plan of
/// every kind (the unit tests' view of that side). Several live objects sharing a manifest
/// object's natural key (which upstream keeps unique: a list that repeats one) are an error, as
/// for applications.
#[cfg(test)]
pub(super) fn plan_objects(
    desired: &DesiredState,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
    options: &PlanOptions,
) -> Result<PlanPart, PlanError> {
    let mut part = PlanPart::default();
    let mut described = Described::new(desired, state, live, app_ids, options);
    for (address, obj) in desired.described() {
        described.plan(&mut part, address, obj)?;
    }
    for (address, entry) in state.object_entries() {
        if !desired.objects.contains_key(address) {
            described.departure(&mut part, address, entry);
        }
    }
    part.changes
        .sort_by(|a, b| (a.phase, &a.address).cmp(&(b.phase, &b.address)));
    Ok(part)
}

/// A document of a described kind: its kind, application (`metadata.name`) and own
/// `metadata.name`.
type DocKey<'a> = (AnyKind, Option<&'a str>, &'a str);

/// Documents whose natural key changed (a role's `role_name`), of a kind whose updates write
/// the key in place: each one's address (its new key) and the address its state entry has
/// (the old key, which no document holds any more). Whether the move happens also depends on
/// the live tenant: the object the old entry maps must still be there, and no other live
/// object hold the new key (callers look).
pub(super) fn moves<'a>(
    desired: &'a DesiredState,
    state: &'a StateSnapshot,
) -> HashMap<&'a Address, &'a Address> {
    let mut left: HashMap<DocKey<'_>, Vec<(&Address, &StateEntry)>> = HashMap::new();
    for (a, e) in state
        .object_entries()
        .filter(|(a, _)| a.kind.spec().key_updatable() && !desired.objects.contains_key(*a))
    {
        left.entry((a.kind, a.app.as_deref(), e.name.as_str()))
            .or_default()
            .push((a, e));
    }
    if left.is_empty() {
        return HashMap::new();
    }
    desired
        .described()
        .filter(|(a, _)| state.entry(a).is_none())
        .filter_map(|(a, o)| {
            let entries = left.get(&(a.kind, a.app.as_deref(), o.name.as_str()))?;
            Some((a, last_applied_of(entries)?))
        })
        .collect()
}

/// Of several entries left under one document's name (an old object kept without --prune
/// beside the one adopted in its place), the one the document was applied to last; `None`
/// when that cannot be told (two applied at the same time).
fn last_applied_of<'a>(entries: &[(&'a Address, &StateEntry)]) -> Option<&'a Address> {
    let at = |e: &StateEntry| {
        time::OffsetDateTime::parse(
            &e.applied_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    };
    let latest = entries.iter().map(|(_, e)| at(e)).max()??;
    match entries
        .iter()
        .filter(|(_, e)| at(e) == Some(latest))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [(one, _)] => Some(*one),
        _ => None,
    }
}

/// Fills `change` (a create, or the adoption of an object of a kind that always exists, not
/// listed) with its body ([`create_body`]: every field the manifest sets) and its fields.
/// `last`: its entry's last record (an object deleted outside tenantsync, created again);
/// `applied`: what it records now.
fn write_every_field(
    change: &mut Change,
    subject: Subject,
    obj: &DesiredObject,
    last: Option<&Map<String, Value>>,
    applied: &Map<String, Value>,
) {
    let sent = create_body(subject, &obj.spec, &obj.rules);
    change.fields = created_fields(subject, &obj.rules, &sent, last, applied);
    change.pending = asked_for(last, applied, &change.fields);
    change.body = Some(Body::planned(
        shown_fields(subject, &obj.rules, &sent),
        sent,
    ));
}

/// The state entry an object of any kind is recorded with: `record` (what was applied) at
/// `address`, with the ids of the live object (`id`, its own; `app_id`, its application's:
/// an application's entry holds its own id there).
pub fn entry_of(
    address: &Address,
    record: &Record,
    id: Option<String>,
    app_id: Option<String>,
    applied_at: String,
) -> StateEntry {
    let (id, app_id) = match address.kind {
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
