//! The three-way, whole-object-aware diff of one object: desired (manifest), last applied (state)
//! and live (target). Only fields the manifest sets, or set at the last apply, are compared. An
//! object-valued field that changes is sent whole: live sub-fields nobody manages are carried
//! over, sub-fields removed from the manifest since the last apply are dropped.

use crate::model::FieldRules;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{live_field, same, unset, LiveField, ObjectKind, Unset};
use super::members::{self, Before, Since};
use crate::model::catalogue::Object;
use crate::state::entry::{recorded_hash, salted_hash, MEMBERS_KEY};

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
    /// Its live value as `(sensitive)`.
    pub(super) fn hide_before(&mut self) {
        self.before = self.before.as_ref().map(|_| sensitive_text());
    }

    /// Both its values as `(sensitive)`.
    pub(super) fn hide(&mut self) {
        self.hide_before();
        self.after = self.after.as_ref().map(|_| sensitive_text());
    }
}

fn sensitive_text() -> Value {
    Value::String("(sensitive)".to_owned())
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
    /// The PUT body that makes live equal desired (empty: nothing to send).
    pub body: Map<String, Value>,
}

impl ObjectDiff {
    /// True when a write is needed.
    pub fn needs_write(&self) -> bool {
        !self.body.is_empty()
    }
}

/// The shown form of a value: `(sensitive)` for secrets.
fn shown(value: &Value, sensitive: bool) -> Value {
    if sensitive {
        Value::String("(sensitive)".to_owned())
    } else {
        value.clone()
    }
}

/// Whether the last-applied value equals the desired one: by hash for a hidden field (whose
/// value the state keeps only as a salted hash), else as the planner compares live values
/// (sets without order or repeats, numbers by value).
fn unchanged_since_last_apply(
    (object, field): (Object, &str),
    desired: &Value,
    last: Option<&Value>,
    hidden: bool,
    salt: &[u8],
) -> bool {
    match last {
        None => false,
        Some(l) => match recorded_hash(l) {
            Some(hash) if hidden => hash == salted_hash(salt, desired),
            _ => same(object, field, l, desired),
        },
    }
}

/// Shows a change of a hidden field (an interpolated value, compared live) as `(sensitive)`:
/// its values, and those of the sub-fields the manifest sets or dropped. Live sub-fields nobody
/// manages (carried over) keep their values: they come from the target, not the manifest, and
/// a saved plan sends them again.
fn hide(change: &mut FieldChange) {
    change.sensitive = true;
    change.before = change.before.as_ref().map(|_| sensitive_text());
    change.after = change.after.as_ref().map(|_| sensitive_text());
    if let Some(parts) = &mut change.object {
        for sub in parts
            .changed
            .iter_mut()
            .chain(&mut parts.unchanged)
            .chain(&mut parts.dropped)
        {
            sub.hide();
        }
    }
}

