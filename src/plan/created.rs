//! What a create sends, shows and asks for, one rule for every kind (applications and clients
//! among them): its body (an application's also creates its default client:
//! `bodies::app_create_bodies`), each field it sends as an added field change, and whether the
//! manifest asks for it: a new object always, one created again after a deletion outside
//! tenantsync only where the manifest moved since the record of the object it replaces. Pure.

use serde_json::{Map, Value};

use super::diff::{shown, FieldChange, FieldOp, Subject};
use super::records::moved;
use crate::model::FieldRules;

/// The body of a create (or of the whole write of an object of a kind that always exists, not
/// listed) of `subject`'s kind: every field the manifest's `spec` sets, written: one it ignores
/// too (it is left alone once the object exists; its record does not hold it), unless it holds
/// a secret member: upstream never shows that, so every later whole replacement, which must
/// keep it live, would wait for it. And what upstream requires on create that a manifest may
/// leave out (a row's `manifest_default`: an OIDC client's `redirect_uris`, absent meaning none).
pub(super) fn create_body(
    subject: Subject,
    spec: &Map<String, Value>,
    rules: &FieldRules,
) -> Map<String, Value> {
    let mut body: Map<String, Value> = spec
        .iter()
        .filter(|(field, value)| !rules.ignores(field) || !holds_secret(subject, field, value))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    for row in subject.fields.rows() {
        if let Some(default) = row.manifest_default {
            body.entry(row.name).or_insert_with(|| default.to_value());
        }
    }
    body
}

/// The field changes of a create (or of the adoption, written whole, of an object of a kind
/// that always exists): each field of `sent` (the body) added, as plans show it. `last`: the
/// record of the object it creates again, if any (a field is pending where the manifest moved
/// it since); `applied`: what it records now.
pub(super) fn created_fields(
    subject: Subject,
    rules: &FieldRules,
    sent: &Map<String, Value>,
    last: Option<&Map<String, Value>>,
    applied: &Map<String, Value>,
) -> Vec<FieldChange> {
    sent.iter()
        .map(|(field, value)| {
            let facts = subject.facts(field);
            FieldChange {
                field: field.clone(),
                op: FieldOp::Add,
                before: None,
                after: Some(shown(facts, rules, field, value)),
                sensitive: rules.is_hidden(field) || holds_secret(subject, field, value),
                drift: false,
                pending: last.is_some_and(|last| moved(subject, last, applied, field)),
                unseen: false,
                object: None,
            }
        })
        .collect()
}

/// Whether the manifest asks for a create that records `applied` with `fields`
/// ([`created_fields`]): a new object (no `last` record) always; one created again, where it
/// moved a field since `last` or stopped managing one.
pub(super) fn asked_for(
    last: Option<&Map<String, Value>>,
    applied: &Map<String, Value>,
    fields: &[FieldChange],
) -> bool {
    last.is_none_or(|last| {
        fields.iter().any(|f| f.pending) || last.keys().any(|k| !applied.contains_key(k))
    })
}

/// Whether `value` (of `field`) is an object holding a member its kind keeps secret (a social
/// login's `clientSecret`).
pub(super) fn holds_secret(subject: Subject, field: &str, value: &Value) -> bool {
    let facts = subject.facts(field);
    value
        .as_object()
        .is_some_and(|m| m.keys().any(|k| facts.member_is_secret(k)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::kinds::ObjKind;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    /// A new object is asked for; one created again only where the manifest moved a field, or
    /// stopped managing one, since the record of the object it replaces.
    #[test]
    fn a_create_again_is_pending_only_where_the_manifest_moved() {
        let subject = Subject::described(ObjKind::Resource.spec());
        let rules = FieldRules::default();
        let sent = object(json!({"name": "Payouts", "uri": "https://api/p"}));
        let fields = created_fields(subject, &rules, &sent, None, &sent);
        assert!(fields.iter().all(|f| f.op == FieldOp::Add && !f.pending));
        assert!(asked_for(None, &sent, &fields));

        let same = created_fields(subject, &rules, &sent, Some(&sent), &sent);
        assert!(!asked_for(Some(&sent), &sent, &same));

        let last = object(json!({"name": "Payments", "uri": "https://api/p"}));
        let moved = created_fields(subject, &rules, &sent, Some(&last), &sent);
        let pending: Vec<&str> = moved
            .iter()
            .filter(|f| f.pending)
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(pending, ["name"]);
        assert!(asked_for(Some(&last), &sent, &moved));

        let released =
            object(json!({"name": "Payouts", "uri": "https://api/p", "description": "d"}));
        let fields = created_fields(subject, &rules, &sent, Some(&released), &sent);
        assert!(fields.iter().all(|f| !f.pending));
        assert!(asked_for(Some(&released), &sent, &fields));
    }

    /// A secret member shows as `(sensitive)`, and its field as sensitive.
    #[test]
    fn secret_members_are_never_shown() {
        let subject = Subject::described(ObjKind::LoginPreferences.spec());
        let rules = FieldRules::default();
        let sent = object(json!({"google": {"clientId": "g", "clientSecret": "s3cret"}}));
        let fields = created_fields(subject, &rules, &sent, None, &sent);
        assert!(fields[0].sensitive);
        assert!(!fields[0]
            .after
            .as_ref()
            .unwrap()
            .to_string()
            .contains("s3cret"));
    }
}
