//! `ServiceProvider`: a SAML service provider, `/v1/serviceprovider/saml2`; its `entity_id`
//! identifies it, and a DELETE while an application still lists it answers 409.

use super::{
    rw, AnyKind, Api, Field, FieldType as T, KindSpec, NaturalKey, ObjKind, Permissions, Schemas,
    Upstream,
};
use crate::model::catalogue::{Lit, Presence};

/// The description.
pub static SPEC: KindSpec = KindSpec {
    kind: AnyKind::Described(ObjKind::ServiceProvider),
    name: "ServiceProvider",
    noun: "SAML service provider",
    plural: "SAML service providers",
    api: Api::objects(
        "/v1/serviceprovider/saml2",
        "/v1/serviceprovider/saml2/{id}",
        "service_provider_id",
    )
    .not_read_one(),
    natural_key: NaturalKey::Field("entity_id"),
    unique_key: true,
    parent: None,
    fields: FIELDS,
    catalogue: &[],
    in_use: Some("409 ServiceProviderInUse: an application still lists the service provider"),
    read_permission: "apps:read",
    permissions: Permissions {
        read: &[
            "service-providers:list",
            "service-providers:read",
            "apps:list",
            "apps:read",
        ],
        create: &["service-providers:create", "apps:create"],
        edit: &["service-providers:edit", "apps:edit"],
        delete: &["service-providers:delete", "apps:delete"],
    },
    upstream: Upstream {
        document: "service-providers.openapi.2025.json",
        schemas: &[Schemas {
            response: "ApiServiceProvider",
            create: Some("ApiCreateServiceProviderInput"),
            update: "ApiUpdateServiceProviderInput",
        }],
    },
};

const FIELDS: &[Field] = &[
    rw("service_provider_id", T::String).generated(Presence::Required),
    rw("tenant_id", T::String).generated(Presence::Required),
    rw("name", T::String).required().on_create(),
    rw("description", T::String).reset(Lit::Str("")),
    rw("assertion_consumer_service_URL", T::String)
        .required()
        .on_create(),
    rw("entity_id", T::String).required().on_create(),
    rw("name_qualifier", T::String).reset(Lit::Str("")),
    rw("saml_url", T::String).generated(Presence::Optional),
    rw("issuer", T::String).generated(Presence::Optional),
    rw("pub_cert", T::String).generated(Presence::Optional),
];
