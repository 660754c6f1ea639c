//! The state's persisted layout and its versions: [`STATE_SCHEMA_VERSION`], what each version
//! holds, the records every version keeps (the types are in [`super::entry`] and
//! [`super::object`]), and the pure decision of what opening a state of a given version does
//! (create, use, upgrade in place, read as it is, or refuse).
//!
//! Versions:
//! - **1**: trees `objects` ([`AppRecord`] by [`super::address::Address`]),
//!   `meta`, `journal`, `history`, `deliveries`, `drift`.
//! - **2**: adds `kinds` ([`ObjectRecord`] by
//!   [`super::address::Address::key`]) and `upgrade-backup` (a copy of a version 1
//!   state's records, kept from the upgrade until the next successful apply). The records of
//!   version 1 are unchanged, so a version 1 state reads as a version 2 one with no described
//!   kinds' entries.
//!
//! Every backend keeps the version in the `meta` tree under [`VERSION_KEY`]; a PostgreSQL
//! database also versions its tables (`postgres::SCHEMA_VERSION`), which is another matter.
//!
//! The records of each tree, as JSON (changing any of these types changes the layout, and
//! needs a version and an upgrade step here):
//! - `objects`: [`AppRecord`]; `kinds`: [`ObjectRecord`] (both are a
//!   [`super::entry::StateEntry`] in memory, stored by its kind);
//! - `meta`: the version, `salt` (32 bytes), `lineage` (hex), `binding`
//!   ([`super::entry::TargetBinding`]);
//! - `journal`: `reconcile::execute::CreateIntent` by intent key;
//! - `history`: `reconcile::history::HistoryRecord` by increasing id (8 bytes, big-endian);
//! - `deliveries`: `credentials::DeliveryRecord` by `SINK\0ADDRESS`;
//! - `drift`: `drift::DriftRecord`, open ones by `open/ADDRESS`, ended ones by `ended/ID`;
//! - `upgrade-backup`: the raw records of the previous layout by [`backup_key`].
//!
//! The last four types still live with the features that make them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::entry::{Ownership, StateEntry};
use crate::state::address::Address;

/// An application's or a client's entry as the `objects` tree stores it (every version).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// Its manifest identity (an application's or a client's).
    #[serde(deserialize_with = "Address::deserialize_app")]
    pub address: Address,
    /// The live app id (for clients: the app it belongs to).
    pub app_id: String,
    /// The live client id (clients only).
    pub client_id: Option<String>,
    /// Created or adopted.
    pub ownership: Ownership,
    /// The fields the last apply managed, as applied (sensitive values hashed).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion when it was last applied.
    #[serde(default)]
    pub protect: bool,
    /// When it was last applied (RFC 3339).
    pub applied_at: String,
}

/// A described kind's entry as the `kinds` tree stores it (version 2).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Its identity (a described kind's).
    #[serde(deserialize_with = "Address::deserialize_described")]
    pub address: Address,
    /// The `metadata.name` of its document when last applied.
    pub name: String,
    /// Its live id (`None` for a singleton).
    pub id: Option<String>,
    /// Its application's live id (parented kinds).
    pub app_id: Option<String>,
    /// Created or adopted.
    pub ownership: Ownership,
    /// The fields the last apply managed, as applied (secrets hashed, references as ids).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion when it was last applied.
    #[serde(default)]
    pub protect: bool,
    /// When it was last applied (RFC 3339).
    pub applied_at: String,
}

/// An entry as its tree stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Persisted {
    /// In the `objects` tree.
    App(AppRecord),
    /// In the `kinds` tree.
    Object(ObjectRecord),
}

impl From<&StateEntry> for Persisted {
    fn from(e: &StateEntry) -> Self {
        let address = &e.address;
        if address.is_app() {
            Persisted::App(AppRecord {
                address: address.clone(),
                app_id: e.app_id.clone().unwrap_or_default(),
                client_id: e.id.clone(),
                ownership: e.ownership,
                last_applied: e.last_applied.clone(),
                protect: e.protect,
                applied_at: e.applied_at.clone(),
            })
        } else {
            Persisted::Object(ObjectRecord {
                address: address.clone(),
                name: e.name.clone(),
                id: e.id.clone(),
                app_id: e.app_id.clone(),
                ownership: e.ownership,
                last_applied: e.last_applied.clone(),
                protect: e.protect,
                applied_at: e.applied_at.clone(),
            })
        }
    }
}

impl From<AppRecord> for StateEntry {
    fn from(r: AppRecord) -> Self {
        StateEntry {
            address: r.address,
            name: String::new(),
            app_id: Some(r.app_id),
            id: r.client_id,
            ownership: r.ownership,
            last_applied: r.last_applied,
            protect: r.protect,
            applied_at: r.applied_at,
        }
    }
}

impl From<ObjectRecord> for StateEntry {
    fn from(r: ObjectRecord) -> Self {
        StateEntry {
            address: r.address,
            name: r.name,
            app_id: r.app_id,
            id: r.id,
            ownership: r.ownership,
            last_applied: r.last_applied,
            protect: r.protect,
            applied_at: r.applied_at,
        }
    }
}

