//! The request bodies a plan sends: creates of applications (with their default client) and
//! clients, the shown form with secrets as `(sensitive)`, and the secrets given back to a saved
//! plan from the manifests.

use serde_json::{json, Map, Value};

use super::fields::ObjectKind;
use super::types::{Action, Change, Plan};
use crate::manifest::{DesiredApp, DesiredClient, DesiredState};
use crate::model::{AuthenticationProtocol, FieldRules};
use crate::state::entry::{Address, SENSITIVE_KEY};
use crate::state::object::{AnyAddress, ObjectAddress};

pub(super) fn str_field<'a>(m: &'a Map<String, Value>, f: &str) -> &'a str {
    m.get(f).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn shown_body(body: &Map<String, Value>, rules: &FieldRules) -> Map<String, Value> {
    let mut shown = body.clone();
    for field in rules.hidden_fields() {
        if let Some(v) = shown.get_mut(field) {
            *v = Value::String("(sensitive)".to_owned());
        }
    }
    shown
}

/// The body that creates an application with its default client, and the same body as shown
/// (secrets as `(sensitive)`).
pub(super) fn app_create_bodies(app: &DesiredApp) -> (Map<String, Value>, Map<String, Value>) {
    let default = &app.clients[&app.default_client];
    let mut body = app.spec.clone();
    let mut first_client = client_create_body(default);
    if default.protocol == AuthenticationProtocol::Saml {
        body.insert("first_client_authentication_protocol".into(), json!("saml"));
    }
    first_client.remove("authentication_protocol");
    first_client.insert(
        "authentication_protocol".into(),
        json!(default.protocol.as_str()),
    );
    body.insert("first_client".into(), Value::Object(first_client.clone()));
    // Both upstream revisions require the (deprecated) default-client name on create.
    body.insert("client_display_name".into(), json!(default.name));
    let mut shown = shown_body(&body, &app.rules);
    shown.insert(
        "first_client".into(),
        Value::Object(shown_body(&first_client, &default.rules)),
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
        match change.address.clone() {
            AnyAddress::App(address) => restore_app(change, &address, desired, salt, rehash)?,
            AnyAddress::Object(address) => {
                restore_object(change, &address, desired, salt, rehash)?;
            }
        }
    }
    Ok(())
}

/// [`restore_secrets`] of an application's or a client's change.
fn restore_app(
    change: &mut Change,
    address: &Address,
    desired: &DesiredState,
    salt: &[u8],
    rehash: bool,
) -> Result<(), RestoreError> {
    let Some(shown) = &change.body else {
        return Ok(());
    };
    let missing = || RestoreError {
        address: change.address.to_string(),
    };
    let app = desired.apps.get(&address.app).ok_or_else(missing)?;
    let client = match &address.client {
        Some(name) => Some(app.clients.get(name).ok_or_else(missing)?),
        None => None,
    };
    let (spec, rules) = match client {
        Some(c) => (&c.spec, &c.rules),
        None => (&app.spec, &app.rules),
    };
    let mut body = match (change.action, client) {
        (Action::Create, None) => app_create_bodies(app).0,
        (Action::Create, Some(c)) => client_create_body(c),
        _ => {
            let mut body = shown.clone();
            for (field, value) in body.iter_mut() {
                if !rules.is_hidden(field) {
                    continue;
                }
                let desired_value = spec.get(field).ok_or_else(missing)?;
                *value = match desired_value {
                    Value::Object(m) => {
                        // The manifest's members the plan sent (not the ones it leaves
                        // alone), and the live ones nobody manages ride along, as planned.
                        let kind =
                            client.map_or(ObjectKind::App, |c| ObjectKind::Client(c.protocol));
                        let facts = super::diff::Subject::catalogue(kind).facts(field);
                        let mut sent = super::diff::sent_members(facts, rules, field, m);
                        let carried = change
                            .fields
                            .iter()
                            .filter(|f| &f.field == field)
                            .filter_map(|f| f.object.as_ref())
                            .flat_map(|parts| &parts.carried_over);
                        for sub in carried {
                            if let Some(v) = &sub.after {
                                sent.entry(sub.name.clone()).or_insert_with(|| v.clone());
                            }
                        }
                        Value::Object(sent)
                    }
                    other => other.clone(),
                };
            }
            body
        }
    };
    // References were resolved when the plan was made (ids, or placeholders of objects it
    // creates); a body rebuilt from the manifests sends them as planned.
    if change.action == Action::Create {
        with_planned_references(&mut body, shown);
    }
    change.body_secret = Some(body);
    if rehash {
        let kind = client.map_or(ObjectKind::App, |c| ObjectKind::Client(c.protocol));
        rehash_hidden(
            change,
            super::diff::Subject::catalogue(kind),
            spec,
            rules,
            salt,
        )?;
    }
    Ok(())
}

/// A record from a plan made before any state existed hashes its hidden values with no salt:
/// each field holding a hash is recorded again from the manifest's `spec`, with `salt`.
fn rehash_hidden(
    change: &mut Change,
    subject: super::diff::Subject,
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

/// [`restore_secrets`] of a described kind's change.
fn restore_object(
    change: &mut Change,
    address: &ObjectAddress,
    desired: &DesiredState,
    salt: &[u8],
    rehash: bool,
) -> Result<(), RestoreError> {
    let Some(shown) = &change.body else {
        return Ok(());
    };
    let missing = || RestoreError {
        address: change.address.to_string(),
    };
    let object = desired.objects.get(address).ok_or_else(missing)?;
    let spec = &object.spec;
    // Every field the manifest hides (secret, or read from the environment) is sent as the
    // manifest writes it; an object field shown member by member (its live members carried
    // over), only in its hidden members. Decided by the manifest's rules, not by the text
    // `(sensitive)`, which a live value may hold.
    let secret = |field: &str, member: &str| {
        address
            .kind
            .spec()
            .field(field)
            .is_some_and(|f| f.member_is_secret(member))
    };
    let mut body = shown.clone();
    for (field, value) in body.iter_mut() {
        if !object.rules.is_hidden(field) {
            continue;
        }
        let written = spec.get(field).ok_or_else(missing)?;
        match (value, written) {
            (Value::Object(members), Value::Object(want)) => {
                for (k, v) in members.iter_mut() {
                    if object.rules.hides_member(field, k) || secret(field, k) {
                        *v = want.get(k).ok_or_else(missing)?.clone();
                    }
                }
            }
            // Shown whole as `(sensitive)` (plans of earlier releases show every hidden field
            // so).
            (value, _) => *value = written.clone(),
        }
    }
    change.body_secret = Some(body);
    if rehash {
        let subject = super::diff::Subject::described(address.kind.spec());
        rehash_hidden(change, subject, spec, &object.rules, salt)?;
    }
    Ok(())
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

/// The body that creates a client: its fields, the protocol, and what the API requires on
/// create that a manifest may leave out (OIDC `redirect_uris`: absent means none).
pub(super) fn client_create_body(client: &DesiredClient) -> Map<String, Value> {
    let mut body = client.spec.clone();
    body.insert(
        "authentication_protocol".into(),
        json!(client.protocol.as_str()),
    );
    let object = ObjectKind::Client(client.protocol).object();
    for field in object.fields() {
        if let Some(default) = field.manifest_default {
            body.entry(field.name).or_insert_with(|| default.to_value());
        }
    }
    body
}
