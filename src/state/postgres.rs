//! The state on PostgreSQL (`--state postgres://…`), shared by CI runners and daemon replicas.
//!
//! - **Scopes**: every record belongs to one `--state-scope`; scopes share a database, not data.
//! - **Run lock**: a session advisory lock per scope on the backend's one dedicated connection;
//!   the server releases it when the holder's connection ends (a killed process, a lost
//!   network). A second writer fails at once naming the holder, or waits `--lock-timeout`.
//! - **Fencing**: taking the lock bumps the scope's epoch; every write transaction re-reads the
//!   epoch `FOR UPDATE` and refuses to commit when it moved, so a paused or partitioned
//!   ex-holder can never write. The connection is never re-opened behind the caller's back.
//! - **Writes** are kept in memory until the next flush or sync, then committed in one
//!   transaction; reads are served from the scope's records, loaded when the state is opened.
//! - **Migrations** run on first use, serialised by a transaction-level advisory lock; a schema
//!   newer than this binary is refused.
//!
//! - **Leases**: a writer's [`Lease`] tells whether it still holds the lock (its connection is
//!   open and its epoch stands); daemon replicas elect their leader with it. Writers ask the
//!   server to probe their connection with TCP keepalives ([`DEAD_PEER_AFTER`]), so a holder
//!   that vanishes without closing its connection loses the lock within that time.
//!
//! The backend runs its I/O on a small runtime of its own, so it can be opened and flushed from
//! synchronous code as well as from inside the caller's async tasks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_postgres::{Client, NoTls};

use super::backend::{Record, StateBackend, Tree};
use super::store::StateError;

/// The database layout this binary writes.
pub const SCHEMA_VERSION: i32 = 2;

const MIGRATIONS: &[&str] = &[
    // 1: records of every scope, the lock table with the fencing epoch.
    "CREATE TABLE tenantsync_records (
         scope text NOT NULL, tree text NOT NULL, key bytea NOT NULL, value bytea NOT NULL,
         PRIMARY KEY (scope, tree, key));
     CREATE TABLE tenantsync_locks (
         scope text PRIMARY KEY, epoch bigint NOT NULL,
         holder_host text NOT NULL, holder_pid integer NOT NULL, since timestamptz NOT NULL);",
    // 2: which scope manages each live object (one scope per object, tenant-wide).
    "CREATE TABLE tenantsync_claims (live_id text PRIMARY KEY, scope text NOT NULL);
     INSERT INTO tenantsync_claims (live_id, scope)
         SELECT coalesce(convert_from(value, 'UTF8')::jsonb ->> 'client_id',
                         convert_from(value, 'UTF8')::jsonb ->> 'app_id'), scope
         FROM tenantsync_records WHERE tree = 'objects'
         ON CONFLICT (live_id) DO NOTHING;",
];

/// How long the server keeps a writer's lock after its peer stopped answering (TCP keepalive
/// idle time + probes), and the client likewise its connection.
pub const DEAD_PEER_AFTER: Duration = Duration::from_secs(10);

/// How the state is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A writer: takes the scope's run lock, waiting at most this long for it.
    Write {
        /// `--lock-timeout`.
        lock_timeout: Duration,
    },
    /// A reader (`plan`): no lock, and every write is refused.
    Read,
}

/// The scope's records in memory, by tree and key.
type Records = BTreeMap<(Tree, Vec<u8>), Vec<u8>>;

enum Op {
    Put(Tree, Vec<u8>, Vec<u8>),
    /// A removal, with the live id of a removed entry (its claim goes with it).
    Delete(Tree, Vec<u8>, Option<String>),
    Clear(Tree),
}

/// The live id an entry records (a client's id, else its application's).
fn live_id(entry: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(entry).ok()?;
    v.get("client_id")
        .and_then(|c| c.as_str())
        .or_else(|| v.get("app_id").and_then(|a| a.as_str()))
        .map(str::to_owned)
}

struct Inner {
    client: tokio::sync::Mutex<Client>,
    /// Set when the connection ends (with it, the server drops the lock).
    closed: Arc<tokio::sync::Notify>,
    scope: String,
    /// The epoch this holder took; `None` for a reader.
    epoch: Option<i64>,
    records: Mutex<Records>,
    pending: Mutex<Vec<Op>>,
    last_id: AtomicU64,
    location: String,
}

/// The state of one scope in a PostgreSQL database.
pub struct PostgresBackend {
    runtime: Option<tokio::runtime::Runtime>,
    inner: Arc<Inner>,
}

