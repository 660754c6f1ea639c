//! The reconciler state: entries (applications and clients, and the described kinds'),
//! metadata (schema version, lineage, salt, binding), the create journal, the apply history and
//! credential deliveries, built on a [`StateBackend`] (opened by [`super::open`]). One writer at
//! a time: a second opener fails at once. Every write is durable before it counts. A writer
//! upgrades an older layout in place on opening ([`super::schema`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rand::RngCore;
use serde::{de::DeserializeOwned, Serialize};

use super::backend::{StateBackend, Tree};
use super::entry::{StateEntry, StateSnapshot, TargetBinding};
use super::schema::{self, Opening, VersionProblem, VERSION_KEY};
use super::schema::{AppRecord, ObjectRecord, Persisted};
use super::sled::SledBackend;
use crate::credentials::DeliveryRecord;
use crate::drift::{DriftRecord, DriftUpdate};
use crate::state::address::Address;

pub use super::error::StateError;
pub use super::schema::STATE_SCHEMA_VERSION;

/// Key prefixes of the drift tree: open episodes by address key, ended ones by id.
const DRIFT_OPEN: &[u8] = b"open/";
const DRIFT_ENDED: &[u8] = b"ended/";

/// How many apply records the history keeps, and how many ended drift episodes: the newest.
/// A daemon appends one per round that changed something, for its whole life; without a bound
/// the state grows on disk forever, and in memory too: sled keeps much of what it stores
/// resident whatever its cache size, as a PostgreSQL state keeps its records. Measured with
/// records of 1.5 KB: 10,000 held 21 MB more, 1,000 (trimmed as they come) level at 6.5 MB
/// more after some 1,250 appends. 1,000 still cover more than half a day of a daemon that
/// applies every minute.
pub const HISTORY_KEPT: usize = 1_000;

/// Histories are trimmed to [`HISTORY_KEPT`] on a writer's first append, then every this many.
const TRIM_EVERY: usize = 100;

/// The opened state.
pub struct StateStore {
    backend: Box<dyn StateBackend>,
    /// The version opening found, when a writer upgraded it from there.
    upgraded_from: Option<u32>,
    /// A writer's entries as last read, kept up to date by its own writes: its lock (a local
    /// state's file lock, a shared state's run lock) keeps every other writer out, so what it
    /// read and wrote is what is there. A reader, holding no lock, reads every time.
    memo: Option<Mutex<Option<Arc<StateSnapshot>>>>,
    /// History records and ended drift episodes appended by this process (trim cadence).
    appended: std::sync::atomic::AtomicUsize,
    /// [`HISTORY_KEPT`], smaller in tests.
    history_kept: usize,
}

/// The tree an entry of this address is stored in.
fn tree_of(address: &Address) -> Tree {
    if address.is_app() {
        Tree::Objects
    } else {
        Tree::Kinds
    }
}

