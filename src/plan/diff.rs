//! The three-way, whole-object-aware diff of one object: desired (manifest), last applied (state)
//! and live (target). Only fields the manifest sets, or set at the last apply, are compared. An
//! object-valued field that changes is sent whole: live sub-fields nobody manages are carried
//! over, sub-fields removed from the manifest since the last apply are dropped.

use crate::model::FieldRules;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{read_live, same_value, LiveField, ObjectKind};
use super::members::{self, Before, Since};
use crate::model::catalogue::{Field, FieldFacts, Flow, Table, Undocumented, SENSITIVE};
use crate::model::kinds::{KindSpec, Shape};
use crate::state::entry::{is_record_of, recorded_hash, MEMBERS_KEY};

/// What happens to one top-level field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    /// The live object lacks the field; it is set.
    Add,
    /// The live value differs; it is replaced.
    Change,
    /// The manifest no longer sets it; it goes back to its default.
    Reset,
    /// The manifest no longer sets it and the API cannot clear it; left as is, no longer managed.
    Release,
}

/// One sub-field of an object-valued field.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubField {
    /// Its name.
    pub name: String,
    /// Live value, if any.
    pub before: Option<Value>,
    /// Value sent, if any.
    pub after: Option<Value>,
}

impl SubField {
    /// Its live value as `(sensitive)`; of an object sent as shown, only the members whose
    /// live value differs from the one shown to be sent (those alike show nothing new), so
    /// the reader still sees which one changed (`apn.keyId`).
    pub(super) fn hide_before(&mut self) {
        self.before = match (self.before.take(), &self.after) {
            (Some(Value::Object(live)), Some(Value::Object(sent))) => Some(Value::Object(
                live.into_iter()
                    .map(|(k, v)| {
                        let alike = sent.get(&k) == Some(&v) && v != sensitive_text();
                        (k, if alike { v } else { sensitive_text() })
                    })
                    .collect(),
            )),
            (before, _) => before.map(|_| sensitive_text()),
        };
    }
}

fn sensitive_text() -> Value {
    Value::from(SENSITIVE)
}

/// How an object-valued field is rebuilt for the PUT that replaces it whole.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectParts {
    /// Sub-fields the manifest sets to a new value.
    pub changed: Vec<SubField>,
    /// Sub-fields the manifest sets, already equal live; sent again as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<SubField>,
    /// Live sub-fields nobody manages, sent unchanged so the replacement keeps them.
    pub carried_over: Vec<SubField>,
    /// Sub-fields removed from the manifest since the last apply; not sent, so they go away.
    pub dropped: Vec<SubField>,
}

impl ObjectParts {
    /// The live values of the sub-fields it changes or drops as `(sensitive)`: a field recorded
    /// hidden may hold there what was read from the environment.
    pub(super) fn hide_live_values(&mut self) {
        for sub in self.changed.iter_mut().chain(&mut self.dropped) {
            sub.hide_before();
        }
    }
}

/// One field-level change.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Top-level field name.
    pub field: String,
    /// What happens.
    pub op: FieldOp,
    /// Live value (`(sensitive)` for secrets).
    pub before: Option<Value>,
    /// Value sent (`(sensitive)` for secrets).
    pub after: Option<Value>,
    /// The value is secret: only the fact of a change is shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// Drift: the live value differs from the value last applied (changed outside tenantsync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    /// Pending: the manifest's value differs from the value last applied (a change not yet
    /// applied). A field can be both.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// The live object does not show this field (upstream never returns it, or left it out
    /// without a documented default): the desired value was compared with the last applied one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unseen: bool,
    /// For object-valued fields: what is changed, carried over and dropped.
    pub object: Option<ObjectParts>,
}

/// The outcome for one object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectDiff {
    /// Field changes in field order.
    pub fields: Vec<FieldChange>,
    /// The body of a partial update that makes live equal desired (empty: nothing to send).
    pub body: Map<String, Value>,
    /// For a kind whose updates replace the object whole ([`Subject::replace_whole`]): every
    /// field the manifest manages as the replacement sends it (an object field with the live
    /// members it carries over), whether or not it changed. Empty for other kinds.
    pub whole: Map<String, Value>,
    /// A whole replacement drops a live field the manifest no longer sets.
    pub drops: bool,
    /// Live fields the manifest does not manage (never set, or ignored) that a whole
    /// replacement sends back as they are (in [`ObjectDiff::whole`]).
    pub carried: Vec<String>,
    /// Live fields the manifest does not manage that a whole replacement cannot send back, and
    /// live members of a field it writes that cannot be sent back (`push.apn`): they hold a
    /// secret the live object never shows.
    pub blocked: Vec<String>,
    /// Secret members (`google.clientSecret`) a live object field tenantsync has no record of
    /// writing may hold, unseen, that the manifest does not set: no write of the field can
    /// keep them, and the field is not recorded as applied until one is written.
    pub maybe_live_secrets: Vec<String>,
}

