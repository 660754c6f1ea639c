//! Planning the described kinds (`model::kinds`) and the references to them. Pure.
//!
//! - [`resolve_references`]: the desired applications and clients with every reference field
//!   written as the ids it names: the state's id, a live object's adopted by natural key, or,
//!   for an object this plan creates, a placeholder ([`REF_PREFIX`]) execution fills in once the
//!   object exists. A default client created with its application cannot name a role of that
//!   application (the role needs the application first): that field is deferred to a second
//!   round of the same apply.
//! - [`plan_objects`]: create, adopt, update, delete (or release) each object of a described
//!   kind, from the manifest, its state entry and the live collection, with upstream's update
//!   semantics (partial PUT, or whole replacement) and secrets compared by hash.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::diff::{FieldChange, FieldOp};
use super::types::{Action, Phase, PlanOptions};
use crate::manifest::{DesiredObject, DesiredState, Ref};
use crate::model::kinds::{self, KindSpec, NaturalKey, ObjKind, Returned};
use crate::state::entry::{salted_hash, Ownership, StateSnapshot, SENSITIVE_KEY};
use crate::state::object::{ObjectAddress, ObjectEntry};

/// How a reference to an object not created yet is written in a planned body; execution
/// replaces it by the id once the object exists.
pub const REF_PREFIX: &str = "tenantsync-ref:";

/// A live object of a described kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveObject {
    /// Its application's id (parented kinds).
    pub app_id: Option<String>,
    /// As the API returns it.
    pub object: Map<String, Value>,
}

/// What was read of the described kinds: the collections read (kind, and application id for a
/// parented kind), and their objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveObjects {
    /// The collections read.
    pub read: BTreeSet<(ObjKind, Option<String>)>,
    /// Their objects, by kind.
    pub objects: BTreeMap<ObjKind, Vec<LiveObject>>,
}

impl LiveObjects {
    /// The live objects of `kind` (of application `app_id`).
    fn of<'a>(
        &'a self,
        kind: ObjKind,
        app_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a LiveObject> {
        self.objects
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(move |o| app_id.is_none() || o.app_id.as_deref() == app_id)
    }

    /// Whether `kind`'s collection (of `app_id`) was read.
    pub fn was_read(&self, kind: ObjKind, app_id: Option<&str>) -> bool {
        self.read.contains(&(kind, app_id.map(str::to_owned)))
    }

    /// The live object `entry` maps to, if listed.
    fn mapped<'a>(
        &'a self,
        kind: ObjKind,
        app_id: Option<&'a str>,
        id: Option<&str>,
    ) -> Option<&'a LiveObject> {
        let spec = kind.spec();
        self.of(kind, app_id).find(|o| match spec.api.id_field {
            Some(_) => spec.id_of(&o.object).as_deref() == id,
            None => true,
        })
    }

    /// The live objects whose natural key is `key`.
    fn by_key<'a>(
        &'a self,
        kind: ObjKind,
        app_id: Option<&'a str>,
        key: &str,
    ) -> Vec<&'a LiveObject> {
        let spec = kind.spec();
        self.of(kind, app_id)
            .filter(|o| spec.key_of(&o.object).as_deref() == Some(key))
            .collect()
    }
}

/// The id of `address` as this plan knows it: its state entry's, or a live object's it will
/// adopt; `None` when this plan creates it.
fn known_id(
    address: &ObjectAddress,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(id) = state.objects.get(address).and_then(|e| e.id.clone()) {
        return Some(id);
    }
    let spec = address.kind.spec();
    let app_id = match &address.app {
        Some(app) => Some(app_ids.get(app)?.as_str()),
        None => None,
    };
    match live.by_key(address.kind, app_id, &address.key).as_slice() {
        [one] => spec.id_of(&one.object),
        _ => None,
    }
}

