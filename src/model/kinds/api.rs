//! How a described kind is reached over the API ([`Api`]): its paths, id field, answers and
//! update semantics, the requests one update takes ([`UpdateRequests`]), and paths filled with
//! ids (each one encoded path segment). Pure data.

use serde_json::{Map, Value};

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

/// What a create answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAnswer {
    /// `{"result": <the object>}`.
    Object,
    /// `{"result": {...}}` with no documented fields: look the object up by natural key.
    Untyped,
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
