//! `Resource`: a tenant resource (an API clients request tokens for), `/v1/resources`; its `uri`
//! identifies it in the tenant, and a DELETE while a client still lists it answers 409.

use super::{
    rw, AnyKind, Api, Field, FieldType as T, KindSpec, NaturalKey, ObjKind, Permissions, Schemas,
    Upstream,
};
use crate::model::catalogue::{Lit, Presence};

/// The description.
pub static SPEC: KindSpec = KindSpec {
    kind: AnyKind::Described(ObjKind::Resource),
    name: "Resource",
    noun: "resource",
    plural: "resources",
    api: Api::objects("/v1/resources", "/v1/resources/{id}", "resource_id")
        .not_read_one()
        .by_key("/v1/resources/uri", "resourceUri"),
    natural_key: NaturalKey::Field("uri"),
    unique_key: true,
    parent: None,
    fields: FIELDS,
    catalogue: &[],
    in_use: Some("409 ResourceInUse: a client still lists the resource"),
    read_permission: "resources:read",
    permissions: Permissions {
        read: &["resources:list", "resources:read"],
        create: &["resources:create", "apps:create"],
        edit: &["resources:edit", "apps:edit"],
        delete: &["resources:delete", "apps:delete"],
    },
    upstream: Upstream {
        document: "resources.openapi.2025.json",
        schemas: &[Schemas {
            response: "ApiResource",
            create: Some("ApiCreateResourceInput"),
            update: "ApiUpdateResourceInput",
        }],
    },
};

const FIELDS: &[Field] = &[
    rw("resource_id", T::String).generated(Presence::Required),
    rw("tenant_id", T::String).generated(Presence::Required),
    rw("name", T::String).required().on_create(),
    rw("description", T::String).reset(Lit::Str("")),
    rw("uri", T::String).required().on_create(),
    rw("access_token_ttl", T::Number).required().on_create(),
    rw("refresh_token_ttl", T::Number).required().on_create(),
    rw("max_refresh_rotate", T::Number).required().on_create(),
    rw("created_at", T::String).generated(Presence::Required),
    rw("updated_at", T::String).generated(Presence::Required),
];