fn pg(context: &str) -> impl Fn(tokio_postgres::Error) -> StateError + '_ {
    move |e| StateError::Postgres {
        message: format!(
            "{context}: {}",
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned())
        ),
    }
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unreadable PostgreSQL URL)".to_owned(),
    }
}

impl PostgresBackend {
    /// Connects, migrates, takes the scope's lock (writers) and loads the scope's records.
    pub fn open(url: &str, scope: &str, access: Access) -> Result<Self, StateError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tenantsync-postgres")
            .enable_all()
            .build()
            .map_err(|e| StateError::Postgres {
                message: format!("starting the PostgreSQL client: {e}"),
            })?;
        let (url, scope) = (url.to_owned(), scope.to_owned());
        let inner = match run_on(&runtime, async move { connect(&url, &scope, access).await }) {
            Ok(inner) => inner,
            Err(e) => {
                // Possibly inside the caller's async context: no blocking shutdown there.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        Ok(Self {
            runtime: Some(runtime),
            inner: Arc::new(inner),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("open until dropped")
    }

    /// The lease of a writer: whether it still holds the scope's lock. `None` for a reader.
    pub fn lease(&self) -> Option<Lease> {
        self.inner.epoch.map(|epoch| Lease {
            runtime: self.runtime().handle().clone(),
            inner: self.inner.clone(),
            epoch,
        })
    }

    fn writable(&self) -> Result<(), StateError> {
        match self.inner.epoch {
            Some(_) => Ok(()),
            None => Err(StateError::Postgres {
                message: "this command opened the state read-only".to_owned(),
            }),
        }
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // Dropped inside the caller's async context: no blocking shutdown allowed there.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A writer's hold on its scope's lock, checked without touching the state's records.
#[derive(Clone)]
pub struct Lease {
    runtime: tokio::runtime::Handle,
    inner: Arc<Inner>,
    epoch: i64,
}

impl Lease {
    /// The fencing epoch this writer took.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether the lock is still this writer's: the connection is open and answers within
    /// `within`, and nobody took the scope's epoch since.
    pub async fn holds(&self, within: Duration) -> bool {
        let (inner, epoch) = (self.inner.clone(), self.epoch);
        let check = self.runtime.spawn(async move {
            let client = inner.client.lock().await;
            if client.is_closed() {
                return false;
            }
            let current = client
                .query_opt(
                    "SELECT epoch FROM tenantsync_locks WHERE scope = $1",
                    &[&inner.scope],
                )
                .await;
            matches!(current, Ok(Some(row)) if row.get::<_, i64>(0) == epoch)
        });
        matches!(tokio::time::timeout(within, check).await, Ok(Ok(true)))
    }

    /// Resolves when the connection ends (or has ended).
    pub async fn lost(&self) {
        let notified = self.inner.closed.notified();
        if self.inner.client.lock().await.is_closed() {
            return;
        }
        notified.await;
    }
}

/// Runs `fut` on `runtime` and waits for it, from sync or async code alike.
fn run_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the PostgreSQL task finishes")
}

async fn connect(url: &str, scope: &str, access: Access) -> Result<Inner, StateError> {
    let location = format!("{} (scope {scope})", redacted(url));
    let config: tokio_postgres::Config = url.parse().map_err(|e| StateError::Postgres {
        message: format!("{}: {e}", redacted(url)),
    })?;
    let mut config = config;
    config.application_name("tenantsync");
    config
        .keepalives(true)
        .keepalives_idle(DEAD_PEER_AFTER / 2)
        .keepalives_interval(DEAD_PEER_AFTER / 10)
        .keepalives_retries(5);
    let closed = Arc::new(tokio::sync::Notify::new());
    let on_close = {
        let closed = closed.clone();
        move || closed.notify_waiters()
    };
    let client = if matches!(
        config.get_ssl_mode(),
        tokio_postgres::config::SslMode::Disable
    ) {
        let (client, connection) = config.connect(NoTls).await.map_err(pg(&location))?;
        tokio::spawn(async move {
            let _ = connection.await;
            on_close();
        });
        client
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StateError::Postgres {
            message: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (client, connection) = config
            .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            .await
            .map_err(pg(&location))?;
        tokio::spawn(async move {
            let _ = connection.await;
            on_close();
        });
        client
    };
    let mut client = client;
    migrate(&mut client, &location).await?;
    let epoch = match access {
        Access::Read => None,
        Access::Write { lock_timeout } => {
            // The server side of the keepalive: a holder that vanishes loses its lock.
            let idle = (DEAD_PEER_AFTER / 2).as_secs();
            let interval = (DEAD_PEER_AFTER / 10).as_secs().max(1);
            client
                .batch_execute(&format!(
                    "SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = {interval};
                     SET tcp_keepalives_count = 5"
                ))
                .await
                .map_err(pg("configuring the connection"))?;
            Some(lock(&mut client, scope, lock_timeout, &location).await?)
        }
    };
    let rows = client
        .query(
            "SELECT tree, key, value FROM tenantsync_records WHERE scope = $1",
            &[&scope],
        )
        .await
        .map_err(pg("reading the state"))?;
    let mut records = BTreeMap::new();
    let mut last_id = 0;
    for row in rows {
        let name: String = row.get(0);
        let Some(tree) = Tree::ALL.into_iter().find(|t| t.name() == name) else {
            continue;
        };
        let key: Vec<u8> = row.get(1);
        if tree == Tree::History {
            if let Ok(bytes) = <[u8; 8]>::try_from(key.as_slice()) {
                last_id = last_id.max(u64::from_be_bytes(bytes));
            }
        }
        records.insert((tree, key), row.get::<_, Vec<u8>>(2));
    }
    Ok(Inner {
        client: tokio::sync::Mutex::new(client),
        closed,
        scope: scope.to_owned(),
        epoch,
        records: Mutex::new(records),
        pending: Mutex::new(Vec::new()),
        last_id: AtomicU64::new(last_id),
        location,
    })
}

async fn migrate(client: &mut Client, location: &str) -> Result<(), StateError> {
    let tx = client.transaction().await.map_err(pg(location))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('tenantsync-migrate'))",
        &[],
    )
    .await
    .map_err(pg("migrating"))?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS tenantsync_schema (version integer NOT NULL)",
        &[],
    )
    .await
    .map_err(pg("migrating"))?;
    let found: Option<i32> = tx
        .query_opt("SELECT max(version) FROM tenantsync_schema", &[])
        .await
        .map_err(pg("migrating"))?
        .and_then(|row| row.get(0));
    let found = found.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StateError::SchemaVersion {
            location: location.to_owned(),
            found: found.to_string(),
            supported: SCHEMA_VERSION as u32,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step).await.map_err(pg("migrating"))?;
        tx.execute(
            "INSERT INTO tenantsync_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await
        .map_err(pg("migrating"))?;
    }
    tx.commit().await.map_err(pg("migrating"))
}

