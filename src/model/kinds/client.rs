//! `Client`: `/v1/applications/{app_id}/clients`; its `name` identifies it within its
//! application. Answers carry the object or the list as it is (no `result` wrapper). Its fields
//! are the catalogue's (`model::catalogue`).

use super::{Api, CoreKind};

/// Its API and natural key.
pub static CLIENT: CoreKind = CoreKind {
    name: "Client",
    api: Api::objects(
        "/v1/applications/{app_id}/clients",
        "/v1/applications/{app_id}/clients/{id}",
        "client_id",
    )
    .bare()
    .update_answers_object(),
    natural_key: "name",
};

/// The field of a client that says its protocol (`oidc`, the default, or `saml`); fixed at
/// creation.
pub const PROTOCOL_FIELD: &str = "authentication_protocol";
