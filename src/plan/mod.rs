//! The plan engine (pure): desired state (manifests) + reconciler state + observed live objects →
//! an ordered list of creates, updates, adoptions and deletions with field-level detail.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan. Gathering the inputs and
//! carrying the plan out live in `crate::reconcile`.

pub mod diff;
pub mod fields;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::manifest::{DesiredApp, DesiredClient, DesiredState};
use crate::model::AuthenticationProtocol;
use crate::state::entry::{
    redact_spec, salted_hash, Address, Kind, Ownership, StateEntry, StateSnapshot,
};
use diff::{diff_object, FieldChange};
use fields::ObjectKind;

/// Version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// Trims a live object to `keep` (plus identity fields). Observing thousands of objects then
/// holds only what planning reads.
pub fn trim_live(object: Map<String, Value>, keep: &BTreeSet<String>) -> Map<String, Value> {
    const IDENTITY: &[&str] = &[
        "app_id",
        "app_name",
        "client_id",
        "name",
        "authentication_protocol",
    ];
    object
        .into_iter()
        .filter(|(k, _)| keep.contains(k) || IDENTITY.contains(&k.as_str()))
        .collect()
}

/// The top-level fields the planner compares for apps and for clients: everything any desired
/// object sets or any state entry last applied.
pub fn managed_fields(
    desired: &DesiredState,
    state: &StateSnapshot,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut apps: BTreeSet<String> = BTreeSet::new();
    let mut clients: BTreeSet<String> = BTreeSet::new();
    for app in desired.apps.values() {
        apps.extend(app.spec.keys().cloned());
        for c in app.clients.values() {
            clients.extend(c.spec.keys().cloned());
        }
    }
    for e in state.entries.values() {
        let set = match e.address.kind {
            Kind::Application => &mut apps,
            Kind::Client => &mut clients,
        };
        set.extend(e.last_applied.keys().cloned());
    }
    (apps, clients)
}

/// A live application and (when the planner needs them) its clients.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveApp {
    /// The app as the API returns it.
    pub app: Map<String, Value>,
    /// Its clients, when fetched.
    pub clients: Option<Vec<Map<String, Value>>>,
    /// Found by id although the list of applications left it out (a token that sees only some
    /// apps, a lagging list): it exists, and is planned like any other.
    pub unlisted: bool,
}

impl LiveApp {
    /// The app id.
    pub fn id(&self) -> &str {
        self.app
            .get("app_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What was observed on the target.
///
/// The planner takes an object the state maps to an id as deleted outside tenantsync when it is
/// not here. Whoever observes must therefore have confirmed that (a lookup by id answered "not
/// found") for every mapped id a list left out, as `reconcile::gather` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Every live application.
    pub apps: Vec<LiveApp>,
}

/// Which live apps the planner needs the clients of: those the state maps to a key, and those a
/// desired app may adopt by name. Everything else is none of tenantsync's business.
pub fn apps_needing_clients(
    desired: &DesiredState,
    state: &StateSnapshot,
    apps: &[Map<String, Value>],
) -> BTreeSet<String> {
    let names: BTreeSet<&str> = desired.apps.values().map(DesiredApp::app_name).collect();
    let claimed: BTreeSet<&str> = state.entries.values().map(|e| e.app_id.as_str()).collect();
    apps.iter()
        .filter_map(|a| {
            let id = a.get("app_id")?.as_str()?;
            let name = a
                .get("app_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (claimed.contains(id) || names.contains(name)).then(|| id.to_owned())
        })
        .collect()
}

/// Options that shape a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete managed objects that left the manifests.
    pub prune: bool,
    /// Refuse plans deleting more than this many objects.
    pub max_deletes: usize,
    /// Allow more deletions than `max_deletes`.
    pub allow_mass_delete: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            prune: false,
            max_deletes: 10,
            allow_mass_delete: false,
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Several live objects match a key that the state does not map yet.
    #[error(
        "{address}: {count} live {what} are named `{name}` ({ids}); tenantsync will not guess which one to manage. \
         Pick one with `tenantsync import {address} <id>`"
    )]
    AmbiguousAdoption {
        /// The manifest object.
        address: String,
        /// What kind of object.
        what: &'static str,
        /// The name shared.
        name: String,
        /// How many match.
        count: usize,
        /// Their ids.
        ids: String,
    },
    /// A client's protocol differs between the manifest and the live object.
    #[error(
        "{address}: the live client is {live} but the manifest says {desired}; the API cannot change a client's protocol. \
         Give the client a new name to create it anew (and --prune the old one)"
    )]
    ProtocolChange {
        /// The client.
        address: String,
        /// Live protocol.
        live: String,
        /// Manifest protocol.
        desired: String,
    },
    /// The plan deletes more than allowed.
    #[error(
        "the plan deletes {count} objects, more than --max-deletes {max}; review it, then raise --max-deletes or pass --allow-mass-delete"
    )]
    MassDelete {
        /// Deletions planned.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a new live object.
    Create,
    /// Start managing an existing live object (and update it if it differs).
    Adopt,
    /// Update a managed live object.
    Update,
    /// Delete a managed live object.
    Delete,
}

