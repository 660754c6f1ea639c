//! The request bodies a plan sends: creates of applications (with their default client) and
//! clients, the shown form with secrets as `(sensitive)`, and the secrets given back to a saved
//! plan from the manifests.

use serde_json::{json, Map, Value};

use super::fields::ObjectKind;
use super::types::{Action, Plan};
use crate::manifest::{DesiredApp, DesiredClient, DesiredState};
use crate::model::{AuthenticationProtocol, FieldRules};

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
pub fn restore_secrets(plan: &mut Plan, desired: &DesiredState) -> Result<(), RestoreError> {
    for change in &mut plan.changes {
        let Some(shown) = &change.body else {
            continue;
        };
        let missing = || RestoreError {
            address: change.address.to_string(),
        };
        let app = desired.apps.get(&change.address.app).ok_or_else(missing)?;
        let client = match &change.address.client {
            Some(name) => Some(app.clients.get(name).ok_or_else(missing)?),
            None => None,
        };
        let (spec, rules) = match client {
            Some(c) => (&c.spec, &c.rules),
            None => (&app.spec, &app.rules),
        };
        let body = match (change.action, client) {
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
                            // The live sub-fields nobody manages ride along, as planned.
                            let mut sent = rules.managed_part(field, m);
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
        change.body_secret = Some(body);
    }
    Ok(())
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
