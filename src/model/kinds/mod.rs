//! Kinds as data: one [`KindSpec`] per kind of tenant object — applications and clients
//! included — its API (paths, envelope, id field), natural key, parent, fields, lifecycle
//! (create/update/delete, or one whole object per application), the permissions upstream
//! documents for it, its upstream document, and what a delete answers while the object is
//! referenced. Manifest loading, the planner, execution, the state, export, doctor, lint and the
//! bundled server read these descriptions. Adding a kind is one module here plus its row in
//! [`ObjKind`] and its place in [`AnyKind::ALL`] (see ARCHITECTURE.md).
//!
//! Every kind's fields are rows of the catalogue's one field type (`model::catalogue::Field`,
//! read through one vocabulary, `FieldFacts`). The kinds beyond applications and clients list
//! theirs in their descriptions, with `rw` and `member` and the catalogue's builders;
//! applications' and clients' tables are the catalogue's own (with their nested objects), which
//! their descriptions name. Which fields of any kind name objects of another is
//! [`REFERENCES`]. Pure data.

mod api;
mod application;
mod client;
mod login_preferences;
mod references;
mod resource;
mod role;
mod role_group;
mod schema;
mod service_provider;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::catalogue::{self, Field, Flow, Presence, Table};
pub use super::catalogue::{FieldType, ReadFrom};
pub use api::{segment, Api, CreateAnswer, Envelope, UpdateRequests};
pub use application::{APPLICATION, DEFAULT_CLIENT_FIELD};
pub use client::{CLIENT, PROTOCOL_FIELD};
pub use references::{references_of, Reference, REFERENCES};
pub use schema::{manifest_schema, request_body, request_schema, Shape};

/// A kind of tenant object described by a [`KindSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjKind {
    /// A tenant resource: an API clients request tokens for.
    Resource,
    /// A SAML service provider.
    ServiceProvider,
    /// A role of one application.
    Role,
    /// A named group of one application's roles.
    RoleGroup,
    /// The login methods of one application (one object per application, replaced whole).
    LoginPreferences,
}

impl ObjKind {
    /// Every kind, in creation order (referenced kinds first).
    pub const ALL: [ObjKind; 5] = [
        ObjKind::Resource,
        ObjKind::ServiceProvider,
        ObjKind::Role,
        ObjKind::RoleGroup,
        ObjKind::LoginPreferences,
    ];

    /// Its description.
    pub fn spec(self) -> &'static KindSpec {
        match self {
            ObjKind::Resource => &resource::SPEC,
            ObjKind::ServiceProvider => &service_provider::SPEC,
            ObjKind::Role => &role::SPEC,
            ObjKind::RoleGroup => &role_group::SPEC,
            ObjKind::LoginPreferences => &login_preferences::SPEC,
        }
    }

    /// The `kind:` of its manifest documents.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind a manifest's `kind:` names.
    pub fn from_name(name: &str) -> Option<ObjKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ObjKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything tenantsync knows about one kind.
