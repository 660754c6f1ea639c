//! What the planner knows about API fields beyond their values: which lists are sets, and what a
//! field goes back to when a manifest stops setting it (its documented default, an empty list, or
//! nothing: the API cannot unset it).

use serde_json::{json, Value};

use crate::model::AuthenticationProtocol;

/// The kind of object a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// An application's own fields.
    App,
    /// A client of the given protocol.
    Client(AuthenticationProtocol),
}

/// Lists compared without order (product.md §3).
pub fn is_set_like(field: &str) -> bool {
    matches!(
        field,
        "redirect_uris"
            | "resources"
            | "response_types"
            | "supported_prompts"
            | "role_ids"
            | "service_providers"
    )
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
    let value = match (kind, field) {
        (ObjectKind::App, "allow_public_signup") => json!(false),
        (ObjectKind::App, "invite_member_email_expiration_minutes") => json!(2880),
        (ObjectKind::App, "signing_key_enabled") => json!(false),
        (ObjectKind::App, "service_providers") => json!([]),
        (ObjectKind::App, "refresh_token_invalidation_trigger_configuration") => json!({}),
        (
            ObjectKind::Client(_),
            "resources" | "default_custom_claims" | "default_user_info_claims",
        ) => json!([]),
        (ObjectKind::Client(_), "sync_id_token_claims_to_userinfo") => json!(false),
        (ObjectKind::Client(_), "short_cookies_samesite_type") => json!("lax"),
        (ObjectKind::Client(AuthenticationProtocol::Oidc), field) => match field {
            "client_type" => json!("web"),
            "response_types" => json!(["code", "id_token"]),
            "token_endpoint_auth_method" => json!("client_secret_basic"),
            "redirect_uris" | "role_ids" | "allowed_scopes" => json!([]),
            "ciba_authorization" | "id_token_encryption" => json!({"enabled": false}),
            "token_expiration" => json!({}),
            _ => return Unset::Impossible,
        },
        _ => return Unset::Impossible,
    };
    Unset::To(value)
}

/// The live value in the form a manifest (and a write) uses: `custom_domain` is sent as a string
/// but returned as `{domain, status, updated_at}`.
pub fn input_form(kind: ObjectKind, field: &str, live: &Value) -> Value {
    match (kind, field, live) {
        (ObjectKind::App, "custom_domain", Value::Object(m)) => {
            m.get("domain").cloned().unwrap_or(Value::Null)
        }
        _ => live.clone(),
    }
}

fn normalized_set(items: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = items.iter().map(Value::to_string).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether two values of `field` are the same for the planner (sets ignore order and repeats).
pub fn same(field: &str, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if is_set_like(field) => {
            normalized_set(x) == normalized_set(y)
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_ignore_order_and_repeats_lists_do_not() {
        assert!(same(
            "redirect_uris",
            &json!(["b", "a", "a"]),
            &json!(["a", "b"])
        ));
        assert!(!same(
            "default_custom_claims",
            &json!(["b", "a"]),
            &json!(["a", "b"])
        ));
        assert!(same("session_expiration", &json!(60), &json!(60.0)));
    }

    #[test]
    fn unset_values() {
        let oidc = ObjectKind::Client(AuthenticationProtocol::Oidc);
        assert_eq!(unset(oidc, "client_type"), Unset::To(json!("web")));
        assert_eq!(unset(oidc, "description"), Unset::Impossible);
        assert_eq!(
            unset(ObjectKind::App, "allow_public_signup"),
            Unset::To(json!(false))
        );
        assert_eq!(unset(ObjectKind::App, "login_uri"), Unset::Impossible);
        let saml = ObjectKind::Client(AuthenticationProtocol::Saml);
        assert_eq!(unset(saml, "redirect_uris"), Unset::Impossible);
    }
}
