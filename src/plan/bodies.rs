//! The request bodies a plan sends: creates of applications (with their default client) and
//! clients, the shown form with secrets as `(sensitive)`, and the secrets given back to a saved
//! plan from the manifests (one rule for every kind's change: [`restore_secrets`]).

use serde_json::{json, Map, Value};

use super::created::create_body;
use super::diff::{sent_members, shown_fields, FieldChange, Subject};
use super::fields::ObjectKind;
use super::types::{Action, Change, Plan};
use crate::manifest::{ClientFacts, DesiredObject, DesiredState};
use crate::model::kinds::{AnyKind, PROTOCOL_FIELD};
use crate::model::{AuthenticationProtocol, FieldRules};
use crate::state::address::Address;
use crate::state::entry::SENSITIVE_KEY;

pub(super) fn str_field<'a>(m: &'a Map<String, Value>, f: &str) -> &'a str {
    m.get(f).and_then(Value::as_str).unwrap_or_default()
}

/// The body that creates an application with its default client, and the same body as shown
/// (each field as [`shown_fields`] shows it: hidden values and members as `(sensitive)`).
/// `default`: its default client.
pub(super) fn app_create_bodies(
    app: &DesiredObject,
    (default, facts): (&DesiredObject, &ClientFacts),
) -> (Map<String, Value>, Map<String, Value>) {
    let mut body = app.spec.clone();
    let mut first_client = client_create_body(default, facts.protocol);
    if facts.protocol == AuthenticationProtocol::Saml {
        body.insert("first_client_authentication_protocol".into(), json!("saml"));
    }
    first_client.remove("authentication_protocol");
    first_client.insert(
        "authentication_protocol".into(),
        json!(facts.protocol.as_str()),
    );
    body.insert("first_client".into(), Value::Object(first_client.clone()));
    // Both upstream revisions require the (deprecated) default-client name on create.
    body.insert("client_display_name".into(), json!(default.name));
    let mut shown = shown_fields(Subject::catalogue(ObjectKind::App), &app.rules, &body);
    let client = Subject::catalogue(ObjectKind::Client(facts.protocol));
    shown.insert(
        "first_client".into(),
        Value::Object(shown_fields(client, &default.rules, &first_client)),
    );
    (body, shown)
}

/// Why a saved plan's secret values could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address}: the manifests have no such object; run plan again")]
pub struct RestoreError {
    /// The object.
    pub address: String,
}

/// Gives a saved plan its secret values back. A plan file shows secrets as `(sensitive)` and
/// never holds them; before it is carried out, each request body is rebuilt from the manifests
/// it was made from (the caller has checked their fingerprint), so `(sensitive)` is never sent.
/// A plan made before any state existed hashed its records with no salt: they are hashed again
/// with the state's `salt`, so the next plan compares them.
pub fn restore_secrets(
    plan: &mut Plan,
    desired: &DesiredState,
    salt: &[u8],
) -> Result<(), RestoreError> {
    let rehash = plan.state_lineage.is_empty();
    for change in &mut plan.changes {
        restore(change, desired, salt, rehash)?;
    }
    Ok(())
}

/// What a change's object is in the manifests: its kind's field facts, its spec and field rules.
struct Written<'d> {
    subject: Subject,
    spec: &'d Map<String, Value>,
    rules: &'d FieldRules,
    /// An application's create body, rebuilt from the manifests: it holds its default
    /// client's (`first_client`), whose hidden values the application's rules do not name.
    create: Option<Map<String, Value>>,
}

/// The manifests' object at `address`, if they hold it; `create`: rebuild an application's
/// create body (its default client's goes in it, as `first_client`).
fn written<'d>(address: &Address, desired: &'d DesiredState, create: bool) -> Option<Written<'d>> {
    let object = desired.object(address)?;
    let default = match address.kind {
        AnyKind::Application if create => desired.default_client(object),
        _ => None,
    };
    Some(Written {
        subject: Subject::of(object.shape()),
        spec: &object.spec,
        rules: &object.rules,
        create: default.map(|default| app_create_bodies(object, default).0),
    })
}

