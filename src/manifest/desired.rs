//! The validated desired state: what the rest of tenantsync sees of the manifests. Every object
//! of every kind is keyed by its address (kind, application, natural key: an application by its
//! `metadata.name`, a client by its application's and its `name`); references are resolved,
//! interpolation done, the default client chosen, and sensitive fields marked.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::yaml::Mark;
use crate::model::catalogue::Object;
use crate::model::kinds::{AnyKind, Shape};
use crate::model::{AuthenticationProtocol, FieldPath, FieldRules};
use crate::state::address::Address;

/// Where an object was defined.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// Line of the document's start (or of the inline client).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Every desired object of every kind, by address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredState {
    /// By kind, application and natural key: the applications first (by `metadata.name`), then
    /// the clients (by application and `name`), then the other kinds' objects (`Address`'s
    /// order). Behind a pointer: a client is shared with the parse cache, which keeps the same
    /// clients; reference resolution copies only the objects that name something; and a map
    /// node holds eleven pointers rather than eleven objects.
    pub objects: BTreeMap<Address, Arc<DesiredObject>>,
    /// The values no message may show (secrets and interpolated values), for whatever renders
    /// text from these objects: errors, lint findings, plan notes.
    pub redactions: Redactions,
}

/// Values that must never appear in a message: every secret and every value read by
/// `${env:…}` / `${file:…}` in the manifests. [`Redactions::redact`] replaces each with
/// `(sensitive)`. `Debug` shows only how many there are.
#[derive(Clone, PartialEq, Default)]
pub struct Redactions {
    /// Longest first, so a value that contains another is replaced whole.
    values: Vec<String>,
}

impl fmt::Debug for Redactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactions({} values)", self.values.len())
    }
}

impl Redactions {
    /// Values shorter than this are not searched for in messages (a one- or two-character
    /// value would blot out unrelated text; it is still hidden wherever its field is shown).
    pub const MIN_LEN: usize = 3;

    /// The redactions of `values`.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .flat_map(|v| {
                // A value is also looked for line by line and trimmed, as messages may quote a
                // part of a multi-line value.
                let mut parts: Vec<String> = v
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= Self::MIN_LEN)
                    .map(str::to_owned)
                    .collect();
                parts.push(v);
                parts
            })
            .filter(|v| v.len() >= Self::MIN_LEN)
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self { values }
    }

    /// `text` with every value replaced by `(sensitive)`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "(sensitive)");
            }
        }
        out
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl DesiredState {
    /// The applications, by `metadata.name`.
    pub fn apps(&self) -> impl Iterator<Item = &DesiredObject> {
        // Applications order first.
        self.objects
            .values()
            .take_while(|o| o.kind() == AnyKind::Application)
            .map(Arc::as_ref)
    }

    /// The application `key` (`metadata.name`).
    pub fn app(&self, key: &str) -> Option<&DesiredObject> {
        self.objects.get(&Address::app(key)).map(Arc::as_ref)
    }

    /// How many applications there are.
    pub fn app_count(&self) -> usize {
        self.apps().count()
    }

    /// The clients of application `key`, by `name`, each with its client's facts.
    pub fn clients<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = (&'a DesiredObject, &'a ClientFacts)> + 'a {
        self.objects
            .range(Address::client(key, "")..)
            .take_while(move |(a, _)| a.kind == AnyKind::Client && a.app_name() == key)
            .filter_map(|(_, o)| Some((o.as_ref(), o.client()?)))
    }

    /// Client `name` of application `key`, with its client's facts.
    pub fn client(&self, key: &str, name: &str) -> Option<(&DesiredObject, &ClientFacts)> {
        let o = self.objects.get(&Address::client(key, name))?;
        Some((o, o.client()?))
    }

    /// The default client of `app`.
    pub fn default_client(&self, app: &DesiredObject) -> Option<(&DesiredObject, &ClientFacts)> {
        self.client(&app.name, app.default_client()?)
    }

    /// Number of clients across all apps.
    pub fn client_count(&self) -> usize {
        self.objects
            .keys()
            .skip_while(|a| a.kind == AnyKind::Application)
            .take_while(|a| a.kind == AnyKind::Client)
            .count()
    }

    /// The objects of the kinds `model::kinds` describes (neither applications nor clients).
    pub fn described(&self) -> impl Iterator<Item = (&Address, &DesiredObject)> {
        self.objects
            .iter()
            .skip_while(|(a, _)| a.is_app())
            .map(|(a, o)| (a, o.as_ref()))
    }

    /// Every manifest object of every kind, with its address: the applications, then the
    /// clients, then the other kinds' objects.
    pub fn each(&self) -> impl Iterator<Item = (&Address, &DesiredObject)> {
        self.objects.iter().map(|(a, o)| (a, o.as_ref()))
    }

    /// The manifests' object at `address`, of any kind.
    pub fn object(&self, address: &Address) -> Option<&DesiredObject> {
        self.objects.get(address).map(Arc::as_ref)
    }

    /// The manifests' object at `address`, to change (copied first if the parse cache shares
    /// it).
    pub fn object_mut(&mut self, address: &Address) -> Option<&mut DesiredObject> {
        self.objects.get_mut(address).map(Arc::make_mut)
    }

    /// Puts `object` in at its address (replacing what was there).
    pub fn insert(&mut self, object: DesiredObject) {
        self.objects
            .insert(object.address.clone(), Arc::new(object));
    }
}

