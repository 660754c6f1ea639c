//! `Client`: `/v1/applications/{app_id}/clients`; its `name` names it within its application
//! (upstream lets two share one). Answers carry the object or the list as it is (no `result`
//! wrapper). Its fields are the catalogue's (`model::catalogue`), one object per protocol.

use super::{AnyKind, Api, KindSpec, NaturalKey, Parent, Permissions, Schemas, Upstream};
use crate::model::catalogue::Object;

/// The description.
pub static CLIENT: KindSpec = KindSpec {
    kind: AnyKind::Client,
    name: "Client",
    noun: "client",
    plural: "clients",
    api: Api::objects(
        "/v1/applications/{app_id}/clients",
        "/v1/applications/{app_id}/clients/{id}",
        "client_id",
    )
    .bare()
    .update_answers_object(),
    natural_key: NaturalKey::Field("name"),
    unique_key: false,
    parent: Some(Parent::Application),
    fields: &[],
    catalogue: &[Object::OidcClient, Object::SamlClient],
    in_use: None,
    read_permission: "apps:read",
    permissions: Permissions {
        read: &["apps:read"],
        create: &["apps:create", "apps:edit"],
        edit: &["apps:edit", "apps:create"],
        delete: &["apps:delete", "apps:create", "apps:edit"],
    },
    upstream: Upstream {
        document: "apps.openapi.2026.yml",
        schemas: &[
            Schemas {
                response: "ApiOidcClient",
                create: Some("ApiCreateOidcClientInput"),
                update: "ApiUpdateOidcClientInput",
            },
            Schemas {
                response: "ApiSamlClient",
                create: Some("ApiCreateSamlClientInput"),
                update: "ApiUpdateSamlClientInput",
            },
        ],
    },
};

/// The field of a client that says its protocol (`oidc`, the default, or `saml`); fixed at
/// creation.
pub const PROTOCOL_FIELD: &str = "authentication_protocol";
