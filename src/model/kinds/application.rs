//! `Application`: `/v1/applications`; its `app_name` identifies it in the tenant. Every answer
//! is wrapped in `{"result": …}`. Its fields are the catalogue's (`model::catalogue`).

use super::{Api, CoreKind};

/// Its API and natural key.
pub static APPLICATION: CoreKind = CoreKind {
    name: "Application",
    api: Api::objects("/v1/applications", "/v1/applications/{id}", "app_id")
        .update_answers_object(),
    natural_key: "app_name",
};

/// The field of a live application that holds its default client's id (created with it; the
/// API cannot change which client it is).
pub const DEFAULT_CLIENT_FIELD: &str = "client_id";
