//! An object of any kind that the manifests and the live tenant both hold, planned by one rule:
//! adopted, updated (partially, or replaced whole when its kind's updates replace), waiting
//! when a whole replacement would erase a secret, or unchanged (its record written again when
//! that alone differs). Applications, clients and the described kinds all come through here.
//! Pure.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::diff::{diff_fields, shown_fields, Subject};
use super::fingerprint::fingerprint_live;
use super::identify::ADOPTION_NOTE;
use super::records::moved;
use super::types::{Action, Body, Change, Record, SkippedDelete, StateUpdate};
use crate::model::FieldRules;
use crate::state::address::Address;
use crate::state::entry::StateEntry;

/// An object the manifests and the live tenant both hold.
pub(super) struct Matched<'a> {
    /// Its address, and the name plans show it by.
    pub address: Address,
    pub name: String,
    /// Its kind's field facts and update semantics.
    pub subject: Subject,
    /// The state entry whose last-applied values count: none when the live object is adopted.
    pub entry: Option<&'a StateEntry>,
    /// Adopted in place of the object its entry mapped, which was deleted outside tenantsync
    /// (a kind whose key upstream keeps unique finds its object again by key): the record of
    /// the object it replaces, what the manifest asked for when it was last applied.
    pub replaces: Option<&'a Map<String, Value>>,
    /// The live object, as the API answered it.
    pub live: &'a Map<String, Value>,
    /// Its manifest's spec and field rules.
    pub spec: &'a Map<String, Value>,
    pub rules: &'a FieldRules,
    /// What the state records of it once the plan is applied.
    pub record: Record,
    /// The live id of its application (an application's own), and its own live id.
    pub app_id: Option<String>,
    pub id: Option<String>,
}

/// What becomes of a matched object.
#[derive(Debug)]
pub(super) enum Planned {
    /// Already as desired; its record written again if that alone differs.
    Unchanged(Option<Box<StateUpdate>>),
    /// Adopted or updated.
    Change(Box<Change>),
    /// Not updated: a whole replacement cannot keep a live secret the manifest does not set.
    /// The warning says which, and what to do.
    Waits(String),
}

/// What the walk over every kind made (`plan_every_kind`), before it becomes the plan: the
/// changes (sorted into execution order at the end of the walk), the counts, the skipped
/// deletions, the warnings and the records written again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanPart {
    /// The changes (in execution order once the walk has sorted them).
    pub changes: Vec<Change>,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Deletions not carried out (and objects left alone), and why.
    pub skipped: Vec<SkippedDelete>,
    /// What the user should know (an object not planned, or not updated, and why; a live
    /// object another list left out), not yet redacted: the plan redacts them all at once.
    pub warnings: Vec<String>,
    /// Records written again with no request upstream.
    pub state_updates: Vec<StateUpdate>,
    /// Updates that wait (their warnings are among `warnings`).
    pub waiting: usize,
}

impl PlanPart {
    /// Adds what became of a matched object.
    pub(super) fn add(&mut self, planned: Planned) {
        match planned {
            Planned::Unchanged(update) => {
                self.unchanged += 1;
                self.state_updates.extend(update.map(|u| *u));
            }
            Planned::Change(change) => self.changes.push(*change),
            Planned::Waits(warning) => {
                self.waiting += 1;
                self.warnings.push(warning);
            }
        }
    }
}

