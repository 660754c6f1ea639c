//! Kinds as data: one [`KindSpec`] per kind of tenant object beyond applications and clients —
//! its API (paths, envelope, id field), natural key, parent, reference fields, field catalogue,
//! lifecycle (create/update/delete, or one whole object per application), and what a delete
//! answers while the object is referenced. Manifest loading, the planner, execution, the state,
//! export, lint and the bundled server read these descriptions; none of them names a kind's
//! fields. Adding a kind is one module here plus its row in [`ObjKind`] (see ARCHITECTURE.md).
//!
//! The reference fields of applications and clients (which point at these kinds) are described
//! here too, in [`REFERENCES`]. Pure data.

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

pub use application::{APPLICATION, DEFAULT_CLIENT_FIELD};
pub use client::{CLIENT, PROTOCOL_FIELD};
pub use references::{references_of, Holder, Reference, REFERENCES};
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
    pub kind: ObjKind,
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
    /// `Some(Application)`: it belongs to an application, named by the manifest's `application:`
    /// (a reference to an `Application` document) and reached under the app's id.
    pub parent: Option<Parent>,
    /// The fields of its API, as upstream documents them.
    pub fields: &'static [Field],
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
/// schemas of its response object and request bodies.
#[derive(Debug)]
pub struct Upstream {
    /// `resources` for `resources.openapi.2025.json`.
    pub document: &'static str,
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
    /// A field unique within the tenant (or within the parent, for a parented kind).
    Field(&'static str),
    /// One object per parent: the parent is the key.
    Singleton,
}

/// How a kind is reached over the API. Paths are relative to the API base; `{app_id}` is the
/// parent application's id and `{id}` the object's.
#[derive(Debug)]
pub struct Api {
    /// GET: every object (a wrapped array), or the one object of a singleton (wrapped).
    pub collection: &'static str,
    /// The object's own path: PUT updates it, DELETE deletes it.
    pub item: &'static str,
    /// The field that carries its id in responses (`None`: a singleton has no id).
    pub id_field: Option<&'static str>,
    /// For a singleton: the field of the GET's `result` that holds the object (`auth_methods`).
    pub singleton_field: Option<&'static str>,
    /// Created with POST to `collection` (else the object always exists: a singleton).
    pub create: bool,
    /// Read one by id with GET on `item` (upstream documents it for some kinds only).
    pub read_one: bool,
    /// Read one by natural key: GET on this path with the key in this query parameter.
    pub by_key: Option<(&'static str, &'static str)>,
    /// Deleted with DELETE on `item` (else removing it from the manifests only stops managing
    /// it).
    pub delete: bool,
    /// Updates are whole-object replacements (every field is sent each time), not partial.
    pub replace_whole: bool,
    /// What a create answers: the object (`Object`), or only something with its id that
    /// upstream does not type (`Untyped`: tenantsync finds the object by natural key instead).
    pub create_answer: CreateAnswer,
    /// How its answers carry the object or the list.
    pub envelope: Envelope,
    /// An update answers the object as it is now (else its answer is not read).
    pub update_answers_object: bool,
    /// Updates and deletes answer `202 Accepted` (upstream applies them later): an update's
    /// answer carries only the id (`{"result": {"role_id": …}}`), a delete's nothing. Else an
    /// update answers 200 and a delete 204.
    pub accepted: bool,
    /// A path (under the item's) where a POST of `{field: …}` replaces that one field,
    /// answered `202 Accepted` with nothing: a role group's `…/{id}/roles/set` for its
    /// `role_ids`. Updates write that field there, never with the PUT: this path types it as
    /// upstream answers it, the PUT's body does not (a role group's `role_ids` is typed a
    /// string there, with a list as its example). See [`Api::update_requests`].
    pub replaces_one: Option<(&'static str, &'static str)>,
}

/// The requests one update takes ([`Api::update_requests`]): the PUT of its fields, and the
/// POST of the one field a `replaces_one` path writes; each only when it has something to send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateRequests {
    /// The PUT's body.
    pub put: Option<Map<String, Value>>,
    /// The one-field replacement: its path template and body (`{field: …}`).
    pub replace: Option<(&'static str, Map<String, Value>)>,
}

impl UpdateRequests {
    /// How many requests.
    pub fn count(&self) -> usize {
        usize::from(self.put.is_some()) + usize::from(self.replace.is_some())
    }
}

/// How answers carry what they return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// Wrapped: `{"result": …}`.
    Result,
    /// As it is (a bare object or array).
    Bare,
}

