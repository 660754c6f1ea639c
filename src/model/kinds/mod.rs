//! Kinds as data: one [`KindSpec`] per kind of tenant object — applications and clients
//! included — its API (paths, envelope, id field), natural key, parent, fields, lifecycle
//! (create/update/delete, or one whole object per application), the permissions upstream
//! documents for it, its upstream document, and what a delete answers while the object is
//! referenced. Manifest loading, the planner, execution, the state, export, doctor, lint and the
//! bundled server read these descriptions. Adding a kind is one module here plus its row in
//! [`ObjKind`] and its place in [`AnyKind::ALL`] (see ARCHITECTURE.md).
//!
//! The fields of the kinds beyond applications and clients are listed in their descriptions;
//! applications' and clients' are the field catalogue's (`model::catalogue`, richer: request
//! and response defaults apart, mirrors, nested objects), which their descriptions name. Which
//! fields of any kind name objects of another is [`REFERENCES`]. Pure data.

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

use super::catalogue::{self, Lit, Presence};
pub use api::{segment, Api, CreateAnswer, Envelope, UpdateRequests};
pub use application::{APPLICATION, DEFAULT_CLIENT_FIELD};
pub use client::{CLIENT, PROTOCOL_FIELD};
pub use references::{references_of, Reference, REFERENCES};
pub use schema::{manifest_schema, request_schema};

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
    /// The fields of its API, as upstream documents them, for the kinds beyond applications
    /// and clients. Empty for those two: their fields are [`KindSpec::catalogue`]'s.
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

/// The JSON type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    String,
    /// A number.
    Number,
    /// An array of strings.
    Strings,
    /// An object (replaced whole on update).
    Object,
    /// An array of objects (only ever read: the objects a [`ReadFrom`] field's ids name).
    Objects,
}

/// One field of a kind.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The API name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Required in the create body.
    pub required: bool,
    /// Whether responses carry it (the catalogue's vocabulary: required, optional, never).
    pub presence: Presence,
    /// Set by the server (ids, timestamps, tenant): never written, dropped by export.
    pub generated: bool,
    /// Names of sub-fields that hold secrets (for an object field: in it, or in any object
    /// in it), never returned by the bundled server, hidden everywhere, and compared with the
    /// last applied value by hash.
    pub secret_subfields: &'static [&'static str],
    /// Its value when a removal from the manifest must reset it (partial updates cannot unset
    /// a field).
    pub reset: Option<Lit>,
    /// The field is a set (order does not matter).
    pub set: bool,
    /// For an object field: the sub-fields a request must set.
    pub requires: &'static [&'static str],
    /// Written as ids, but read as the objects they name (see [`ReadFrom`]).
    pub read_from: Option<ReadFrom>,
    /// For an object field: the defaults upstream's schema documents for its sub-fields, what
    /// the server stores for one a request leaves out, and what an answer without it means.
    pub member_defaults: &'static [(&'static str, Lit)],
}

/// Where responses carry a field that requests write as ids: in another field, as the objects
/// those ids name (a role group's `role_ids` is read as `roles[].role_id`). Live objects are
/// given the field back as it is written ([`read_as_written`]) where the target answers them,
/// so the planner, drift and export compare and show ids like any other field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFrom {
    /// The response field holding the named objects.
    pub list: &'static str,
    /// The field of each of those objects that holds its id.
    pub id: &'static str,
}

/// `object` as answered by upstream, given each [`ReadFrom`] field as requests write it: the
/// ids of the objects its list holds (an answer without the list is left as it is).
pub fn read_as_written(spec: &KindSpec, object: &mut Map<String, Value>) {
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

/// A described kind's field in the catalogue's vocabulary: its presence, no response default
/// (upstream's documents for these kinds give none), its set, its reset.
impl catalogue::FieldFacts for Field {
    fn presence(&self) -> Presence {
        self.presence
    }
    fn response_default(&self) -> Option<Value> {
        None
    }
    fn is_set(&self) -> bool {
        self.set
    }
    fn reset(&self) -> Option<Value> {
        self.reset.map(Lit::to_value)
    }
    fn member_default(&self, member: &str) -> Option<Value> {
        Field::member_default(self, member)
    }
    fn member_is_secret(&self, member: &str) -> bool {
        self.secret_subfields.contains(&member)
    }
}

/// Row builders, so each kind's table reads as data.
pub(crate) const fn rw(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: false,
        presence: Presence::Optional,
        generated: false,
        secret_subfields: &[],
        reset: None,
        set: false,
        requires: &[],
        read_from: None,
        member_defaults: &[],
    }
}

impl Field {
    /// Required on create and always returned.
    pub(crate) const fn required(mut self) -> Self {
        self.required = true;
        self.presence = Presence::Required;
        self
    }
    /// Required on create, but not returned as such (see [`Field::read_from`]).
    pub(crate) const fn required_on_create(mut self) -> Self {
        self.required = true;
        self
    }
    /// Read as the objects `list` holds, each with its id in `id`.
    pub(crate) const fn read_from(mut self, list: &'static str, id: &'static str) -> Self {
        self.read_from = Some(ReadFrom { list, id });
        self
    }
    /// Set by the server.
    pub(crate) const fn generated(mut self, presence: Presence) -> Self {
        self.generated = true;
        self.presence = presence;
        self
    }
    /// A removal sends this.
    pub(crate) const fn reset(mut self, value: Lit) -> Self {
        self.reset = Some(value);
        self
    }
    /// Order does not matter.
    pub(crate) const fn set(mut self) -> Self {
        self.set = true;
        self
    }
    /// An object whose requests must set these sub-fields.
    pub(crate) const fn requires(mut self, names: &'static [&'static str]) -> Self {
        self.requires = names;
        self
    }
    /// An object whose sub-fields default to these (see [`Field::member_defaults`]).
    pub(crate) const fn member_defaults(
        mut self,
        defaults: &'static [(&'static str, Lit)],
    ) -> Self {
        self.member_defaults = defaults;
        self
    }
    /// Holds secrets in these sub-fields.
    pub(crate) const fn secrets(mut self, names: &'static [&'static str]) -> Self {
        self.secret_subfields = names;
        self
    }
}

impl Field {
    /// The documented default of sub-field `member` of this object field.
    pub fn member_default(&self, member: &str) -> Option<Value> {
        self.member_defaults
            .iter()
            .find(|(name, _)| *name == member)
            .map(|(_, lit)| lit.to_value())
    }

    /// `object` (a value of this object field) with every documented sub-field default it
    /// leaves out filled in: what upstream stores for it.
    pub fn with_member_defaults(&self, object: &mut Map<String, Value>) {
        for (name, lit) in self.member_defaults {
            object.entry(*name).or_insert_with(|| lit.to_value());
        }
    }
}

impl KindSpec {
    /// A field's row.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields a manifest may write (not generated).
    pub fn writable(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| !f.generated)
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

    /// Whether `field` (top-level) holds secrets.
    pub fn has_secrets(&self, field: &str) -> bool {
        self.field(field)
            .is_some_and(|f| !f.secret_subfields.is_empty())
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

/// `value` without its secret sub-fields (what a response may show of it).
pub fn without_secrets(value: &Value, names: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_secrets(v, names)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| without_secrets(v, names)).collect())
        }
        other => other.clone(),
    }
}

/// Whether `name` is a secret sub-field of any described kind.
pub fn is_secret_name(name: &str) -> bool {
    ObjKind::ALL
        .iter()
        .flat_map(|k| k.spec().fields)
        .any(|f| f.secret_subfields.contains(&name))
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
