//! REFERENCES: which fields of applications, clients and the described kinds name which kind.

use super::{AnyKind, ObjKind};

/// A field that names other objects: in manifests by `metadata.name` (or `{id: …}` for an object
/// tenantsync does not manage), on the wire by id.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// Who holds it.
    pub holder: AnyKind,
    /// The field (top-level).
    pub field: &'static str,
    /// What it names.
    pub target: ObjKind,
    /// An array of references (else one).
    pub many: bool,
    /// The named object must belong to the holder's application (roles).
    pub same_application: bool,
}

/// Every reference field of applications, clients and the described kinds.
pub const REFERENCES: &[Reference] = &[
    Reference {
        holder: AnyKind::Client,
        field: "resources",
        target: ObjKind::Resource,
        many: true,
        same_application: false,
    },
    Reference {
        holder: AnyKind::Application,
        field: "service_providers",
        target: ObjKind::ServiceProvider,
        many: true,
        same_application: false,
    },
    Reference {
        holder: AnyKind::Client,
        field: "role_ids",
        target: ObjKind::Role,
        many: true,
        same_application: true,
    },
    Reference {
        holder: AnyKind::Described(ObjKind::RoleGroup),
        field: "role_ids",
        target: ObjKind::Role,
        many: true,
        same_application: true,
    },
];

/// The reference fields `holder` has.
pub fn references_of(holder: AnyKind) -> impl Iterator<Item = &'static Reference> {
    REFERENCES.iter().filter(move |r| r.holder == holder)
}