/// One planned change to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// Application or client.
    pub kind: Kind,
    /// The object's manifest identity, as text (`Application/food`, `Client/food/iOS`).
    pub name: String,
    /// The same, structured.
    pub address: Address,
    /// Live app id (absent for an app not created yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Live client id (clients that exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Some field changed on the live side while the manifest did not (drift), or the object was
    /// deleted outside tenantsync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    /// Field-level changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Explanations (why, what cannot be done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The request body sent (create body or PUT body); secrets shown as `(sensitive)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Map<String, Value>>,
    /// The request body with secret values (in memory only; never serialized).
    #[serde(skip)]
    pub body_secret: Option<Map<String, Value>>,
    /// Hash of the managed fields of the live object when planned; apply refuses if it changed
    /// since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_fingerprint: Option<String>,
    /// The fields `live_fingerprint` covers: those the plan manages on this object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_fields: Vec<String>,
    /// For deletions: the live object is already gone; only the state entry is removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_gone: bool,
    /// What the state records after success (secrets hashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// For app creation: the default client created with it, and its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_client: Option<DefaultClientRecord>,
    /// For an application's deletion: the live clients deleted with it (managed or not), each
    /// counted against `--max-deletes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cascade: Vec<CascadedClient>,
}

impl Change {
    /// Its execution phase: create apps (0) → create clients (1) → update or
    /// adopt apps (2) → clients (3) → delete clients (4) → delete apps (5).
    pub fn phase(&self) -> u8 {
        match (self.action, self.kind) {
            (Action::Create, Kind::Application) => 0,
            (Action::Create, Kind::Client) => 1,
            (Action::Adopt | Action::Update, Kind::Application) => 2,
            (Action::Adopt | Action::Update, Kind::Client) => 3,
            (Action::Delete, Kind::Client) => 4,
            (Action::Delete, Kind::Application) => 5,
        }
    }
}

/// A live client that goes with the application a change deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadedClient {
    /// Its name.
    pub name: String,
    /// Its id.
    pub client_id: String,
    /// Whether tenantsync manages it.
    pub managed: bool,
}

/// State to record for an object after its change succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Created or adopted.
    pub ownership: Ownership,
    /// The managed fields as applied (secrets hashed).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion.
    pub protect: bool,
}

/// The default client created together with an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultClientRecord {
    /// Its address.
    pub address: Address,
    /// Its record.
    pub record: Record,
}

/// A deletion that is not carried out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedDelete {
    /// The object.
    pub name: String,
    /// Why it stays.
    pub reason: String,
}

/// A state entry to rewrite without any write to the target (e.g. a field tenantsync stops
/// managing because the API cannot clear it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateUpdate {
    /// The object.
    pub address: Address,
    /// Its new record.
    pub record: Record,
}