/// Takes the scope's session advisory lock and bumps its epoch; names the holder when it
/// cannot.
async fn lock(
    client: &mut Client,
    scope: &str,
    timeout: Duration,
    location: &str,
) -> Result<i64, StateError> {
    let key = format!("tenantsync:{scope}");
    let started = Instant::now();
    loop {
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            )
            .await
            .map_err(pg("taking the state lock"))?
            .get(0);
        if got {
            break;
        }
        if started.elapsed() >= timeout {
            let holder = client
                .query_opt(
                    "SELECT holder_host, holder_pid, since::text FROM tenantsync_locks WHERE scope = $1",
                    &[&scope],
                )
                .await
                .map_err(pg("reading the lock holder"))?
                .map(|row| {
                    let (host, pid, since): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
                    format!("{host} pid {pid} since {since}")
                })
                .unwrap_or_else(|| "another tenantsync".to_owned());
            return Err(StateError::Held {
                location: location.to_owned(),
                holder,
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(200).min(timeout)).await;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned());
    let pid = std::process::id() as i32;
    let row = client
        .query_one(
            "INSERT INTO tenantsync_locks (scope, epoch, holder_host, holder_pid, since)
             VALUES ($1, 1, $2, $3, now())
             ON CONFLICT (scope) DO UPDATE SET epoch = tenantsync_locks.epoch + 1,
                 holder_host = $2, holder_pid = $3, since = now()
             RETURNING epoch",
            &[&scope, &host, &pid],
        )
        .await
        .map_err(pg("taking the state lock"))?;
    Ok(row.get(0))
}

/// The net effect of a run of pending writes on one tree: the last write of each key wins.
#[derive(Default)]
struct Batch {
    /// Values to upsert, by key.
    puts: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Keys to delete.
    deletes: std::collections::BTreeSet<Vec<u8>>,
}

/// What one commit does, in order: clear whole trees, then apply each tree's net writes.
#[derive(Default)]
struct Net {
    cleared: Vec<Tree>,
    trees: BTreeMap<Tree, Batch>,
    /// Live ids whose entries were removed (their claims go), and whether the objects tree
    /// was cleared (every claim of the scope goes).
    released: Vec<String>,
    objects_cleared: bool,
}

impl Net {
    /// Folds `ops`, in order, into their net effect.
    fn of(ops: Vec<Op>) -> Self {
        let mut net = Net::default();
        for op in ops {
            match op {
                Op::Put(tree, key, value) => {
                    let batch = net.trees.entry(tree).or_default();
                    batch.deletes.remove(&key);
                    batch.puts.insert(key, value);
                }
                Op::Delete(tree, key, id) => {
                    let batch = net.trees.entry(tree).or_default();
                    batch.puts.remove(&key);
                    batch.deletes.insert(key);
                    net.released.extend(id);
                }
                Op::Clear(tree) => {
                    // Everything pending for the tree is superseded by the clear.
                    net.trees.remove(&tree);
                    net.cleared.push(tree);
                    net.objects_cleared |= tree == Tree::Objects;
                }
            }
        }
        net
    }
}

impl Inner {
    /// Commits the pending writes in one transaction, if this holder's epoch still stands: a
    /// fixed number of statements whatever the number of writes (arrays through `unnest`).
    async fn commit(&self) -> Result<(), StateError> {
        let mut client = self.client.lock().await;
        let ops = std::mem::take(&mut *self.pending.lock().expect("not poisoned"));
        if ops.is_empty() {
            return Ok(());
        }
        let net = Net::of(ops);
        let epoch = self.epoch.expect("writers have an epoch");
        let failed = pg("writing the state");
        let tx = client.transaction().await.map_err(&failed)?;
        let current: i64 = tx
            .query_one(
                "SELECT epoch FROM tenantsync_locks WHERE scope = $1 FOR UPDATE",
                &[&self.scope],
            )
            .await
            .map_err(&failed)?
            .get(0);
        if current != epoch {
            return Err(StateError::Fenced {
                location: self.location.clone(),
            });
        }
        if net.objects_cleared {
            tx.execute(
                "DELETE FROM tenantsync_claims WHERE scope = $1",
                &[&self.scope],
            )
            .await
            .map_err(&failed)?;
        }
        if !net.released.is_empty() {
            tx.execute(
                "DELETE FROM tenantsync_claims WHERE scope = $1 AND live_id = ANY($2)",
                &[&self.scope, &net.released],
            )
            .await
            .map_err(&failed)?;
        }
        for tree in &net.cleared {
            tx.execute(
                "DELETE FROM tenantsync_records WHERE scope = $1 AND tree = $2",
                &[&self.scope, &tree.name()],
            )
            .await
            .map_err(&failed)?;
        }
        for (tree, batch) in &net.trees {
            if !batch.deletes.is_empty() {
                let keys: Vec<&[u8]> = batch.deletes.iter().map(Vec::as_slice).collect();
                tx.execute(
                    "DELETE FROM tenantsync_records WHERE scope = $1 AND tree = $2 AND key = ANY($3)",
                    &[&self.scope, &tree.name(), &keys],
                )
                .await
                .map_err(&failed)?;
            }
            if batch.puts.is_empty() {
                continue;
            }
            if *tree == Tree::Objects {
                self.claim(&tx, &batch.puts).await?;
            }
            let keys: Vec<&[u8]> = batch.puts.keys().map(Vec::as_slice).collect();
            let values: Vec<&[u8]> = batch.puts.values().map(Vec::as_slice).collect();
            tx.execute(
                "INSERT INTO tenantsync_records (scope, tree, key, value)
                 SELECT $1, $2, k, v FROM unnest($3::bytea[], $4::bytea[]) AS u(k, v)
                 ON CONFLICT (scope, tree, key) DO UPDATE SET value = EXCLUDED.value",
                &[&self.scope, &tree.name(), &keys, &values],
            )
            .await
            .map_err(&failed)?;
        }
        tx.commit().await.map_err(failed)
    }

    /// Claims the live ids of the entries being written for this scope; refuses (naming the
    /// other scope) when another scope owns one.
    async fn claim(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        entries: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), StateError> {
        let mut keys_by_id: BTreeMap<String, &[u8]> = BTreeMap::new();
        for (key, value) in entries {
            if let Some(id) = live_id(value) {
                keys_by_id.insert(id, key);
            }
        }
        if keys_by_id.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = keys_by_id.keys().map(String::as_str).collect();
        let owners = tx
            .query(
                "INSERT INTO tenantsync_claims (live_id, scope) SELECT id, $2 FROM unnest($1::text[]) AS u(id)
                 ON CONFLICT (live_id) DO UPDATE SET scope = tenantsync_claims.scope
                 RETURNING live_id, scope",
                &[&ids, &self.scope],
            )
            .await
            .map_err(pg("writing the state"))?;
        for row in owners {
            let (id, owner): (String, String) = (row.get(0), row.get(1));
            if owner != self.scope {
                return Err(StateError::Claimed {
                    object: String::from_utf8_lossy(
                        keys_by_id.get(id.as_str()).copied().unwrap_or_default(),
                    )
                    .into_owned(),
                    scope: owner,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl StateBackend for PostgresBackend {
    fn describe(&self) -> String {
        self.inner.location.clone()
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let records = self.inner.records.lock().expect("not poisoned");
        Ok(records.get(&(tree, key.to_vec())).cloned())
    }

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Record>, StateError> {
        let records = self.inner.records.lock().expect("not poisoned");
        Ok(records
            .range((tree, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        self.writable()?;
        self.inner
            .records
            .lock()
            .expect("not poisoned")
            .insert((tree, key.to_vec()), value.clone());
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .push(Op::Put(tree, key.to_vec(), value));
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<bool, StateError> {
        self.writable()?;
        let old = self
            .inner
            .records
            .lock()
            .expect("not poisoned")
            .remove(&(tree, key.to_vec()));
        let existed = old.is_some();
        let id = old.as_deref().and_then(live_id);
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .push(Op::Delete(tree, key.to_vec(), id));
        Ok(existed)
    }

    fn clear(&self, tree: Tree) -> Result<usize, StateError> {
        self.writable()?;
        let mut records = self.inner.records.lock().expect("not poisoned");
        let before = records.len();
        records.retain(|(t, _), _| *t != tree);
        let count = before - records.len();
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .push(Op::Clear(tree));
        Ok(count)
    }

    fn next_id(&self) -> Result<u64, StateError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let previous = self
            .inner
            .last_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always returns a value");
        Ok(now.max(previous + 1))
    }

    fn claimed_elsewhere(
        &self,
        live_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StateError> {
        let inner = self.inner.clone();
        let ids = live_ids.to_vec();
        run_on(self.runtime(), async move {
            let client = inner.client.lock().await;
            let rows = client
                .query(
                    "SELECT live_id, scope FROM tenantsync_claims WHERE live_id = ANY($1) AND scope <> $2",
                    &[&ids, &inner.scope],
                )
                .await
                .map_err(pg("reading the claims"))?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn flush(&self) -> Result<(), StateError> {
        if self.inner.epoch.is_none() {
            return Ok(());
        }
        let inner = self.inner.clone();
        run_on(self.runtime(), async move { inner.commit().await })
    }

    async fn sync(&self) -> Result<(), StateError> {
        if self.inner.epoch.is_none() {
            return Ok(());
        }
        let inner = self.inner.clone();
        self.runtime()
            .spawn(async move { inner.commit().await })
            .await
            .map_err(|e| StateError::Postgres {
                message: format!("writing the state: {e}"),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_writes_fold_to_the_last_write_of_each_key() {
        let put = |t, k: &str, v: &str| Op::Put(t, k.into(), v.into());
        let net = Net::of(vec![
            put(Tree::Objects, "a", "1"),
            put(Tree::Objects, "a", "2"),
            put(Tree::Objects, "b", "1"),
            Op::Delete(Tree::Objects, "b".into(), Some("client-b".into())),
            put(Tree::History, "h", "x"),
            Op::Clear(Tree::History),
            put(Tree::History, "h2", "y"),
            Op::Delete(Tree::Journal, "j".into(), None),
            put(Tree::Journal, "j", "again"),
        ]);
        let objects = &net.trees[&Tree::Objects];
        assert_eq!(objects.puts.get(&b"a"[..]), Some(&b"2".to_vec()));
        assert!(objects.deletes.contains(&b"b"[..]) && !objects.puts.contains_key(&b"b"[..]));
        assert_eq!(net.released, vec!["client-b".to_owned()]);
        assert_eq!(net.cleared, vec![Tree::History]);
        let history = &net.trees[&Tree::History];
        assert_eq!(
            history.puts.keys().collect::<Vec<_>>(),
            vec![&b"h2".to_vec()]
        );
        let journal = &net.trees[&Tree::Journal];
        assert!(journal.deletes.is_empty() && journal.puts.contains_key(&b"j"[..]));
        assert!(!net.objects_cleared);
    }

    #[test]
    fn messages_name_the_database_but_never_the_password() {
        let shown = redacted("postgres://ts:hunter2@db.internal:5432/state?sslmode=require");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("db.internal") && shown.contains("ts:***"),
            "{shown}"
        );
        assert!(!redacted("not a url hunter2").contains("hunter2"));
        let refused = PostgresBackend::open("postgres://ts:hunter2@", "default", Access::Read)
            .err()
            .expect("an unusable URL is refused");
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
    }
}
