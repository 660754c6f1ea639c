//! The sled-backed tenant store: the objects of every kind in one tree, each row keyed by its
//! kind, its application (parented kinds) and its id ([`object_key`]) and shaped alike
//! (`{"seq": …, "object": {…}}`); a client→app index, every kind's uniqueness claims (one
//! index), idempotency records and metadata (schema version, tenant id, keys).
//!
//! Writes go through [`TenantStore::apply`] as one multi-tree transaction and become durable with
//! [`TenantStore::make_durable`], which batches concurrent callers into one flush (group commit):
//! whoever flushes covers every write made before the flush began.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::group_commit::GroupCommit;
use crate::model::kinds::{APPLICATION, CLIENT};
use crate::model::{AppCore, Client};
use crate::sled_db::{open_exclusive, OpenError};

/// The on-disk layout version this build reads and writes. Version 1 kept the applications'
/// uniqueness claims in a tree of their own (`unique`, the Authentication Hub's named `hub`);
/// from version 3 every kind's claims are in one index (`object_claims`), named by the kind and
/// the catalogue fact (`tenant::claims`). (Version 2 was written only by development builds,
/// with either layout.) Up to version 3 applications and clients had trees of their own
/// (`apps`, `clients`, their rows `{"seq", "app" | "client"}`); from version 4 they are rows of
/// the one `objects` tree like every other kind's. An older store is upgraded when opened
/// ([`TenantStore::upgrade`]).
pub const SCHEMA_VERSION: u32 = 4;

/// The trees up to version 3 kept applications and clients in.
const EARLIER_TREES: [&str; 2] = ["apps", "clients"];

/// Errors of the tenant store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store's exclusive lock.
    #[error(
        "the data directory {path} is in use by another process (sled holds an exclusive lock on it); \
         stop that process or choose another directory"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The store was written by a different layout version.
    #[error(
        "the data directory {path} uses store schema version {found}, but this tenantsync reads only \
         version {supported}; use the tenantsync release that wrote it, or rebuild the data"
    )]
    SchemaVersion {
        /// The directory.
        path: PathBuf,
        /// The version found.
        found: String,
        /// The version supported.
        supported: u32,
    },
    /// sled could not open the directory.
    #[error("could not open the store at {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sled::Error,
    },
    /// sled panicked while opening: the files are almost certainly corrupt.
    #[error(
        "the store at {path} could not be read (sled reported corruption); move the directory aside \
         and rebuild it by re-applying the manifests, or restore a backup"
    )]
    Corrupt {
        /// The directory.
        path: PathBuf,
    },
    /// An I/O error from sled after opening.
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("stored record `{key}` is unreadable: {source}")]
    Codec {
        /// Its key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// An app as stored: a row of the objects tree (its app-level fields as `object`), which also
/// records which of its clients is the default one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredApp {
    /// Creation order (monotonic, from sled's id generator).
    pub seq: u64,
    /// The default client, if the app has any clients.
    pub default_client_id: Option<String>,
    /// The app-level fields (`app` up to store version 3).
    #[serde(rename = "object", alias = "app")]
    pub app: AppCore,
}

/// A client as stored: a row of the objects tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredClient {
    /// Creation order.
    pub seq: u64,
    /// The client as returned by the API (`client` up to store version 3).
    #[serde(rename = "object", alias = "client")]
    pub client: Client,
}

/// A remembered response to an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Hash of the request (method, path, body) the key was first used with.
    pub fingerprint: String,
    /// Status of the first response.
    pub status: u16,
    /// Body of the first response (JSON text).
    pub body: String,
    /// When it was stored, seconds since the Unix epoch.
    pub created_unix: u64,
}

/// One transaction's worth of changes. `None` deletes.
#[derive(Debug, Default)]
pub struct Changes {
    /// App id → new record.
    pub apps: Vec<(String, Option<StoredApp>)>,
    /// (app id, client id) → new record.
    pub clients: Vec<(String, String, Option<StoredClient>)>,
    /// Idempotency key → record.
    pub idempotency: Option<(String, IdempotencyRecord)>,
    /// Objects of the described kinds: [`object_key`] → new record.
    pub objects: Vec<(Vec<u8>, Option<StoredObject>)>,
    /// Uniqueness claims of every kind (`tenant::claims`): [`object_key`] of the claim → the
    /// id of the object holding it.
    pub claims: Vec<(Vec<u8>, Option<String>)>,
}

