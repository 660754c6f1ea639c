//! Object-valued fields of apps and clients. The API replaces each of these
//! whole on update; none is ever merged.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::enums::{ClientAuthenticationMethod, CustomDomainStatus, Language};

/// `device_authorization`: RFC 8628 device flow. All four fields are required whenever it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceAuthorization {
    /// Device flow allowed.
    pub enabled: bool,
    /// Page where the user approves.
    pub approval_uri: String,
    /// Callback after completion.
    pub success_uri: String,
    /// Page where the user enters the code.
    pub input_uri: String,
}

/// `ciba_authorization`: client-initiated backchannel authentication.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CibaAuthorization {
    /// CIBA allowed.
    pub enabled: bool,
    /// Page where the user logs in / approves.
    pub login_uri: Option<String>,
}

/// `token_expiration`: token lifetimes, in seconds (upstream does not state the unit).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExpiration {
    /// Access token lifetime, seconds.
    pub access_token_ttl: Option<u64>,
    /// Refresh token lifetime, seconds.
    pub refresh_token_ttl: Option<u64>,
    /// Maximum refresh-rotation window, seconds.
    pub max_refresh_rotate: Option<u64>,
}

/// `authentication_configuration`: how the client authenticates at the token endpoint.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationConfiguration {
    /// Client authentication method at the token endpoint.
    pub method: ClientAuthenticationMethod,
    /// CA-signed mTLS settings.
    pub tls_client_auth: Option<TlsClientAuth>,
    /// Bind tokens to the client certificate.
    #[serde(
        rename = "isMtlsCertTokenBound",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_mtls_cert_token_bound: Option<bool>,
    /// Client public keys (JWKS) for private_key_jwt / self-signed mTLS.
    pub jwks: Option<Map<String, Value>>,
    /// CA certificate (2025 revision only; accepted for older bodies).
    pub ca: Option<String>,
}

/// `authentication_configuration.tls_client_auth` (2026 revision).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsClientAuth {
    /// CA chain for client certificates.
    pub certificate_chain: Option<String>,
    /// Expected subject DN. Upstream types it `number` (an apparent spec bug); strings and numbers
    /// are both accepted and kept as sent.
    #[serde(default)]
    #[schemars(schema_with = "string_or_number")]
    pub distinguished_name: Option<Value>,
    /// OCSP check on.
    pub ocsp_on: Option<bool>,
    /// OCSP responder URI.
    pub ocsp_responder_uri: Option<String>,
    /// OCSP responder certificate.
    pub ocsp_responder_certificate: Option<String>,
    /// Allow the handshake when OCSP cannot be reached.
    pub ocsp_fail_open: Option<bool>,
}

fn string_or_number(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "number"] })
}

/// `id_token_encryption` (2026 revision).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdTokenEncryption {
    /// Encrypt ID tokens.
    pub enabled: bool,
    /// Client keys used to encrypt.
    pub jwks: Option<Map<String, Value>>,
}

/// `authenticator_preferences`: Authentication Hub configuration (one hub per tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorPreferences {
    /// This app is the tenant's Authentication Hub.
    pub is_centralized: bool,
    /// URI that starts centralized login.
    pub login_uri: String,
}

/// `refresh_token_invalidation_trigger_configuration` (2026 revision; each flag defaults to true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenInvalidationTriggers {
    /// Revoke refresh tokens on member suspension.
    #[serde(
        rename = "invalidateOnMemberSuspension",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_member_suspension: Option<bool>,
    /// Revoke refresh tokens on password reset.
    #[serde(
        rename = "invalidateOnMemberPasswordReset",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_member_password_reset: Option<bool>,
    /// Revoke refresh tokens on role change.
    #[serde(
        rename = "invalidateOnMemberRoleUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_member_role_update: Option<bool>,
}

/// `custom_domain` as returned (input is a plain string).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomDomain {
    /// The domain.
    pub domain: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// Validation state.
    pub status: CustomDomainStatus,
    /// Validation error text.
    pub error: Option<String>,
}

/// `external_communication` (response only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalCommunication {
    /// Language of outbound messages.
    pub language: Language,
}

impl Default for ExternalCommunication {
    fn default() -> Self {
        Self {
            language: Language::En,
        }
    }
}
