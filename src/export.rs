//! Turning live objects into manifests (pure): drop what the server generates or owns, drop
//! values equal to documented defaults, turn secret-by-nature values into `${env:…}`
//! references, and name files and keys with stable slugs.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::model::catalogue::{self, request_form, Flow, Lit, Object};
use crate::model::AuthenticationProtocol;
use crate::plan::fields::ObjectKind;

/// A lowercase slug: letters and digits joined by single dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "app".to_owned()
    } else {
        out
    }
}

/// Assigns unique slugs in order: `shop`, `shop-2`, `shop-3`, …
pub fn unique_slugs<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut used = BTreeSet::new();
    names
        .map(|n| {
            let base = slug(n);
            let mut candidate = base.clone();
            let mut i = 2;
            while !used.insert(candidate.clone()) {
                candidate = format!("{base}-{i}");
                i += 1;
            }
            candidate
        })
        .collect()
}

/// Whether a live value says nothing a manifest needs to: the documented default, what a
/// removal would send, the neutral value of a required field never set, or an object whose
/// members all hold their documented defaults.
fn is_default(object: Object, field: &str, value: &Value) -> bool {
    let Some(fact) = object.field(field) else {
        return false;
    };
    let equals = |v: Option<Value>| v.is_some_and(|v| v == *value);
    equals(fact.default_value())
        || equals(fact.reset_value())
        || equals(fact.neutral.map(Lit::to_value))
        || match (fact.nested, value) {
            (Some(nested), Value::Object(members)) if !members.is_empty() => {
                members.iter().all(|(k, v)| {
                    nested
                        .field(k)
                        .and_then(|f| f.default_value())
                        .is_some_and(|d| d == *v)
                })
            }
            _ => false,
        }
}

/// Whether export leaves a field out because no manifest writes it: generated or read-only,
/// create-only (the protocol is written separately), an instruction, or an app field that
/// mirrors the default client.
fn not_written(object: Object, field: &str) -> bool {
    object.field(field).is_some_and(|f| {
        matches!(
            f.flow,
            Flow::ReadOnly | Flow::CreateOnly | Flow::Instruction
        ) || f.mirrors.is_some()
    })
}

/// A secret value found in a live object and the variable that now stands for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    /// The environment variable name.
    pub variable: String,
    /// Where it was (`Application/x` `field`).
    pub location: String,
}

fn env_name(parts: &[&str]) -> String {
    let joined = parts.iter().map(|p| slug(p)).collect::<Vec<_>>().join("_");
    // Not TENANTSYNC_*: manifests may never read tenantsync's own variables.
    format!("SECRET_{}", joined.replace('-', "_").to_ascii_uppercase())
}

fn replace_secrets(
    map: &mut Map<String, Value>,
    prefix: &[&str],
    location: &str,
    out: &mut Vec<SecretReference>,
) {
    for (k, v) in map.iter_mut() {
        if catalogue::is_secret_name(k) && v.is_string() {
            let mut parts = prefix.to_vec();
            parts.push(k);
            let variable = env_name(&parts);
            out.push(SecretReference {
                variable: variable.clone(),
                location: format!("{location} {k}"),
            });
            *v = Value::String(format!("${{env:{variable}}}"));
        } else if let Value::Object(inner) = v {
            let mut parts = prefix.to_vec();
            parts.push(k);
            replace_secrets(inner, &parts, location, out);
        }
    }
}

/// A live value as a manifest writes it: every `${` in a string becomes `$${`, which the loader
/// reads back as a literal `${`. Live data is never interpolated.
pub fn escaped(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("${", "$${")),
        Value::Array(items) => Value::Array(items.iter().map(escaped).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), escaped(v))).collect()),
        other => other.clone(),
    }
}

fn sorted(map: Map<String, Value>, first: &str) -> Map<String, Value> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort_by(|a, b| (a != first, a).cmp(&(b != first, b)));
    let mut out = Map::new();
    let mut map = map;
    for k in keys {
        if let Some(v) = map.remove(&k) {
            out.insert(k, sort_nested(v));
        }
    }
    out
}

fn sort_nested(value: Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(sorted(m, "")),
        Value::Array(items) => Value::Array(items.into_iter().map(sort_nested).collect()),
        other => other,
    }
}

/// The manifest spec of a live app's own fields.
pub fn app_spec(
    app: &Map<String, Value>,
    key: &str,
    secrets: &mut Vec<SecretReference>,
) -> Map<String, Value> {
    let mut spec = Map::new();
    for (k, v) in app {
        if not_written(Object::App, k) || is_default(Object::App, k, v) {
            continue;
        }
        let v = escaped(&request_form(Object::App.field(k), v));
        if !v.is_null() {
            spec.insert(k.clone(), v);
        }
    }
    replace_secrets(&mut spec, &[key], &format!("Application/{key}"), secrets);
    sorted(spec, "app_name")
}