impl ObjectDiff {
    /// True when a write is needed.
    pub fn needs_write(&self) -> bool {
        !self.body.is_empty() || self.drops
    }

    /// What a plan notes of this diff's fields: that fields it releases keep their live value.
    pub fn notes(&self) -> Option<&'static str> {
        self.fields
            .iter()
            .any(|f| f.op == FieldOp::Release)
            .then_some("fields removed from the manifest that the API cannot clear keep their live value and are no longer managed")
    }
}

/// What the diff of one object needs to know of its kind: where its fields' facts are, and
/// whether its updates replace the object whole. Data, as kinds are.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// Where the facts of its fields are: the catalogue's object (applications, clients), or
    /// a described kind's rows.
    pub fields: Table,
    /// An update replaces the object whole: every field is sent, and a field left out goes.
    pub replace_whole: bool,
}

impl Subject {
    /// An application or a client of `kind`: the catalogue's facts, partial updates.
    pub fn catalogue(kind: ObjectKind) -> Self {
        Subject {
            fields: Table::Object(kind.object()),
            replace_whole: false,
        }
    }

    /// A described kind: its description's facts and update semantics.
    pub fn described(spec: &'static KindSpec) -> Self {
        Subject {
            fields: spec.table(),
            replace_whole: spec.api.replace_whole,
        }
    }

    /// An object of `shape`, of any kind.
    pub fn of(shape: Shape) -> Self {
        match shape {
            Shape::Catalogue(object) => Subject {
                fields: Table::Object(object),
                replace_whole: false,
            },
            Shape::Described(kind) => Subject::described(kind.spec()),
        }
    }

    /// Whether a whole replacement can send live field `field` back as it is: `None` when
    /// requests do not write it (generated); `Some(false)` when it holds a secret, which the
    /// live object never shows (sent back without it, it would be erased). A field this version
    /// does not know (upstream's, newer than these rows: a login method added since) is sent
    /// back as it is: left out, the replacement would erase it without a word; an upstream that
    /// refuses it answers 400 and nothing changes.
    fn carried(&self, field: &str) -> Option<bool> {
        match self.field(field) {
            None => Some(true),
            Some(f) if f.flow == Flow::ReadOnly => None,
            Some(f) => Some(!f.secret && !f.holds_secrets()),
        }
    }

    /// Field `name`'s row, if its kind's fields list it.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.field(name)
    }

    /// What upstream documents of `field` ([`Undocumented`] if nothing).
    pub fn facts(&self, field: &str) -> &'static dyn FieldFacts {
        match self.field(field) {
            Some(row) => row,
            None => &Undocumented,
        }
    }
}

/// Whether the last-applied value equals the desired one: by hash for a hidden field (whose
/// value the state keeps only as a salted hash), else as the planner compares live values
/// (sets without order or repeats, numbers by value).
fn unchanged_since_last_apply(
    facts: &dyn FieldFacts,
    desired: &Value,
    last: Option<&Value>,
    hidden: bool,
    salt: &[u8],
) -> bool {
    match last {
        None => false,
        Some(l) if hidden && recorded_hash(l).is_some() => is_record_of(l, salt, desired),
        Some(l) => same_value(l, desired, facts.is_set()),
    }
}

/// A value as plans show it: a hidden field (secret, or read from the environment) as
/// `(sensitive)`. An object field hidden in part (a secret or interpolated member) shows its
/// other members, which a saved plan sends again as they are (those carried over from the
/// target among them); the hidden ones are taken from the manifest again when it is applied.
pub(super) fn shown(
    facts: &dyn FieldFacts,
    rules: &FieldRules,
    field: &str,
    value: &Value,
) -> Value {
    match value {
        Value::Object(members) if !rules.hides_whole(field) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), shown_member(facts, rules, field, k, v)))
                .collect(),
        ),
        _ if rules.is_hidden(field) => sensitive_text(),
        other => other.clone(),
    }
}

