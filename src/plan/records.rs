//! What the state records as applied of an object, of any kind, and when two such records are
//! the same. Pure: one rule for the seven kinds, read from their field facts ([`Subject`]).
//!
//! A record holds every field the manifest sets and does not ignore as a whole, as it was
//! applied, except what must never be stored in clear: a hidden field (secret, or read by
//! interpolation) as its [`hidden_record`] (salted hash and member names), a secret member
//! of an object field as its salted hash.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::diff::Subject;
use super::fields::same_value;
use crate::model::kinds::map_secrets;
use crate::model::FieldRules;
use crate::state::entry::{hidden_record, keep_reordered, salted_hash, SENSITIVE_KEY};

/// Field `field`'s `value` as the state records it ([`applied`]).
pub fn recorded(
    subject: Subject,
    rules: &FieldRules,
    field: &str,
    value: &Value,
    salt: &[u8],
) -> Value {
    recorded_with(subject, &rules.hidden_fields(), field, value, salt)
}

fn recorded_with(
    subject: Subject,
    hidden: &BTreeSet<&str>,
    field: &str,
    value: &Value,
    salt: &[u8],
) -> Value {
    if hidden.contains(field) {
        return hidden_record(salt, value);
    }
    let mut value = value.clone();
    let facts = subject.facts(field);
    map_secrets(
        &mut value,
        &|member| facts.member_is_secret(member),
        &mut |v| serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, v) }),
    );
    value
}

/// What the state records as applied of an object whose manifest sets `spec` under `rules`:
/// every field it sets and does not ignore as a whole, as [`recorded`]. An object whose entry
/// holds exactly this (and its `protect`) is unchanged since its last apply. A hidden field
/// whose members the manifest only reordered keeps its `last` record ([`keep_reordered`]).
pub fn applied(
    subject: Subject,
    spec: &Map<String, Value>,
    rules: &FieldRules,
    last: Option<&Map<String, Value>>,
    salt: &[u8],
) -> Map<String, Value> {
    let hidden = rules.hidden_fields();
    let mut record = spec
        .iter()
        .filter(|(field, _)| !rules.ignores(field))
        .map(|(field, value)| {
            let recorded = recorded_with(subject, &hidden, field, value, salt);
            (field.clone(), recorded)
        })
        .collect();
    keep_reordered(&mut record, spec, last, salt);
    record
}

/// Whether two records of an object are the same, field by field ([`same_record`]: a hidden
/// one by its hash alone, a set without order or repeats).
pub(super) fn same_records(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    subject: Subject,
) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, v)| {
            b.get(k)
                .is_some_and(|w| same_record(v, w, subject.facts(k).is_set()))
        })
}

/// Whether a field's record is the same as another: a hidden one by its hash alone (the names
/// of its members follow from the value, and a record written before they were kept has none).
pub(super) fn same_record(a: &Value, b: &Value, set: bool) -> bool {
    both_hashed_alike(a, b) || same_value(a, b, set)
}

/// Whether the manifest moved `field` since `last` was recorded: `applied` (what it records
/// now) holds it, and `last` does not, or holds another value.
pub(super) fn moved(
    subject: Subject,
    last: &Map<String, Value>,
    applied: &Map<String, Value>,
    field: &str,
) -> bool {
    applied.get(field).is_some_and(|now| {
        last.get(field)
            .is_none_or(|was| !same_record(was, now, subject.facts(field).is_set()))
    })
}

/// Why an object's record is written again with no request upstream: how `record` (what it
/// records now) differs from its entry's `last` record and `protect`. Field names only, never a
/// value: a field the manifest no longer manages (released, or ignored now), one it now manages
/// whose value is already live, one whose value it moved to what is already live, one only
/// recorded in this release's form (a hidden value's member names, an older record's shape).
pub(super) fn rewritten_because(
    subject: Subject,
    (last, was_protected): (&Map<String, Value>, bool),
    record: &Map<String, Value>,
    protect: bool,
) -> Vec<String> {
    let mut reasons = Vec::new();
    match (was_protected, protect) {
        (false, true) => reasons.push("now protected".to_owned()),
        (true, false) => reasons.push("no longer protected".to_owned()),
        _ => {}
    }
    let fields: BTreeSet<&String> = last.keys().chain(record.keys()).collect();
    let hashed = |v: &Value| v.get(SENSITIVE_KEY).is_some();
    for field in fields {
        let reason = match (last.get(field), record.get(field)) {
            (Some(_), None) => "no longer managed (left live as it is)",
            (None, Some(_)) => "now managed, already live as the manifest says",
            (Some(was), Some(now)) if hashed(was) != hashed(now) => match hashed(now) {
                true => "now hidden (recorded as its hash)",
                false => "no longer hidden",
            },
            (Some(was), Some(now)) if !same_record(was, now, subject.facts(field).is_set()) => {
                "already live as the manifest now says"
            }
            (Some(was), Some(now)) if was == now => continue,
            (Some(was), _) if hashed(was) => "recorded in this release's form",
            (Some(Value::Array(was)), Some(Value::Array(now))) => {
                let sorted = |items: &[Value]| {
                    let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
                    items.sort();
                    items
                };
                match sorted(was) == sorted(now) {
                    true => "reordered (its order is not compared)",
                    false => "its repeats changed (compared as a set)",
                }
            }
            _ => "written differently, with the same value",
        };
        reasons.push(format!("`{field}` {reason}"));
    }
    reasons
}