/// The manifest form of a live client.
pub fn client_spec(
    client: &Map<String, Value>,
    app_key: &str,
    is_default_client: bool,
    secrets: &mut Vec<SecretReference>,
) -> Map<String, Value> {
    let protocol = match client
        .get("authentication_protocol")
        .and_then(Value::as_str)
    {
        Some("saml") => AuthenticationProtocol::Saml,
        _ => AuthenticationProtocol::Oidc,
    };
    let object = ObjectKind::Client(protocol).object();
    let mut spec = Map::new();
    for (k, v) in client {
        if not_written(object, k) || is_default(object, k, v) || v.is_null() {
            continue;
        }
        spec.insert(k.clone(), escaped(v));
    }
    let name = client
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    replace_secrets(
        &mut spec,
        &[app_key, &name],
        &format!("Client/{app_key}/{name}"),
        secrets,
    );
    let mut spec = sorted(spec, "name");
    if protocol == AuthenticationProtocol::Saml {
        spec.insert("authentication_protocol".into(), json!("saml"));
    }
    if is_default_client {
        spec.insert("default".into(), json!(true));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_stable_and_unique() {
        assert_eq!(slug("Food Delivery!"), "food-delivery");
        assert_eq!(slug("  ¡¡ "), "app");
        assert_eq!(
            unique_slugs(["Shop", "shop", "Shop"].into_iter()),
            vec!["shop", "shop-2", "shop-3"]
        );
    }

    #[test]
    fn server_fields_defaults_and_mirrors_are_left_out() {
        let app = json!({"app_id": "a", "tenant_id": "t", "app_name": "Shop", "allow_public_signup": false,
            "invite_member_email_expiration_minutes": 2880, "service_providers": [], "client_secret": "s",
            "custom_domain": {"domain": "login.shop.example", "status": "pending", "updated_at": "x"},
            "login_uri": "https://shop.example/login", "login_preferences": {"auth_methods": {}}});
        let mut secrets = Vec::new();
        let spec = app_spec(app.as_object().unwrap(), "shop", &mut secrets);
        assert_eq!(
            Value::Object(spec),
            json!({"app_name": "Shop", "custom_domain": "login.shop.example", "login_uri": "https://shop.example/login"})
        );
        let client = json!({"client_id": "c", "client_secret": "SECRET", "name": "Web", "client_type": "web",
            "response_types": ["code", "id_token"], "redirect_uris": ["https://x/cb"], "authentication_protocol": "oidc",
            "token_expiration": {"access_token_ttl": 60}});
        let spec = client_spec(client.as_object().unwrap(), "shop", true, &mut secrets);
        assert_eq!(
            Value::Object(spec),
            json!({"name": "Web", "redirect_uris": ["https://x/cb"], "token_expiration": {"access_token_ttl": 60}, "default": true})
        );
        assert!(secrets.is_empty());
    }

    #[test]
    fn secret_fields_become_environment_references() {
        let client = json!({"name": "Web", "authentication_protocol": "oidc",
            "custom": {"client_secret": "hunter2", "invalidateOnMemberPasswordReset": true}});
        let mut secrets = Vec::new();
        let spec = client_spec(client.as_object().unwrap(), "shop", false, &mut secrets);
        assert_eq!(
            spec["custom"]["client_secret"],
            "${env:SECRET_SHOP_WEB_CUSTOM_CLIENT_SECRET}"
        );
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        assert_eq!(secrets[0].variable, "SECRET_SHOP_WEB_CUSTOM_CLIENT_SECRET");
        // A flag whose name mentions a password is not a secret.
        assert_eq!(spec["custom"]["invalidateOnMemberPasswordReset"], true);
    }

    #[test]
    fn live_references_are_escaped_and_read_back_literally() {
        let app = json!({"app_name": "Shop ${env:HOME}", "app_description": "${file:/etc/passwd} $${x} $5"});
        let mut secrets = Vec::new();
        let spec = app_spec(app.as_object().unwrap(), "shop", &mut secrets);
        assert_eq!(spec["app_name"], "Shop $${env:HOME}");
        assert_eq!(spec["app_description"], "$${file:/etc/passwd} $$${x} $5");
        let env = crate::manifest::interpolate::tests::FakeEnvironment::default();
        for (field, live) in [
            ("app_name", &app["app_name"]),
            ("app_description", &app["app_description"]),
        ] {
            let back = crate::manifest::interpolate::interpolate(
                spec[field].as_str().unwrap(),
                std::path::Path::new("/m"),
                &env,
            )
            .unwrap();
            assert_eq!(back.text, live.as_str().unwrap());
            assert!(back.references.is_empty());
        }
    }
}
