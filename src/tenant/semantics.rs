//! The API's rules applied to request bodies and stored objects: validation problems with
//! their field paths, the prose rules for clients, not-found errors, the default client's mirror
//! in app responses, and top-level replacement of app fields.

use super::*;

pub(super) fn problems_at(problems: Vec<Problem>, prefix: &FieldPath) -> Vec<String> {
    problems
        .into_iter()
        .map(|p| {
            Problem {
                path: p.path.prefixed(prefix),
                ..p
            }
            .to_string()
        })
        .collect()
}

pub(super) fn as_object(body: &Value) -> Result<&Map<String, Value>, TenantError> {
    body.as_object()
        .ok_or_else(|| TenantError::invalid("the request body must be a JSON object"))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, TenantError> {
    serde_json::from_value(value).map_err(|e| TenantError::invalid(e.to_string()))
}

pub(super) fn not_found_app(app_id: &str) -> TenantError {
    TenantError::NotFound(format!("application `{app_id}` not found"))
}

pub(super) fn not_found_client(app_id: &str, client_id: &str) -> TenantError {
    TenantError::NotFound(format!(
        "client `{client_id}` not found in application `{app_id}`"
    ))
}

/// The API's prose rules for an OIDC client's settings.
pub(super) fn oidc_rule_problems(settings: &OidcClientInput, prefix: &FieldPath) -> Vec<String> {
    let mut out = Vec::new();
    let client_type = settings.client_type.unwrap_or(ClientType::Web);
    for (i, uri) in settings.redirect_uris.iter().flatten().enumerate() {
        if let Err(message) = rules::check_redirect_uri(uri, client_type) {
            out.push(format!(
                "{}: {message}",
                prefix.key("redirect_uris").index(i)
            ));
        }
    }
    out.extend(userinfo_claims_problem(
        settings.default_user_info_claims.as_deref(),
        settings.sync_id_token_claims_to_userinfo,
        prefix,
    ));
    out
}

/// The userinfo claims rule, shared by OIDC and SAML clients.
fn userinfo_claims_problem(
    claims: Option<&[crate::model::enums::Claim]>,
    sync_id_token_claims: Option<bool>,
    prefix: &FieldPath,
) -> Option<String> {
    rules::check_userinfo_claims(claims, sync_id_token_claims)
        .err()
        .map(|message| format!("{}: {message}", prefix.key("default_user_info_claims")))
}

pub(super) fn saml_rule_problems(settings: &SamlClientInput, prefix: &FieldPath) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(userinfo_claims_problem(
        settings.default_user_info_claims.as_deref(),
        settings.sync_id_token_claims_to_userinfo,
        prefix,
    ));
    out
}

pub(super) fn client_rule_problems(client: &Client, prefix: &FieldPath) -> Vec<String> {
    match client {
        Client::Oidc(c) => oidc_rule_problems(&c.settings, prefix),
        Client::Saml(c) => saml_rule_problems(&c.settings, prefix),
    }
}

/// The mirror of a default client in app responses.
pub(super) fn default_view(client: &Client) -> DefaultClientView {
    let identity = client.identity();
    let mut view = DefaultClientView {
        client_id: identity.client_id.clone(),
        client_display_name: client.name().to_owned(),
        client_description: None,
        client_secret: identity.client_secret.clone(),
        client_type: None,
        redirect_uris: None,
        resources: None,
        client_auth_method: None,
        pkce: None,
        device_authorization: None,
        ciba_authorization: None,
    };
    match client {
        Client::Oidc(c) => {
            let s = &c.settings;
            view.client_description = s.description.clone();
            view.client_type = s.client_type;
            view.redirect_uris = s.redirect_uris.clone();
            view.resources = s.resources.clone();
            view.client_auth_method = s.token_endpoint_auth_method;
            view.pkce = s.pkce;
            view.device_authorization = s.device_authorization.clone();
            view.ciba_authorization = s.ciba_authorization.clone();
        }
        Client::Saml(c) => {
            view.client_description = c.settings.description.clone();
            view.resources = c.settings.resources.clone();
        }
    }
    view
}

/// Copies the app-level fields of an input onto an app (top-level replacement).
pub(super) fn apply_app_fields(core: &mut AppCore, input: &AppInput, now: &str) {
    // Each field the input holds replaces the app's: required fields as they are, optional
    // ones as `Some`.
    macro_rules! replace {
        ($($field:ident),* $(,)?) => {$(
            if let Some(v) = &input.$field {
                core.$field = v.clone();
            }
        )*};
    }
    macro_rules! set {
        ($($field:ident),* $(,)?) => {$(
            if let Some(v) = &input.$field {
                core.$field = Some(v.clone());
            }
        )*};
    }
    replace!(
        app_name,
        service_providers,
        allow_public_signup,
        invite_member_email_expiration_minutes,
        signing_key_enabled,
    );
    set!(
        app_description,
        authenticator_preferences,
        login_uri,
        invite_member_uri,
        refresh_token_invalidation_trigger_configuration,
        logo,
        subdomain,
        invite_client_id,
    );
    if let Some(v) = &input.custom_domain {
        let unchanged = core.custom_domain.as_ref().is_some_and(|d| &d.domain == v);
        if !unchanged {
            core.custom_domain = Some(CustomDomain {
                domain: v.clone(),
                updated_at: now.to_owned(),
                status: CustomDomainStatus::Pending,
                error: None,
            });
        }
    }
    core.updated_at = now.to_owned();
}
