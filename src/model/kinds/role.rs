//! `Role`: a role of one application, `/v1/applications/{app_id}/roles`; `role_name` is unique
//! within the application (a second one answers 409 `IdentifierIsTaken`). A create answers an
//! untyped object, so the new role is found by name; updates and deletes answer 202 Accepted.

use super::{
    rw, AnyKind, Api, Field, FieldType as T, KindSpec, NaturalKey, ObjKind, Parent, Permissions,
    Schemas, Upstream,
};
use crate::model::catalogue::{Lit, Presence};

/// The description.
pub static SPEC: KindSpec = KindSpec {
    kind: AnyKind::Described(ObjKind::Role),
    name: "Role",
    noun: "role",
    plural: "roles",
    api: Api::objects(
        "/v1/applications/{app_id}/roles",
        "/v1/applications/{app_id}/roles/{id}",
        "role_id",
    )
    .untyped_create()
    .accepted(),
    natural_key: NaturalKey::Field("role_name"),
    unique_key: true,
    parent: Some(Parent::Application),
    fields: FIELDS,
    catalogue: &[],
    in_use: None,
    read_permission: "roles:read",
    permissions: Permissions {
        read: &[
            "organizations:read",
            "roles:read",
            "organizations:list",
            "roles:list",
        ],
        ..WRITES
    },
    upstream: Upstream {
        document: "roles.openapi.2025.json",
        schemas: &[Schemas {
            response: "ApiRole",
            create: Some("ApiCreateRoleInput"),
            update: "ApiUpdateRoleInput",
        }],
    },
};

/// The permissions of a role's writes, which upstream documents for a role group's too.
pub(super) const WRITES: Permissions = Permissions {
    read: &[],
    create: &["organizations:create", "roles:create"],
    edit: &["organizations:edit", "roles:edit"],
    delete: &["organizations:delete", "roles:delete"],
};

const FIELDS: &[Field] = &[
    rw("role_id", T::String).generated(Presence::Required),
    rw("app_id", T::String).generated(Presence::Optional),
    rw("role_name", T::String).required().on_create(),
    rw("display_name", T::String).reset(Lit::Str("")),
    rw("description", T::String).reset(Lit::Str("")),
    rw("permissions", T::Strings).set().reset(Lit::Strs(&[])),
];