impl StateStore {
    /// Opens (creating) the local state in `dir/state`, for writing (what
    /// `state::open(&Location::Dir(dir), Access::Write)` does).
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        Self::with_backend(Box::new(SledBackend::open(dir)?))
    }

    /// The state kept by `backend`, for a writer: initialised (schema version, salt, lineage)
    /// on first use, upgraded in place from an older layout (its records backed up first); a
    /// state written by a newer layout is refused.
    pub fn with_backend(backend: Box<dyn StateBackend>) -> Result<Self, StateError> {
        Self::opened(backend, true)
    }

    /// The state kept by `backend`, for a reader: never written; an older layout is read as
    /// it is; no state at all is [`StateError::NoState`].
    pub fn read_only(backend: Box<dyn StateBackend>) -> Result<Self, StateError> {
        Self::opened(backend, false)
    }

    fn opened(backend: Box<dyn StateBackend>, writer: bool) -> Result<Self, StateError> {
        let mut store = Self {
            backend,
            upgraded_from: None,
            memo: writer.then(|| Mutex::new(None)),
            appended: std::sync::atomic::AtomicUsize::new(0),
            history_kept: HISTORY_KEPT,
        };
        let found = store.backend.get(Tree::Meta, VERSION_KEY)?;
        let location = || store.backend.describe();
        match schema::opening(found.as_deref(), writer) {
            Ok(Opening::Create) if !writer => {
                return Err(StateError::NoState {
                    location: location(),
                })
            }
            Ok(Opening::Create) => store.create()?,
            Ok(Opening::Current | Opening::ReadAsIs { .. }) => {}
            Ok(Opening::Upgrade { from }) => {
                store.upgrade(from)?;
                store.upgraded_from = Some(from);
            }
            Err(VersionProblem::Newer(found)) => {
                return Err(StateError::Newer {
                    location: location(),
                    found,
                    supported: STATE_SCHEMA_VERSION,
                })
            }
            Err(VersionProblem::Unknown(found)) => {
                return Err(StateError::UnknownVersion {
                    location: location(),
                    found,
                    oldest: schema::OLDEST_READABLE,
                    supported: STATE_SCHEMA_VERSION,
                })
            }
        }
        Ok(store)
    }

    /// Writes a new state's metadata, durably.
    fn create(&self) -> Result<(), StateError> {
        let mut salt = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut salt);
        let mut lineage = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut lineage);
        let lineage: String = lineage.iter().map(|b| format!("{b:02x}")).collect();
        let meta = |k: &[u8], v: Vec<u8>| self.backend.insert(Tree::Meta, k, v);
        meta(VERSION_KEY, STATE_SCHEMA_VERSION.to_string().into_bytes())?;
        meta(b"salt", salt.to_vec())?;
        meta(b"lineage", lineage.into_bytes())?;
        self.flush()
    }

    /// Upgrades a state of layout `from` in place: first a durable copy of every record into
    /// the backup tree (replacing what an interrupted upgrade left there), then the version.
    /// A crash in between leaves the old version with its records untouched: the next writer
    /// upgrades again.
    fn upgrade(&self, from: u32) -> Result<(), StateError> {
        self.backend.clear(Tree::UpgradeBackup)?;
        for tree in Tree::V1 {
            for (key, value) in self.backend.scan(tree, b"")? {
                self.backend.insert(
                    Tree::UpgradeBackup,
                    &schema::backup_key(tree.name(), &key),
                    value,
                )?;
            }
        }
        self.flush()?;
        self.backend.insert(
            Tree::Meta,
            VERSION_KEY,
            STATE_SCHEMA_VERSION.to_string().into_bytes(),
        )?;
        self.flush()?;
        tracing::info!(
            location = %self.backend.describe(),
            from,
            to = STATE_SCHEMA_VERSION,
            "upgraded the state in place; its old records are kept until the next successful apply"
        );
        Ok(())
    }

    /// The version this writer upgraded the state from when it opened it, if it did.
    pub fn upgraded_from(&self) -> Option<u32> {
        self.upgraded_from
    }

    /// How many records the upgrade backup holds (0: none).
    pub fn upgrade_backup_len(&self) -> Result<usize, StateError> {
        Ok(self.backend.scan(Tree::UpgradeBackup, b"")?.len())
    }

    /// Drops the records an in-place upgrade kept, durably (after a successful apply on the
    /// upgraded state); nothing when there are none. Whether there were.
    pub fn drop_upgrade_backup(&self) -> Result<bool, StateError> {
        if self.backend.scan(Tree::UpgradeBackup, b"")?.is_empty() {
            return Ok(false);
        }
        self.backend.clear(Tree::UpgradeBackup)?;
        self.flush()?;
        Ok(true)
    }

    /// Of `live_ids`, those another scope of a shared state manages, with that scope.
    pub fn claimed_elsewhere(
        &self,
        live_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StateError> {
        self.backend.claimed_elsewhere(live_ids)
    }

    /// Where the state is (no credentials).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|source| StateError::Codec {
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
    }

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("state records serialize")
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StateError> {
        self.backend.flush()
    }

    /// Every entry, with salt and lineage, for planning. A writer reads its records once and
    /// then answers from memory (a round takes several snapshots; decoding every entry each
    /// time was most of a round's cost at 10,000 applications).
    pub fn snapshot(&self) -> Result<Arc<StateSnapshot>, StateError> {
        let Some(memo) = &self.memo else {
            return Ok(Arc::new(self.read_snapshot()?));
        };
        let mut memo = memo.lock().expect("not poisoned");
        if let Some(snapshot) = memo.as_ref() {
            return Ok(snapshot.clone());
        }
        let snapshot = Arc::new(self.read_snapshot()?);
        *memo = Some(snapshot.clone());
        Ok(snapshot)
    }

    fn read_snapshot(&self) -> Result<StateSnapshot, StateError> {
        let meta = |k: &[u8]| self.backend.get(Tree::Meta, k);
        let mut snapshot = StateSnapshot {
            salt: meta(b"salt")?.unwrap_or_default(),
            lineage: meta(b"lineage")?
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default(),
            binding: self.binding()?,
            ..StateSnapshot::default()
        };
        for (k, v) in self.backend.scan(Tree::Objects, b"")? {
            let record: AppRecord = Self::decode(&k, &v)?;
            snapshot.insert(record.into());
        }
        for (k, v) in self.backend.scan(Tree::Kinds, b"")? {
            let record: ObjectRecord = Self::decode(&k, &v)?;
            snapshot.insert(record.into());
        }
        Ok(snapshot)
    }

    /// Carries a write that succeeded into the memo: in place, or on a copy when a snapshot
    /// handed out earlier (a plan, the status page) still holds it.
    fn amend(&self, change: impl FnOnce(&mut StateSnapshot)) {
        let Some(memo) = &self.memo else { return };
        if let Some(snapshot) = memo.lock().expect("not poisoned").as_mut() {
            change(Arc::make_mut(snapshot));
        }
    }

    /// The target this state is bound to, if any.
    pub fn binding(&self) -> Result<Option<TargetBinding>, StateError> {
        match self.backend.get(Tree::Meta, b"binding")? {
            Some(v) => Ok(Some(Self::decode(b"binding", &v)?)),
            None => Ok(None),
        }
    }

    /// Binds this state to `binding` (durably).
    pub fn bind(&self, binding: &TargetBinding) -> Result<(), StateError> {
        self.backend
            .insert(Tree::Meta, b"binding", Self::encode(binding))?;
        self.amend(|s| s.binding = Some(binding.clone()));
        self.flush()
    }

    /// Forgets every entry and unfinished create (`--rebind-target`): the next plan adopts the
    /// new target's objects by name. History is kept.
    pub fn forget_all(&self) -> Result<usize, StateError> {
        let count = self.backend.clear(Tree::Objects)? + self.backend.clear(Tree::Kinds)?;
        self.amend(|s| s.entries.clear());
        self.backend.clear(Tree::Journal)?;
        self.flush()?;
        Ok(count)
    }

    /// One entry, of any kind.
    pub fn get(&self, address: impl Into<Address>) -> Result<Option<StateEntry>, StateError> {
        let address = address.into();
        let key = address.key();
        let Some(record) = self.backend.get(tree_of(&address), key.as_bytes())? else {
            return Ok(None);
        };
        Ok(Some(if address.is_app() {
            Self::decode::<AppRecord>(key.as_bytes(), &record)?.into()
        } else {
            Self::decode::<ObjectRecord>(key.as_bytes(), &record)?.into()
        }))
    }

    /// Writes an entry durably.
    pub fn put(&self, entry: &StateEntry) -> Result<(), StateError> {
        self.put_pending(entry)?;
        self.flush()
    }

    /// Removes an entry durably; returns whether it existed.
    pub fn remove(&self, address: impl Into<Address>) -> Result<bool, StateError> {
        let address = address.into();
        let existed = self
            .backend
            .remove(tree_of(&address), address.key().as_bytes())?;
        self.amend(|s| {
            s.entries.remove(&address);
        });
        self.flush()?;
        Ok(existed)
    }

    /// Writes an entry, as its kind's record in its kind's tree; durable after [`Self::sync`].
    pub fn put_pending(&self, entry: &StateEntry) -> Result<(), StateError> {
        self.backend.insert(
            tree_of(&entry.address),
            entry.address.key().as_bytes(),
            Self::encode(&Persisted::from(entry)),
        )?;
        self.amend(|s| s.insert(entry.clone()));
        Ok(())
    }

    /// Removes an entry; durable after [`Self::sync`].
    pub fn remove_pending(&self, address: impl Into<Address>) -> Result<(), StateError> {
        let address = address.into();
        self.backend
            .remove(tree_of(&address), address.key().as_bytes())?;
        self.amend(|s| {
            s.entries.remove(&address);
        });
        Ok(())
    }

    /// Writes a journal record; durable after [`Self::sync`].
    pub fn journal_put_pending<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StateError> {
        self.backend
            .insert(Tree::Journal, key.as_bytes(), Self::encode(value))
    }

    /// Removes a journal record; durable after [`Self::sync`].
    pub fn journal_remove_pending(&self, key: &str) -> Result<(), StateError> {
        self.backend
            .remove(Tree::Journal, key.as_bytes())
            .map(|_| ())
    }

    /// Returns once every pending write made before the call is durable; concurrent callers
    /// share one flush.
    pub async fn sync(&self) -> Result<(), StateError> {
        self.backend.sync().await
    }

    /// Whether the journal holds a record under `key`.
    pub fn journal_has(&self, key: &str) -> Result<bool, StateError> {
        Ok(self.backend.get(Tree::Journal, key.as_bytes())?.is_some())
    }

    /// A journal record (create intents), durably.
    pub fn journal_put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        self.journal_put_pending(key, value)?;
        self.flush()
    }

    /// Removes a journal record durably.
    pub fn journal_remove(&self, key: &str) -> Result<(), StateError> {
        self.journal_remove_pending(key)?;
        self.flush()
    }

    /// Every journal record.
    pub fn journal_all<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StateError> {
        self.backend
            .scan(Tree::Journal, b"")?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    Self::decode(&k, &v)?,
                ))
            })
            .collect()
    }

    /// Appends a history record durably.
    pub fn history_append<T: Serialize>(&self, value: &T) -> Result<(), StateError> {
        let id = self.backend.next_id()?;
        self.backend
            .insert(Tree::History, &id.to_be_bytes(), Self::encode(value))?;
        self.appended_to_history(1)?;
        self.flush()
    }

    /// Counts `n` records appended to a history; on the first and then every [`TRIM_EVERY`],
    /// trims the apply history and the ended drift episodes to the newest [`HISTORY_KEPT`].
    fn appended_to_history(&self, n: usize) -> Result<(), StateError> {
        use std::sync::atomic::Ordering;
        let before = self.appended.fetch_add(n, Ordering::Relaxed);
        if n == 0 || (before > 0 && before / TRIM_EVERY == (before + n) / TRIM_EVERY) {
            return Ok(());
        }
        self.keep_last(Tree::History, b"", self.history_kept)?;
        self.keep_last(Tree::Drift, DRIFT_ENDED, self.history_kept)?;
        Ok(())
    }

    /// Removes every record under `prefix` but the newest `keep` (keys are ids, in order).
    fn keep_last(&self, tree: Tree, prefix: &[u8], keep: usize) -> Result<usize, StateError> {
        let keys = self.backend.keys(tree, prefix)?;
        let excess = keys.len().saturating_sub(keep);
        for key in &keys[..excess] {
            self.backend.remove(tree, key)?;
        }
        Ok(excess)
    }

    /// The open drift episodes, by object.
    pub fn drift_open(&self) -> Result<BTreeMap<Address, DriftRecord>, StateError> {
        Ok(self
            .backend
            .scan(Tree::Drift, DRIFT_OPEN)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice::<DriftRecord>(&v).ok())
            .map(|r| (r.object.clone(), r))
            .collect())
    }

    /// Records one observation's drift: open episodes under their object, ended ones moved to
    /// the drift history; durable after [`Self::sync`] or [`Self::flush`].
    pub fn drift_record(&self, update: &DriftUpdate) -> Result<(), StateError> {
        let open_key = |r: &DriftRecord| [DRIFT_OPEN, r.object.key().as_bytes()].concat();
        for record in update.open() {
            self.backend
                .insert(Tree::Drift, &open_key(record), Self::encode(record))?;
        }
        for record in &update.resolved {
            self.backend.remove(Tree::Drift, &open_key(record))?;
            let id = self.backend.next_id()?;
            self.backend.insert(
                Tree::Drift,
                &[DRIFT_ENDED, &id.to_be_bytes()].concat(),
                Self::encode(record),
            )?;
        }
        self.appended_to_history(update.resolved.len())
    }

    /// Ended drift episodes, newest first.
    pub fn drift_history(&self, limit: usize) -> Result<Vec<DriftRecord>, StateError> {
        Ok(self
            .backend
            .scan_last(Tree::Drift, DRIFT_ENDED, limit)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }

    /// What the credential sink `sink` was last given, by client address key.
    pub fn deliveries(&self, sink: &str) -> Result<BTreeMap<String, DeliveryRecord>, StateError> {
        let prefix = format!("{sink}\0");
        self.backend
            .scan(Tree::Deliveries, prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| {
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((key, Self::decode(&k, &v)?))
            })
            .collect()
    }

    /// Records durably what `sink` was given for the client at `key` (`None`: it was told the
    /// client is gone).
    pub fn record_delivery(
        &self,
        sink: &str,
        key: &str,
        record: Option<&DeliveryRecord>,
    ) -> Result<(), StateError> {
        let id = format!("{sink}\0{key}");
        match record {
            Some(r) => self
                .backend
                .insert(Tree::Deliveries, id.as_bytes(), Self::encode(r))?,
            None => {
                self.backend.remove(Tree::Deliveries, id.as_bytes())?;
            }
        }
        self.flush()
    }

    /// History records, newest first.
    pub fn history<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, StateError> {
        self.backend
            .scan_last(Tree::History, b"", limit)?
            .into_iter()
            .map(|(k, v)| Self::decode(&k, &v))
            .collect()
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
