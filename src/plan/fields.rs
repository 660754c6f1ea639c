//! What the planner knows about a field beyond its value, read from the field catalogue
//! (`crate::model::catalogue`): which lists are sets, what a removal sends, and what a live
//! object says about a field — a value, the response schema's default when the field is absent,
//! or nothing at all when upstream never returns it or its response schema promises no default.

use serde_json::{Map, Value};

use crate::model::catalogue::{self, Field, Object};
use crate::model::AuthenticationProtocol;

/// The kind of object a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// An application's own fields.
    App,
    /// A client of the given protocol.
    Client(AuthenticationProtocol),
}

impl ObjectKind {
    /// The catalogue object.
    pub fn object(self) -> Object {
        match self {
            ObjectKind::App => Object::App,
            ObjectKind::Client(AuthenticationProtocol::Oidc) => Object::OidcClient,
            ObjectKind::Client(AuthenticationProtocol::Saml) => Object::SamlClient,
        }
    }
}

/// What removing a field from the manifest does.
#[derive(Debug, Clone, PartialEq)]
pub enum Unset {
    /// Send this value (the documented default, or an empty list / object meaning "none").
    To(Value),
    /// The API has no way to clear it; the live value stays and tenantsync stops managing it.
    Impossible,
}

/// The value a field returns to when a manifest no longer sets it.
pub fn unset(kind: ObjectKind, field: &str) -> Unset {
    match kind.object().field(field).and_then(Field::reset_value) {
        Some(v) => Unset::To(v),
        None => Unset::Impossible,
    }
}

/// What a live object tells about one field.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveField {
    /// Its value, in the form a request uses (absent with a response default: that default).
    Seen(Value),
    /// Nothing: upstream never returns the field (write-only), or left it out and its response
    /// schema documents no default. Only the last applied value can be compared.
    Unseen,
}

/// What `live` says about `field` of an object of `object`.
pub fn live_field(object: Object, field: &str, live: &Map<String, Value>) -> LiveField {
    let fact = object.field(field);
    if fact.is_some_and(|f| !f.returned()) {
        return LiveField::Unseen;
    }
    match live.get(field) {
        // Only upstream's response schema says what an absent field means; a request default
        // says what a create stored, not what this object holds now.
        Some(Value::Null) | None => match fact.and_then(Field::response_default_value) {
            Some(default) => LiveField::Seen(catalogue::request_form(fact, &default)),
            None => LiveField::Unseen,
        },
        Some(v) => LiveField::Seen(catalogue::request_form(fact, v)),
    }
}

fn normalized_set(items: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = items.iter().map(Value::to_string).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether two values of `field` of `object` are the same for the planner (sets ignore order and
/// repeats; numbers compare by value).
pub fn same(object: Object, field: &str, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if object.field(field).is_some_and(|f| f.set_like) => {
            normalized_set(x) == normalized_set(y)
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value with its set-like lists sorted and without repeats, so that two values [`same`] holds
/// for hash alike.
pub fn canonical(object: Object, field: &str, value: &Value) -> Value {
    match value {
        Value::Array(items) if object.field(field).is_some_and(|f| f.set_like) => {
            let mut items = items.clone();
            items.sort_by_key(Value::to_string);
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_ignore_order_and_repeats_lists_do_not() {
        let oidc = Object::OidcClient;
        assert!(same(
            oidc,
            "redirect_uris",
            &json!(["b", "a", "a"]),
            &json!(["a", "b"])
        ));
        assert!(!same(
            oidc,
            "default_custom_claims",
            &json!(["b", "a"]),
            &json!(["a", "b"])
        ));
        assert!(same(oidc, "session_expiration", &json!(60), &json!(60.0)));
    }

    #[test]
    fn unset_values() {
        let oidc = ObjectKind::Client(AuthenticationProtocol::Oidc);
        assert_eq!(unset(oidc, "client_type"), Unset::To(json!("web")));
        assert_eq!(unset(oidc, "role_ids"), Unset::To(json!([])));
        assert_eq!(unset(oidc, "description"), Unset::Impossible);
        assert_eq!(
            unset(ObjectKind::App, "allow_public_signup"),
            Unset::To(json!(false))
        );
        assert_eq!(unset(ObjectKind::App, "login_uri"), Unset::Impossible);
        let saml = ObjectKind::Client(AuthenticationProtocol::Saml);
        assert_eq!(unset(saml, "redirect_uris"), Unset::Impossible);
    }

    #[test]
    fn live_fields_seen_defaulted_or_unseen() {
        let live = json!({"name": "Web", "role_ids": ["r"], "custom_domain": {"domain": "d"}})
            .as_object()
            .unwrap()
            .clone();
        let oidc = Object::OidcClient;
        assert_eq!(
            live_field(oidc, "name", &live),
            LiveField::Seen(json!("Web"))
        );
        // Write-only: even a server that echoes it is not believed.
        assert_eq!(live_field(oidc, "role_ids", &live), LiveField::Unseen);
        // Absent with a documented default: the default.
        assert_eq!(
            live_field(oidc, "client_type", &live),
            LiveField::Seen(json!("web"))
        );
        // Absent without one: unknown.
        assert_eq!(live_field(oidc, "pkce", &live), LiveField::Unseen);
        // A request default alone says nothing about an absent field.
        assert_eq!(
            live_field(oidc, "token_endpoint_auth_method", &live),
            LiveField::Unseen
        );
        assert_eq!(
            live_field(Object::App, "signing_key_enabled", &live),
            LiveField::Unseen
        );
        // `response_types`: the response default `[code, id_token, none]`, in request form
        // (`none` is only ever in responses), whether absent or returned.
        assert_eq!(
            live_field(oidc, "response_types", &live),
            LiveField::Seen(json!(["code", "id_token"]))
        );
        let with_none = json!({"response_types": ["code", "none"]});
        assert_eq!(
            live_field(oidc, "response_types", with_none.as_object().unwrap()),
            LiveField::Seen(json!(["code"]))
        );
        assert_eq!(
            live_field(Object::App, "custom_domain", &live),
            LiveField::Seen(json!("d"))
        );
    }
}
