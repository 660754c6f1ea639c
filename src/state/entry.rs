//! Reconciler state records (pure data): which live object each manifest key maps to, whether
//! tenantsync created or adopted it, and the spec it last applied (secrets only as salted hashes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::FieldRules;
use crate::state::address::Address;

/// How tenantsync came to manage an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// tenantsync created it.
    Created,
    /// It existed and tenantsync adopted it (by unique name match, export or import).
    Adopted,
}

/// One managed object, of any kind: which live object its address maps to, who made it ours,
/// and what was last applied. Stored as its kind's record (`schema::AppRecord`,
/// `schema::ObjectRecord`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry {
    /// Its identity.
    pub address: Address,
    /// The `metadata.name` of its document when last applied, for a described kind (references
    /// name it; plans show it). Empty for an application or a client: its address names it.
    pub name: String,
    /// The live id of the application it is or belongs to (absent for a kind that belongs to
    /// none).
    pub app_id: Option<String>,
    /// Its own live id: a client's, or a described kind's (absent for an application, whose id
    /// is `app_id`, and for a singleton).
    pub id: Option<String>,
    /// Created or adopted.
    pub ownership: Ownership,
    /// The fields the last apply managed, as applied (sensitive values hashed, references as
    /// ids).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion when it was last applied.
    pub protect: bool,
    /// When it was last applied (RFC 3339).
    pub applied_at: String,
}

impl StateEntry {
    /// The live id of the object itself: its own id, else its application's (an application's
    /// entry; a singleton's, whose application is what identifies it), else empty.
    pub fn server_id(&self) -> &str {
        self.id
            .as_deref()
            .or(self.app_id.as_deref())
            .unwrap_or_default()
    }

    /// The live id of the application it is or belongs to (empty for a kind that belongs to
    /// none).
    pub fn application_id(&self) -> &str {
        self.app_id.as_deref().unwrap_or_default()
    }

    /// Its address, if it is an application's or a client's.
    pub fn app_address(&self) -> Option<&Address> {
        self.address.as_app()
    }

    /// Its address, if it is a described kind's.
    pub fn object_address(&self) -> Option<&Address> {
        self.address.as_object()
    }

    /// How plans name it: `Kind/metadata.name` for a described kind (`Resource/payouts-api`),
    /// its address for an application or a client (`Client/shop/web`), whose address names it.
    pub fn shown(&self) -> String {
        match (&self.address, self.name.is_empty()) {
            (address, false) if !address.is_app() => format!("{}/{}", address.kind, self.name),
            (address, _) => address.to_string(),
        }
    }
}

/// The marker a hashed sensitive value is stored as.
pub const SENSITIVE_KEY: &str = "$sensitive";

/// Beside [`SENSITIVE_KEY`] in a hashed object field: the names of its members (no secret),
/// which tell the planner the members it managed. Records written before it was kept have
/// none.
pub const MEMBERS_KEY: &str = "$members";

/// A salted SHA-256 of a value, hex.
pub fn salted_hash(salt: &[u8], value: &Value) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(serde_json::to_vec(value).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A hidden value (secret, or read by interpolation) as the state records it: the salted hash
/// of its [`canonical`] form (the order of an object's members, at any depth, changes nothing
/// upstream), and for an object the names of its members.
pub fn hidden_record(salt: &[u8], value: &Value) -> Value {
    let mut hashed = serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, &canonical(value)) });
    if let Value::Object(members) = value {
        hashed[MEMBERS_KEY] = members.keys().cloned().collect();
    }
    hashed
}

/// The hash a hidden value was recorded as ([`hidden_record`]), if `record` is one.
pub fn recorded_hash(record: &Value) -> Option<&str> {
    match record {
        Value::Object(m) if m.len() == 1 || (m.len() == 2 && m.contains_key(MEMBERS_KEY)) => {
            m.get(SENSITIVE_KEY).and_then(Value::as_str)
        }
        _ => None,
    }
}