/// Both records are hashes, of the same value.
fn both_hashed_alike(a: &Value, b: &Value) -> bool {
    matches!((a.get(SENSITIVE_KEY), b.get(SENSITIVE_KEY)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::ObjKind;

    /// Why a record is written again is said by field name, never by value.
    #[test]
    fn a_rewritten_record_says_why_by_field_name() {
        let subject = Subject::described(ObjKind::Role.spec());
        let last = serde_json::json!({
            "role_name": "clerk",
            "description": "old",
            "permissions": ["b", "a"],
            "display_name": {SENSITIVE_KEY: "h1"},
        });
        let now = serde_json::json!({
            "role_name": "clerk",
            "description": "new",
            "permissions": ["a", "b"],
            "display_name": {SENSITIVE_KEY: "h1", "members": []},
            "custom": 1,
        });
        let (last, now) = (last.as_object().unwrap(), now.as_object().unwrap());
        let reasons = rewritten_because(subject, (last, false), now, true);
        assert_eq!(
            reasons,
            [
                "now protected",
                "`custom` now managed, already live as the manifest says",
                "`description` already live as the manifest now says",
                "`display_name` recorded in this release's form",
                "`permissions` reordered (its order is not compared)",
            ]
        );
        // A value now read from the environment, a number written another way, a repeat.
        let before = serde_json::json!({"a": "x", "b": 6, "permissions": ["a", "a", "b"]});
        let after = serde_json::json!({"a": {SENSITIVE_KEY: "h"}, "b": 6.0, "permissions": ["a", "b", "b"]});
        assert_eq!(
            rewritten_because(
                subject,
                (before.as_object().unwrap(), false),
                after.as_object().unwrap(),
                false
            ),
            [
                "`a` now hidden (recorded as its hash)",
                "`b` written differently, with the same value",
                "`permissions` its repeats changed (compared as a set)",
            ]
        );
        let said = reasons.join(" ");
        assert!(!said.contains("h1") && !said.contains("old"), "{said}");
        let gone = rewritten_because(subject, (now, true), last, true);
        assert_eq!(
            gone,
            [
                "`custom` no longer managed (left live as it is)",
                "`description` already live as the manifest now says",
                "`display_name` recorded in this release's form",
                "`permissions` reordered (its order is not compared)"
            ]
        );
    }
    use crate::plan::fields::ObjectKind;
    use crate::state::entry::MEMBERS_KEY;
    use serde_json::json;

    use crate::plan::testing::map;

    #[test]
    fn every_kind_records_hidden_fields_and_secret_members_hashed_and_leaves_ignored_ones_out() {
        // An application: a field read from the environment, one ignored whole.
        let rules = FieldRules::from_dotted(&["app_description"], &["login_preferences"]);
        let spec = map(json!({
            "app_name": "Shop",
            "app_description": "hand-kept",
            "login_preferences": {"a": "s3cr3t"},
        }));
        let record = applied(
            Subject::catalogue(ObjectKind::App),
            &spec,
            &rules,
            None,
            b"salt",
        );
        assert_eq!(record["app_name"], "Shop");
        assert!(!record.contains_key("app_description"), "{record:?}");
        let hidden = &record["login_preferences"];
        assert!(hidden[SENSITIVE_KEY].is_string(), "{hidden}");
        assert_eq!(hidden[MEMBERS_KEY], json!(["a"]));
        assert!(!Value::Object(record.clone()).to_string().contains("s3cr3t"));

        // Login preferences: a social login's secret member, hashed in place.
        let prefs = Subject::described(ObjKind::LoginPreferences.spec());
        let spec = map(json!({"google": {"clientId": "g", "clientSecret": "s3cr3t"}}));
        let record = applied(prefs, &spec, &FieldRules::default(), None, b"salt");
        assert_eq!(record["google"]["clientId"], "g");
        assert!(record["google"]["clientSecret"][SENSITIVE_KEY].is_string());
        assert!(!Value::Object(record.clone()).to_string().contains("s3cr3t"));
        // The same record again, hashed with another salt, is another record.
        let other = applied(prefs, &spec, &FieldRules::default(), None, b"pepper");
        assert!(same_records(&record, &record.clone(), prefs));
        assert!(!same_records(&record, &other, prefs));
    }

    #[test]
    fn sets_are_the_same_records_in_any_order_for_every_kind() {
        let role = Subject::described(ObjKind::Role.spec());
        let a = map(json!({"permissions": ["a", "b"]}));
        let b = map(json!({"permissions": ["b", "a"]}));
        assert!(same_records(&a, &b, role));
        let client = Subject::catalogue(ObjectKind::Client(
            crate::model::AuthenticationProtocol::Oidc,
        ));
        let a = map(json!({"redirect_uris": ["https://a", "https://b"]}));
        let b = map(json!({"redirect_uris": ["https://b", "https://a"]}));
        assert!(same_records(&a, &b, client));
        let order = map(json!({"name": "x"}));
        assert!(!same_records(&a, &order, client));
    }
}