/// The desired state with every reference field written as ids (or placeholders), the name each
/// id or placeholder stands for (plans show names), and the warnings of deferred fields.
pub fn resolve_references<'d>(
    desired: &'d DesiredState,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
) -> (Cow<'d, DesiredState>, BTreeMap<String, String>, Vec<String>) {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let any = desired
        .apps
        .values()
        .any(|a| !a.refs.is_empty() || a.clients.values().any(|c| !c.refs.is_empty()));
    if !any {
        // Nothing to resolve: no copy of the desired state.
        return (Cow::Borrowed(desired), names, warnings);
    }
    let mut out = desired.clone();
    let resolve = |refs: &[Ref], names: &mut BTreeMap<String, String>| -> (Vec<Value>, bool) {
        let mut placeholder = false;
        let ids = refs
            .iter()
            .map(|r| match r {
                Ref::Id(id) => Value::String(id.clone()),
                Ref::Managed { address, name } => {
                    let shown = format!("{}/{name}", address.kind);
                    let id = match known_id(address, state, live, app_ids) {
                        Some(id) => id,
                        None => {
                            placeholder = true;
                            format!("{REF_PREFIX}{address}")
                        }
                    };
                    names.insert(id.clone(), shown);
                    Value::String(id)
                }
            })
            .collect();
        (ids, placeholder)
    };
    for (key, app) in &mut out.apps {
        for (field, refs) in &app.refs {
            let (ids, _) = resolve(refs, &mut names);
            app.spec.insert((*field).to_owned(), Value::Array(ids));
        }
        let app_exists = app_ids.contains_key(key);
        let default = app.default_client.clone();
        for (cname, client) in &mut app.clients {
            for (field, refs) in &client.refs {
                let (ids, placeholder) = resolve(refs, &mut names);
                // The default client of an application this plan creates is created with it,
                // before any role of that application can exist.
                let same_app_role = kinds::REFERENCES
                    .iter()
                    .any(|r| r.field == *field && r.same_application);
                if placeholder && !app_exists && *cname == default && same_app_role {
                    warnings.push(format!(
                        "Client/{key}/{cname}: `{field}` names roles of its own application, which is created first; it is set in a second round of this apply"
                    ));
                    continue;
                }
                client.spec.insert((*field).to_owned(), Value::Array(ids));
            }
        }
    }
    (Cow::Owned(out), names, warnings)
}

/// What the state records of an object after its change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// `metadata.name`.
    pub name: String,
    /// Created or adopted.
    pub ownership: Ownership,
    /// The managed fields as applied (secrets hashed).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion.
    pub protect: bool,
}

/// One planned change to an object of a described kind.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// What happens.
    pub action: Action,
    /// When it runs.
    pub phase: Phase,
    /// Its identity.
    pub address: ObjectAddress,
    /// As plans show it: `Resource/payouts-api` (kind and metadata.name).
    pub name: String,
    /// Its live id (absent: created by this change, or a singleton).
    pub id: Option<String>,
    /// Its application's live id (absent while this plan creates the application).
    pub app_id: Option<String>,
    /// Drift: a managed field's live value differs from the value last applied, or the object
    /// was deleted outside tenantsync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    /// The manifests changed it since the last apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// Field-level changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Explanations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The body sent (secrets shown as `(sensitive)`).
    pub body: Option<Map<String, Value>>,
    /// The body with secret values (in memory only).
    #[serde(skip)]
    pub body_secret: Option<Map<String, Value>>,
    /// For a delete: the object is gone already; or the kind cannot be deleted and tenantsync
    /// only stops managing it. Either way only the state entry is removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state_only: bool,
    /// What the state records after success.
    pub record: Option<ObjectRecord>,
}

/// The phase a change of a described kind runs in: referenced kinds are created before the
/// applications that name them and deleted after every reference is gone; an application's
/// objects are written once it exists and before its clients name them.
pub fn object_phase(action: Action, spec: &KindSpec) -> Phase {
    match (action, spec.parent.is_some()) {
        (Action::Delete, false) => Phase::DeleteObjects,
        (Action::Delete, true) => Phase::DeleteAppObjects,
        (_, false) => Phase::CreateObjects,
        (_, true) => Phase::AppObjects,
    }
}

/// Two JSON values are the same for the API: numbers by value, sets in any order.
fn same(a: &Value, b: &Value, set: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) if set => {
            x.iter().all(|v| y.iter().any(|w| same(v, w, false)))
                && y.iter().all(|v| x.iter().any(|w| same(v, w, false)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w, false))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same(v, w, false)))
        }
        _ => a == b,
    }
}

