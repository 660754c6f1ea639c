//! The reconciler state on disk (sled, in `--state-dir/state`): entries, metadata (schema
//! version, lineage, salt), the create journal and the apply history. One process at a time: a
//! second opener fails at once. Every write is flushed before it counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{de::DeserializeOwned, Serialize};

use super::entry::{Address, StateEntry, StateSnapshot, TargetBinding};
use crate::credentials::DeliveryRecord;
use crate::group_commit::GroupCommit;
use crate::sled_db::{open_exclusive, OpenError};

/// The on-disk layout version.
pub const STATE_SCHEMA_VERSION: u32 = 1;

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
        "the state in {path} has schema version {found}; this tenantsync reads version {supported}"
    )]
    SchemaVersion {
        /// The directory.
        path: PathBuf,
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
    path: PathBuf,
    db: sled::Db,
    commit: GroupCommit,
    objects: sled::Tree,
    meta: sled::Tree,
    journal: sled::Tree,
    history: sled::Tree,
    deliveries: sled::Tree,
}

impl StateStore {
    /// Opens (creating) the state in `dir/state`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join("state");
        let sled_err = |source| StateError::Sled {
            path: path.clone(),
            source,
        };
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(4 * 1024 * 1024);
        let db = match open_exclusive(&config) {
            Ok(db) => db,
            Err(OpenError::Locked) => return Err(StateError::Locked { path: dir.to_owned() }),
            Err(OpenError::Other(e)) => return Err(sled_err(e)),
            Err(OpenError::Corrupt) => {
                return Err(sled_err(sled::Error::Unsupported(
                    "the state files are corrupt; move the directory aside and re-adopt with `tenantsync export` or `import`".into(),
                )))
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        let store = Self {
            commit: GroupCommit::new(db.clone()),
            objects: tree("objects")?,
            meta: tree("meta")?,
            journal: tree("journal")?,
            history: tree("history")?,
            deliveries: tree("deliveries")?,
            db,
            path: path.clone(),
        };
        match store.meta.get("schema_version").map_err(sled_err)? {
            None => {
                let mut salt = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut salt);
                let mut lineage = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut lineage);
                let lineage: String = lineage.iter().map(|b| format!("{b:02x}")).collect();
                store
                    .meta
                    .insert(
                        "schema_version",
                        STATE_SCHEMA_VERSION.to_string().as_bytes(),
                    )
                    .map_err(sled_err)?;
                store.meta.insert("salt", &salt[..]).map_err(sled_err)?;
                store
                    .meta
                    .insert("lineage", lineage.as_bytes())
                    .map_err(sled_err)?;
                store.flush()?;
            }
            Some(v) if v.as_ref() == STATE_SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) => {
                return Err(StateError::SchemaVersion {
                    path,
                    found: String::from_utf8_lossy(&v).into_owned(),
                    supported: STATE_SCHEMA_VERSION,
                })
            }
        }
        Ok(store)
    }

    fn sled_err(&self, source: sled::Error) -> StateError {
        StateError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|source| StateError::Codec {
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    /// Every entry, with salt and lineage, for planning.
    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        let mut snapshot = StateSnapshot {
            salt: self
                .meta
                .get("salt")
                .map_err(|e| self.sled_err(e))?
                .map(|v| v.to_vec())
                .unwrap_or_default(),
            lineage: self
                .meta
                .get("lineage")
                .map_err(|e| self.sled_err(e))?
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default(),
            binding: self.binding()?,
            ..StateSnapshot::default()
        };
        for kv in self.objects.iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let entry: StateEntry = Self::decode(&k, &v)?;
            snapshot.entries.insert(entry.address.clone(), entry);
        }
        Ok(snapshot)
    }

    /// The target this state is bound to, if any.
    pub fn binding(&self) -> Result<Option<TargetBinding>, StateError> {
        match self.meta.get("binding").map_err(|e| self.sled_err(e))? {
            Some(v) => Ok(Some(Self::decode(b"binding", &v)?)),
            None => Ok(None),
        }
    }

    /// Binds this state to `binding` (durably).
    pub fn bind(&self, binding: &TargetBinding) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(binding).expect("bindings serialize");
        self.meta
            .insert("binding", bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Forgets every entry and unfinished create (`--rebind-target`): the next plan adopts the
    /// new target's objects by name. History is kept.
    pub fn forget_all(&self) -> Result<usize, StateError> {
        let count = self.objects.len();
        self.objects.clear().map_err(|e| self.sled_err(e))?;
        self.journal.clear().map_err(|e| self.sled_err(e))?;
        self.flush()?;
        Ok(count)
    }

    /// One entry.
    pub fn get(&self, address: &Address) -> Result<Option<StateEntry>, StateError> {
        let key = address.key();
        self.objects
            .get(&key)
            .map_err(|e| self.sled_err(e))?
            .map(|v| Self::decode(key.as_bytes(), &v))
            .transpose()
    }

    /// Writes an entry durably.
    pub fn put(&self, entry: &StateEntry) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(entry).expect("state entries serialize");
        self.objects
            .insert(entry.address.key(), bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Removes an entry durably; returns whether it existed.
    pub fn remove(&self, address: &Address) -> Result<bool, StateError> {
        let old = self
            .objects
            .remove(address.key())
            .map_err(|e| self.sled_err(e))?;
        self.flush()?;
        Ok(old.is_some())
    }

    /// Writes an entry; durable after [`Self::sync`].
    pub fn put_pending(&self, entry: &StateEntry) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(entry).expect("state entries serialize");
        self.objects
            .insert(entry.address.key(), bytes)
            .map_err(|e| self.sled_err(e))?;
        self.commit.wrote();
        Ok(())
    }

    /// Removes an entry; durable after [`Self::sync`].
    pub fn remove_pending(&self, address: &Address) -> Result<(), StateError> {
        self.objects
            .remove(address.key())
            .map_err(|e| self.sled_err(e))?;
        self.commit.wrote();
        Ok(())
    }

    /// Writes a journal record; durable after [`Self::sync`].
    pub fn journal_put_pending<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).expect("journal records serialize");
        self.journal
            .insert(key, bytes)
            .map_err(|e| self.sled_err(e))?;
        self.commit.wrote();
        Ok(())
    }

    /// Removes a journal record; durable after [`Self::sync`].
    pub fn journal_remove_pending(&self, key: &str) -> Result<(), StateError> {
        self.journal.remove(key).map_err(|e| self.sled_err(e))?;
        self.commit.wrote();
        Ok(())
    }

    /// Returns once every pending write made before the call is on disk; concurrent callers
    /// share one flush.
    pub async fn sync(&self) -> Result<(), StateError> {
        self.commit.durable().await.map_err(|e| self.sled_err(e))
    }

    /// A journal record (create intents).
    pub fn journal_put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).expect("journal records serialize");
        self.journal
            .insert(key, bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Removes a journal record durably.
    pub fn journal_remove(&self, key: &str) -> Result<(), StateError> {
        self.journal.remove(key).map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Every journal record.
    pub fn journal_all<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StateError> {
        self.journal
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    Self::decode(&k, &v)?,
                ))
            })
            .collect()
    }

    /// Appends a history record durably.
    pub fn history_append<T: Serialize>(&self, value: &T) -> Result<(), StateError> {
        let id = self.db.generate_id().map_err(|e| self.sled_err(e))?;
        let bytes = serde_json::to_vec(value).expect("history records serialize");
        self.history
            .insert(id.to_be_bytes(), bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// What the credential sink `sink` was last given, by client address key.
    pub fn deliveries(&self, sink: &str) -> Result<BTreeMap<String, DeliveryRecord>, StateError> {
        let prefix = format!("{sink}\0");
        self.deliveries
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
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
            Some(r) => {
                let bytes = serde_json::to_vec(r).expect("delivery records serialize");
                self.deliveries.insert(id.as_bytes(), bytes)
            }
            None => self.deliveries.remove(id.as_bytes()),
        }
        .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// History records, newest first.
    pub fn history<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, StateError> {
        self.history
            .iter()
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
                Self::decode(&k, &v)
            })
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