/// Where a value is written: its key (for a mapping entry) and the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// The key's position, for a value in a mapping.
    pub key: Option<Mark>,
    /// The value's position.
    pub value: Mark,
}

/// Where an object's fields are written, and what policy checks read of its metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceInfo {
    /// Where every value of the object's document is written (shared by the objects of one
    /// document; filled once the document is parsed).
    pub positions: Arc<HashMap<FieldPath, Pos>>,
    /// The object's own path in its document (`spec`, or `spec.clients[2]`).
    pub prefix: FieldPath,
    /// `metadata.labels` of its document (empty for an inline client).
    pub labels: BTreeMap<String, String>,
    /// The `tenantsync/policy-ignore` annotation that applies to it (an inline client's is its
    /// application's), and where it is written.
    pub policy_ignore: Option<(String, Mark)>,
}

impl SourceInfo {
    /// Where exactly `path` (relative to the object) is written, if the manifest writes it.
    pub fn position(&self, path: &FieldPath) -> Option<Pos> {
        self.positions.get(&path.prefixed(&self.prefix)).copied()
    }

    /// Where `path` (relative to the object) is written, or the nearest enclosing value that is
    /// (the object itself for a field it does not set).
    pub fn mark(&self, path: &FieldPath) -> Mark {
        let mut probe = path.prefixed(&self.prefix);
        loop {
            if let Some(pos) = self.positions.get(&probe) {
                return pos.key.unwrap_or(pos.value);
            }
            if probe.0.pop().is_none() {
                return Mark { line: 1, col: 1 };
            }
        }
    }
}

/// What a reference names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    /// A managed document, by its address (and `metadata.name`, for showing).
    Managed {
        /// The named object.
        address: Address,
        /// Its `metadata.name`.
        name: String,
    },
    /// An object tenantsync does not manage, by live id (`{id: "…"}`).
    Id(String),
}

/// Reference fields by API name, each with what its values name, in order.
pub type References = BTreeMap<&'static str, Vec<Ref>>;

/// One object of any kind the manifests hold: an application, a client, or an object of a
/// described kind (`model::kinds::ObjKind`). The fields every kind has, and the few only its
/// kind has ([`Facts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// Its identity: kind, application (parented kinds), natural key.
    pub address: Address,
    /// Its name in the manifests: an application's `metadata.name`, a client's `name`, another
    /// kind's document's `metadata.name` (what references write).
    pub name: String,
    /// Where it is defined (a document's start, or an inline client's).
    pub origin: Origin,
    /// `tenantsync/protect: "true"`: never deleted (a client has its application's).
    pub protect: bool,
    /// The API fields the manifest sets (interpolated), by their API names: without
    /// `application`, and, for a client, with `name` and without `authentication_protocol`;
    /// a reference field holds what the manifest wrote (names).
    pub spec: Map<String, Value>,
    /// The field paths (in `spec`) diff and apply leave alone, and those whose values are
    /// secret or interpolated.
    pub rules: FieldRules,
    /// Where its fields are written; its labels and policy annotation.
    pub source: SourceInfo,
    /// Its reference fields, resolved (the planner sends the ids these name).
    pub refs: References,
    /// What only its kind has.
    pub facts: Facts,
}

/// What only some kinds' objects have.
#[derive(Debug, Clone, PartialEq)]
pub enum Facts {
    /// An application: the client created with it.
    Application {
        /// Its default client's `name`.
        default_client: String,
    },
    /// A client.
    Client(ClientFacts),
    /// An object of a described kind: nothing beyond the common fields.
    Described,
}

/// What only a client has.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFacts {
    /// OIDC or SAML.
    pub protocol: AuthenticationProtocol,
    /// Whether it is its application's default client.
    pub is_default: bool,
    /// The `metadata.name` of its `kind: Client` document (`None` for an inline client).
    pub document: Option<String>,
}

impl DesiredObject {
    /// Its kind.
    pub fn kind(&self) -> AnyKind {
        self.address.kind
    }

    /// Its kind's shape (a client's protocol): where its fields' facts are.
    pub fn shape(&self) -> Shape {
        match (&self.facts, self.address.described()) {
            (Facts::Client(c), _) => Shape::Catalogue(Object::client(c.protocol)),
            (_, Some(kind)) => Shape::Described(kind),
            _ => Shape::Catalogue(Object::App),
        }
    }

    /// A client's facts (none: not a client).
    pub fn client(&self) -> Option<&ClientFacts> {
        match &self.facts {
            Facts::Client(c) => Some(c),
            _ => None,
        }
    }

    /// An application's default client's `name` (none: not an application).
    pub fn default_client(&self) -> Option<&str> {
        match &self.facts {
            Facts::Application { default_client } => Some(default_client),
            _ => None,
        }
    }

    /// The `app_name` an application's manifest sets (empty for other kinds).
    pub fn app_name(&self) -> &str {
        self.spec
            .get("app_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}