/// Plans `matched`: the one field diff of every kind ([`diff_fields`]), then what it needs.
pub(super) fn plan_matched(matched: Matched<'_>, salt: &[u8]) -> Planned {
    let Matched {
        address,
        name,
        subject,
        entry,
        replaces,
        live,
        spec,
        rules,
        mut record,
        app_id,
        id,
    } = matched;
    let last = entry.map(|e| &e.last_applied);
    let diff = diff_fields(subject, spec, last, live, rules, salt);
    let writes = diff.needs_write();
    // A field that may hold a live secret the manifest does not set is not recorded as
    // applied (tenantsync did not write it), and no write of it can go ahead.
    for path in &diff.maybe_live_secrets {
        let field = path.split_once('.').map_or(path.as_str(), |(f, _)| f);
        record.last_applied.remove(field);
        if writes && (subject.replace_whole || diff.body.contains_key(field)) {
            return Planned::Waits(format!(
                "{name}: not updated: `{field}` is live and may hold a `{secret}` set outside tenantsync, which upstream never shows and the manifest does not set; the write would erase it. Set `{secret}` in the manifest (e.g. `${{env:…}}` with --env-allow), then apply",
                secret = path.rsplit('.').next().unwrap_or_default(),
            ));
        }
    }
    let action = match entry {
        Some(entry) if !writes => {
            // A field released (upstream cannot clear it) or a new `protect` is recorded with no
            // request upstream; so is a new metadata.name alone (its next write shows it).
            return Planned::Unchanged(
                StateUpdate::of_unchanged(address, entry, record, subject).map(Box::new),
            );
        }
        Some(_) => Action::Update,
        None => Action::Adopt,
    };
    let mut notes = Vec::new();
    match action {
        Action::Adopt if replaces.is_some() => notes.push(format!(
            "the live {} was deleted outside tenantsync",
            address.kind.spec().noun
        )),
        Action::Adopt => notes.push(ADOPTION_NOTE.to_owned()),
        _ => {}
    }
    notes.extend(diff.notes().map(str::to_owned));
    // What a whole replacement sends back as it is live, and what no write can (a secret
    // upstream never shows): then the update waits, saying why.
    if subject.replace_whole && writes {
        for field in &diff.carried {
            notes.push(format!(
                "`{field}` is carried over as it is live (the manifest {} it)",
                if rules.ignores(field) {
                    "ignores"
                } else {
                    "does not set"
                }
            ));
        }
    }
    if writes {
        if let Some(warning) = waits(&name, &diff.blocked) {
            return Planned::Waits(warning);
        }
    }
    let mut fields = diff.fields;
    let drift = replaces.is_some() || fields.iter().any(|f| f.drift);
    // The manifest asks for it: a new object to manage, or a field it moved since last
    // applied. One adopted in place of a deleted one is compared with that one's record (its
    // diff had none: every field it writes would seem asked for).
    if let Some(before) = replaces {
        for f in &mut fields {
            f.pending = moved(subject, before, &record.last_applied, &f.field);
        }
    }
    let pending =
        (action == Action::Adopt && replaces.is_none()) || fields.iter().any(|f| f.pending);
    // What a saved plan checks before writing: the managed fields as they were live; for a
    // whole replacement, every field it sends back (the unmanaged ones carried over too).
    let fingerprint_fields: Vec<String> = if subject.replace_whole {
        address
            .kind
            .spec()
            .writable()
            .map(|f| f.name.to_owned())
            .collect()
    } else {
        let managed: BTreeSet<&String> = record
            .last_applied
            .keys()
            .chain(last.into_iter().flat_map(Map::keys))
            .collect();
        managed.into_iter().cloned().collect()
    };
    let sent = if subject.replace_whole {
        diff.whole
    } else {
        diff.body
    };
    let body = writes.then(|| Body::planned(shown_fields(subject, rules, &sent), sent));
    Planned::Change(Box::new(Change {
        id,
        app_id,
        drift,
        pending,
        fields,
        notes,
        body,
        live_fingerprint: Some(fingerprint_live(address.kind, live, &fingerprint_fields)),
        fingerprint_fields,
        record: Some(record),
        ..Change::new(action, address, name)
    }))
}

/// The warning of an update that waits because a whole replacement cannot keep `blocked`
/// (live fields holding a secret the manifest does not set), if any.
fn waits(name: &str, blocked: &[String]) -> Option<String> {
    let one = blocked.len() == 1;
    (!blocked.is_empty()).then(|| {
        format!(
            "{name}: not updated: {} live but not in the manifest, and a replacement cannot keep {} secret (upstream never shows it). Add {} to the manifest with {} secret",
            blocked.join(", "),
            if one { "its" } else { "their" },
            if one { "it" } else { "them" },
            if one { "its" } else { "their" },
        )
    })
}