/// Counts by action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Objects to create.
    pub create: usize,
    /// Objects to update.
    pub update: usize,
    /// Objects to delete.
    pub delete: usize,
    /// Objects to adopt.
    pub adopt: usize,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Deletions not carried out (no --prune, protected, empty manifest set).
    pub skipped_delete: usize,
}

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version of this JSON.
    pub format_version: u32,
    /// Counts.
    pub summary: Summary,
    /// Changes in execution order.
    pub changes: Vec<Change>,
    /// Deletions left out.
    #[serde(default)]
    pub skipped_deletes: Vec<SkippedDelete>,
    /// State-only updates.
    #[serde(default)]
    pub state_updates: Vec<StateUpdate>,
    /// Things the user should know.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The target it was made against.
    pub target: String,
    /// The state it was made against.
    pub state_lineage: String,
    /// Fingerprint of the manifests it was made from.
    pub manifests_fingerprint: String,
}

impl Plan {
    /// True when applying would write to the target or adopt objects.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Identification of the inputs, recorded in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanContext {
    /// The target description.
    pub target: String,
    /// Fingerprint of the desired state.
    pub manifests_fingerprint: String,
}

/// The kind of a live object of state kind `kind` (a client's protocol is read from it).
pub fn live_kind(kind: Kind, live: &Map<String, Value>) -> ObjectKind {
    match kind {
        Kind::Application => ObjectKind::App,
        Kind::Client => ObjectKind::Client(live_protocol(live)),
    }
}

fn live_protocol(live: &Map<String, Value>) -> AuthenticationProtocol {
    match str_field(live, "authentication_protocol") {
        "saml" => AuthenticationProtocol::Saml,
        _ => AuthenticationProtocol::Oidc,
    }
}

/// Fingerprint of the `fields` of a live object, in the form requests use and with sets in a
/// canonical order: what a saved plan checks before it writes. Fields nobody manages (an app's
/// `logo`, server timestamps) are not part of it, so they never make a saved plan refuse.
/// Unsalted so a plan made before the state existed still matches.
pub fn live_fingerprint(
    kind: ObjectKind,
    object: &Map<String, Value>,
    fields: &[String],
) -> String {
    let catalogue_object = kind.object();
    let mut covered = Map::new();
    for field in fields {
        if let Some(v) = object.get(field) {
            let fact = catalogue_object.field(field);
            let v = crate::model::catalogue::request_form(fact, v);
            covered.insert(
                field.clone(),
                fields::canonical(catalogue_object, field, &v),
            );
        }
    }
    salted_hash(b"tenantsync/live-fingerprint/v2", &Value::Object(covered))
}

/// Fingerprint of a desired state (secrets hashed first), so a saved plan can tell whether the
/// manifests changed since. Streamed into the hash: no copy of the state is built.
pub fn desired_fingerprint(desired: &DesiredState, salt: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    w.0.update(salt);
    let spec = |w: &mut HashWriter, spec: &Map<String, Value>, sensitive: &BTreeSet<String>| {
        if sensitive.is_empty() {
            serde_json::to_writer(&mut *w, spec).expect("hashing cannot fail");
        } else {
            serde_json::to_writer(&mut *w, &redact_spec(spec, sensitive, salt))
                .expect("hashing cannot fail");
        }
    };
    for (key, app) in &desired.apps {
        w.0.update(format!("\0app\0{key}\0{}\0", app.protect).as_bytes());
        spec(&mut w, &app.spec, &app.sensitive);
        serde_json::to_writer(&mut w, &app.ignore_fields).expect("hashing cannot fail");
        for (name, c) in &app.clients {
            w.0.update(
                format!(
                    "\0client\0{name}\0{}\0{}\0",
                    c.protocol.as_str(),
                    c.is_default
                )
                .as_bytes(),
            );
            spec(&mut w, &c.spec, &c.sensitive);
            serde_json::to_writer(&mut w, &c.ignore_fields).expect("hashing cannot fail");
        }
    }
    w.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn str_field<'a>(m: &'a Map<String, Value>, f: &str) -> &'a str {
    m.get(f).and_then(Value::as_str).unwrap_or_default()
}

