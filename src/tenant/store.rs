//! The sled-backed tenant store: apps, clients (keyed under their app), a client→app index,
//! the objects of the other kinds, every kind's uniqueness claims (one index), idempotency
//! records and metadata (schema version, tenant id, keys).
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
use crate::model::kinds::APPLICATION;
use crate::model::{AppCore, Client};
use crate::sled_db::{open_exclusive, OpenError};

/// The on-disk layout version this build reads and writes. Version 1 kept the applications'
/// uniqueness claims in a tree of their own (`unique`, the Authentication Hub's named `hub`);
/// from version 3 every kind's claims are in one index (`object_claims`), named by the kind and
/// the catalogue fact (`tenant::claims`). (Version 2 was written only by development builds,
/// with either layout.) A version-1 or -2 store's application claims are rebuilt there from its
/// apps when it is opened.
pub const SCHEMA_VERSION: u32 = 3;

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

/// An app as stored: its app-level fields plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredApp {
    /// Creation order (monotonic, from sled's id generator).
    pub seq: u64,
    /// The default client, if the app has any clients.
    pub default_client_id: Option<String>,
    /// The app-level fields.
    pub app: AppCore,
}

/// A client as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredClient {
    /// Creation order.
    pub seq: u64,
    /// The client as returned by the API.
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

/// An object of a described kind (resource, service provider, role, login preferences) as
/// stored: every field, secrets included (responses leave them out).
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
    apps: sled::Tree,
    clients: sled::Tree,
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

fn client_key(app_id: &str, client_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(app_id.len() + client_id.len() + 1);
    key.extend_from_slice(app_id.as_bytes());
    key.push(0);
    key.extend_from_slice(client_id.as_bytes());
    key
}