impl Api {
    /// A collection of objects with ids, created with POST (answering the object), read one by
    /// one, updated partially, deleted, answers wrapped in `result`: the builders below say
    /// where a kind differs.
    pub(crate) const fn objects(
        collection: &'static str,
        item: &'static str,
        id_field: &'static str,
    ) -> Self {
        Api {
            collection,
            item,
            id_field: Some(id_field),
            singleton_field: None,
            create: true,
            read_one: true,
            by_key: None,
            delete: true,
            replace_whole: false,
            create_answer: CreateAnswer::Object,
            envelope: Envelope::Result,
            update_answers_object: false,
            accepted: false,
            replaces_one: None,
        }
    }
    /// A POST of `{field: …}` to `path` replaces one field (see [`Api::replaces_one`]).
    pub(crate) const fn replaces_one(mut self, path: &'static str, field: &'static str) -> Self {
        self.replaces_one = Some((path, field));
        self
    }
    /// Updates and deletes answer `202 Accepted`.
    pub(crate) const fn accepted(mut self) -> Self {
        self.accepted = true;
        self
    }
    /// An update answers the object as it is now.
    pub(crate) const fn update_answers_object(mut self) -> Self {
        self.update_answers_object = true;
        self
    }
    /// Not read one by id (upstream documents no GET on the item).
    pub(crate) const fn not_read_one(mut self) -> Self {
        self.read_one = false;
        self
    }
    /// Read one by natural key: GET on `path` with the key in query parameter `param`.
    pub(crate) const fn by_key(mut self, path: &'static str, param: &'static str) -> Self {
        self.by_key = Some((path, param));
        self
    }
    /// A create answers an untyped object: the new one is found by natural key.
    pub(crate) const fn untyped_create(mut self) -> Self {
        self.create_answer = CreateAnswer::Untyped;
        self
    }
    /// Answers carry the object or list as it is.
    pub(crate) const fn bare(mut self) -> Self {
        self.envelope = Envelope::Bare;
        self
    }

    /// The collection path, for the parent app `app_id`.
    pub fn collection_path(&self, app_id: Option<&str>) -> String {
        fill(self.collection, app_id, None)
    }

    /// The item path of object `id` (a singleton's is its update path).
    pub fn item_path(&self, app_id: Option<&str>, id: Option<&str>) -> String {
        fill(self.item, app_id, id)
    }

    /// `template` (one of this API's paths) for object `id` of application `app_id`.
    pub fn path(&self, template: &str, app_id: Option<&str>, id: Option<&str>) -> String {
        fill(template, app_id, id)
    }

    /// The requests an update sending `body` takes: the field a `replaces_one` path writes
    /// goes there, every other field in the PUT.
    pub fn update_requests(&self, body: &Map<String, Value>) -> UpdateRequests {
        let mut put = body.clone();
        let replace = self.replaces_one.and_then(|(path, field)| {
            let value = put.remove(field)?;
            Some((path, Map::from_iter([(field.to_owned(), value)])))
        });
        UpdateRequests {
            put: (!put.is_empty() || replace.is_none()).then_some(put),
            replace,
        }
    }

    /// The id of a live object.
    pub fn id_of(&self, live: &Map<String, Value>) -> Option<String> {
        let field = self.id_field?;
        live.get(field).and_then(Value::as_str).map(str::to_owned)
    }
}

/// Any kind of tenant object: an application, a client, or a described kind. What the
/// target's calls are addressed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyKind {
    /// An application.
    Application,
    /// A client of an application.
    Client,
    /// A kind described by a [`KindSpec`].
    Described(ObjKind),
}

impl AnyKind {
    /// How it is reached.
    pub fn api(self) -> &'static Api {
        match self {
            AnyKind::Application => &APPLICATION.api,
            AnyKind::Client => &CLIENT.api,
            AnyKind::Described(kind) => &kind.spec().api,
        }
    }

    /// The `kind:` of its manifest documents.
    pub fn name(self) -> &'static str {
        match self {
            AnyKind::Application => APPLICATION.name,
            AnyKind::Client => CLIENT.name,
            AnyKind::Described(kind) => kind.name(),
        }
    }
}

impl fmt::Display for AnyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Applications and clients, as far as they are data yet: their API and natural key. Their
/// fields are in the catalogue (`model::catalogue`) and their planning in `plan/`; the
/// reconciler's generic paths (the HTTP target, journaled creates) read them from here.
#[derive(Debug)]
pub struct CoreKind {
    /// The `kind:` of its manifest documents.
    pub name: &'static str,
    /// How it is reached.
    pub api: Api,
    /// The field that names it: unique in the tenant (applications) or in its application
    /// (clients).
    pub natural_key: &'static str,
}