/// Member `member` of object field `field` as plans show it: `(sensitive)` when it is hidden
/// whole (a secret, or read from the environment); else with each hidden part below it (a
/// secret it holds, as `push.apn` holds its `key`, or a member read from the environment) as
/// `(sensitive)`, so a change of what shows beside them (`apn.keyId`) can be read.
fn shown_member(
    facts: &dyn FieldFacts,
    rules: &FieldRules,
    field: &str,
    member: &str,
    value: &Value,
) -> Value {
    if rules.hides_member_whole(field, member) {
        return sensitive_text();
    }
    let mut shown = match facts.member_shown(member, value) {
        Some(holder) => holder,
        None if facts.member_is_secret(member) => return sensitive_text(),
        None => value.clone(),
    };
    rules.mask_below(field, member, &mut shown);
    shown
}

/// A request body as a plan shows it: each field [`shown`].
pub(super) fn shown_fields(
    subject: Subject,
    rules: &FieldRules,
    body: &Map<String, Value>,
) -> Map<String, Value> {
    body.iter()
        .map(|(field, v)| (field.clone(), shown(subject.facts(field), rules, field, v)))
        .collect()
}

/// An object field's members as plans show them: the values of those the manifest hides
/// (secret, or read from the environment) as `(sensitive)`. For a field that is hidden, or
/// was recorded hidden, the live values of the members it changes or drops as well: they may
/// be what was read from the environment. Members carried over are live values the manifest
/// does not write (unmanaged, ignored, or at their default); a saved plan sends them again.
fn shown_parts(
    mut parts: ObjectParts,
    facts: &dyn FieldFacts,
    rules: &FieldRules,
    field: &str,
    hidden: bool,
) -> ObjectParts {
    for sub in parts
        .changed
        .iter_mut()
        .chain(&mut parts.unchanged)
        .chain(&mut parts.carried_over)
        .filter(|sub| rules.hides_member(field, &sub.name) || facts.member_is_secret(&sub.name))
    {
        for value in [&mut sub.before, &mut sub.after].into_iter().flatten() {
            *value = shown_member(facts, rules, field, &sub.name, value);
        }
    }
    if hidden {
        parts.hide_live_values();
    }
    parts
}