fn shown_body(body: &Map<String, Value>, sensitive: &BTreeSet<String>) -> Map<String, Value> {
    let mut shown = body.clone();
    for path in sensitive {
        let head = path.split(['.', '[']).next().unwrap_or(path);
        if let Some(v) = shown.get_mut(head) {
            *v = Value::String("(sensitive)".to_owned());
        }
    }
    shown
}

/// The body that creates an application with its default client, and the same body as shown
/// (secrets as `(sensitive)`).
fn app_create_bodies(app: &DesiredApp) -> (Map<String, Value>, Map<String, Value>) {
    let default = &app.clients[&app.default_client];
    let mut body = app.spec.clone();
    let mut first_client = client_create_body(default);
    if default.protocol == AuthenticationProtocol::Saml {
        body.insert("first_client_authentication_protocol".into(), json!("saml"));
    }
    first_client.remove("authentication_protocol");
    first_client.insert(
        "authentication_protocol".into(),
        json!(default.protocol.as_str()),
    );
    body.insert("first_client".into(), Value::Object(first_client.clone()));
    // Both upstream revisions require the (deprecated) default-client name on create.
    body.insert("client_display_name".into(), json!(default.name));
    let mut shown = shown_body(&body, &app.sensitive);
    shown.insert(
        "first_client".into(),
        Value::Object(shown_body(&first_client, &default.sensitive)),
    );
    (body, shown)
}

/// Why a saved plan's secret values could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address}: the manifests have no such object; run plan again")]
pub struct RestoreError {
    /// The object.
    pub address: String,
}

/// Gives a saved plan its secret values back. A plan file shows secrets as `(sensitive)` and
/// never holds them; before it is carried out, each request body is rebuilt from the manifests
/// it was made from (the caller has checked their fingerprint), so `(sensitive)` is never sent.
pub fn restore_secrets(plan: &mut Plan, desired: &DesiredState) -> Result<(), RestoreError> {
    for change in &mut plan.changes {
        let Some(shown) = &change.body else {
            continue;
        };
        let missing = || RestoreError {
            address: change.address.to_string(),
        };
        let app = desired.apps.get(&change.address.app).ok_or_else(missing)?;
        let client = match &change.address.client {
            Some(name) => Some(app.clients.get(name).ok_or_else(missing)?),
            None => None,
        };
        let (spec, sensitive, ignore) = match client {
            Some(c) => (&c.spec, &c.sensitive, &c.ignore_fields),
            None => (&app.spec, &app.sensitive, &app.ignore_fields),
        };
        let body = match (change.action, client) {
            (Action::Create, None) => app_create_bodies(app).0,
            (Action::Create, Some(c)) => client_create_body(c),
            _ => {
                let mut body = shown.clone();
                for (field, value) in body.iter_mut() {
                    let secret = sensitive
                        .iter()
                        .any(|p| p == field || p.starts_with(&format!("{field}.")));
                    if !secret {
                        continue;
                    }
                    let desired_value = spec.get(field).ok_or_else(missing)?;
                    *value = match desired_value {
                        Value::Object(m) => Value::Object(
                            m.iter()
                                .filter(|(k, _)| !ignore.contains(&format!("{field}.{k}")))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                        other => other.clone(),
                    };
                }
                body
            }
        };
        change.body_secret = Some(body);
    }
    Ok(())
}

/// The body that creates a client: its fields, the protocol, and what the API requires on
/// create that a manifest may leave out (OIDC `redirect_uris`: absent means none).
fn client_create_body(client: &DesiredClient) -> Map<String, Value> {
    let mut body = client.spec.clone();
    body.insert(
        "authentication_protocol".into(),
        json!(client.protocol.as_str()),
    );
    let object = ObjectKind::Client(client.protocol).object();
    for field in object.fields() {
        if let Some(default) = field.manifest_default {
            body.entry(field.name).or_insert_with(|| default.to_value());
        }
    }
    body
}

struct Builder<'a> {
    state: &'a StateSnapshot,
    changes: Vec<Change>,
    delete_candidates: Vec<Change>,
    skipped: Vec<SkippedDelete>,
    state_updates: Vec<StateUpdate>,
    warnings: Vec<String>,
    unchanged: usize,
}

