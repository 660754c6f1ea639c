//! Client bodies: OIDC and SAML create/update inputs and the stored/returned client
//! (`ApiOidcClient`, `ApiSamlClient`). A stored client is its settings plus server-generated
//! fields, so what a create or update sends is exactly what a GET shows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::enums::{
    AuthenticationProtocol, Claim, ClientType, PkceMode, Prompt, ResponseType, SameSite,
    SpNameIdType, TokenEndpointAuthMethod,
};
use super::nested::{
    AuthenticationConfiguration, CibaAuthorization, DeviceAuthorization, IdTokenEncryption,
    TokenExpiration,
};

/// Declares a client input: every field optional, unknown fields refused; the fields every
/// client's body holds (name, description, resources, protocol, group, claims, cookies) first,
/// then the protocol's own.
macro_rules! client_input {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Client name (not unique).
            pub name: Option<String>,
            /// Client description.
            pub description: Option<String>,
            /// Resource IDs the client may request.
            pub resources: Option<Vec<String>>,
            /// `oidc` (default) or `saml` (required for a SAML client); create only.
            pub authentication_protocol: Option<AuthenticationProtocol>,
            /// Client group ID (e.g. an SSO group).
            pub client_group_id: Option<String>,
            /// Claims always put in the ID token.
            pub default_custom_claims: Option<Vec<Claim>>,
            /// Claims returned by UserInfo (exclusive with `sync_id_token_claims_to_userinfo: true`).
            pub default_user_info_claims: Option<Vec<Claim>>,
            /// Mirror ID-token claims into UserInfo (default false).
            pub sync_id_token_claims_to_userinfo: Option<bool>,
            /// SameSite of short cookies (default lax).
            pub short_cookies_samesite_type: Option<SameSite>,
            $(
                $(#[$field_meta])*
                    pub $field: Option<$ty>,
            )*
        }
    };
}

client_input! {
    /// Settings of an OIDC client: the body of create (`ApiCreateOidcClientInput`; `name` and
    /// `redirect_uris` required) and update (`ApiUpdateOidcClientInput`; no `authentication_protocol`).
    OidcClientInput {
        /// Allowed redirect URIs (https unless local; native clients may use a reverse-domain scheme).
        redirect_uris: Vec<String>,
        /// `web` (default) or `native`.
        client_type: ClientType,
        /// RFC 8628 device flow.
        device_authorization: DeviceAuthorization,
        /// CIBA flow.
        ciba_authorization: CibaAuthorization,
        /// Third-party client flag.
        is_third_party: bool,
        /// Scopes a third-party client may request.
        allowed_scopes: Vec<String>,
        /// Consent page URI.
        consent_uri: String,
        /// Consent validity period.
        consent_validity_period: u64,
        /// PKCE mode.
        pkce: PkceMode,
        /// OIDC prompt values accepted.
        supported_prompts: Vec<Prompt>,
        /// Token lifetimes.
        token_expiration: TokenExpiration,
        /// Session lifetime, seconds.
        session_expiration: u64,
        /// Require pushed authorization requests.
        enforce_par: bool,
        /// Client role IDs (RBAC).
        role_ids: Vec<String>,
        /// FAPI 2.0 mode.
        fapi_version_compliancy: bool,
        /// Deprecated: token-endpoint client auth (default client_secret_basic).
        #[schemars(extend("deprecated" = true))]
        token_endpoint_auth_method: TokenEndpointAuthMethod,
        /// Allowed response types (default `["code", "id_token"]`).
        response_types: Vec<ResponseType>,
        /// Client authentication method and keys.
        authentication_configuration: AuthenticationConfiguration,
        /// ID token encryption.
        id_token_encryption: IdTokenEncryption,
    }
}