/// The members of `want` an object field sends: all but those the manifest leaves alone
/// ([`members::ignored`]).
pub(super) fn sent_members(
    facts: &dyn FieldFacts,
    rules: &FieldRules,
    field: &str,
    want: &Map<String, Value>,
) -> Map<String, Value> {
    let ignored = members::ignored(facts, rules, field);
    want.iter()
        .filter(|(k, _)| !ignored.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a field's record says of the members the manifest managed.
fn before_of(last: Option<&Value>) -> Before<'_> {
    match last {
        // Recorded as one hash: the names of its members, if the record has them.
        Some(last) if recorded_hash(last).is_some() => {
            match last.get(MEMBERS_KEY).and_then(Value::as_array) {
                Some(names) => Before::Named(names),
                None => Before::Unknown,
            }
        }
        Some(Value::Object(last)) => Before::Applied(last),
        _ => Before::Unknown,
    }
}

/// Diffs one object of any kind. `desired`, `last` and `live` hold top-level API fields;
/// `last` is what the state recorded at the last apply of this very object (`None`: a first
/// write or an adoption); `rules` names the field paths left alone and the hidden ones (secret
/// or interpolated: compared by salted hash with what was last applied).
///
/// A live field is read through its facts ([`read_live`]): absent with a documented default,
/// it is that default; never returned by upstream (write-only) or absent without a default, it
/// is unseen, and the desired value is compared with the last applied one instead. An object
/// field is compared member by member ([`members::compare`]).
pub fn diff_fields(
    subject: Subject,
    desired: &Map<String, Value>,
    last: Option<&Map<String, Value>>,
    live: &Map<String, Value>,
    rules: &FieldRules,
    salt: &[u8],
) -> ObjectDiff {
    let mut out = ObjectDiff::default();
    let empty = Map::new();
    let last_map = last.unwrap_or(&empty);
    let mut fields: Vec<&String> = desired.keys().chain(last_map.keys()).collect();
    fields.sort();
    fields.dedup();
    for field in fields {
        if rules.ignores(field) {
            continue;
        }
        let facts = subject.facts(field);
        let same = |a: &Value, b: &Value| same_value(a, b, facts.is_set());
        let is_sensitive = rules.is_sensitive(field);
        // Hidden: a secret, or a value read by interpolation. An interpolated value is still
        // compared with the live one; only how it is shown and recorded differs.
        let is_hidden = rules.is_hidden(field);
        let live_owned = match read_live(Some(facts), live.get(field.as_str())) {
            LiveField::Seen(v) => Some(v),
            LiveField::Unseen => None,
        };
        // A login method is on while its object is there (`presence_is_setting`): absent from
        // the answer, it is off, which the answer says as surely as a value (turned off by
        // hand, it is drift, and written again).
        let off = live.get(field.as_str()).is_none_or(Value::is_null)
            && subject.field(field).is_some_and(|f| f.presence_is_setting);
        let unseen = live_owned.is_none() && !off;
        let live_value = live_owned.as_ref();
        let last_value = last_map.get(field.as_str());
        // Drift needs a live value and a last-applied one to compare (secrets and unseen fields
        // have no live value to compare); pending, a last-applied value the manifest moved from.
        // A hidden value was recorded as its hash: the live value is hashed to compare.
        // A value recorded hidden is compared by hash, also once the manifest writes it in
        // clear or no longer sets it.
        let last_hash = last_value.and_then(recorded_hash);
        let drifted = || match (live_value, last_value) {
            (Some(live), Some(last)) if last_hash.is_some() => !is_record_of(last, salt, live),
            (Some(live), Some(last)) if !is_sensitive => !same(live, last),
            _ => false,
        };
        let pending = |want: Option<&Value>| match want {
            Some(want) => !unchanged_since_last_apply(facts, want, last_value, is_hidden, salt),
            None => last_value.is_some(),
        };
        // What a change shows it replaces: the live value, or, of a field upstream does not
        // return, what was last applied, unless that was recorded hidden.
        let shown_before = || {
            live_value.cloned().or_else(|| {
                (unseen && last_hash.is_none() && !is_sensitive)
                    .then(|| last_value.cloned())
                    .flatten()
            })
        };
        let change = |op, before: Option<Value>, after: Option<Value>, object_parts| FieldChange {
            field: field.clone(),
            op,
            before,
            after,
            sensitive: is_hidden,
            drift: false,
            pending: false,
            unseen,
            object: object_parts,
        };
        // A field sent with a new value: a change when the live object shows one, else an add.
        let sent_anew =
            |after: Value, parts: Option<ObjectParts>, drift: bool, pending: bool| FieldChange {
                drift,
                pending,
                ..change(
                    if live_value.is_some() {
                        FieldOp::Change
                    } else {
                        FieldOp::Add
                    },
                    live_value.cloned(),
                    Some(after),
                    parts,
                )
            };
        let live_members = live_value.and_then(Value::as_object);
        match desired.get(field.as_str()) {
            // Secrets (but an object field's other members, which the live object shows), and
            // fields the live object does not show, are compared with what was last applied
            // (secrets by hash): live drift in them cannot be detected.
            Some(want)
                if unseen
                    || (is_sensitive && !(want.is_object() && (live_members.is_some() || off))) =>
            {
                let sent = match want {
                    Value::Object(m) => Value::Object(sent_members(facts, rules, field, m)),
                    other => other.clone(),
                };
                if pending(Some(want)) {
                    out.body.insert(field.clone(), sent.clone());
                    let op = if live_value.is_some() || last_value.is_some() {
                        FieldOp::Change
                    } else {
                        FieldOp::Add
                    };
                    out.fields.push(FieldChange {
                        pending: true,
                        ..change(op, shown_before(), Some(sent.clone()), None)
                    });
                }
                if subject.replace_whole {
                    out.whole.insert(field.clone(), sent);
                }
            }
            Some(whole @ Value::Object(want)) => {
                // Compared member by member, as every kind's object fields are.
                let is_pending = pending(Some(whole));
                let before = before_of(last_value);
                let compared = members::compare(
                    facts,
                    want,
                    live_members.unwrap_or(&empty),
                    before,
                    &members::ignored(facts, rules, field),
                    Since {
                        unchanged: !is_pending,
                        secrets_changed: is_pending
                            && want.keys().any(|k| facts.member_is_secret(k)),
                    },
                );
                let sent = Value::Object(compared.sent);
                // A live field tenantsync never wrote (no record of it) may hold a secret the
                // answer never shows and the manifest does not set (a social login's
                // `clientSecret` set in the portal): a write of it would erase that secret.
                if last_value.is_none() && live_members.is_some_and(|l| !l.is_empty()) {
                    out.maybe_live_secrets.extend(
                        facts
                            .secret_member_names()
                            .into_iter()
                            .filter(|s| !want.contains_key(*s))
                            .map(|s| format!("{field}.{s}")),
                    );
                }
                // A live member holding a secret the manifest does not set blocks any write of
                // the field (a whole replacement writes it each time).
                if subject.replace_whole || live_members.is_none() || compared.differs {
                    out.blocked
                        .extend(compared.blocked.iter().map(|m| format!("{field}.{m}")));
                }
                if live_members.is_none() || compared.differs {
                    // Drift in an object: a member last applied has another live value. One
                    // recorded hidden is compared by the hash of the live members it manages,
                    // unless it holds a secret (never answered): then it drifted only if the
                    // manifest did not move.
                    let drift = match live_members {
                        Some(live) => match last_value.filter(|_| last_hash.is_some()) {
                            // Recorded hidden: compared by the hash of the live members it
                            // manages where the answer shows each as written (none a secret,
                            // left out, or ignored); else it drifted only if the manifest did
                            // not move.
                            Some(last) => {
                                let ignored = rules.ignored_keys_of(field);
                                let managed: Option<Map<String, Value>> = want
                                    .keys()
                                    .map(|k| {
                                        let v = live
                                            .get(k)
                                            .filter(|v| !v.is_null())
                                            .filter(|_| !facts.member_is_secret(k))?;
                                        (!ignored.contains(k.as_str()))
                                            .then(|| (k.clone(), v.clone()))
                                    })
                                    .collect();
                                match managed {
                                    Some(m) => !is_record_of(last, salt, &Value::Object(m)),
                                    None => !is_pending,
                                }
                            }
                            None => compared.drift,
                        },
                        // Turned off since it was applied, unless the manifest moved too.
                        None => off && last_value.is_some() && !is_pending,
                    };
                    out.body.insert(field.clone(), sent.clone());
                    out.fields.push(sent_anew(
                        sent.clone(),
                        Some(compared.parts),
                        drift,
                        is_pending,
                    ));
                }
                if subject.replace_whole {
                    out.whole.insert(field.clone(), sent);
                }
            }
            Some(want) => {
                if live_value.is_none_or(|l| !same(l, want)) {
                    let drift = drifted();
                    let pending = pending(Some(want));
                    out.body.insert(field.clone(), want.clone());
                    out.fields
                        .push(sent_anew(want.clone(), None, drift, pending));
                }
                if subject.replace_whole {
                    out.whole.insert(field.clone(), want.clone());
                }
            }
            // Dropped by a whole replacement, which leaves it out; not while it holds a
            // secret the manifest never set (it would go too, unseen).
            None if subject.replace_whole => {
                if let Some(live) = live_members {
                    let held =
                        members::unmanaged_holders(facts, live, before_of(last_value), |_| false);
                    out.blocked
                        .extend(held.iter().map(|m| format!("{field}.{m}")));
                }
                if live_value.is_some() {
                    out.drops = true;
                    out.fields.push(FieldChange {
                        pending: true,
                        ..change(FieldOp::Change, live_value.cloned(), None, None)
                    });
                }
            }
            None => match facts.reset() {
                // Unseen: the reset is sent, since nothing shows it is already in place.
                Some(default) => {
                    if live_value.is_none_or(|l| !same(l, &default)) {
                        out.body.insert(field.clone(), default.clone());
                        out.fields.push(FieldChange {
                            drift: drifted(),
                            pending: pending(None),
                            ..change(FieldOp::Reset, shown_before(), Some(default), None)
                        });
                    }
                }
                None => {
                    if live_value.is_some() || unseen {
                        out.fields
                            .push(change(FieldOp::Release, live_value.cloned(), None, None));
                    }
                }
            },
        }
    }
    if subject.replace_whole {
        // A whole replacement keeps what the manifest does not manage, as an object field's
        // unmanaged members are carried over: live fields neither desired nor last applied,
        // and those it ignores, are sent back as they are.
        for (field, value) in live {
            let managed = !rules.ignores(field)
                && (desired.contains_key(field) || last_map.contains_key(field));
            match subject.carried(field).filter(|_| !managed) {
                Some(true) => {
                    out.whole.insert(field.clone(), value.clone());
                    out.carried.push(field.clone());
                }
                Some(false) => out.blocked.push(field.clone()),
                None => {}
            }
        }
    }
    for change in &mut out.fields {
        let field = change.field.as_str();
        let facts = subject.facts(field);
        // Recorded hidden last time: the live values it managed may be what was read from the
        // environment then, even where the manifest now writes it in clear.
        let was_hidden = last_map.get(field).and_then(recorded_hash).is_some();
        let hidden = rules.is_hidden(field) || was_hidden;
        if hidden {
            change.sensitive = true;
            change.before = change.before.as_ref().map(|_| sensitive_text());
        }
        if let Some(after) = &change.after {
            change.after = Some(shown(facts, rules, field, after));
        }
        if let Some(parts) = change.object.take() {
            change.object = Some(shown_parts(parts, facts, rules, field, hidden));
        }
    }
    out
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