/// `value` with the members of every object in it, at any depth, in name order.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Whether `record` is the [`hidden_record`] of `value`: its hash, of the value's canonical
/// form, or, as records written before it were hashed, of the value as it is or with its
/// members in the order the record names them (the order a manifest writes an object's
/// members in changes nothing upstream).
pub fn is_record_of(record: &Value, salt: &[u8], value: &Value) -> bool {
    let Some(hash) = recorded_hash(record) else {
        return false;
    };
    if hash == salted_hash(salt, &canonical(value)) || hash == salted_hash(salt, value) {
        return true;
    }
    let (Some(names), Value::Object(members)) =
        (record.get(MEMBERS_KEY).and_then(Value::as_array), value)
    else {
        return false;
    };
    if names.len() != members.len() {
        return false;
    }
    let in_recorded_order: Option<Map<String, Value>> = names
        .iter()
        .map(|name| {
            let name = name.as_str()?;
            Some((name.to_owned(), members.get(name)?.clone()))
        })
        .collect();
    in_recorded_order.is_some_and(|m| hash == salted_hash(salt, &Value::Object(m)))
}

/// Keeps in `record` (what the state would now record of `spec`) the last record of each
/// hidden field the manifest only reordered the members of: its member names (and, in a
/// record written before hashes were of the canonical form, its hash) keep the order, which
/// changes nothing upstream; a new record would read as a change of the field (of its
/// secret, even). A record of an object without the names of its members is written again
/// with them.
pub fn keep_reordered(
    record: &mut Map<String, Value>,
    spec: &Map<String, Value>,
    last: Option<&Map<String, Value>>,
    salt: &[u8],
) {
    let Some(last) = last else {
        return;
    };
    for (field, value) in record.iter_mut() {
        let (Some(was), Some(desired)) = (last.get(field), spec.get(field)) else {
            continue;
        };
        let named = was.get(MEMBERS_KEY).is_some() || !desired.is_object();
        if recorded_hash(value).is_some()
            && value != was
            && named
            && is_record_of(was, salt, desired)
        {
            *value = was.clone();
        }
    }
}

/// `spec` with every hidden top-level field replaced by its hash alone: the form a desired
/// fingerprint hashes, unchanged since plans were first saved (the names a record keeps
/// beside the hash, [`hidden_record`], follow from the value, so they tell a fingerprint
/// nothing more).
pub fn hash_hidden(
    spec: &Map<String, Value>,
    rules: &FieldRules,
    salt: &[u8],
) -> Map<String, Value> {
    with_hidden(
        spec,
        rules,
        |v| serde_json::json!({ SENSITIVE_KEY: salted_hash(salt, v) }),
    )
}

/// `spec` with every hidden top-level field replaced by `hide` of its value.
fn with_hidden(
    spec: &Map<String, Value>,
    rules: &FieldRules,
    hide: impl Fn(&Value) -> Value,
) -> Map<String, Value> {
    let mut out = spec.clone();
    for field in rules.hidden_fields() {
        if let Some(v) = out.get_mut(field) {
            *v = hide(v);
        }
    }
    out
}

/// A read-only view of the state for planning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSnapshot {
    /// Entries of every kind by address: applications and clients first (`Address` orders
    /// them so), then the described kinds' by kind and natural key.
    pub entries: BTreeMap<Address, StateEntry>,
    /// Salt for hashing sensitive values.
    pub salt: Vec<u8>,
    /// Identity of this state (random at creation).
    pub lineage: String,
    /// The target the ids in this state belong to (recorded by the first apply).
    pub binding: Option<TargetBinding>,
}

impl StateSnapshot {
    /// The entry of the object at `address`, of any kind.
    pub fn entry(&self, address: &Address) -> Option<&StateEntry> {
        self.entries.get(address)
    }