impl CoreKind {
    /// The field that carries its id.
    pub fn id_field(&self) -> &'static str {
        self.api
            .id_field
            .expect("applications and clients have ids")
    }

    /// The id of a live object.
    pub fn id_of(&self, live: &Map<String, Value>) -> Option<String> {
        self.api.id_of(live)
    }

    /// The natural key of a live object or a body.
    pub fn key_of<'a>(&self, object: &'a Map<String, Value>) -> Option<&'a str> {
        object.get(self.natural_key).and_then(Value::as_str)
    }

    /// The id of a live object, borrowed; empty when it has none.
    pub fn id_str<'a>(&self, live: &'a Map<String, Value>) -> &'a str {
        live.get(self.id_field())
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The natural key of a live object or a body; empty when it has none.
    pub fn key_str<'a>(&self, object: &'a Map<String, Value>) -> &'a str {
        self.key_of(object).unwrap_or_default()
    }
}

/// What a create answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAnswer {
    /// `{"result": <the object>}`.
    Object,
    /// `{"result": {...}}` with no documented fields: look the object up by natural key.
    Untyped,
}

/// Whether responses carry a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Required in responses.
    Always,
    /// Optional in responses.
    Maybe,
    /// Never returned (write-only): compared with the last applied value.
    Never,
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
    /// Whether responses carry it.
    pub returned: Returned,
    /// Set by the server (ids, timestamps, tenant): never written, dropped by export.
    pub generated: bool,
    /// Names of sub-fields that hold secrets (for an object field: in it, or in any object
    /// in it), never returned by the bundled server, hidden everywhere, and compared with the
    /// last applied value by hash.
    pub secret_subfields: &'static [&'static str],
    /// Its value when a removal from the manifest must reset it (partial updates cannot unset
    /// a field).
    pub reset: Option<ResetValue>,
    /// The field is a set (order does not matter).
    pub set: bool,
    /// For an object field: the sub-fields a request must set.
    pub requires: &'static [&'static str],
    /// Written as ids, but read as the objects they name (see [`ReadFrom`]).
    pub read_from: Option<ReadFrom>,
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

/// A reset value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetValue {
    /// `""`.
    EmptyString,
    /// `[]`.
    EmptyList,
}

impl ResetValue {
    /// As JSON.
    pub fn value(self) -> Value {
        match self {
            ResetValue::EmptyString => Value::String(String::new()),
            ResetValue::EmptyList => Value::Array(Vec::new()),
        }
    }
}

/// Row builders, so each kind's table reads as data.
pub(crate) const fn rw(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: false,
        returned: Returned::Maybe,
        generated: false,
        secret_subfields: &[],
        reset: None,
        set: false,
        requires: &[],
        read_from: None,
    }
}

impl Field {
    /// Required on create and always returned.
    pub(crate) const fn required(mut self) -> Self {
        self.required = true;
        self.returned = Returned::Always;
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
    pub(crate) const fn generated(mut self, returned: Returned) -> Self {
        self.generated = true;
        self.returned = returned;
        self
    }
    /// A removal sends this.
    pub(crate) const fn reset(mut self, value: ResetValue) -> Self {
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
    /// Holds secrets in these sub-fields.
    pub(crate) const fn secrets(mut self, names: &'static [&'static str]) -> Self {
        self.secret_subfields = names;
        self
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

    /// The natural key of a spec (for a singleton: empty; its parent is its key).
    pub fn key_of(&self, spec: &Map<String, Value>) -> Option<String> {
        match self.natural_key {
            NaturalKey::Field(f) => spec.get(f).and_then(Value::as_str).map(str::to_owned),
            NaturalKey::Singleton => Some(String::new()),
        }
    }

    /// The id of a live object.
    pub fn id_of(&self, live: &Map<String, Value>) -> Option<String> {
        self.api.id_of(live)
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

/// `template` with `{app_id}` and `{id}` replaced, each percent-encoded as one path segment
/// (ids come from responses and are not trusted to be path-safe).
fn fill(template: &str, app_id: Option<&str>, id: Option<&str>) -> String {
    let mut out = template.to_owned();
    if let Some(app) = app_id {
        out = out.replace("{app_id}", &segment(app));
    }
    if let Some(id) = id {
        out = out.replace("{id}", &segment(id));
    }
    out
}

/// One path segment, percent-encoded.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Every secret sub-field value under `value` replaced by `with(value)`, recursively; returns
/// whether any was found.
pub fn map_secrets(
    value: &mut Value,
    names: &[&str],
    with: &mut dyn FnMut(&Value) -> Value,
) -> bool {
    let mut found = false;
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if names.contains(&k.as_str()) && !v.is_null() {
                    *v = with(v);
                    found = true;
                } else {
                    found |= map_secrets(v, names, with);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                found |= map_secrets(v, names, with);
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