/// Diffs one object. `desired`, `last` and `live` hold top-level API fields; `rules` names the
/// field paths left alone and the secret ones (compared by salted hash).
///
/// A live field is read through the catalogue: absent with a documented default, it is that
/// default; never returned by upstream (write-only) or absent without a default, it is unseen,
/// and the desired value is compared with the last applied one instead (as for secrets).
pub fn diff_object(
    kind: ObjectKind,
    desired: &Map<String, Value>,
    last: Option<&Map<String, Value>>,
    live: &Map<String, Value>,
    rules: &FieldRules,
    salt: &[u8],
) -> ObjectDiff {
    let object = kind.object();
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
        let is_sensitive = rules.is_sensitive(field);
        // Hidden: a secret, or a value read by interpolation. An interpolated value is still
        // compared with the live one; only how it is shown and recorded differs.
        let is_hidden = rules.is_hidden(field);
        let live_owned = match live_field(object, field, live) {
            LiveField::Seen(v) => Some(v),
            LiveField::Unseen => None,
        };
        let unseen = live_owned.is_none();
        let live_value = live_owned.as_ref();
        let last_value = last_map.get(field.as_str());
        // Drift needs a live value and a last-applied one to compare (secrets and unseen fields
        // have no live value to compare); pending, a last-applied value the manifest moved from.
        // A hidden value was recorded as its hash: the live value is hashed to compare.
        let last_hash = last_value.and_then(recorded_hash).filter(|_| is_hidden);
        let drifted = |compare: &dyn Fn(&Value, &Value) -> bool| match (live_value, last_value) {
            (Some(live), Some(_)) if last_hash.is_some() => {
                last_hash != Some(salted_hash(salt, live).as_str())
            }
            (Some(live), Some(last)) if !is_sensitive => !compare(live, last),
            _ => false,
        };
        let pending = |want: Option<&Value>| match want {
            Some(want) => {
                !unchanged_since_last_apply((object, field), want, last_value, is_hidden, salt)
            }
            None => last_value.is_some(),
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
        match desired.get(field.as_str()) {
            Some(want) if is_sensitive || unseen => {
                // Secrets, and fields the live object does not show, are compared with what was
                // last applied (secrets by hash): live drift in them cannot be detected.
                if !unchanged_since_last_apply((object, field), want, last_value, is_hidden, salt) {
                    let sent = match want {
                        Value::Object(m) => Value::Object(rules.managed_part(field, m)),
                        other => other.clone(),
                    };
                    out.body.insert(field.clone(), sent.clone());
                    let op = if live_value.is_some() || last_value.is_some() {
                        FieldOp::Change
                    } else {
                        FieldOp::Add
                    };
                    out.fields.push(FieldChange {
                        pending: true,
                        ..change(
                            op,
                            live_value.map(|v| shown(v, is_hidden)),
                            Some(shown(&sent, is_hidden)),
                            None,
                        )
                    });
                }
            }
            Some(Value::Object(want)) => {
                // Compared member by member, as every kind's object fields are.
                let facts = object.facts(field);
                let is_pending = pending(Some(&Value::Object(want.clone())));
                let before = match last_value {
                    // Recorded as one hash: the names of its members, if the record has them.
                    Some(last) if recorded_hash(last).is_some() => {
                        match last.get(MEMBERS_KEY).and_then(Value::as_array) {
                            Some(names) => Before::Named(names),
                            None if is_pending => Before::Rewritten,
                            None => Before::Unknown,
                        }
                    }
                    Some(Value::Object(last)) => Before::Applied(last),
                    _ => Before::Unknown,
                };
                let empty = Map::new();
                let live_obj = live_value.and_then(Value::as_object);
                let compared = members::compare(
                    facts,
                    want,
                    live_obj.unwrap_or(&empty),
                    before,
                    &members::ignored(facts, rules, field),
                    Since {
                        unchanged: !is_pending,
                        secrets_changed: false,
                    },
                );
                if live_obj.is_none() || compared.differs {
                    // Drift in an object: a member last applied has another live value. One
                    // recorded hidden is compared by the hash of the live members it manages.
                    let drift = match live_obj {
                        Some(live) if last_hash.is_some() => {
                            let managed: Map<String, Value> = want
                                .keys()
                                .filter_map(|k| Some((k.clone(), live.get(k)?.clone())))
                                .collect();
                            last_hash != Some(salted_hash(salt, &Value::Object(managed)).as_str())
                        }
                        Some(_) => compared.drift,
                        None => false,
                    };
                    let sent = Value::Object(compared.sent);
                    out.body.insert(field.clone(), sent.clone());
                    out.fields
                        .push(sent_anew(sent, Some(compared.parts), drift, is_pending));
                }
            }
            Some(want) => {
                if live_value.is_none_or(|l| !same(object, field, l, want)) {
                    let drift = drifted(&|a, b| same(object, field, a, b));
                    let pending = pending(Some(want));
                    out.body.insert(field.clone(), want.clone());
                    out.fields
                        .push(sent_anew(want.clone(), None, drift, pending));
                }
            }
            None => match unset(kind, field) {
                // Unseen: the reset is sent, since nothing shows it is already in place.
                Unset::To(default) => {
                    if live_value.is_none_or(|l| !same(object, field, l, &default)) {
                        out.body.insert(field.clone(), default.clone());
                        out.fields.push(FieldChange {
                            drift: drifted(&|a, b| same(object, field, a, b)),
                            pending: pending(None),
                            ..change(
                                FieldOp::Reset,
                                live_value.map(|v| shown(v, is_hidden)),
                                Some(default),
                                None,
                            )
                        });
                    }
                }
                Unset::Impossible => {
                    if live_value.is_some() || unseen {
                        out.fields.push(change(
                            FieldOp::Release,
                            live_value.map(|v| shown(v, is_hidden)),
                            None,
                            None,
                        ));
                    }
                }
            },
        }
    }
    for change in &mut out.fields {
        if rules.is_masked(&change.field) {
            hide(change);
        } else if last_map
            .get(change.field.as_str())
            .and_then(recorded_hash)
            .is_some()
        {
            // Recorded hidden last time: the live values it managed may be what was read from
            // the environment then, even though the manifest now writes it in clear.
            hide_before(change);
        }
    }
    out
}

/// Shows the live values of a change as `(sensitive)`: the field's, and those of the sub-fields
/// it changes or drops.
fn hide_before(change: &mut FieldChange) {
    change.sensitive = true;
    change.before = change.before.as_ref().map(|_| sensitive_text());
    if let Some(parts) = &mut change.object {
        parts.hide_live_values();
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
