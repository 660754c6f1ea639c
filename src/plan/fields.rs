//! What the planner knows about a field beyond its value, for every kind: which lists are sets,
//! what a removal sends, when two values are the same, and what a live object says about a
//! field — a value, the response schema's default when the field is absent, or nothing at all
//! when upstream never returns it or its response schema promises no default. Read through
//! [`FieldFacts`], which the catalogue's fields (applications, clients) and the described
//! kinds' fields both speak: one rule for every kind.

use serde_json::{Map, Value};

use crate::model::catalogue::{Field, FieldFacts, Object, Presence};
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
            ObjectKind::Client(protocol) => Object::client(protocol),
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

impl LiveField {
    /// The value, if the live object shows one.
    pub fn seen(&self) -> Option<&Value> {
        match self {
            LiveField::Seen(v) => Some(v),
            LiveField::Unseen => None,
        }
    }
}

/// What a live object's `value` of a field (`None`: the answer left it out) says, given what
/// upstream documents about the field (`fact`; `None`: nothing, a field no description knows).
/// The one rule for every kind: a field upstream never returns is unseen even when a server
/// echoes it; an absent (or null) one is its response default where upstream's response schema
/// documents one, else unseen; a returned one is seen, in the form requests write it.
pub fn read_live<F: FieldFacts + ?Sized>(fact: Option<&F>, value: Option<&Value>) -> LiveField {
    if fact.is_some_and(|f| f.presence() == Presence::Never) {
        return LiveField::Unseen;
    }
    let request_form = |v: &Value| fact.map_or_else(|| v.clone(), |f| f.request_form(v));
    match value {
        // Only upstream's response schema says what an absent field means; a request default
        // says what a create stored, not what this object holds now.
        Some(Value::Null) | None => match fact.and_then(|f| f.response_default()) {
            Some(default) => LiveField::Seen(request_form(&default)),
            None => LiveField::Unseen,
        },
        Some(v) => LiveField::Seen(request_form(v)),
    }
}

/// What `live` says about `field` of an object of `object` ([`read_live`]).
pub fn live_field(object: Object, field: &str, live: &Map<String, Value>) -> LiveField {
    read_live(object.field(field), live.get(field))
}

/// Whether two values are the same for the API, for every kind: numbers by value (also inside
/// lists and objects), a `set` without order or repeats, other lists in order.
pub fn same_value(a: &Value, b: &Value, set: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) if set => {
            x.iter().all(|v| y.iter().any(|w| same_value(v, w, false)))
                && y.iter().all(|v| x.iter().any(|w| same_value(v, w, false)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w, false))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w, false)))
        }
        _ => a == b,
    }
}

/// Whether two values of `field` of `object` are the same for the planner ([`same_value`], a
/// set where the catalogue says so).
pub fn same(object: Object, field: &str, a: &Value, b: &Value) -> bool {
    same_value(a, b, object.field(field).is_some_and(|f| f.set_like))
}

/// A value with its set-like lists sorted and without repeats, so that two values [`same`] holds
/// for hash alike (numbers that differ only in form, `6` and `6.0`, still hash apart; the values
/// hashed are live ones, which one server answers in one form).
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
    fn values_are_the_same_by_number_and_sets_by_members_at_any_depth() {
        assert!(same_value(
            &json!({"ttl": 60}),
            &json!({"ttl": 60.0}),
            false
        ));
        assert!(same_value(&json!([{"a": 1}]), &json!([{"a": 1.0}]), false));
        assert!(same_value(
            &json!(["b", "a", "a"]),
            &json!(["a", "b"]),
            true
        ));
        assert!(!same_value(&json!(["b", "a"]), &json!(["a", "b"]), false));
        assert!(!same_value(&json!(["a"]), &json!(["a", "b"]), true));
        assert!(!same_value(
            &json!({"a": 1}),
            &json!({"a": 1, "b": 2}),
            false
        ));
    }

    #[test]
    fn every_kinds_fields_are_read_by_one_rule() {
        use crate::model::kinds::ObjKind;
        // A described kind's optional field (a role's `display_name`) and a client's optional
        // field without a response default (`pkce`): the same facts, the same reading.
        let display_name = ObjKind::Role.spec().field("display_name");
        let pkce = Object::OidcClient.field("pkce");
        for (absent, null, answered) in [
            (
                read_live(display_name, None),
                read_live(display_name, Some(&Value::Null)),
                read_live(display_name, Some(&json!("Clerk"))),
            ),
            (
                read_live(pkce, None),
                read_live(pkce, Some(&Value::Null)),
                read_live(pkce, Some(&json!("Clerk"))),
            ),
        ] {
            assert_eq!(absent, LiveField::Unseen);
            assert_eq!(null, LiveField::Unseen);
            assert_eq!(answered.seen(), Some(&json!("Clerk")));
        }
        // A required field left out (an answer breaking its schema) is unseen too, not taken
        // as a value to overwrite: for a role as for an application.
        assert_eq!(
            read_live(ObjKind::Role.spec().field("role_name"), None),
            LiveField::Unseen
        );
        assert_eq!(
            read_live(Object::App.field("app_name"), None),
            LiveField::Unseen
        );
        // A field no description knows is taken as answered.
        assert_eq!(
            read_live(None::<&Field>, Some(&json!(1))),
            LiveField::Seen(json!(1))
        );
        // The resets are the descriptions' own.
        let permissions = ObjKind::Role.spec().field("permissions").unwrap();
        assert_eq!(FieldFacts::reset(permissions), Some(json!([])));
        assert!(permissions.is_set());
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