#[derive(Debug)]
pub struct KindSpec {
    /// Which kind.
    pub kind: AnyKind,
    /// The `kind:` of its manifest documents.
    pub name: &'static str,
    /// What a user calls it in messages ("resource", "SAML service provider").
    pub noun: &'static str,
    /// The same, more than one ("resources", "login preferences").
    pub plural: &'static str,
    /// How it is reached.
    pub api: Api,
    /// What identifies it in a tenant without its id (adoption, state keys).
    pub natural_key: NaturalKey,
    /// Upstream refuses a second object with the same natural key (409): a live object that
    /// shares it *is* this one, even after the id the state mapped went away. Applications'
    /// `app_name` and clients' `name` are not unique: several may share one, so adoption by it
    /// needs exactly one, and an object deleted outside tenantsync is created again rather
    /// than swapped for another of the same name.
    pub unique_key: bool,
    /// `Some(Application)`: it belongs to an application, named by the manifest's `application:`
    /// (a reference to an `Application` document) and reached under the app's id.
    pub parent: Option<Parent>,
    /// The fields of its API, as upstream documents them (catalogue rows), for the kinds beyond
    /// applications and clients. Empty for those two: their fields are the tables of
    /// [`KindSpec::catalogue`]'s objects.
    pub fields: &'static [Field],
    /// The field catalogue's objects that hold its fields, one per shape (a client's per
    /// protocol), in the order of [`Upstream::schemas`]; empty for the kinds whose fields are
    /// listed in [`KindSpec::fields`].
    pub catalogue: &'static [catalogue::Object],
    /// What a DELETE answers while something still references it (upstream's documented
    /// "in use" error), if it can be referenced.
    pub in_use: Option<&'static str>,
    /// The permission a management credential needs to read it, as upstream names it.
    pub read_permission: &'static str,
    /// The permissions upstream documents for its operations.
    pub permissions: Permissions,
    /// Where upstream documents it (checked by this module's tests).
    pub upstream: Upstream,
}

/// Upstream's OpenAPI document of a kind: its file under `tests/fixtures/upstream/` and the
/// schemas of its response object and request bodies, one set per shape of the object.
#[derive(Debug)]
pub struct Upstream {
    /// The file: `resources.openapi.2025.json`.
    pub document: &'static str,
    /// The schemas of each shape (one; a client has one per protocol).
    pub schemas: &'static [Schemas],
}

/// The schemas of one shape of a kind's object in its upstream document.
#[derive(Debug)]
pub struct Schemas {
    /// The object responses carry (`ApiResource`).
    pub response: &'static str,
    /// The create body (`None`: never created).
    pub create: Option<&'static str>,
    /// The update body.
    pub update: &'static str,
}

/// The permissions upstream documents for one kind's operations ("**Required permissions**" in
/// each operation's description): any one of a list suffices. App-scoped forms
/// (`[appId]:read`) are left out: a management credential holds tenant-wide ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Listing its collection (`GET`).
    pub read: &'static [&'static str],
    /// Creating one (`POST`; empty: the kind is never created).
    pub create: &'static [&'static str],
    /// Updating one (`PUT`).
    pub edit: &'static [&'static str],
    /// Deleting one (`DELETE`; empty: the kind is never deleted).
    pub delete: &'static [&'static str],
}

/// The application a parented kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// An application (the manifest's `application:` names its document).
    Application,
}

/// The natural key of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NaturalKey {
    /// A field naming the object in the tenant (or within the parent, for a parented kind);
    /// whether upstream keeps it unique is [`KindSpec::unique_key`].
    Field(&'static str),
    /// One object per parent: the parent is the key.
    Singleton,
}

/// Any kind of tenant object: an application, a client, or a described kind. What the
/// target's calls are addressed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnyKind {
    /// An application.
    Application,
    /// A client of an application.
    Client,
    /// A kind described by a [`KindSpec`].
    Described(ObjKind),
}

impl AnyKind {
    /// Every kind, in the order creates run: what an object names (a reference, its
    /// application) before it. A client comes last: its `role_ids` name its application's roles.
    pub const ALL: [AnyKind; 7] = [
        AnyKind::Described(ObjKind::Resource),
        AnyKind::Described(ObjKind::ServiceProvider),
        AnyKind::Application,
        AnyKind::Described(ObjKind::Role),
        AnyKind::Described(ObjKind::RoleGroup),
        AnyKind::Described(ObjKind::LoginPreferences),
        AnyKind::Client,
    ];

    /// Its description.
    pub fn spec(self) -> &'static KindSpec {
        match self {
            AnyKind::Application => &APPLICATION,
            AnyKind::Client => &CLIENT,
            AnyKind::Described(kind) => kind.spec(),
        }
    }

    /// How it is reached.
    pub fn api(self) -> &'static Api {
        &self.spec().api
    }

    /// The `kind:` of its manifest documents.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind beyond applications and clients it is, if it is one.
    pub fn described(self) -> Option<ObjKind> {
        match self {
            AnyKind::Described(kind) => Some(kind),
            AnyKind::Application | AnyKind::Client => None,
        }
    }
}

