//! `RoleGroup`: a named group of one application's roles,
//! `/v1/applications/{app_id}/role-groups`; its `name` is unique within the application (a
//! second one answers 409 `IdentifierIsTaken`). Requests write the group's roles as
//! `role_ids`; answers carry them as `roles`, the role objects (read back as `role_ids`:
//! `ReadFrom`). Upstream documents no success answer for a create, an update or a delete, so
//! the new group is found by name and no answer is read.

use super::{
    rw, AnyKind, Api, Field, FieldType as T, KindSpec, NaturalKey, ObjKind, Parent, Permissions,
    Schemas, Upstream,
};
use crate::model::catalogue::{Lit, Presence};

/// The description.
pub static SPEC: KindSpec = KindSpec {
    kind: AnyKind::Described(ObjKind::RoleGroup),
    name: "RoleGroup",
    noun: "role group",
    plural: "role groups",
    api: Api::objects(
        "/v1/applications/{app_id}/role-groups",
        "/v1/applications/{app_id}/role-groups/{id}",
        "group_id",
    )
    .not_read_one()
    .untyped_create()
    .replaces_one(
        "/v1/applications/{app_id}/role-groups/{id}/roles/set",
        "role_ids",
    ),
    natural_key: NaturalKey::Field("name"),
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
            "orgs:read",
        ],
        ..super::role::WRITES
    },
    upstream: Upstream {
        document: "role-groups.openapi.2025.json",
        schemas: &[Schemas {
            response: "ApiRoleGroup",
            create: Some("ApiCreateRolesGroup"),
            update: "ApiUpdateRolesGroup",
        }],
    },
};

const FIELDS: &[Field] = &[
    rw("group_id", T::String).generated(Presence::Required),
    rw("name", T::String).required().on_create(),
    rw("display_name", T::String).reset(Lit::Str("")),
    rw("description", T::String).reset(Lit::Str("")),
    rw("roles", T::Objects).generated(Presence::Required),
    rw("role_ids", T::Strings)
        .on_create()
        .set()
        .reset(Lit::Strs(&[]))
        .read_from("roles", "role_id"),
];