    /// The applications' and clients' entries, by address.
    pub fn app_entries(&self) -> impl Iterator<Item = (&Address, &StateEntry)> {
        self.entries
            .iter()
            .map_while(|(a, e)| Some((a.as_app()?, e)))
    }

    /// The described kinds' entries, by address.
    pub fn object_entries(&self) -> impl Iterator<Item = (&Address, &StateEntry)> {
        self.entries
            .iter()
            .filter_map(|(a, e)| Some((a.as_object()?, e)))
    }

    /// Records `entry` under its address.
    pub fn insert(&mut self, entry: StateEntry) {
        self.entries.insert(entry.address.clone(), entry);
    }
}

/// Which live tenant a state's ids belong to.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetBinding {
    /// The target as described (URL or `local:DIR`; no credentials).
    pub target: String,
    /// The tenant id, where the target tells it (token `tid`, embedded tenant).
    pub tenant_id: Option<String>,
}

impl TargetBinding {
    /// Why `current` is not the target this binding records, if it is not. Tenant ids decide
    /// where both are known (one tenant can be reached by several URLs); otherwise the targets.
    pub fn conflict(&self, current: &TargetBinding) -> Option<String> {
        let same = match (&self.tenant_id, &current.tenant_id) {
            (Some(a), Some(b)) => a == b,
            _ => self.target.trim_end_matches('/') == current.target.trim_end_matches('/'),
        };
        if same {
            return None;
        }
        let describe = |b: &TargetBinding| match &b.tenant_id {
            Some(t) => format!("{} (tenant {t})", b.target),
            None => b.target.clone(),
        };
        Some(format!(
            "refused: this state belongs to {}, not {}; its ids mean nothing there, and planning with them would create every object again. \
             Use the state directory of that target, or pass --rebind-target to forget the recorded ids and adopt the target's objects by name",
            describe(self),
            describe(current)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec` with every hidden top-level field as the state records it ([`hidden_record`]).
    fn recorded_hidden(
        spec: &Map<String, Value>,
        rules: &FieldRules,
        salt: &[u8],
    ) -> Map<String, Value> {
        with_hidden(spec, rules, |v| hidden_record(salt, v))
    }
    use serde_json::json;

    #[test]
    fn bindings_compare_tenants_first() {
        let b = |t: &str, id: Option<&str>| TargetBinding {
            target: t.into(),
            tenant_id: id.map(str::to_owned),
        };
        let recorded = b("https://api.transmitsecurity.io/cis", Some("T1"));
        assert!(recorded
            .conflict(&b("https://api.eu.transmitsecurity.io/cis/", Some("T1")))
            .is_none());
        let other = recorded.conflict(&b("https://api.transmitsecurity.io/cis", Some("T2")));
        assert!(other.unwrap().contains("--rebind-target"));
        assert!(b("http://a/cis", None)
            .conflict(&b("http://a/cis/", None))
            .is_none());
        assert!(b("http://a/cis", None)
            .conflict(&b("http://b/cis", Some("T")))
            .is_some());
    }

    #[test]
    fn sensitive_values_are_hashed_not_stored() {
        let spec = json!({"name": "x", "client_secret": "hunter2"})
            .as_object()
            .unwrap()
            .clone();
        let rules = FieldRules::from_dotted(&[], &["client_secret"]);
        let out = recorded_hidden(&spec, &rules, b"salt");
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains("hunter2"));
        assert_eq!(out["name"], "x");
        assert_eq!(
            out["client_secret"][SENSITIVE_KEY].as_str().unwrap().len(),
            64
        );
        let again = recorded_hidden(&spec, &rules, b"salt");
        assert_eq!(out, again, "deterministic for one salt");
        assert_ne!(out, recorded_hidden(&spec, &rules, b"other"));
    }

    #[test]
    fn a_hidden_object_is_recorded_with_its_member_names_and_fingerprinted_without() {
        let spec = json!({"token_expiration": {"access_token_ttl": 4242, "refresh_token_ttl": 1}})
            .as_object()
            .unwrap()
            .clone();
        let rules = FieldRules::from_dotted(&[], &["token_expiration.access_token_ttl"]);
        let record = recorded_hidden(&spec, &rules, b"salt");
        let hidden = &record["token_expiration"];
        assert!(!hidden.to_string().contains("4242"), "{hidden}");
        assert_eq!(
            hidden[MEMBERS_KEY],
            json!(["access_token_ttl", "refresh_token_ttl"])
        );
        let fingerprinted = hash_hidden(&spec, &rules, b"salt");
        let hash = &fingerprinted["token_expiration"];
        assert_eq!(hash.as_object().unwrap().len(), 1, "{hash}");
        // Both are read back as the same hash; a value that merely looks alike is not one.
        assert_eq!(recorded_hash(hidden), recorded_hash(hash));
        assert!(recorded_hash(hidden).is_some());
        assert_eq!(
            recorded_hash(&json!({SENSITIVE_KEY: "x", "other": 1})),
            None
        );
    }

    #[test]
    fn a_hidden_record_holds_whatever_the_order_of_members_at_any_depth() {
        let push = json!({"apn": {"key": "k", "keyId": "K1", "teamId": "T"}, "fcm": {"key": {"a": 1, "b": 2}}});
        let reordered = json!({"fcm": {"key": {"b": 2, "a": 1}}, "apn": {"teamId": "T", "keyId": "K1", "key": "k"}});
        let record = hidden_record(b"salt", &push);
        assert!(is_record_of(&record, b"salt", &reordered));
        assert!(!is_record_of(
            &record,
            b"salt",
            &json!({"apn": {"key": "k2", "keyId": "K1", "teamId": "T"}, "fcm": {"key": {"a": 1, "b": 2}}})
        ));
        // A record written before (the hash of the value as the manifest wrote it) still holds.
        let before =
            json!({ SENSITIVE_KEY: salted_hash(b"salt", &reordered), MEMBERS_KEY: ["fcm", "apn"] });
        assert!(is_record_of(&before, b"salt", &reordered));
        let mut now = Map::from_iter([("push".to_owned(), record)]);
        let spec = Map::from_iter([("push".to_owned(), reordered)]);
        let last = Map::from_iter([("push".to_owned(), before.clone())]);
        keep_reordered(&mut now, &spec, Some(&last), b"salt");
        assert_eq!(now["push"], before, "kept: no rewrite for the form alone");
    }

    #[test]
    fn a_record_is_kept_when_the_manifest_only_reorders_members() {
        let rules = FieldRules::from_dotted(&[], &["google.clientSecret"]);
        let spec = |v: Value| v.as_object().unwrap().clone();
        let first = spec(json!({"google": {"clientId": "a", "clientSecret": "s"}}));
        let last = recorded_hidden(&first, &rules, b"salt");
        let reordered = spec(json!({"google": {"clientSecret": "s", "clientId": "a"}}));
        assert!(is_record_of(&last["google"], b"salt", &reordered["google"]));
        let mut record = recorded_hidden(&reordered, &rules, b"salt");
        assert_ne!(record, last, "the names keep the order");
        keep_reordered(&mut record, &reordered, Some(&last), b"salt");
        assert_eq!(record, last);
        // Another value, or another member, is a new record.
        for other in [
            json!({"google": {"clientSecret": "t", "clientId": "a"}}),
            json!({"google": {"clientSecret": "s", "clientId": "a", "x": 1}}),
        ] {
            let other = spec(other);
            assert!(!is_record_of(&last["google"], b"salt", &other["google"]));
            let mut record = recorded_hidden(&other, &rules, b"salt");
            let fresh = record.clone();
            keep_reordered(&mut record, &other, Some(&last), b"salt");
            assert_eq!(record, fresh);
        }
    }
}