impl Builder<'_> {
    fn record(
        &self,
        ownership: Ownership,
        spec: &Map<String, Value>,
        sensitive: &BTreeSet<String>,
        protect: bool,
    ) -> Record {
        Record {
            ownership,
            last_applied: redact_spec(spec, sensitive, &self.state.salt),
            protect,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn matched(
        &mut self,
        address: Address,
        kind: ObjectKind,
        entry: Option<&StateEntry>,
        live: &Map<String, Value>,
        spec: &Map<String, Value>,
        ignore: &BTreeSet<String>,
        sensitive: &BTreeSet<String>,
        protect: bool,
        ids: (Option<String>, Option<String>),
    ) {
        let salt = &self.state.salt;
        let diff = diff_object(
            kind,
            spec,
            entry.map(|e| &e.last_applied),
            live,
            ignore,
            sensitive,
            salt,
        );
        let ownership = entry.map_or(Ownership::Adopted, |e| e.ownership);
        let record = self.record(ownership, spec, sensitive, protect);
        let mut fingerprint_fields: Vec<String> = spec
            .keys()
            .chain(entry.iter().flat_map(|e| e.last_applied.keys()))
            .cloned()
            .collect();
        fingerprint_fields.sort();
        fingerprint_fields.dedup();
        let state_kind = address.kind;
        let action = match (entry, diff.needs_write()) {
            (None, _) => Some(Action::Adopt),
            (Some(_), true) => Some(Action::Update),
            (Some(_), false) => None,
        };
        let Some(action) = action else {
            self.unchanged += 1;
            let e = entry.expect("matched with an entry");
            if e.last_applied != record.last_applied || e.protect != record.protect {
                self.state_updates.push(StateUpdate { address, record });
            }
            return;
        };
        let mut notes = Vec::new();
        if action == Action::Adopt {
            notes.push("exists on the target and is not yet managed: it will be adopted (one live object matches by name)".to_owned());
        }
        if diff.fields.iter().any(|f| f.op == diff::FieldOp::Release) {
            notes.push("fields removed from the manifest that the API cannot clear keep their live value and are no longer managed".to_owned());
        }
        let drift = diff.fields.iter().any(|f| f.drift);
        let body = diff.needs_write().then(|| diff.body.clone());
        self.changes.push(Change {
            action,
            kind: state_kind,
            name: address.to_string(),
            address,
            app_id: ids.0,
            client_id: ids.1,
            drift,
            fields: diff.fields,
            notes,
            body: body.as_ref().map(|b| shown_body(b, sensitive)),
            body_secret: body,
            live_fingerprint: Some(live_fingerprint(kind, live, &fingerprint_fields)),
            fingerprint_fields,
            already_gone: false,
            record: Some(record),
            default_client: None,
            cascade: Vec::new(),
        });
    }

    fn create_client_change(
        &self,
        app_key: &str,
        app_id: Option<&str>,
        client: &DesiredClient,
        protect: bool,
        drift: bool,
    ) -> Change {
        let address = Address::client(app_key, &client.name);
        let body = client_create_body(client);
        let mut notes = Vec::new();
        if drift {
            notes.push("was deleted outside tenantsync; it will be created again".to_owned());
        }
        Change {
            action: Action::Create,
            kind: Kind::Client,
            name: address.to_string(),
            address,
            app_id: app_id.map(str::to_owned),
            client_id: None,
            drift,
            fields: Vec::new(),
            notes,
            body: Some(shown_body(&body, &client.sensitive)),
            body_secret: Some(body),
            live_fingerprint: None,
            fingerprint_fields: Vec::new(),
            already_gone: false,
            record: Some(self.record(Ownership::Created, &client.spec, &client.sensitive, protect)),
            default_client: None,
            cascade: Vec::new(),
        }
    }

    fn create_app(&mut self, app: &DesiredApp, drift: bool) {
        let default = &app.clients[&app.default_client];
        let (body, shown) = app_create_bodies(app);
        let address = Address::app(&app.key);
        let mut notes = Vec::new();
        if drift {
            notes.push("was deleted outside tenantsync; it will be created again".to_owned());
        }
        notes.push(format!(
            "its default client `{}` is created with it",
            default.name
        ));
        self.changes.push(Change {
            action: Action::Create,
            kind: Kind::Application,
            name: address.to_string(),
            address,
            app_id: None,
            client_id: None,
            drift,
            fields: Vec::new(),
            notes,
            body: Some(shown),
            body_secret: Some(body),
            live_fingerprint: None,
            fingerprint_fields: Vec::new(),
            already_gone: false,
            record: Some(self.record(Ownership::Created, &app.spec, &app.sensitive, app.protect)),
            default_client: Some(DefaultClientRecord {
                address: Address::client(&app.key, &default.name),
                record: self.record(
                    Ownership::Created,
                    &default.spec,
                    &default.sensitive,
                    app.protect,
                ),
            }),
            cascade: Vec::new(),
        });
        for client in app.clients.values().filter(|c| !c.is_default) {
            let change = self.create_client_change(&app.key, None, client, app.protect, drift);
            self.changes.push(change);
        }
    }

    fn delete_candidate(
        &mut self,
        entry: &StateEntry,
        live_object: Option<&Map<String, Value>>,
        live: bool,
        cascade: Vec<CascadedClient>,
    ) {
        let address = entry.address.clone();
        let fingerprint_fields: Vec<String> = if live_object.is_some() {
            entry.last_applied.keys().cloned().collect()
        } else {
            Vec::new()
        };
        let mut notes = Vec::new();
        if !live {
            notes.push(
                "already deleted outside tenantsync; only the state entry is removed".to_owned(),
            );
        }
        if entry.ownership == Ownership::Adopted {
            notes.push("was adopted (not created) by tenantsync".to_owned());
        }
        if !cascade.is_empty() {
            let unmanaged: Vec<String> = cascade
                .iter()
                .filter(|c| !c.managed)
                .map(|c| format!("`{}` ({})", c.name, c.client_id))
                .collect();
            let mut note = format!("deletes its {} client(s) with it", cascade.len());
            if !unmanaged.is_empty() {
                note.push_str(&format!(
                    ", {} of them not managed by tenantsync: {}",
                    unmanaged.len(),
                    unmanaged.join(", ")
                ));
            }
            notes.push(note);
        }
        self.delete_candidates.push(Change {
            action: Action::Delete,
            kind: address.kind,
            name: address.to_string(),
            address,
            app_id: Some(entry.app_id.clone()),
            client_id: entry.client_id.clone(),
            drift: false,
            fields: Vec::new(),
            notes,
            body: None,
            body_secret: None,
            live_fingerprint: live_object.map(|o| {
                live_fingerprint(live_kind(entry.address.kind, o), o, &fingerprint_fields)
            }),
            fingerprint_fields,
            already_gone: !live,
            record: None,
            default_client: None,
            cascade,
        });
    }
}

/// Makes the plan that brings the target to the desired state.
pub fn plan(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    let live_by_id: BTreeMap<&str, &LiveApp> = observed.apps.iter().map(|a| (a.id(), a)).collect();
    let claimed_apps: BTreeSet<&str> = state
        .entries
        .values()
        .filter(|e| e.address.kind == Kind::Application)
        .map(|e| e.app_id.as_str())
        .collect();
    // Live client ids already mapped to a key, per app (adoption never takes them).
    let mut claimed_clients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in state
        .entries
        .values()
        .filter(|e| e.address.kind == Kind::Client)
    {
        if let Some(c) = e.client_id.as_deref() {
            claimed_clients
                .entry(e.app_id.as_str())
                .or_default()
                .insert(c);
        }
    }
    let mut b = Builder {
        state,
        changes: Vec::new(),
        delete_candidates: Vec::new(),
        skipped: Vec::new(),
        state_updates: Vec::new(),
        warnings: Vec::new(),
        unchanged: 0,
    };

    for (key, app) in &desired.apps {
        let address = Address::app(key);
        let entry = state.entries.get(&address);
        let live = match entry {
            Some(e) => match live_by_id.get(e.app_id.as_str()) {
                Some(l) => Some(*l),
                None => {
                    b.create_app(app, true);
                    continue;
                }
            },
            None => {
                let candidates: Vec<&LiveApp> = observed
                    .apps
                    .iter()
                    .filter(|l| {
                        str_field(&l.app, "app_name") == app.app_name()
                            && !claimed_apps.contains(l.id())
                    })
                    .collect();
                match candidates.as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    many => {
                        return Err(PlanError::AmbiguousAdoption {
                            address: address.to_string(),
                            what: "applications",
                            name: app.app_name().to_owned(),
                            count: many.len(),
                            ids: many.iter().map(|l| l.id()).collect::<Vec<_>>().join(", "),
                        })
                    }
                }
            }
        };
        let Some(live) = live else {
            b.create_app(app, false);
            continue;
        };
        let app_id = live.id().to_owned();
        if live.unlisted {
            b.warnings.push(format!(
                "{address}: the list of applications leaves it out, but a lookup by id ({app_id}) finds it; \
                 it is neither created again nor deleted (does the credential see every application? a list can also lag)"
            ));
        }
        b.matched(
            address,
            ObjectKind::App,
            entry,
            &live.app,
            &app.spec,
            &app.ignore_fields,
            &app.sensitive,
            app.protect,
            (Some(app_id.clone()), None),
        );
        plan_clients(&mut b, key, app, live, &app_id, &claimed_clients)?;
    }

    // Objects in the state that left the manifests.
    for entry in state.entries.values() {
        let app_desired = desired.apps.get(&entry.address.app);
        let gone_from_manifests = match (&entry.address.kind, app_desired) {
            (_, None) => true,
            (Kind::Client, Some(app)) => !app
                .clients
                .contains_key(entry.address.client.as_deref().unwrap_or_default()),
            (Kind::Application, Some(_)) => false,
        };
        if !gone_from_manifests {
            continue;
        }
        if entry.address.kind == Kind::Client && app_desired.is_none() {
            continue; // deleted with its application
        }
        let live_app = live_by_id.get(entry.app_id.as_str());
        let (live_object, live) = match (&entry.address.kind, live_app) {
            (_, None) => (None, false),
            (Kind::Application, Some(l)) => (Some(&l.app), true),
            (Kind::Client, Some(l)) => match &l.clients {
                None => (None, true),
                Some(cs) => {
                    let found = cs
                        .iter()
                        .find(|c| Some(str_field(c, "client_id")) == entry.client_id.as_deref());
                    (found, found.is_some())
                }
            },
        };
        // Deleting an application deletes every client it has, managed or not.
        let cascade: Vec<CascadedClient> = match (&entry.address.kind, live_app) {
            (Kind::Application, Some(l)) => l
                .clients
                .iter()
                .flatten()
                .map(|c| {
                    let client_id = str_field(c, "client_id").to_owned();
                    CascadedClient {
                        name: str_field(c, "name").to_owned(),
                        managed: claimed_clients
                            .get(entry.app_id.as_str())
                            .is_some_and(|ids| ids.contains(client_id.as_str())),
                        client_id,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        b.delete_candidate(entry, live_object, live, cascade);
    }

    let candidates = std::mem::take(&mut b.delete_candidates);
    let mut deletes = Vec::new();
    for change in candidates {
        let entry = &state.entries[&change.address];
        let reason = if desired.apps.is_empty() {
            Some("the manifest set is empty; tenantsync never deletes because nothing was found (a bad checkout looks the same)".to_owned())
        } else if entry.protect {
            Some("protected by the tenantsync/protect annotation".to_owned())
        } else if !options.prune {
            Some("no longer in the manifests; run with --prune to delete it".to_owned())
        } else {
            None
        };
        match reason {
            Some(reason) => b.skipped.push(SkippedDelete {
                name: change.name.clone(),
                reason,
            }),
            None => deletes.push(change),
        }
    }
    // Every live object that goes counts, the clients an application takes with it included.
    let real_deletes: usize = deletes
        .iter()
        .filter(|d| !d.already_gone)
        .map(|d| 1 + d.cascade.len())
        .sum();
    if real_deletes > options.max_deletes && !options.allow_mass_delete {
        return Err(PlanError::MassDelete {
            count: real_deletes,
            max: options.max_deletes,
        });
    }

    // Order: create apps → create clients → adopt/update → delete clients → delete apps.
    let mut changes = std::mem::take(&mut b.changes);
    changes.extend(deletes);
    changes.sort_by(|x, y| (x.phase(), &x.address).cmp(&(y.phase(), &y.address)));

    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let summary = Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        adopt: count(Action::Adopt),
        unchanged: b.unchanged,
        skipped_delete: b.skipped.len(),
    };
    Ok(Plan {
        format_version: FORMAT_VERSION,
        summary,
        changes,
        skipped_deletes: b.skipped,
        state_updates: b.state_updates,
        warnings: b.warnings,
        target: context.target.clone(),
        state_lineage: state.lineage.clone(),
        manifests_fingerprint: context.manifests_fingerprint.clone(),
    })
}

fn plan_clients(
    b: &mut Builder<'_>,
    key: &str,
    app: &DesiredApp,
    live: &LiveApp,
    app_id: &str,
    claimed_clients: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<(), PlanError> {
    let live_clients: &[Map<String, Value>] = live.clients.as_deref().unwrap_or_default();
    let no_claims = BTreeSet::new();
    let claimed = claimed_clients.get(app_id).unwrap_or(&no_claims);
    let live_default = str_field(&live.app, "client_id").to_owned();
    for client in app.clients.values() {
        let address = Address::client(key, &client.name);
        let entry = b.state.entries.get(&address);
        let matched = match entry {
            Some(e) => match live_clients
                .iter()
                .find(|c| Some(str_field(c, "client_id")) == e.client_id.as_deref())
            {
                Some(c) => Some(c),
                None => {
                    let change =
                        b.create_client_change(key, Some(app_id), client, app.protect, true);
                    b.changes.push(change);
                    continue;
                }
            },
            None => {
                let candidates: Vec<&Map<String, Value>> = live_clients
                    .iter()
                    .filter(|c| {
                        str_field(c, "name") == client.name
                            && !claimed.contains(str_field(c, "client_id"))
                    })
                    .collect();
                match candidates.as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    many => {
                        return Err(PlanError::AmbiguousAdoption {
                            address: address.to_string(),
                            what: "clients",
                            name: client.name.clone(),
                            count: many.len(),
                            ids: many
                                .iter()
                                .map(|c| str_field(c, "client_id"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                    }
                }
            }
        };
        let Some(live_client) = matched else {
            let change = b.create_client_change(key, Some(app_id), client, app.protect, false);
            b.changes.push(change);
            continue;
        };
        let live_protocol = live_protocol(live_client);
        if live_protocol != client.protocol {
            return Err(PlanError::ProtocolChange {
                address: address.to_string(),
                live: live_protocol.to_string(),
                desired: client.protocol.to_string(),
            });
        }
        let client_id = str_field(live_client, "client_id").to_owned();
        if client.is_default && !live_default.is_empty() && live_default != client_id {
            b.warnings.push(format!(
                "{address}: the manifest marks it as the default client, but the live default of application `{key}` is another client ({live_default}); the API has no way to change which client is the default"
            ));
        }
        b.matched(
            address,
            ObjectKind::Client(client.protocol),
            entry,
            live_client,
            &client.spec,
            &client.ignore_fields,
            &client.sensitive,
            app.protect,
            (Some(app_id.to_owned()), Some(client_id)),
        );
    }
    Ok(())
}