fn client_prefix(app_id: &str) -> Vec<u8> {
    let mut key = app_id.as_bytes().to_vec();
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
            apps: db.open_tree("apps")?,
            clients: db.open_tree("clients")?,
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
            Some(found) if found.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(found) if found.as_ref() == b"1" || found.as_ref() == b"2" => {
                Self::claims_from_apps(&db, &trees)?;
                trees
                    .meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
            Some(found) => {
                return Err(StoreError::SchemaVersion {
                    path: dir.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                    supported: SCHEMA_VERSION,
                })
            }
        }
        let app_count = trees.apps.len() as i64;
        let client_count = trees.clients.len() as i64;
        Ok(Self {
            durability: Arc::new(durability),
            db,
            trees: Arc::new(trees),
            app_count: Arc::new(AtomicI64::new(app_count)),
            client_count: Arc::new(AtomicI64::new(client_count)),
        })
    }

    /// Rebuilds the apps' uniqueness claims (an index of the apps) from the apps into the
    /// claims index every kind shares, drops version 1's tree of them, and any application
    /// claims an earlier layout left in the index: the upgrade of a version-1 or -2 store.
    fn claims_from_apps(db: &sled::Db, trees: &Trees) -> Result<(), StoreError> {
        let earlier = format!("{}\0", APPLICATION.name);
        for key in trees.object_claims.scan_prefix(&earlier).keys() {
            trees.object_claims.remove(key?)?;
        }
        for entry in trees.apps.iter() {
            let (key, bytes) = entry?;
            let stored: StoredApp = decode(&key, &bytes)?;
            for (claim, owner) in super::claims::app_claims(&stored.app)
                .into_iter()
                .map(|c| (c, stored.app.app_id.as_bytes()))
            {
                trees.object_claims.insert(claim.key(), owner)?;
            }
        }
        db.drop_tree("unique")?;
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
        self.trees
            .apps
            .get(app_id)?
            .map(|v| decode(app_id.as_bytes(), &v))
            .transpose()
    }

    /// Every app, in creation order.
    pub fn apps(&self) -> Result<Vec<StoredApp>, StoreError> {
        in_creation_order(self.trees.apps.iter(), |a: &StoredApp| a.seq)
    }

    /// One client of an app.
    pub fn client(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Result<Option<StoredClient>, StoreError> {
        let key = client_key(app_id, client_id);
        self.trees
            .clients
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    /// The clients of an app, in creation order.
    pub fn clients(&self, app_id: &str) -> Result<Vec<StoredClient>, StoreError> {
        in_creation_order(
            self.trees.clients.scan_prefix(client_prefix(app_id)),
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
            &t.apps,
            &t.clients,
            &t.client_index,
            &t.idempotency,
            &t.objects,
            &t.object_claims,
        )
            .transaction(|(apps, clients, index, idem, objects, claims)| {
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
                        Some(r) => apps.insert(app_id.as_bytes(), encode(r))?,
                        None => apps.remove(app_id.as_bytes())?,
                    };
                    app_delta += i64::from(record.is_some()) - i64::from(old.is_some());
                }
                for (app_id, client_id, record) in &changes.clients {
                    let key = client_key(app_id, client_id);
                    let old = match record {
                        Some(r) => {
                            index.insert(client_id.as_bytes(), app_id.as_bytes())?;
                            clients.insert(key, encode(r))?
                        }
                        None => {
                            index.remove(client_id.as_bytes())?;
                            clients.remove(key)?
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
mod tests {
    use super::*;

    #[test]
    fn unknown_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", "99")
                .unwrap();
            db.flush().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let err = TenantStore::open(dir.path()).err().expect("must refuse");
        assert!(
            matches!(err, StoreError::SchemaVersion { ref found, .. } if found == "99"),
            "{err}"
        );
    }

    /// A version-1 store kept the applications' claims in a tree of their own (the Hub's named
    /// `hub`): opened by this version, they are rebuilt from its apps into the claims index
    /// every kind shares, the old tree is dropped, so a second hub or subdomain is still refused
    /// (409), and the store is marked version 3 (which version 1 refuses).
    #[tokio::test]
    async fn a_version_1_store_gets_its_application_claims_moved() {
        use crate::tenant::{Caller, Tenant, TenantError};
        let db = sled::Config::new().temporary(true).open().unwrap();
        let open = || {
            let store = TenantStore::with_db(
                db.clone(),
                Path::new("(test)"),
                GroupCommit::volatile(db.clone()),
            )
            .unwrap();
            Tenant::new(store, "http://127.0.0.1").unwrap()
        };
        let hub = |name: &str, sub: &str| {
            serde_json::json!({"app_name": name, "client_display_name": "Web", "subdomain": sub,
                "authenticator_preferences": {"is_centralized": true, "login_uri": "https://hub/login"},
                "first_client": {"name": "Web", "redirect_uris": ["https://shop.example/cb"]}})
        };
        let admin = Caller::admin("admin");
        open()
            .create_app(&admin, &hub("one", "one"), None)
            .await
            .unwrap();
        // As version 1 left it: the application's claims in `unique`, under its names.
        let claims = db.open_tree("object_claims").unwrap();
        let owner = claims.iter().next().unwrap().unwrap().1;
        claims.clear().unwrap();
        let unique = db.open_tree("unique").unwrap();
        unique.insert("hub", owner.clone()).unwrap();
        unique.insert("subdomain\0one", owner.clone()).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", "1").unwrap();

        open();
        assert!(!db.tree_names().iter().any(|n| n.as_ref() == b"unique"));
        assert_eq!(claims.len(), 2);
        assert!(claims.iter().all(|c| c.unwrap().1 == owner));
        assert_eq!(
            meta.get("schema_version").unwrap().as_deref(),
            Some(&b"3"[..])
        );
        // A development build's version 2 may have left them under another key: rebuilt too.
        let stale = object_key("Application", None, "subdomain\0one");
        claims.insert(&stale, owner.clone()).unwrap();
        meta.insert("schema_version", "2").unwrap();
        let tenant = open();
        assert_eq!(claims.get(&stale).unwrap(), None);
        assert_eq!(claims.len(), 2);
        for (name, sub, taken) in [
            ("two", "two", "is_centralized"),
            ("three", "ONE", "subdomain"),
        ] {
            let mut body = hub(name, sub);
            if taken == "subdomain" {
                body["authenticator_preferences"]["is_centralized"] = false.into();
            }
            let refused = tenant.create_app(&admin, &body, None).await;
            assert!(
                matches!(refused, Err(TenantError::IdentifierTaken(ref m)) if m.contains(taken)),
                "{refused:?}"
            );
        }
    }
}
