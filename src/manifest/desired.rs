//! The validated desired state: what the rest of tenantsync sees of the manifests. Apps are keyed
//! by `metadata.name`, clients by their app's key and their `name`; references are resolved,
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

/// All desired applications.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredState {
    /// By `metadata.name`.
    pub apps: BTreeMap<String, DesiredApp>,
    /// Objects of the described kinds (`model::kinds`), by kind and natural key.
    pub objects: BTreeMap<Address, DesiredObject>,
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
    /// Number of clients across all apps.
    pub fn client_count(&self) -> usize {
        self.apps.values().map(|a| a.clients.len()).sum()
    }

    /// Every manifest object of every kind, with its address: each application followed by its
    /// clients, then the other kinds' objects.
    pub fn each(&self) -> impl Iterator<Item = (Address, Written<'_>)> {
        let apps = self.apps.values().flat_map(|app| {
            let clients = app
                .clients
                .keys()
                .map(|name| Address::client(&app.key, name));
            std::iter::once(Address::app(&app.key)).chain(clients)
        });
        let objects = self.objects.keys().cloned();
        apps.chain(objects).filter_map(|address| {
            let written = self.object(&address)?;
            Some((address, written))
        })
    }

    /// The manifests' object at `address`, of any kind, as every kind has it.
    pub fn object(&self, address: &Address) -> Option<Written<'_>> {
        if let Some(kind) = address.described() {
            let o = self.objects.get(address)?;
            return Some(Written {
                shape: Shape::Described(kind),
                name: &o.name,
                origin: &o.origin,
                spec: &o.spec,
                rules: &o.rules,
                source: &o.source,
                refs: &o.refs,
            });
        }
        let app = self.apps.get(address.app_name())?;
        Some(match address.client_name() {
            None => Written {
                shape: Shape::Catalogue(Object::App),
                name: &app.key,
                origin: &app.origin,
                spec: &app.spec,
                rules: &app.rules,
                source: &app.source,
                refs: &app.refs,
            },
            Some(name) => {
                let client = app.clients.get(name)?;
                Written {
                    shape: Shape::Catalogue(Object::client(client.protocol)),
                    name: &client.name,
                    origin: &client.origin,
                    spec: &client.spec,
                    rules: &client.rules,
                    source: &client.source,
                    refs: &client.refs,
                }
            }
        })
    }
}

/// A manifest object of any kind, as every kind has it: what is read of one without caring
/// which kind it is (`DesiredState::object`, `DesiredState::each`).
#[derive(Debug, Clone, Copy)]
pub struct Written<'a> {
    /// Its kind's shape (a client's protocol): where its fields' facts are.
    pub shape: Shape,
    /// Its name in the manifests: an application's `metadata.name`, a client's `name`, another
    /// kind's document's `metadata.name`.
    pub name: &'a str,
    /// Where it is written.
    pub origin: &'a Origin,
    /// Its fields as the manifest sets them (references resolved later).
    pub spec: &'a Map<String, Value>,
    /// The fields it ignores, and those holding hidden values.
    pub rules: &'a FieldRules,
    /// Its document's source details.
    pub source: &'a SourceInfo,
    /// Its references by name, as written (resolved to ids when planned).
    pub refs: &'a References,
}

/// One desired application.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredApp {
    /// `metadata.name`: the stable key in git.
    pub key: String,
    /// Where it is defined.
    pub origin: Origin,
    /// `tenantsync/protect: "true"`: never deleted.
    pub protect: bool,
    /// The app-level API fields the manifest sets (interpolated), by their API names.
    pub spec: Map<String, Value>,
    /// The field paths (in `spec`) diff and apply leave alone, and those whose values are secret.
    pub rules: FieldRules,
    /// Where its fields are written; its labels and policy annotation.
    pub source: SourceInfo,
    /// Clients by `name`. Behind a pointer: a map node has room for eleven entries, and an
    /// application has a handful of clients (at 2,000 applications, 8 MB of empty slots
    /// inline); shared with the parse cache, which keeps the same clients.
    pub clients: BTreeMap<String, Arc<DesiredClient>>,
    /// Name of the default client.
    pub default_client: String,
    /// Its reference fields (`service_providers`), resolved: the field's value in `spec` is
    /// what the manifest wrote (names); the planner sends the ids these name.
    pub refs: References,
}

impl DesiredApp {
    /// The `app_name` the manifest sets.
    pub fn app_name(&self) -> &str {
        self.spec
            .get("app_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
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

/// One desired client.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredClient {
    /// `name` (unique within its app).
    pub name: String,
    /// Where it is defined.
    pub origin: Origin,
    /// OIDC or SAML.
    pub protocol: AuthenticationProtocol,
    /// Whether it is the app's default client.
    pub is_default: bool,
    /// The `metadata.name` of its `kind: Client` document (`None` for an inline client).
    pub document: Option<String>,
    /// The API fields the manifest sets (including `name`; without `authentication_protocol`).
    pub spec: Map<String, Value>,
    /// The field paths (in `spec`) diff and apply leave alone, and those whose values are secret.
    pub rules: FieldRules,
    /// Where its fields are written; its policy annotation.
    pub source: SourceInfo,
    /// Its reference fields (`resources`, `role_ids`), resolved.
    pub refs: References,
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

/// One object of a described kind (`model::kinds::ObjKind`).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// Its identity: kind, application (parented kinds), natural key.
    pub address: Address,
    /// `metadata.name`: what references write.
    pub name: String,
    /// Where it is defined.
    pub origin: Origin,
    /// `tenantsync/protect: "true"`: never deleted.
    pub protect: bool,
    /// The API fields the manifest sets (without `application`), by their API names.
    pub spec: Map<String, Value>,
    /// The field paths ignored, and those whose values are secret or interpolated.
    pub rules: FieldRules,
    /// Where its fields are written; its labels and policy annotation.
    pub source: SourceInfo,
    /// Its reference fields, resolved.
    pub refs: References,
}

impl DesiredObject {
    /// Its kind.
    pub fn kind(&self) -> AnyKind {
        self.address.kind
    }
}
