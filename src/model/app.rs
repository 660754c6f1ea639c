//! Application bodies: the create/update input (`ApiCreateAppInput` / `ApiUpdateAppInput`), the
//! stored app-level fields, and the responses (`ApiApp`, `ApiAppWithoutLogo`, `ApiBasicApp`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::enums::{ApplicationType, ClientType, PkceMode, TokenEndpointAuthMethod};
use super::nested::{
    AuthenticatorPreferences, CibaAuthorization, CustomDomain, DeviceAuthorization,
    ExternalCommunication, RefreshTokenInvalidationTriggers,
};

/// Body of `POST /v1/applications` and `PUT /v1/applications/{appId}`.
///
/// Both revisions share the field set; create additionally requires `app_name` and
/// `client_display_name` (see the field catalogue). The fields marked deprecated stand for the
/// default client.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// Application name (required on create; not unique).
    pub app_name: Option<String>,
    /// Application description.
    pub app_description: Option<String>,
    /// IDs of SSO service providers the app may redirect to.
    pub service_providers: Option<Vec<String>>,
    /// Login flows may create new users (default false).
    pub allow_public_signup: Option<bool>,
    /// Authentication Hub configuration.
    pub authenticator_preferences: Option<AuthenticatorPreferences>,
    /// App login page URI.
    pub login_uri: Option<String>,
    /// Member-invite landing URI (B2B).
    pub invite_member_uri: Option<String>,
    /// Invite link lifetime in minutes (default 2880).
    pub invite_member_email_expiration_minutes: Option<u64>,
    /// When refresh tokens are invalidated.
    pub refresh_token_invalidation_trigger_configuration: Option<RefreshTokenInvalidationTriggers>,
    /// Deprecated: the default client's `client_type`.
    #[schemars(extend("deprecated" = true))]
    pub client_type: Option<ClientType>,
    /// Deprecated: the default client's `name`.
    #[schemars(extend("deprecated" = true))]
    pub client_display_name: Option<String>,
    /// Deprecated: the default client's `description`.
    #[schemars(extend("deprecated" = true))]
    pub client_description: Option<String>,
    /// Protocol of `first_client` (`oidc` or `saml`).
    pub first_client_authentication_protocol: Option<super::enums::AuthenticationProtocol>,
    /// Full definition of the first (default) client: an OIDC or SAML create-client body, chosen
    /// by its `authentication_protocol` or `first_client_authentication_protocol`.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub first_client: Option<Value>,
    /// Deprecated: the default client's `redirect_uris`.
    #[schemars(extend("deprecated" = true))]
    pub redirect_uris: Option<Vec<String>>,
    /// Logo URI.
    pub logo: Option<String>,
    /// Deprecated: the default client's `resources`.
    #[schemars(extend("deprecated" = true))]
    pub resources: Option<Vec<String>>,
    /// Deprecated: the default client's `device_authorization`.
    #[schemars(extend("deprecated" = true))]
    pub device_authorization: Option<DeviceAuthorization>,
    /// Deprecated: the default client's `ciba_authorization`.
    #[schemars(extend("deprecated" = true))]
    pub ciba_authorization: Option<CibaAuthorization>,
    /// Deprecated: the default client's `token_endpoint_auth_method`.
    #[schemars(extend("deprecated" = true))]
    pub client_auth_method: Option<TokenEndpointAuthMethod>,
    /// Org admin portal subdomain (unique per tenant).
    pub subdomain: Option<String>,
    /// Custom domain (unique per tenant); returned as an object.
    pub custom_domain: Option<String>,
    /// PKCE mode of the default client.
    pub pkce: Option<PkceMode>,
    /// Delete the app signing key when disabling it (an action flag; not stored).
    pub should_delete_signing_key: Option<bool>,
    /// App-specific token signing key on/off (default false).
    pub signing_key_enabled: Option<bool>,
    /// Client used for email magic-link invitations.
    pub invite_client_id: Option<String>,
}

