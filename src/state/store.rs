//! The reconciler state: entries, metadata (schema version, lineage, salt, binding), the create
//! journal, the apply history and credential deliveries, built on a [`StateBackend`] (sled in
//! `--state-dir/state` by default). One writer at a time: a second opener fails at once. Every
//! write is durable before it counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{de::DeserializeOwned, Serialize};

use super::backend::{SledBackend, StateBackend, Tree};
use super::entry::{Address, StateEntry, StateSnapshot, TargetBinding};
use super::object::{ObjectAddress, ObjectEntry};
use crate::credentials::DeliveryRecord;
use crate::drift::{DriftRecord, DriftUpdate};

/// The on-disk layout version.
pub const STATE_SCHEMA_VERSION: u32 = 1;

/// Key prefixes of the drift tree: open episodes by address key, ended ones by id.
const DRIFT_OPEN: &[u8] = b"open/";
const DRIFT_ENDED: &[u8] = b"ended/";

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds the state.
    #[error(
        "the state directory {path} is in use by another tenantsync process (an apply, plan or sync); \
         wait for it to finish, or use another --state-dir"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// Written by another layout version.
    #[error(
        "the state in {location} has schema version {found}; this tenantsync reads version {supported}"
    )]
    SchemaVersion {
        /// Where the state is.
        location: String,
        /// Found.
        found: String,
        /// Supported.
        supported: u32,
    },
    /// sled failed.
    #[error("state store at {path}: {source}")]
    Sled {
        /// The directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: sled::Error,
    },
    /// PostgreSQL failed (the message names what was being done; never a password).
    #[error("PostgreSQL state: {message}")]
    Postgres {
        /// What failed.
        message: String,
    },
    /// Another writer holds the scope's run lock.
    #[error(
        "the state {location} is locked by {holder} (an apply or sync in progress); waited {waited:?}. \
         Wait for it to finish, or pass --lock-timeout to wait longer"
    )]
    Held {
        /// Where the state is.
        location: String,
        /// Who holds it: host, pid, since when.
        holder: String,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// Another scope of the shared state manages this live object.
    #[error(
        "{object} is managed by the state scope `{scope}`; one scope manages each live object \
         (remove it from these manifests, or manage it from that scope)"
    )]
    Claimed {
        /// The object, as this scope names it.
        object: String,
        /// The scope that manages it.
        scope: String,
    },
    /// Another process took the lock since this one did: this one may no longer write.
    #[error(
        "the state {location} was taken over by another tenantsync since this process locked it; \
         nothing more is written by this process"
    )]
    Fenced {
        /// Where the state is.
        location: String,
    },
    /// A record does not decode.
    #[error("state record `{key}` is unreadable: {source}")]
    Codec {
        /// Its key.
        key: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

/// The opened state.
pub struct StateStore {
    backend: Box<dyn StateBackend>,
}

impl StateStore {
    /// Opens (creating) the local state in `dir/state`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        Self::with_backend(Box::new(SledBackend::open(dir)?))
    }

    /// The state kept by `backend`, initialised (schema version, salt, lineage) on first use;
    /// a state written by a newer layout is refused.
    pub fn with_backend(backend: Box<dyn StateBackend>) -> Result<Self, StateError> {
        let store = Self { backend };
        let version = STATE_SCHEMA_VERSION.to_string();
        match store.backend.get(Tree::Meta, b"schema_version")? {
            None => {
                let mut salt = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut salt);
                let mut lineage = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut lineage);
                let lineage: String = lineage.iter().map(|b| format!("{b:02x}")).collect();
                let meta = |k: &str, v: Vec<u8>| store.backend.insert(Tree::Meta, k.as_bytes(), v);
                meta("schema_version", version.into_bytes())?;
                meta("salt", salt.to_vec())?;
                meta("lineage", lineage.into_bytes())?;
                store.flush()?;
            }
            Some(v) if v == version.as_bytes() => {}
            Some(v) => {
                return Err(StateError::SchemaVersion {
                    location: store.backend.describe(),
                    found: String::from_utf8_lossy(&v).into_owned(),
                    supported: STATE_SCHEMA_VERSION,
                })
            }
        }
        Ok(store)
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

    /// Every entry, with salt and lineage, for planning.
    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
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
            let entry: StateEntry = Self::decode(&k, &v)?;
            snapshot.entries.insert(entry.address.clone(), entry);
        }
        for (k, v) in self.backend.scan(Tree::Kinds, b"")? {
            let entry: ObjectEntry = Self::decode(&k, &v)?;
            snapshot.objects.insert(entry.address.clone(), entry);
        }
        Ok(snapshot)
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
        self.flush()
    }

    /// Forgets every entry and unfinished create (`--rebind-target`): the next plan adopts the
    /// new target's objects by name. History is kept.
    pub fn forget_all(&self) -> Result<usize, StateError> {
        let count = self.backend.clear(Tree::Objects)? + self.backend.clear(Tree::Kinds)?;
        self.backend.clear(Tree::Journal)?;
        self.flush()?;
        Ok(count)
    }

    /// One entry.
    pub fn get(&self, address: &Address) -> Result<Option<StateEntry>, StateError> {
        let key = address.key();
        self.backend
            .get(Tree::Objects, key.as_bytes())?
            .map(|v| Self::decode(key.as_bytes(), &v))
            .transpose()
    }

    /// Writes an entry durably.
    pub fn put(&self, entry: &StateEntry) -> Result<(), StateError> {
        self.put_pending(entry)?;
        self.flush()
    }

    /// Removes an entry durably; returns whether it existed.
    pub fn remove(&self, address: &Address) -> Result<bool, StateError> {
        let existed = self
            .backend
            .remove(Tree::Objects, address.key().as_bytes())?;
        self.flush()?;
        Ok(existed)
    }

    /// Writes an entry; durable after [`Self::sync`].
    pub fn put_pending(&self, entry: &StateEntry) -> Result<(), StateError> {
        self.backend.insert(
            Tree::Objects,
            entry.address.key().as_bytes(),
            Self::encode(entry),
        )
    }

    /// Removes an entry; durable after [`Self::sync`].
    pub fn remove_pending(&self, address: &Address) -> Result<(), StateError> {
        self.backend
            .remove(Tree::Objects, address.key().as_bytes())
            .map(|_| ())
    }

    /// Writes an entry of a described kind; durable after [`Self::sync`].
    pub fn put_object_pending(&self, entry: &ObjectEntry) -> Result<(), StateError> {
        self.backend.insert(
            Tree::Kinds,
            entry.address.storage_key().as_bytes(),
            Self::encode(entry),
        )
    }

    /// Removes an entry of a described kind; durable after [`Self::sync`].
    pub fn remove_object_pending(&self, address: &ObjectAddress) -> Result<(), StateError> {
        self.backend
            .remove(Tree::Kinds, address.storage_key().as_bytes())
            .map(|_| ())
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
        self.flush()
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
        Ok(())
    }

    /// Ended drift episodes, newest first.
    pub fn drift_history(&self, limit: usize) -> Result<Vec<DriftRecord>, StateError> {
        let mut records = self.backend.scan(Tree::Drift, DRIFT_ENDED)?;
        records.reverse();
        Ok(records
            .into_iter()
            .take(limit)
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
        let mut records = self.backend.scan(Tree::History, b"")?;
        records.reverse();
        records
            .into_iter()
            .take(limit)
            .map(|(k, v)| Self::decode(&k, &v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::entry::Ownership;

    #[test]
    fn entries_persist_and_a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let entry = StateEntry {
            address: Address::app("shop"),
            app_id: "a1".into(),
            client_id: None,
            ownership: Ownership::Created,
            last_applied: serde_json::Map::new(),
            protect: false,
            applied_at: "now".into(),
        };
        store.put(&entry).unwrap();
        assert!(matches!(
            StateStore::open(dir.path()),
            Err(StateError::Locked { .. })
        ));
        let snapshot = store.snapshot().unwrap();
        assert_eq!(snapshot.entries[&Address::app("shop")], entry);
        assert_eq!(snapshot.salt.len(), 32);
        assert_eq!(snapshot.lineage.len(), 32);
        assert!(store.remove(&Address::app("shop")).unwrap());
        assert!(store.snapshot().unwrap().entries.is_empty());
    }
}
