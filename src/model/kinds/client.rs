//! `Client`: `/v1/applications/{app_id}/clients`; its `name` identifies it within its
//! application. Answers carry the object or the list as it is (no `result` wrapper). Its fields
//! are the catalogue's (`model::catalogue`).

use super::{Api, CoreKind, CreateAnswer, Envelope};

/// Its API and natural key.
pub static CLIENT: CoreKind = CoreKind {
    name: "Client",
    api: Api {
        collection: "/v1/applications/{app_id}/clients",
        item: "/v1/applications/{app_id}/clients/{id}",
        id_field: Some("client_id"),
        singleton_field: None,
        create: true,
        read_one: true,
        by_key: None,
        delete: true,
        replace_whole: false,
        create_answer: CreateAnswer::Object,
        envelope: Envelope::Bare,
    },
    natural_key: "name",
};