/// A field's value as the state records it: secret sub-fields and hidden (interpolated)
/// values as salted hashes.
fn recorded(
    spec: &KindSpec,
    obj: &DesiredObject,
    field: &str,
    value: &Value,
    salt: &[u8],
) -> Value {
    if obj.rules.hidden_fields().contains(field) {
        return serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, value) });
    }
    let mut value = value.clone();
    if let Some(row) = spec.field(field) {
        kinds::map_secrets(
            &mut value,
            row.secret_subfields,
            &mut |v| serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, v) }),
        );
    }
    value
}

/// A value as plans show it: hidden fields and secret sub-fields as `(sensitive)`.
fn shown(spec: &KindSpec, obj: &DesiredObject, field: &str, value: &Value) -> Value {
    if obj.rules.hidden_fields().contains(field) {
        return Value::String("(sensitive)".into());
    }
    let mut value = value.clone();
    if let Some(row) = spec.field(field) {
        kinds::map_secrets(&mut value, row.secret_subfields, &mut |_| {
            Value::String("(sensitive)".into())
        });
    }
    value
}

/// Plans every object of the described kinds. `app_ids`: the live id of each managed (or
/// adopted) application, by `metadata.name`; an application missing from it is created by
/// this plan.
pub fn plan_objects(
    desired: &DesiredState,
    state: &StateSnapshot,
    live: &LiveObjects,
    app_ids: &BTreeMap<String, String>,
    options: &PlanOptions,
) -> ObjectPlan {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    for (address, obj) in &desired.objects {
        let spec = address.kind.spec();
        let app_id = address.app.as_ref().and_then(|a| app_ids.get(a)).cloned();
        let entry = state.objects.get(address);
        let read = live.was_read(address.kind, app_id.as_deref());
        let mapped =
            entry.and_then(|e| live.mapped(address.kind, app_id.as_deref(), e.id.as_deref()));
        let (action, current, drifted_away) = match (entry, mapped) {
            (Some(_), Some(l)) => (Action::Update, Some(l), false),
            (Some(_), None) if !read => {
                unchanged += 1; // not read this time (`--refresh changed`)
                continue;
            }
            (_, _) => {
                // Not mapped, or gone: adopt by natural key, else create.
                let candidates = match app_id.as_deref() {
                    Some(a) => live.by_key(address.kind, Some(a), &address.key),
                    None if spec.parent.is_none() => live.by_key(address.kind, None, &address.key),
                    None => Vec::new(),
                };
                match candidates.as_slice() {
                    [one] => (Action::Adopt, Some(*one), entry.is_some()),
                    [] if !spec.api.create => (Action::Adopt, None, false),
                    [] => (Action::Create, None, entry.is_some()),
                    several => {
                        skipped.push(format!(
                            "{address}: {} live {}s share this {}; tenantsync will not guess which one to manage",
                            several.len(),
                            spec.noun,
                            match spec.natural_key {
                                NaturalKey::Field(f) => f,
                                NaturalKey::Singleton => "application",
                            }
                        ));
                        continue;
                    }
                }
            }
        };
        let last = entry.map(|e| &e.last_applied);
        let mut fields = Vec::new();
        let mut body = Map::new();
        let mut body_secret = Map::new();
        let mut record = Map::new();
        let mut drift = drifted_away;
        let mut pending = entry.is_none();
        for (field, value) in &obj.spec {
            if obj
                .rules
                .ignored
                .iter()
                .any(|p| p.head() == Some(field.as_str()) && p.0.len() == 1)
            {
                continue;
            }
            let row = spec.field(field);
            let set = row.is_some_and(|r| r.set);
            let secrets = row.map(|r| r.secret_subfields).unwrap_or_default();
            let rec = recorded(spec, obj, field, value, &state.salt);
            record.insert(field.clone(), rec.clone());
            let hidden = obj.rules.hidden_fields().contains(field.as_str());
            let was = last.and_then(|l| l.get(field));
            let changed_since = was.is_none_or(|w| !same(w, &rec, set));
            let mut field_drift = false;
            let differs = match current.map(|c| c.object.get(field)) {
                None => true, // created
                Some(None) => match row.map(|r| r.returned) {
                    Some(Returned::Never) => changed_since,
                    _ => true,
                },
                Some(Some(live_value)) => {
                    let visible = !same(
                        &kinds::without_secrets(live_value, secrets),
                        &kinds::without_secrets(value, secrets),
                        set,
                    );
                    let secret_changed = !secrets.is_empty()
                        && kinds::map_secrets(&mut value.clone(), secrets, &mut |v| v.clone())
                        && changed_since;
                    field_drift = visible && !changed_since;
                    visible || secret_changed
                }
            };
            drift |= field_drift;
            if changed_since && entry.is_some() {
                pending = true;
            }
            if differs || spec.api.replace_whole || current.is_none() {
                body.insert(field.clone(), shown(spec, obj, field, value));
                body_secret.insert(field.clone(), value.clone());
            }
            if differs {
                fields.push(FieldChange {
                    field: field.clone(),
                    op: if current.and_then(|c| c.object.get(field)).is_some() {
                        FieldOp::Change
                    } else {
                        FieldOp::Add
                    },
                    before: current.and_then(|c| c.object.get(field)).map(|v| {
                        if hidden {
                            Value::String("(sensitive)".into())
                        } else {
                            kinds::without_secrets(v, secrets)
                        }
                    }),
                    after: Some(shown(spec, obj, field, value)),
                    sensitive: hidden
                        || !secrets.is_empty()
                            && kinds::map_secrets(&mut value.clone(), secrets, &mut |v| v.clone()),
                    drift: field_drift,
                    pending: changed_since && entry.is_some(),
                    unseen: false,
                    object: None,
                });
            }
        }
        // Fields the manifest no longer sets: reset where the kind says how (a partial update
        // cannot unset), else no longer managed. A whole replacement drops them by itself.
        if let Some(last) = last {
            for field in last.keys().filter(|f| !obj.spec.contains_key(*f)) {
                pending = true;
                let reset = spec.field(field).and_then(|r| r.reset);
                let live_value = current.and_then(|c| c.object.get(field));
                match reset {
                    _ if spec.api.replace_whole && live_value.is_some() => {
                        fields.push(removed(field, live_value, None));
                    }
                    _ if spec.api.replace_whole => {}
                    Some(reset) if live_value.is_some_and(|v| !same(v, &reset.value(), false)) => {
                        body.insert(field.clone(), reset.value());
                        body_secret.insert(field.clone(), reset.value());
                        fields.push(removed(field, live_value, Some(reset.value())));
                    }
                    _ => {}
                }
            }
        }
        let ownership = match (entry, action) {
            (Some(e), _) if !drifted_away => e.ownership,
            (_, Action::Create) => Ownership::Created,
            _ => Ownership::Adopted,
        };
        let record = ObjectRecord {
            name: obj.name.clone(),
            ownership,
            last_applied: record,
            protect: obj.protect,
        };
        // A new metadata.name alone changes nothing upstream (the state is keyed by the natural
        // key; the name it shows is refreshed with the next write).
        let nothing = fields.is_empty()
            && action == Action::Update
            && entry
                .is_some_and(|e| e.last_applied == record.last_applied && e.protect == obj.protect);
        if nothing {
            unchanged += 1;
            continue;
        }
        let has_writes = !fields.is_empty() || action == Action::Create;
        let mut notes = Vec::new();
        // A whole replacement keeps what the manifest never managed (as an object field's
        // unmanaged sub-fields are carried over): live fields neither desired nor last applied
        // are sent back as they are. One holding a secret cannot be: the live object does not
        // show the secret, and sending it without would erase it upstream.
        if spec.api.replace_whole && has_writes {
            let unmanaged = current
                .into_iter()
                .flat_map(|c| &c.object)
                .filter(|(k, _)| {
                    !obj.spec.contains_key(*k)
                        && !last.is_some_and(|l| l.contains_key(*k))
                        && spec.field(k).is_some_and(|f| !f.generated)
                });
            let mut blocked = Vec::new();
            for (k, v) in unmanaged {
                if spec.has_secrets(k) {
                    blocked.push(k.clone());
                    continue;
                }
                body.insert(k.clone(), v.clone());
                body_secret.insert(k.clone(), v.clone());
                notes.push(format!(
                    "`{k}` is carried over as it is live (the manifest does not set it)"
                ));
            }
            if !blocked.is_empty() {
                warnings.push(format!(
                    "{}/{}: not updated: {} live but not in the manifest, and a replacement cannot keep {} secret (upstream never shows it). Add {} to the manifest with {} secret",
                    address.kind,
                    obj.name,
                    blocked.join(", "),
                    if blocked.len() == 1 { "its" } else { "their" },
                    if blocked.len() == 1 { "it" } else { "them" },
                    if blocked.len() == 1 { "its" } else { "their" },
                ));
                continue;
            }
        }
        if drifted_away {
            notes.push(format!(
                "the live {} was deleted outside tenantsync",
                spec.noun
            ));
            drift = true;
        }
        if action == Action::Adopt && current.is_none() {
            notes.push(format!(
                "{} always exist; tenantsync starts managing them",
                spec.noun
            ));
        }
        let id = match action {
            Action::Create => None,
            _ => current.and_then(|c| spec.id_of(&c.object)),
        };
        changes.push(ObjectChange {
            action,
            phase: object_phase(action, spec),
            address: address.clone(),
            name: format!("{}/{}", address.kind, obj.name),
            id,
            app_id: app_id.clone(),
            drift,
            pending,
            fields,
            notes,
            body: has_writes.then_some(body),
            body_secret: has_writes.then_some(body_secret),
            state_only: false,
            record: Some(record),
        });
    }
    // Entries that left the manifests.
    for (address, entry) in &state.objects {
        if desired.objects.contains_key(address) {
            continue;
        }
        let spec = address.kind.spec();
        let shown = format!("{}/{}", address.kind, entry.name);
        if !options.prune {
            skipped.push(format!(
                "{shown}: not in the manifests (pass --prune to delete it)"
            ));
            continue;
        }
        if entry.protect {
            skipped.push(format!("{shown}: protected (tenantsync/protect)"));
            continue;
        }
        let app_gone = address
            .app
            .as_ref()
            .is_some_and(|a| !desired.apps.contains_key(a) && !app_ids.contains_key(a));
        let listed = live
            .mapped(address.kind, entry.app_id.as_deref(), entry.id.as_deref())
            .is_some();
        let read = live.was_read(address.kind, entry.app_id.as_deref());
        let state_only = !spec.api.delete || app_gone || (read && !listed);
        let mut notes = Vec::new();
        if !spec.api.delete {
            notes.push(format!(
                "upstream cannot delete {}; tenantsync stops managing them and leaves them as they are",
                spec.noun
            ));
        } else if read && !listed {
            notes.push("already gone".to_owned());
        }
        changes.push(ObjectChange {
            action: Action::Delete,
            phase: object_phase(Action::Delete, spec),
            address: address.clone(),
            name: shown,
            id: entry.id.clone(),
            app_id: entry.app_id.clone(),
            drift: false,
            pending: true,
            fields: Vec::new(),
            notes,
            body: None,
            body_secret: None,
            state_only,
            record: None,
        });
    }
    changes.sort_by(|a, b| (a.phase, &a.address).cmp(&(b.phase, &b.address)));
    ObjectPlan {
        changes,
        unchanged,
        skipped,
        warnings,
    }
}