impl From<ObjKind> for AnyKind {
    fn from(kind: ObjKind) -> Self {
        AnyKind::Described(kind)
    }
}

impl fmt::Display for AnyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Written as its `kind:` name (`Client`, `Role`, …), as plans name kinds.
impl Serialize for AnyKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for AnyKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        AnyKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("`{name}` is not a kind tenantsync knows"))
            })
    }
}

/// `object` as answered by upstream, given each [`ReadFrom`] field as requests write it: the
/// ids of the objects its list holds (an answer without the list is left as it is). Any secret
/// its fields hold, at any depth, is removed: upstream's response schemas list some (the push
/// keys), and a secret read back would be shown, exported and compared in clear.
pub fn read_as_written(spec: &KindSpec, object: &mut Map<String, Value>) {
    for field in spec.fields.iter().filter(|f| f.holds_secrets()) {
        if let Some(value) = object.get_mut(field.name) {
            field.remove_secrets(value);
        }
    }
    for field in spec.fields {
        let Some(from) = field.read_from else {
            continue;
        };
        let Some(Value::Array(items)) = object.get(from.list) else {
            continue;
        };
        let ids: Vec<Value> = items
            .iter()
            .filter_map(|item| item.get(from.id).filter(|id| id.is_string()).cloned())
            .collect();
        object.insert(field.name.to_owned(), Value::Array(ids));
    }
}

/// A row of a described kind's field table: a field requests write and responses may carry,
/// of JSON type `ty`. The catalogue's builders add the rest: `.required()` (responses always
/// carry it), `.on_create()` (a create body must set it; the two apart, as upstream's response
/// and request schemas say them apart), `.generated(presence)` (set by the server, never
/// written), `.reset(…)`, `.set()`, `.members(…)`, `.read_from(…)`.
pub(crate) const fn rw(name: &'static str, ty: FieldType) -> Field {
    catalogue::base(name, Flow::ReadWrite, Presence::Optional).typed(ty)
}

/// A member of a described kind's object field, listed for what upstream documents of it
/// (`.on_create()`: a request must set it; `.default(…)`; `.secret()`, with `.never_returned()`
/// where the bundled server never answers it).
pub(crate) const fn member(name: &'static str) -> Field {
    catalogue::base(name, Flow::ReadWrite, Presence::Optional)
}

impl KindSpec {
    /// A field's row.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Where its fields' rows are, one type for every kind: its own rows, or the catalogue
    /// object that holds them (a client's: its first shape's, OIDC; `catalogue` lists each).
    pub fn table(&self) -> Table {
        match self.catalogue.first() {
            Some(object) => Table::Object(*object),
            None => Table::Rows(self.fields),
        }
    }