/// [`restore_secrets`] of one change of any kind.
fn restore(
    change: &mut Change,
    desired: &DesiredState,
    salt: &[u8],
    rehash: bool,
) -> Result<(), RestoreError> {
    let Some(shown) = change.body.as_ref().map(|b| &b.shown) else {
        return Ok(());
    };
    let missing = || RestoreError {
        address: change.address.to_string(),
    };
    let Written {
        subject,
        spec,
        rules,
        create,
    } = written(&change.address, desired, change.action == Action::Create).ok_or_else(missing)?;
    let body = match create {
        // References were resolved when the plan was made (ids, or placeholders of objects
        // it creates); a body rebuilt from the manifests sends them as planned.
        Some(mut body) => {
            with_planned_references(&mut body, shown);
            body
        }
        None => {
            let create = change.action == Action::Create;
            given_back(shown, &change.fields, create, subject, spec, rules).ok_or_else(missing)?
        }
    };
    if let Some(b) = change.body.as_mut() {
        b.secret = Some(body);
    }
    if rehash {
        rehash_hidden(change, subject, spec, rules, salt)?;
    }
    Ok(())
}

/// A record from a plan made before any state existed hashes its hidden values with no salt:
/// each field holding a hash is recorded again from the manifest's `spec`, with `salt`.
fn rehash_hidden(
    change: &mut Change,
    subject: Subject,
    spec: &Map<String, Value>,
    rules: &FieldRules,
    salt: &[u8],
) -> Result<(), RestoreError> {
    let address = change.address.to_string();
    let Some(record) = change.record.as_mut() else {
        return Ok(());
    };
    for (field, value) in record.last_applied.iter_mut() {
        if value.to_string().contains(SENSITIVE_KEY) {
            let desired_value = spec.get(field).ok_or_else(|| RestoreError {
                address: address.clone(),
            })?;
            *value = super::records::recorded(subject, rules, field, desired_value, salt);
        }
    }
    Ok(())
}

/// A saved plan's shown body (an update's or adoption's of any kind, or a create of any kind
/// but an application) with every value it hides (secret, or read from the environment) given
/// back from the manifest's `spec`. Decided by the manifest's rules, not by the text
/// `(sensitive)`, which a live value may hold: an object field shown member by member (its live
/// members carried over) gets its hidden members back; a field shown whole as `(sensitive)`
/// (every hidden field in plans of earlier releases) is sent as the plan sent it: by a
/// `create`, the manifest's value whole; else an object field's members the manifest sets and
/// does not ignore, with the live ones `fields` says it carried over; any other value as
/// written. `None`: the manifest no longer holds a hidden value the plan sends.
fn given_back(
    shown: &Map<String, Value>,
    fields: &[FieldChange],
    create: bool,
    subject: Subject,
    spec: &Map<String, Value>,
    rules: &FieldRules,
) -> Option<Map<String, Value>> {
    let mut body = shown.clone();
    for (field, value) in body.iter_mut() {
        if !rules.is_hidden(field) {
            continue;
        }
        let facts = subject.facts(field);
        let written = spec.get(field)?;
        match (value, written) {
            (Value::Object(members), Value::Object(want)) => {
                for (k, v) in members.iter_mut() {
                    if rules.hides_member(field, k) || facts.member_is_secret(k) {
                        *v = want.get(k)?.clone();
                    }
                }
            }
            // A create sent the manifest's value whole, members it ignores too.
            (value, Value::Object(want)) if !create => {
                let mut sent = sent_members(facts, rules, field, want);
                let carried = fields
                    .iter()
                    .filter(|f| &f.field == field)
                    .filter_map(|f| f.object.as_ref())
                    .flat_map(|parts| &parts.carried_over);
                for sub in carried {
                    if let Some(v) = &sub.after {
                        sent.entry(sub.name.clone()).or_insert_with(|| v.clone());
                    }
                }
                *value = Value::Object(sent);
            }
            (value, _) => *value = written.clone(),
        }
    }
    Some(body)
}

/// `body` with the reference fields (at the top, and in `first_client`) as `planned` has them.
fn with_planned_references(body: &mut Map<String, Value>, planned: &Map<String, Value>) {
    for (field, value) in planned {
        if crate::model::kinds::REFERENCES
            .iter()
            .any(|r| r.field == field)
        {
            body.insert(field.clone(), value.clone());
        }
    }
    if let (Some(Value::Object(inner)), Some(Value::Object(planned))) =
        (body.get_mut("first_client"), planned.get("first_client"))
    {
        with_planned_references(inner, planned);
    }
}

