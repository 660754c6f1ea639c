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