/// What [`plan_objects`] planned.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPlan {
    /// The changes, in execution order.
    pub changes: Vec<ObjectChange>,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Deletions not carried out, and why.
    pub skipped: Vec<String>,
    /// Objects not planned, and why.
    pub warnings: Vec<String>,
}

fn removed(field: &str, before: Option<&Value>, after: Option<Value>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        op: if after.is_some() {
            FieldOp::Reset
        } else {
            FieldOp::Change
        },
        before: before.cloned(),
        after,
        sensitive: false,
        drift: false,
        pending: true,
        unseen: false,
        object: None,
    }
}

/// The ids of the managed applications by `metadata.name`, as the state records them.
pub fn app_ids(state: &StateSnapshot) -> BTreeMap<String, String> {
    state
        .entries
        .values()
        .filter(|e| e.address.client.is_none())
        .map(|e| (e.address.app.clone(), e.app_id.clone()))
        .collect()
}

/// The state entry an object change records.
pub fn entry_of(
    change: &ObjectChange,
    id: Option<String>,
    app_id: Option<String>,
    applied_at: String,
) -> Option<ObjectEntry> {
    let record = change.record.as_ref()?;
    Some(ObjectEntry {
        address: change.address.clone(),
        name: record.name.clone(),
        id,
        app_id,
        ownership: record.ownership,
        last_applied: record.last_applied.clone(),
        protect: record.protect,
        applied_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::interpolate::tests::FakeEnvironment;
    use crate::manifest::{load, SourceFile};
    use serde_json::json;

    const TREE: &str = r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  service_providers: [wiki, {id: sp-other}]
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: Backend
      resources: [payouts]
      role_ids: [clerk]
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts}
spec: {name: Payouts, uri: https://api.example.com/payouts, access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
---
apiVersion: tenantsync/v1
kind: ServiceProvider
metadata: {name: wiki}
spec: {name: Wiki, entity_id: https://wiki.example.com, assertion_consumer_service_URL: https://wiki.example.com/acs}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec: {application: shop, role_name: clerk, permissions: [orders:read]}
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec:
  application: shop
  google: {clientId: g-id, clientSecret: "${env:G_SECRET}"}
"#;

    fn desired(text: &str, secret: &str) -> DesiredState {
        let mut env = FakeEnvironment::default();
        env.vars.insert("G_SECRET".into(), secret.into());
        env.allow.push("G_SECRET".into());
        load(
            &[SourceFile {
                path: "/m/a.yaml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            &env,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn state() -> StateSnapshot {
        StateSnapshot {
            salt: b"salt".to_vec(),
            ..StateSnapshot::default()
        }
    }

    fn prune() -> PlanOptions {
        PlanOptions {
            prune: true,
            ..PlanOptions::default()
        }
    }

    /// The state and live objects after `changes` were carried out by a faithful server:
    /// ids `<kind>-<n>`, secrets stored but never returned.
    fn applied(
        changes: &[ObjectChange],
        mut state: StateSnapshot,
        app_id: &str,
    ) -> (StateSnapshot, LiveObjects) {
        let mut live = LiveObjects::default();
        for (n, c) in changes.iter().enumerate() {
            let spec = c.address.kind.spec();
            let id = spec.api.id_field.map(|_| format!("{}-{n}", c.address.kind));
            let app = c.address.app.as_ref().map(|_| app_id.to_owned());
            let mut object = c.body_secret.clone().unwrap();
            for f in spec.fields {
                if let Some(v) = object.get_mut(f.name) {
                    *v = kinds::without_secrets(v, f.secret_subfields);
                }
            }
            if let (Some(field), Some(id)) = (spec.api.id_field, &id) {
                object.insert(field.into(), json!(id));
            }
            live.objects
                .entry(c.address.kind)
                .or_default()
                .push(LiveObject {
                    app_id: app.clone(),
                    object,
                });
            state.objects.insert(
                c.address.clone(),
                entry_of(c, id, app, String::new()).unwrap(),
            );
        }
        for kind in ObjKind::ALL {
            let app = kind.spec().parent.map(|_| app_id.to_owned());
            live.read.insert((kind, app));
        }
        (state, live)
    }

    #[test]
    fn references_resolve_to_ids_placeholders_or_as_written() {
        let d = desired(TREE, "s1");
        let mut s = state();
        s.objects.insert(
            ObjectAddress::new(ObjKind::ServiceProvider, None, "https://wiki.example.com"),
            ObjectEntry {
                address: ObjectAddress::new(
                    ObjKind::ServiceProvider,
                    None,
                    "https://wiki.example.com",
                ),
                name: "wiki".into(),
                id: Some("sp-1".into()),
                app_id: None,
                ownership: Ownership::Created,
                last_applied: Map::new(),
                protect: false,
                applied_at: String::new(),
            },
        );
        let (resolved, names, deferred) =
            resolve_references(&d, &s, &LiveObjects::default(), &BTreeMap::new());
        let app = &resolved.apps["shop"];
        assert_eq!(app.spec["service_providers"], json!(["sp-1", "sp-other"]));
        assert_eq!(names["sp-1"], "ServiceProvider/wiki");
        let backend = &app.clients["Backend"].spec;
        assert_eq!(
            backend["resources"],
            json!(["tenantsync-ref:Resource/https://api.example.com/payouts"])
        );
        // Backend is not the default client: its role is created before it.
        assert_eq!(
            backend["role_ids"],
            json!(["tenantsync-ref:Role/shop/clerk"])
        );
        assert!(deferred.is_empty(), "{deferred:?}");
    }

    #[test]
    fn a_new_apps_default_client_naming_its_own_role_waits_for_a_second_round() {
        let text = TREE.replace(
            "    - name: Web\n      redirect_uris: [https://shop.example.com/cb]\n",
            "",
        );
        let d = desired(&text, "s1");
        let (resolved, _, deferred) =
            resolve_references(&d, &state(), &LiveObjects::default(), &BTreeMap::new());
        assert!(!resolved.apps["shop"].clients["Backend"]
            .spec
            .contains_key("role_ids"));
        assert_eq!(deferred.len(), 1, "{deferred:?}");
    }

    #[test]
    fn apply_then_plan_is_empty_and_secrets_are_compared_by_hash() {
        let d = desired(TREE, "s1");
        let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
        let ObjectPlan { changes, .. } =
            plan_objects(&d, &state(), &LiveObjects::default(), &apps, &prune());
        assert_eq!(changes.len(), 4);
        let phases: Vec<Phase> = changes.iter().map(|c| c.phase).collect();
        assert_eq!(
            phases,
            vec![
                Phase::CreateObjects,
                Phase::CreateObjects,
                Phase::AppObjects,
                Phase::AppObjects
            ]
        );
        let lp = changes
            .iter()
            .find(|c| c.address.kind == ObjKind::LoginPreferences)
            .unwrap();
        assert_eq!(lp.action, Action::Adopt, "login preferences always exist");
        let shown = serde_json::to_string(&lp.body).unwrap();
        assert!(
            !shown.contains("s1") && shown.contains("(sensitive)"),
            "{shown}"
        );
        let recorded = serde_json::to_string(&lp.record).unwrap();
        assert!(!recorded.contains("s1"), "{recorded}");

        let (s, live) = applied(&changes, state(), "app-1");
        let ObjectPlan {
            changes: again,
            unchanged,
            ..
        } = plan_objects(&d, &s, &live, &apps, &prune());
        assert!(again.is_empty(), "{again:#?}");
        assert_eq!(unchanged, 4);

        // A new secret: the live object cannot show it, the hash tells; the whole object goes.
        let rotated = desired(TREE, "s2");
        let ObjectPlan { changes: again, .. } = plan_objects(&rotated, &s, &live, &apps, &prune());
        assert_eq!(again.len(), 1, "{again:#?}");
        assert_eq!(again[0].address.kind, ObjKind::LoginPreferences);
        assert_eq!(
            again[0].body_secret.as_ref().unwrap()["google"]["clientSecret"],
            "s2"
        );

        // Renaming a document (same natural key) writes nothing.
        let renamed = desired(
            &TREE
                .replace("metadata: {name: payouts}", "metadata: {name: payouts-v2}")
                .replace("resources: [payouts]", "resources: [payouts-v2]"),
            "s1",
        );
        let ObjectPlan { changes: again, .. } = plan_objects(&renamed, &s, &live, &apps, &prune());
        assert!(again.is_empty(), "{again:#?}");

        // Drift: a live field changed outside tenantsync is planned back, marked drift.
        let mut drifted = live;
        drifted.objects.get_mut(&ObjKind::Resource).unwrap()[0]
            .object
            .insert("access_token_ttl".into(), json!(9000));
        let ObjectPlan { changes: again, .. } = plan_objects(&d, &s, &drifted, &apps, &prune());
        assert_eq!(again.len(), 1);
        assert!(again[0].drift);
        assert_eq!(again[0].body.as_ref().unwrap()["access_token_ttl"], 300);
    }

    #[test]
    fn removed_objects_are_deleted_last_or_released_and_kept_without_prune() {
        let d = desired(TREE, "s1");
        let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
        let ObjectPlan { changes, .. } =
            plan_objects(&d, &state(), &LiveObjects::default(), &apps, &prune());
        let (s, live) = applied(&changes, state(), "app-1");
        let only_app = desired(
            TREE.split("---")
                .next()
                .unwrap()
                .replace("service_providers: [wiki, {id: sp-other}]", "")
                .replace("      resources: [payouts]\n      role_ids: [clerk]\n", "")
                .as_str(),
            "s1",
        );
        let ObjectPlan {
            changes: gone,
            skipped,
            ..
        } = plan_objects(&only_app, &s, &live, &apps, &PlanOptions::default());
        assert!(gone.is_empty());
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        let ObjectPlan { changes: gone, .. } = plan_objects(&only_app, &s, &live, &apps, &prune());
        let by_kind = |k: ObjKind| gone.iter().find(|c| c.address.kind == k).unwrap();
        assert_eq!(by_kind(ObjKind::Resource).phase, Phase::DeleteObjects);
        assert_eq!(by_kind(ObjKind::Role).phase, Phase::DeleteAppObjects);
        let lp = by_kind(ObjKind::LoginPreferences);
        assert!(
            lp.state_only,
            "login preferences cannot be deleted, only released"
        );
        assert!(!by_kind(ObjKind::Resource).state_only);
    }

    #[test]
    fn an_object_is_adopted_by_its_natural_key() {
        let d = desired(TREE, "s1");
        let mut live = LiveObjects::default();
        live.read.insert((ObjKind::Resource, None));
        live.objects.insert(
            ObjKind::Resource,
            vec![LiveObject {
                app_id: None,
                object: json!({"resource_id": "r-9", "name": "Payouts", "uri": "https://api.example.com/payouts",
                    "access_token_ttl": 300.0, "refresh_token_ttl": 0, "max_refresh_rotate": 0})
                .as_object()
                .unwrap()
                .clone(),
            }],
        );
        let ObjectPlan { changes, .. } =
            plan_objects(&d, &state(), &live, &BTreeMap::new(), &prune());
        let resource = changes
            .iter()
            .find(|c| c.address.kind == ObjKind::Resource)
            .unwrap();
        assert_eq!(resource.action, Action::Adopt);
        assert_eq!(resource.id.as_deref(), Some("r-9"));
        assert!(
            resource.fields.is_empty(),
            "300.0 is 300: {:?}",
            resource.fields
        );
        let (resolved, _, _) = resolve_references(&d, &state(), &live, &BTreeMap::new());
        assert_eq!(
            resolved.apps["shop"].clients["Backend"].spec["resources"],
            json!(["r-9"])
        );
    }

    #[test]
    fn a_whole_replacement_keeps_unmanaged_methods_and_refuses_to_erase_a_secret() {
        let d = desired(TREE, "s1");
        let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
        let lp = |methods: Value| {
            let mut live = LiveObjects::default();
            live.read
                .insert((ObjKind::LoginPreferences, Some("app-1".into())));
            live.objects.insert(
                ObjKind::LoginPreferences,
                vec![LiveObject {
                    app_id: Some("app-1".into()),
                    object: methods.as_object().unwrap().clone(),
                }],
            );
            plan_objects(&d, &state(), &live, &apps, &prune())
        };
        // Set up in the portal, never in the manifest: sent back as it is.
        let plan = lp(json!({"sms": {"expiresIn": 5, "maxFailures": 3}}));
        let change = plan
            .changes
            .iter()
            .find(|c| c.address.kind == ObjKind::LoginPreferences)
            .unwrap();
        assert_eq!(
            change.body_secret.as_ref().unwrap()["sms"],
            json!({"expiresIn": 5, "maxFailures": 3})
        );
        assert!(
            change
                .notes
                .iter()
                .any(|n| n.contains("`sms` is carried over")),
            "{:?}",
            change.notes
        );
        // A live social login the manifest does not set holds a secret nobody can send back.
        let plan = lp(json!({"facebook": {"clientId": "fb"}}));
        assert!(
            !plan
                .changes
                .iter()
                .any(|c| c.address.kind == ObjKind::LoginPreferences),
            "{:?}",
            plan.changes
        );
        assert!(plan.warnings[0].contains("facebook"), "{:?}", plan.warnings);
    }
}