/// The body that creates a client: as every kind's ([`create_body`]), with its protocol.
pub(super) fn client_create_body(
    client: &DesiredObject,
    protocol: AuthenticationProtocol,
) -> Map<String, Value> {
    let subject = Subject::catalogue(ObjectKind::Client(protocol));
    let mut body = create_body(subject, &client.spec, &client.rules);
    body.insert(PROTOCOL_FIELD.into(), json!(protocol.as_str()));
    body
}

#[cfg(test)]
mod tests {
    use super::super::diff::{FieldOp, ObjectParts, SubField};
    use super::*;
    use crate::model::kinds::ObjKind;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    /// A body shown member by member gets its hidden members back, and only those.
    #[test]
    fn hidden_members_are_given_back_one_by_one() {
        let rules = FieldRules::from_dotted(&[], &["google.clientSecret"]);
        let spec = object(json!({"google": {"clientId": "g", "clientSecret": "s3cret"}}));
        let shown = object(json!({"google": {"clientId": "g", "clientSecret": "(sensitive)"}}));
        let subject = Subject::described(ObjKind::LoginPreferences.spec());
        let body = given_back(&shown, &[], false, subject, &spec, &rules).expect("given back");
        assert_eq!(body, spec);
        // The manifest no longer holds a value the plan sends: refused, never `(sensitive)`.
        let gone = object(json!({"google": {"clientId": "g"}}));
        assert_eq!(given_back(&shown, &[], false, subject, &gone, &rules), None);
    }

    /// A field a plan of an earlier release shows whole as `(sensitive)` is sent as that plan
    /// sent it: the manifest's members with the live ones it carried over.
    #[test]
    fn a_field_shown_whole_is_sent_with_the_members_it_carried_over() {
        let rules = FieldRules::from_dotted(&[], &["token_expiration.access_token_ttl"]);
        let spec = object(json!({"token_expiration": {"access_token_ttl": 600}}));
        let shown = object(json!({"token_expiration": "(sensitive)", "name": "Web"}));
        let carried = FieldChange {
            field: "token_expiration".into(),
            op: FieldOp::Change,
            before: None,
            after: None,
            sensitive: true,
            drift: false,
            pending: true,
            unseen: false,
            object: Some(ObjectParts {
                carried_over: vec![SubField {
                    name: "refresh_token_ttl".into(),
                    before: None,
                    after: Some(json!(7777)),
                }],
                ..ObjectParts::default()
            }),
        };
        let subject = Subject::catalogue(ObjectKind::Client(AuthenticationProtocol::Oidc));
        let body =
            given_back(&shown, &[carried], false, subject, &spec, &rules).expect("given back");
        assert_eq!(
            Value::Object(body),
            json!({"token_expiration": {"access_token_ttl": 600, "refresh_token_ttl": 7777}, "name": "Web"})
        );
    }

    /// A client create of a plan of an earlier release showed a field hidden in part whole as
    /// `(sensitive)`: it is sent as that create sent it, the manifest's value whole (a member
    /// the manifest ignores too: a create writes every member it sets).
    #[test]
    fn a_create_shown_whole_is_sent_as_the_manifest_writes_it() {
        let rules = FieldRules::from_dotted(
            &["token_expiration.refresh_token_ttl"],
            &["token_expiration.access_token_ttl"],
        );
        let spec =
            object(json!({"token_expiration": {"access_token_ttl": 600, "refresh_token_ttl": 60}}));
        let shown = object(json!({"token_expiration": "(sensitive)", "name": "Web"}));
        let subject = Subject::catalogue(ObjectKind::Client(AuthenticationProtocol::Oidc));
        let body = given_back(&shown, &[], true, subject, &spec, &rules).expect("given back");
        assert_eq!(body["token_expiration"], spec["token_expiration"]);
        // An update sends only the members the manifest manages.
        let body = given_back(&shown, &[], false, subject, &spec, &rules).expect("given back");
        assert_eq!(body["token_expiration"], json!({"access_token_ttl": 600}));
    }
}
