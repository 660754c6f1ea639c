//! `Application`: `/v1/applications`; its `app_name` identifies it in the tenant. Every answer
//! is wrapped in `{"result": …}`. Its fields are the catalogue's (`model::catalogue`).

use super::{Api, CoreKind, CreateAnswer, Envelope};

/// Its API and natural key.
pub static APPLICATION: CoreKind = CoreKind {
    name: "Application",
    api: Api {
        collection: "/v1/applications",
        item: "/v1/applications/{id}",
        id_field: Some("app_id"),
        singleton_field: None,
        create: true,
        read_one: true,
        by_key: None,
        delete: true,
        replace_whole: false,
        create_answer: CreateAnswer::Object,
        envelope: Envelope::Result,
    },
    natural_key: "app_name",
};