/// The layout this binary writes.
pub const STATE_SCHEMA_VERSION: u32 = 2;

/// The oldest layout this binary upgrades (and reads as it is without a writer).
pub const OLDEST_READABLE: u32 = 1;

/// The `meta` key of the version.
pub const VERSION_KEY: &[u8] = b"schema_version";

/// What opening a state does, by the version it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// No state yet: a writer creates one at [`STATE_SCHEMA_VERSION`].
    Create,
    /// A state of a layout this binary writes.
    Current,
    /// A writer upgrades it in place (backing up the old records first).
    Upgrade {
        /// The version found.
        from: u32,
    },
    /// A reader reads an older state as it is and writes nothing (its records are a subset
    /// of the current layout's).
    ReadAsIs {
        /// The version found.
        from: u32,
    },
}

/// Why a state cannot be opened, by its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionProblem {
    /// Written by a newer tenantsync.
    Newer(u32),
    /// Not a version this binary knows (older than it reads, or not a number).
    Unknown(String),
}

/// What opening a state whose version record is `found` does, for a writer or a reader.
pub fn opening(found: Option<&[u8]>, writer: bool) -> Result<Opening, VersionProblem> {
    let Some(found) = found else {
        return Ok(Opening::Create);
    };
    let text = String::from_utf8_lossy(found);
    let version: u32 = text
        .trim()
        .parse()
        .map_err(|_| VersionProblem::Unknown(text.clone().into_owned()))?;
    match version {
        v if v == STATE_SCHEMA_VERSION => Ok(Opening::Current),
        v if v > STATE_SCHEMA_VERSION => Err(VersionProblem::Newer(v)),
        v if v < OLDEST_READABLE => Err(VersionProblem::Unknown(v.to_string())),
        from if writer => Ok(Opening::Upgrade { from }),
        from => Ok(Opening::ReadAsIs { from }),
    }
}

/// The key under which the upgrade backup keeps `key` of the tree named `tree`.
pub fn backup_key(tree: &str, key: &[u8]) -> Vec<u8> {
    [tree.as_bytes(), b"\0", key].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_upgrade_readers_read_as_is_and_newer_states_are_refused() {
        assert_eq!(opening(None, true), Ok(Opening::Create));
        assert_eq!(opening(Some(b"2"), false), Ok(Opening::Current));
        assert_eq!(opening(Some(b"1"), true), Ok(Opening::Upgrade { from: 1 }));
        assert_eq!(
            opening(Some(b"1"), false),
            Ok(Opening::ReadAsIs { from: 1 })
        );
        assert_eq!(opening(Some(b"3"), true), Err(VersionProblem::Newer(3)));
        assert_eq!(opening(Some(b"3"), false), Err(VersionProblem::Newer(3)));
        assert_eq!(
            opening(Some(b"0"), true),
            Err(VersionProblem::Unknown("0".into()))
        );
        assert_eq!(
            opening(Some(b"x"), false),
            Err(VersionProblem::Unknown("x".into()))
        );
    }

    #[test]
    fn entries_are_stored_as_their_kind_s_record_every_version_2_binary_reads() {
        use serde_json::json;
        let client = StateEntry {
            address: Address::client("shop", "Web"),
            name: String::new(),
            app_id: Some("a1".into()),
            id: Some("c1".into()),
            ownership: Ownership::Adopted,
            last_applied: Map::new(),
            protect: true,
            applied_at: "t".into(),
        };
        let written = serde_json::to_value(Persisted::from(&client)).unwrap();
        assert_eq!(
            written,
            json!({"address": {"kind": "Client", "app": "shop", "client": "Web"},
                   "app_id": "a1", "client_id": "c1", "ownership": "adopted",
                   "last_applied": {}, "protect": true, "applied_at": "t"})
        );
        let read: AppRecord = serde_json::from_value(written).unwrap();
        assert_eq!(StateEntry::from(read), client);
        let role = StateEntry {
            address: Address::new(crate::model::kinds::ObjKind::Role, Some("shop"), "clerk"),
            name: "shop-clerk".into(),
            app_id: Some("a1".into()),
            id: Some("r1".into()),
            ownership: Ownership::Created,
            last_applied: Map::new(),
            protect: false,
            applied_at: "t".into(),
        };
        let written = serde_json::to_value(Persisted::from(&role)).unwrap();
        assert_eq!(
            written,
            json!({"address": {"kind": "Role", "app": "shop", "key": "clerk"},
                   "name": "shop-clerk", "id": "r1", "app_id": "a1", "ownership": "created",
                   "last_applied": {}, "protect": false, "applied_at": "t"})
        );
        let read: ObjectRecord = serde_json::from_value(written).unwrap();
        assert_eq!(StateEntry::from(read), role);
    }

    #[test]
    fn backup_keys_keep_the_tree_apart_from_the_key() {
        assert_eq!(
            backup_key("objects", b"Application/a"),
            b"objects\0Application/a"
        );
    }
}