/// The app-level part of `ApiApp`: what the server stores for an app. Client-derived fields live
/// on the default client and are added by [`DefaultClientView`].
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppCore {
    /// Application ID (server-generated).
    pub app_id: String,
    /// Tenant ID.
    pub tenant_id: String,
    /// Application name.
    pub app_name: String,
    /// Application description.
    pub app_description: Option<String>,
    /// Logo URI.
    pub logo: Option<String>,
    /// Auth-method settings; read-only here (managed by another upstream API), initially
    /// `{"auth_methods": {}}`.
    pub login_preferences: Value,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Creator (the client id of the token that created it).
    pub created_by: String,
    /// Last update time, RFC 3339.
    pub updated_at: String,
    /// IDs of SSO service providers.
    #[serde(default)]
    pub service_providers: Vec<String>,
    /// Authentication Hub configuration.
    pub authenticator_preferences: Option<AuthenticatorPreferences>,
    /// Login flows may create new users.
    #[serde(default)]
    pub allow_public_signup: bool,
    /// Password-sharing group.
    pub password_sharing_group_id: Option<String>,
    /// App login page URI.
    pub login_uri: Option<String>,
    /// Member-invite landing URI.
    pub invite_member_uri: Option<String>,
    /// Client used for email magic-link invitations.
    pub invite_client_id: Option<String>,
    /// Org admin portal subdomain.
    pub subdomain: Option<String>,
    /// Invite link lifetime in minutes.
    pub invite_member_email_expiration_minutes: u64,
    /// Custom domain and its validation state.
    pub custom_domain: Option<CustomDomain>,
    /// Language of outbound messages.
    #[serde(default)]
    pub external_communication: ExternalCommunication,
    /// App-specific token signing key on/off.
    #[serde(default)]
    pub signing_key_enabled: bool,
    /// When refresh tokens are invalidated.
    pub refresh_token_invalidation_trigger_configuration: Option<RefreshTokenInvalidationTriggers>,
    /// App type.
    pub application_type: Option<ApplicationType>,
}

/// The deprecated app-level fields of `ApiApp`, mirroring the default client (an update that
/// sends them writes through to it).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DefaultClientView {
    /// Default client's ID.
    pub client_id: String,
    /// Default client's name.
    pub client_display_name: String,
    /// Default client's description.
    pub client_description: Option<String>,
    /// Default client's secret.
    pub client_secret: String,
    /// Default client's type (OIDC only).
    pub client_type: Option<ClientType>,
    /// Default client's redirect URIs (OIDC only).
    pub redirect_uris: Option<Vec<String>>,
    /// Default client's resources.
    pub resources: Option<Vec<String>>,
    /// Default client's token endpoint auth method (OIDC only).
    pub client_auth_method: Option<TokenEndpointAuthMethod>,
    /// Default client's PKCE mode (OIDC only).
    pub pkce: Option<PkceMode>,
    /// Default client's device flow (OIDC only).
    pub device_authorization: Option<DeviceAuthorization>,
    /// Default client's CIBA flow (OIDC only).
    pub ciba_authorization: Option<CibaAuthorization>,
}

/// `ApiApp`: an app with its default client's values in the deprecated fields. With no client
/// left (all deleted), the client-derived fields are omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct App {
    /// App-level fields.
    #[serde(flatten)]
    pub core: AppCore,
    /// Default-client mirror fields.
    #[serde(flatten)]
    pub default_client: Option<DefaultClientView>,
}

/// `ApiBasicApp`: items of `GET /v1/applications/list`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BasicApp {
    /// Application ID.
    pub app_id: String,
    /// Tenant ID.
    pub tenant_id: String,
    /// Application name.
    pub app_name: String,
    /// Application description (required in upstream's response: one never set is the
    /// catalogue's neutral value).
    pub app_description: String,
    /// App login page URI.
    pub login_uri: Option<String>,
    /// App type.
    pub application_type: Option<ApplicationType>,
}

impl From<&AppCore> for BasicApp {
    fn from(core: &AppCore) -> Self {
        Self {
            app_id: core.app_id.clone(),
            tenant_id: core.tenant_id.clone(),
            app_name: core.app_name.clone(),
            app_description: core.app_description.clone().unwrap_or_else(|| {
                crate::model::catalogue::Object::App
                    .field("app_description")
                    .and_then(|f| f.unset_response_value())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            login_uri: core.login_uri.clone(),
            application_type: core.application_type,
        }
    }
}