    /// The fields a manifest may write: those requests send (`Field::writable`; a described
    /// kind's rows are read-write or generated).
    pub fn writable(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| f.writable())
    }

    /// The natural key of a live object, a body or a manifest's spec (for a singleton: empty;
    /// its parent is its key).
    pub fn key_of<'a>(&self, object: &'a Map<String, Value>) -> Option<&'a str> {
        match self.natural_key {
            NaturalKey::Field(f) => object.get(f).and_then(Value::as_str),
            NaturalKey::Singleton => Some(""),
        }
    }

    /// Whether `object` (live) has natural key `key` (a singleton: any object of its parent).
    pub fn has_key(&self, object: &Map<String, Value>, key: &str) -> bool {
        match self.natural_key {
            NaturalKey::Field(_) => self.key_of(object) == Some(key),
            NaturalKey::Singleton => true,
        }
    }

    /// What finds it without its id, as messages say it: its key field, or for a singleton
    /// its application.
    pub fn identified_by(&self) -> &'static str {
        match self.natural_key {
            NaturalKey::Field(f) => f,
            NaturalKey::Singleton => "application",
        }
    }

    /// The same; empty when it has none.
    pub fn key_str<'a>(&self, object: &'a Map<String, Value>) -> &'a str {
        self.key_of(object).unwrap_or_default()
    }

    /// Whether an update can write its natural key in place (a role's `role_name`): the key is
    /// a field requests write, and the object has an id to address it by while it changes.
    pub fn key_updatable(&self) -> bool {
        matches!(self.natural_key, NaturalKey::Field(_))
            && self.api.id_field.is_some()
            && self.field(self.key_field()).is_some_and(Field::writable)
    }

    /// The field that holds its natural key (empty for a singleton, which has none).
    pub fn key_field(&self) -> &'static str {
        match self.natural_key {
            NaturalKey::Field(f) => f,
            NaturalKey::Singleton => "",
        }
    }

    /// The field that carries its id (empty for a singleton, which has none).
    pub fn id_field(&self) -> &'static str {
        self.api.id_field.unwrap_or_default()
    }

    /// The id of a live object.
    pub fn id_of(&self, live: &Map<String, Value>) -> Option<String> {
        self.api.id_of(live)
    }

    /// The id of a live object, borrowed; empty when it has none.
    pub fn id_str<'a>(&self, live: &'a Map<String, Value>) -> &'a str {
        live.get(self.id_field())
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The collection path, for the parent app `app_id`.
    pub fn collection_path(&self, app_id: Option<&str>) -> String {
        self.api.collection_path(app_id)
    }

    /// The item path of object `id` (a singleton's is its update path).
    pub fn item_path(&self, app_id: Option<&str>, id: Option<&str>) -> String {
        self.api.item_path(app_id, id)
    }
}

/// Every secret sub-field value under `value` (a member `is_secret` names) replaced by
/// `with(value)`, recursively; returns whether any was found.
pub fn map_secrets(
    value: &mut Value,
    is_secret: &dyn Fn(&str) -> bool,
    with: &mut dyn FnMut(&Value) -> Value,
) -> bool {
    let mut found = false;
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret(k) && !v.is_null() {
                    *v = with(v);
                    found = true;
                } else {
                    found |= map_secrets(v, is_secret, with);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                found |= map_secrets(v, is_secret, with);
            }
        }
        _ => {}
    }
    found
}

/// An application as answered, without the secrets its read-only `login_preferences` may
/// show (upstream's schema lists the `LoginPreferences` kind's methods there, push keys and
/// social logins' `clientSecret` among them): the kind's rows say which, at any depth.
pub fn without_login_secrets(app: &mut Map<String, Value>) {
    let Some(Value::Object(methods)) = app
        .get_mut("login_preferences")
        .and_then(|p| p.get_mut("auth_methods"))
    else {
        return;
    };
    for field in ObjKind::LoginPreferences.spec().fields {
        if let Some(value) = methods.get_mut(field.name) {
            field.remove_secrets(value);
        }
    }
}

/// Whether `name` is a secret sub-field of any described kind, at any depth (a social
/// login's `clientSecret`, a push certificate's `key`).
pub fn is_secret_name(name: &str) -> bool {
    ObjKind::ALL.iter().flat_map(|k| k.spec().fields).any(|f| {
        f.secret_paths()
            .iter()
            .any(|(path, _)| path.last() == Some(&name))
    })
}

/// Whether `name` is the natural-key field of any described kind (an identity: written
/// literally in manifests).
pub fn is_natural_key_field(name: &str) -> bool {
    ObjKind::ALL
        .iter()
        .any(|k| matches!(k.spec().natural_key, NaturalKey::Field(f) if f == name))
}

#[cfg(test)]
mod tests;
