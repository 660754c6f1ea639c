//! `Application`: `/v1/applications`; its `app_name` names it in the tenant (upstream lets two
//! share one). Every answer is wrapped in `{"result": …}`. Its fields are the catalogue's
//! (`model::catalogue`); deleting it deletes its clients with it.

use super::{AnyKind, Api, KindSpec, NaturalKey, Permissions, Schemas, Upstream};
use crate::model::catalogue::Object;

/// The description.
pub static APPLICATION: KindSpec = KindSpec {
    kind: AnyKind::Application,
    name: "Application",
    noun: "application",
    plural: "applications",
    api: Api::objects("/v1/applications", "/v1/applications/{id}", "app_id")
        .update_answers_object(),
    natural_key: NaturalKey::Field("app_name"),
    unique_key: false,
    parent: None,
    fields: &[],
    catalogue: &[Object::App],
    in_use: None,
    read_permission: "apps:read",
    permissions: Permissions {
        read: &["apps:read", "apps:list"],
        create: &["apps:create"],
        edit: &["apps:edit"],
        delete: &["apps:delete"],
    },
    upstream: Upstream {
        document: "apps.openapi.2026.yml",
        schemas: &[Schemas {
            response: "ApiApp",
            create: Some("ApiCreateAppInput"),
            update: "ApiUpdateAppInput",
        }],
    },
};

/// The field of a live application that holds its default client's id (created with it; the
/// API cannot change which client it is).
pub const DEFAULT_CLIENT_FIELD: &str = "client_id";