client_input! {
    /// Settings of a SAML client: the body of create (`ApiCreateSamlClientInput`; `name` and
    /// `sp_entity_id` required) and update (`ApiUpdateSamlClientInput`).
    SamlClientInput {
        /// SAML assertion consumer service URL.
        sp_acs_url: String,
        /// SAML service provider entity ID.
        sp_entity_id: String,
        /// Source of the SAML NameID.
        sp_name_id_type: SpNameIdType,
        /// Prompt values accepted.
        supported_prompts: Vec<Prompt>,
        /// Sign the SAML assertion.
        sign_assertion: bool,
        /// ACS URL optional in requests.
        optional_acs_url: bool,
        /// SP-initiated SSO goes to the hub app.
        use_centralized_login: bool,
    }
}

/// Where one live client is addressed: its application's id and its own. Every call that names an
/// existing client takes this, so the two ids cannot be passed in the wrong order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey<'a> {
    /// The application's id.
    pub app_id: &'a str,
    /// The client's id.
    pub client_id: &'a str,
}

impl<'a> ClientKey<'a> {
    /// The key of client `client_id` in application `app_id`.
    pub fn new(app_id: &'a str, client_id: &'a str) -> Self {
        Self { app_id, client_id }
    }
}

impl std::fmt::Display for ClientKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.app_id, self.client_id)
    }
}

/// Server-generated fields every client carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientIdentity {
    /// Application ID.
    pub app_id: String,
    /// Tenant ID.
    pub tenant_id: String,
    /// Client ID (server-generated).
    pub client_id: String,
    /// Client secret (server-generated, sensitive).
    pub client_secret: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last update time, RFC 3339.
    pub updated_at: String,
}

/// `ApiOidcClient`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OidcClient {
    /// Generated fields.
    #[serde(flatten)]
    pub identity: ClientIdentity,
    /// Settings, with server defaults filled in.
    #[serde(flatten)]
    pub settings: OidcClientInput,
}

/// `ApiSamlClient`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SamlClient {
    /// Generated fields.
    #[serde(flatten)]
    pub identity: ClientIdentity,
    /// IdP metadata URL (generated).
    pub metadata_url: String,
    /// SAML SSO URL (generated).
    pub sso_url: String,
    /// IdP entity ID (generated).
    pub entity_id: String,
    /// IdP signing certificate, PEM body (generated).
    pub x509_certificate: String,
    /// Settings, with server defaults filled in.
    #[serde(flatten)]
    pub settings: SamlClientInput,
}

/// A client of either protocol, serialized as the bare upstream shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // both variants are large; boxing one buys nothing
pub enum Client {
    /// An OIDC client.
    Oidc(OidcClient),
    /// A SAML client.
    Saml(SamlClient),
}

impl<'de> Deserialize<'de> for Client {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(de)?;
        let saml =
            value.as_object().map(AuthenticationProtocol::of) == Some(AuthenticationProtocol::Saml);
        let client = if saml {
            serde_json::from_value(value).map(Client::Saml)
        } else {
            serde_json::from_value(value).map(Client::Oidc)
        };
        client.map_err(serde::de::Error::custom)
    }
}

impl Client {
    /// Generated identity fields.
    pub fn identity(&self) -> &ClientIdentity {
        match self {
            Client::Oidc(c) => &c.identity,
            Client::Saml(c) => &c.identity,
        }
    }

    /// Mutable identity fields.
    pub fn identity_mut(&mut self) -> &mut ClientIdentity {
        match self {
            Client::Oidc(c) => &mut c.identity,
            Client::Saml(c) => &mut c.identity,
        }
    }

    /// Client protocol.
    pub fn protocol(&self) -> AuthenticationProtocol {
        match self {
            Client::Oidc(_) => AuthenticationProtocol::Oidc,
            Client::Saml(_) => AuthenticationProtocol::Saml,
        }
    }

    /// Client name.
    pub fn name(&self) -> &str {
        let name = match self {
            Client::Oidc(c) => &c.settings.name,
            Client::Saml(c) => &c.settings.name,
        };
        name.as_deref().unwrap_or_default()
    }
}

/// Body of the resources endpoints (A7, A14, C7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceIdsInput {
    /// The new list of resource IDs.
    pub resource_ids: Vec<String>,
}