/// A row of the objects tree read as fields, whatever its kind: every field, secrets included
/// (responses leave them out). The described kinds (resource, service provider, role, login
/// preferences) are stored so; an application's or a client's row reads so too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObject {
    /// Creation order.
    pub seq: u64,
    /// Its fields.
    pub object: serde_json::Map<String, serde_json::Value>,
}

/// The key of an object (or of a natural-key claim): kind, application id (empty for a
/// parentless kind), id (or natural key), separated by NUL.
pub fn object_key(kind: &str, app_id: Option<&str>, id: &str) -> Vec<u8> {
    let mut key = object_prefix(kind, app_id);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The prefix of every object of `kind` (of application `app_id`).
pub fn object_prefix(kind: &str, app_id: Option<&str>) -> Vec<u8> {
    let mut key = kind.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(app_id.unwrap_or_default().as_bytes());
    key.push(0);
    key
}

struct Trees {
    client_index: sled::Tree,
    idempotency: sled::Tree,
    meta: sled::Tree,
    objects: sled::Tree,
    object_claims: sled::Tree,
}

/// The tenant's data in one sled database. Cheap to clone.
#[derive(Clone)]
pub struct TenantStore {
    db: sled::Db,
    trees: Arc<Trees>,
    durability: Arc<GroupCommit>,
    app_count: Arc<AtomicI64>,
    client_count: Arc<AtomicI64>,
}

fn app_key(app_id: &str) -> Vec<u8> {
    object_key(APPLICATION.name, None, app_id)
}

fn client_key(app_id: &str, client_id: &str) -> Vec<u8> {
    object_key(CLIENT.name, Some(app_id), client_id)
}

/// The prefix of every row of `kind`, whatever its application.
fn kind_prefix(kind: &str) -> Vec<u8> {
    let mut key = kind.as_bytes().to_vec();
    key.push(0);
    key
}

fn decode<T: for<'de> Deserialize<'de>>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Codec {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

/// Decodes every record of a scan and orders them by their creation sequence number.
fn in_creation_order<T: for<'de> Deserialize<'de>>(
    records: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    seq: impl Fn(&T) -> u64,
) -> Result<Vec<T>, StoreError> {
    let mut out = records
        .map(|kv| {
            let (k, v) = kv?;
            decode::<T>(&k, &v)
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|r| seq(r));
    Ok(out)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records always serialize")
}

impl TenantStore {
    /// Opens (creating if needed) the store in `dir`. Fails at once if another process has it
    /// open, and refuses a store of another schema version.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(Some(500));
        let path = dir.to_owned();
        let db = match open_exclusive(&config) {
            Ok(db) => db,
            Err(OpenError::Locked) => return Err(StoreError::Locked { path }),
            Err(OpenError::Corrupt) => return Err(StoreError::Corrupt { path }),
            Err(OpenError::Other(source)) => return Err(StoreError::Open { path, source }),
        };
        let durability = GroupCommit::new(db.clone());
        Self::with_db(db, dir, durability)
    }

    /// A store in memory that vanishes when dropped (sled's temporary mode), never flushed:
    /// the deterministic simulation's tenant, whose writes must not wait on a blocking flush.
    pub fn temporary() -> Result<Self, StoreError> {
        let path = PathBuf::from("(temporary)");
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(8 * 1024 * 1024)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let durability = GroupCommit::volatile(db.clone());
        Self::with_db(db, &path, durability)
    }

    fn with_db(db: sled::Db, dir: &Path, durability: GroupCommit) -> Result<Self, StoreError> {
        let trees = Trees {
            client_index: db.open_tree("client_index")?,
            idempotency: db.open_tree("idempotency")?,
            meta: db.open_tree("meta")?,
            objects: db.open_tree("objects")?,
            object_claims: db.open_tree("object_claims")?,
        };
        match trees.meta.get("schema_version")? {
            None => {
                trees
                    .meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
            Some(found) if found.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {
                Self::drop_earlier_trees(&db)?;
            }
            Some(found) if [&b"1"[..], b"2", b"3"].contains(&found.as_ref()) => {
                Self::upgrade(&db, &trees, found.as_ref())?;
            }
            Some(found) => {
                return Err(StoreError::SchemaVersion {
                    path: dir.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                    supported: SCHEMA_VERSION,
                })
            }
        }
        let rows = |kind: &str| trees.objects.scan_prefix(kind_prefix(kind)).count() as i64;
        let app_count = rows(APPLICATION.name);
        let client_count = rows(CLIENT.name);
        Ok(Self {
            durability: Arc::new(durability),
            db,
            trees: Arc::new(trees),
            app_count: Arc::new(AtomicI64::new(app_count)),
            client_count: Arc::new(AtomicI64::new(client_count)),
        })
    }

    /// Upgrades a store of version `found` (1 to 3) in place, each step safe to repeat if the
    /// process stops halfway (the version is written last):
    /// - (versions 1 and 2) rebuilds the applications' uniqueness claims into the claims index
    ///   every kind shares, dropping version 1's tree of them and any application claims an
    ///   earlier layout left in the index;
    /// - (up to version 3) copies every application and client into the objects tree as rows
    ///   like every other kind's (first removing any a stopped upgrade copied, which the
    ///   previous release may have outdated since), then drops their trees.
    fn upgrade(db: &sled::Db, trees: &Trees, found: &[u8]) -> Result<(), StoreError> {
        let apps = db.open_tree(EARLIER_TREES[0])?;
        let clients = db.open_tree(EARLIER_TREES[1])?;
        if found != b"3" {
            let earlier = kind_prefix(APPLICATION.name);
            for key in trees.object_claims.scan_prefix(&earlier).keys() {
                trees.object_claims.remove(key?)?;
            }
            for entry in apps.iter() {
                let (key, bytes) = entry?;
                let stored: StoredApp = decode(&key, &bytes)?;
                for claim in super::claims::app_claims(&stored.app) {
                    trees
                        .object_claims
                        .insert(claim.key(), stored.app.app_id.as_bytes())?;
                }
            }
            db.drop_tree("unique")?;
        }
        // Rows of an upgrade that stopped halfway, which the previous release (reading only
        // the old trees) may have outdated since: version 3 and older never wrote these.
        for kind in [APPLICATION.name, CLIENT.name] {
            for key in trees.objects.scan_prefix(kind_prefix(kind)).keys() {
                trees.objects.remove(key?)?;
            }
        }
        for entry in apps.iter() {
            let (key, bytes) = entry?;
            let stored: StoredApp = decode(&key, &bytes)?;
            trees
                .objects
                .insert(app_key(&stored.app.app_id), encode(&stored))?;
        }
        for entry in clients.iter() {
            let (key, bytes) = entry?;
            let stored: StoredClient = decode(&key, &bytes)?;
            let identity = stored.client.identity();
            let row = client_key(&identity.app_id, &identity.client_id);
            trees.objects.insert(row, encode(&stored))?;
        }
        db.flush()?;
        trees
            .meta
            .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
        db.flush()?;
        Self::drop_earlier_trees(db)
    }

    /// Drops the trees version 3 kept applications and clients in, if an upgrade stopped
    /// before it could.
    fn drop_earlier_trees(db: &sled::Db) -> Result<(), StoreError> {
        for name in EARLIER_TREES {
            if db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == name.as_bytes())
            {
                db.drop_tree(name)?;
            }
        }
        Ok(())
    }

    /// A metadata value, or `init()` stored durably on first use.
    pub fn meta_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        if let Some(v) = self.trees.meta.get(key)? {
            return Ok(v.to_vec());
        }
        let value = init();
        self.trees.meta.insert(key, value.clone())?;
        self.db.flush()?;
        Ok(value)
    }

    /// A fresh monotonic sequence number.
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// One app.
    pub fn app(&self, app_id: &str) -> Result<Option<StoredApp>, StoreError> {
        let key = app_key(app_id);
        self.trees
            .objects
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    /// Every app, in creation order.
    pub fn apps(&self) -> Result<Vec<StoredApp>, StoreError> {
        in_creation_order(
            self.trees
                .objects
                .scan_prefix(object_prefix(APPLICATION.name, None)),
            |a: &StoredApp| a.seq,
        )
    }

    /// One client of an app.
    pub fn client(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Result<Option<StoredClient>, StoreError> {
        let key = client_key(app_id, client_id);
        self.trees
            .objects
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    /// The clients of an app, in creation order.
    pub fn clients(&self, app_id: &str) -> Result<Vec<StoredClient>, StoreError> {
        in_creation_order(
            self.trees
                .objects
                .scan_prefix(object_prefix(CLIENT.name, Some(app_id))),
            |c: &StoredClient| c.seq,
        )
    }

    /// The app a client belongs to.
    pub fn app_of_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .trees
            .client_index
            .get(client_id)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// A remembered idempotent response.
    pub fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.trees
            .idempotency
            .get(key)?
            .map(|v| decode(key.as_bytes(), &v))
            .transpose()
    }

    /// Drops idempotency records created before `cutoff_unix`; returns how many.
    pub fn purge_idempotency(&self, cutoff_unix: u64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for kv in self.trees.idempotency.iter() {
            let (k, v) = kv?;
            let record: IdempotencyRecord = decode(&k, &v)?;
            if record.created_unix < cutoff_unix {
                self.trees.idempotency.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Number of apps stored.
    pub fn app_count(&self) -> i64 {
        self.app_count.load(Ordering::Relaxed)
    }

    /// Number of clients stored.
    pub fn client_count(&self) -> i64 {
        self.client_count.load(Ordering::Relaxed)
    }

    /// One object of a described kind.
    pub fn object(&self, key: &[u8]) -> Result<Option<StoredObject>, StoreError> {
        self.trees
            .objects
            .get(key)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    /// Every object under `prefix` (see [`object_prefix`]), keys included, in creation order.
    pub fn objects(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, StoredObject)>, StoreError> {
        let mut out = self
            .trees
            .objects
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode::<StoredObject>(&k, &v)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|(_, o)| o.seq);
        Ok(out)
    }

    /// Every row of `kind`, whatever its application, read as fields, keys included (in key
    /// order).
    pub fn rows_of_kind(&self, kind: &str) -> Result<Vec<(Vec<u8>, StoredObject)>, StoreError> {
        self.trees
            .objects
            .scan_prefix(kind_prefix(kind))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode::<StoredObject>(&k, &v)?))
            })
            .collect()
    }

    /// The id of the object holding a uniqueness claim (a natural key, or a unique value).
    pub fn claim_owner(&self, key: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(self
            .trees
            .object_claims
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Applies `changes` atomically (not yet durable: see [`Self::make_durable`]).
    pub fn apply(&self, changes: &Changes) -> Result<(), StoreError> {
        let t = &self.trees;
        let result = (
            &t.client_index,
            &t.idempotency,
            &t.objects,
            &t.object_claims,
        )
            .transaction(|(index, idem, objects, claims)| {
                for (key, record) in &changes.objects {
                    match record {
                        Some(r) => objects.insert(key.as_slice(), encode(r))?,
                        None => objects.remove(key.as_slice())?,
                    };
                }
                for (key, owner) in &changes.claims {
                    match owner {
                        Some(id) => claims.insert(key.as_slice(), id.as_bytes())?,
                        None => claims.remove(key.as_slice())?,
                    };
                }
                let mut app_delta = 0i64;
                let mut client_delta = 0i64;
                for (app_id, record) in &changes.apps {
                    let old = match record {
                        Some(r) => objects.insert(app_key(app_id), encode(r))?,
                        None => objects.remove(app_key(app_id))?,
                    };
                    app_delta += i64::from(record.is_some()) - i64::from(old.is_some());
                }
                for (app_id, client_id, record) in &changes.clients {
                    let key = client_key(app_id, client_id);
                    let old = match record {
                        Some(r) => {
                            index.insert(client_id.as_bytes(), app_id.as_bytes())?;
                            objects.insert(key, encode(r))?
                        }
                        None => {
                            index.remove(client_id.as_bytes())?;
                            objects.remove(key)?
                        }
                    };
                    client_delta += i64::from(record.is_some()) - i64::from(old.is_some());
                }
                if let Some((key, record)) = &changes.idempotency {
                    idem.insert(key.as_bytes(), encode(record))?;
                }
                Ok::<_, ConflictableTransactionError<()>>((app_delta, client_delta))
            });
        let (app_delta, client_delta) = result.map_err(|e| match e {
            TransactionError::Storage(e) => StoreError::Sled(e),
            TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
        })?;
        self.app_count.fetch_add(app_delta, Ordering::Relaxed);
        self.client_count.fetch_add(client_delta, Ordering::Relaxed);
        self.durability.wrote();
        Ok(())
    }

    /// Returns once every write applied before the call is on disk. Concurrent callers share
    /// flushes: one flush makes everything written before it durable.
    pub async fn make_durable(&self) -> Result<(), StoreError> {
        Ok(self.durability.durable().await?)
    }

    /// Flushes synchronously (shutdown, tests).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
