//! String enumerations of the API, each with its wire spelling.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares a wire enum: serde/schemars derive with the exact upstream spelling of each value,
/// `as_str()`, and `ALL` (every value, in the upstream order).
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        // Each variant is its wire spelling; a doc comment per variant would also change the
        // generated schema (schemars renders documented variants as `oneOf`).
        #[allow(missing_docs)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in the order upstream lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as it is spelled on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `client_type` of a client (and the deprecated app-level field).
    ClientType { Web = "web", Native = "native" }
);

wire_enum!(
    /// `authentication_protocol` of a client.
    AuthenticationProtocol { Oidc = "oidc", Saml = "saml" }
);

impl AuthenticationProtocol {
    /// The protocol a client object says it is — a create body, a live client, a manifest's
    /// spec: its `authentication_protocol`, OIDC unless that says `saml` (upstream's default).
    /// The one place the field's value is read.
    pub fn of(client: &serde_json::Map<String, serde_json::Value>) -> Self {
        Self::named(
            client
                .get(super::kinds::PROTOCOL_FIELD)
                .and_then(serde_json::Value::as_str),
        )
    }

    /// The protocol a live client is, read strictly: OIDC when it says none, else the one its
    /// `authentication_protocol` spells exactly; `Err` with the value as written when that is
    /// no protocol upstream documents (a `SAML`, a protocol newer than this release).
    pub fn strictly_of(
        client: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, String> {
        match client.get(super::kinds::PROTOCOL_FIELD) {
            None | Some(serde_json::Value::Null) => Ok(AuthenticationProtocol::Oidc),
            Some(value) => Self::ALL
                .iter()
                .copied()
                .find(|p| value.as_str() == Some(p.as_str()))
                .ok_or_else(|| value.to_string()),
        }
    }

    /// The protocol a value of `authentication_protocol` names: OIDC unless it is `saml`.
    pub fn named(protocol: Option<&str>) -> Self {
        match protocol {
            Some(p) if p == AuthenticationProtocol::Saml.as_str() => AuthenticationProtocol::Saml,
            _ => AuthenticationProtocol::Oidc,
        }
    }
}

wire_enum!(
    /// `pkce` mode of an OIDC client.
    PkceMode {
        EnforceInsteadOfClientCredentials = "enforcePkceInsteadOfClientCredentials",
        EnforceAlongsideClientCredentials = "enforcePkceAlongsideClientCredentials",
        AllowAlongsideClientCredentials = "allowPkceAlongsideClientCredentials",
    }
);

wire_enum!(
    /// `token_endpoint_auth_method` (client) and `client_auth_method` (app, deprecated).
    TokenEndpointAuthMethod {
        ClientSecretBasic = "client_secret_basic",
        SelfSignedTlsClientAuth = "self_signed_tls_client_auth",
        TlsClientAuth = "tls_client_auth",
        None = "none",
        PrivateKeyJwt = "private_key_jwt",
    }
);

wire_enum!(
    /// `authentication_configuration.method`: the token-endpoint methods minus `none`.
    ClientAuthenticationMethod {
        ClientSecretBasic = "client_secret_basic",
        SelfSignedTlsClientAuth = "self_signed_tls_client_auth",
        TlsClientAuth = "tls_client_auth",
        PrivateKeyJwt = "private_key_jwt",
    }
);

wire_enum!(
    /// Items of `response_types`.
    ResponseType { Code = "code", IdToken = "id_token" }
);

wire_enum!(
    /// Items of `supported_prompts`.
    Prompt { Login = "login", Consent = "consent", None = "none" }
);

wire_enum!(
    /// `short_cookies_samesite_type` (upstream's description also names `strict`, so it is
    /// accepted).
    SameSite { Lax = "lax", None = "none", Strict = "strict" }
);

wire_enum!(
    /// `sp_name_id_type` of a SAML client.
    SpNameIdType {
        Email = "email",
        SecondaryEmail = "secondaryEmail",
        Username = "username",
        PhoneNumber = "phoneNumber",
        ExternalUserId = "externalUserId",
    }
);

wire_enum!(
    /// `custom_domain.status` in responses.
    CustomDomainStatus { Pending = "pending", Verified = "verified", Error = "error" }
);

wire_enum!(
    /// `external_communication.language` in responses.
    Language { En = "en", Es = "es", Pt = "pt", Fr = "fr", Ja = "ja", FrCa = "fr-CA" }
);

wire_enum!(
    /// `application_type` in responses (2026 revision).
    ApplicationType { Ido = "ido", Basic = "basic" }
);

wire_enum!(
    /// Items of `default_custom_claims` / `default_user_info_claims` (38 values, 2026 revision).
    Claim {
        Tid = "tid", Fname = "fname", Lname = "lname", Mname = "mname", Email = "email",
        EmailVerified = "email_verified", PhoneNumber = "phone_number",
        PhoneNumberVerified = "phone_number_verified", Groups = "groups", NewUser = "new_user",
        Birthday = "birthday", Language = "language", City = "city", Address = "address",
        Country = "country", StreetAddress = "street_address", AddressType = "address_type",
        Webauthn = "webauthn", Roles = "roles", TsRoles = "ts_roles", RoleValues = "role_values",
        TsPermissions = "ts_permissions", Permissions = "permissions",
        ApprovalData = "approval_data", CustomGroupData = "custom_group_data",
        Username = "username", SecondaryPhoneNumbers = "secondary_phone_numbers",
        SecondaryEmails = "secondary_emails", Picture = "picture", CreatedAt = "created_at",
        LastAuth = "last_auth", AuthTime = "auth_time", ExternalAccountId = "external_account_id",
        ExternalUserId = "external_user_id", AppName = "app_name", CustomData = "custom_data",
        CustomAppData = "custom_app_data", AiActor = "ai_actor",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips() {
        for v in PkceMode::ALL {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<PkceMode>(&json).unwrap(), *v);
        }
        assert_eq!(Claim::ALL.len(), 38);
        assert_eq!(Language::FrCa.as_str(), "fr-CA");
    }

    #[test]
    fn a_clients_protocol_is_oidc_unless_it_says_saml_and_read_strictly_where_asked() {
        let of = |v: serde_json::Value| v.as_object().unwrap().clone();
        let saml = of(serde_json::json!({"authentication_protocol": "saml"}));
        let none = of(serde_json::json!({"name": "web"}));
        let cased = of(serde_json::json!({"authentication_protocol": "SAML"}));
        assert_eq!(
            AuthenticationProtocol::of(&saml),
            AuthenticationProtocol::Saml
        );
        assert_eq!(
            AuthenticationProtocol::of(&none),
            AuthenticationProtocol::Oidc
        );
        assert_eq!(
            AuthenticationProtocol::of(&cased),
            AuthenticationProtocol::Oidc
        );
        assert_eq!(
            AuthenticationProtocol::strictly_of(&saml),
            Ok(AuthenticationProtocol::Saml)
        );
        assert_eq!(
            AuthenticationProtocol::strictly_of(&none),
            Ok(AuthenticationProtocol::Oidc)
        );
        assert_eq!(
            AuthenticationProtocol::strictly_of(&cased),
            Err("\"SAML\"".to_owned())
        );
    }
}
