//! The state on PostgreSQL (`--state postgres://…`), shared by CI runners and daemon replicas.
//!
//! - **Scopes**: every record belongs to one `--state-scope`; scopes share a database, not data.
//! - **Run lock**: a session advisory lock per scope on the backend's one dedicated connection;
//!   the server releases it when the holder's connection ends (a killed process, a lost
//!   network). A second writer fails at once naming the holder, or waits `--lock-timeout`.
//! - **Leader leases** ([`Access::Lead`], daemon replicas): the lock row also carries an expiry
//!   the leader renews. Nobody takes the scope while a lease runs, even when the holder's
//!   session is gone (it may still be writing to the tenant); once it has run out, a contender
//!   ends the old holder's session if it still holds the lock (a frozen or cut-off leader) and
//!   takes over. The leader stops writing well before its lease runs out
//!   (`crate::daemon::leader`), so it always knows it lost before anyone else can win.
//! - **Fencing**: taking the lock bumps the scope's epoch; every write transaction re-reads the
//!   epoch `FOR UPDATE` and refuses to commit when it moved, so a paused or partitioned
//!   ex-holder can never write. The connection is never re-opened behind the caller's back.
//! - **Writes** are kept in memory until the next flush or sync, then committed in one
//!   transaction; reads are served from the scope's records, loaded when the state is opened.
//! - **Migrations** run once per process and database, on first use by a writer, serialised by a
//!   transaction-level advisory lock; a schema newer than this binary is refused. Readers only
//!   read the schema version (no DDL: a SELECT-only role can plan); a database without the
//!   tables reads as an empty state.
//! - **Credentials**: the password comes from the URL, else `PGPASSWORD`, else the password
//!   file (`PGPASSFILE`, default `~/.pgpass`, as libpq reads it). Messages show the URL without
//!   any password ([`redacted`]). Server notices are logged at debug.
//!
//! - **Leases**: a writer's [`Lease`] tells whether it still holds the lock (its connection is
//!   open and its epoch stands); daemon replicas elect their leader with it. Writers ask the
//!   server to probe their connection with TCP keepalives ([`DEAD_PEER_AFTER`]), so a holder
//!   that vanishes without closing its connection loses the lock within that time.
//!
//! Parts: [`url`] (what a message may show of a URL; passwords from the environment),
//! [`migrations`] (the tables and their versions), [`lock`] (run lock, leases, [`Lease`]),
//! [`records`] (pending writes folded into one transaction, claims).
//!
//! The backend runs its I/O on a small runtime of its own, so it can be opened and flushed from
//! synchronous code as well as from inside the caller's async tasks.

mod lock;
mod migrations;
mod records;
mod url;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::{Client, NoTls};

use super::backend::{KeyValue, StateBackend, Tree};
use super::store::StateError;
pub use super::Access;
pub use lock::Lease;
pub use migrations::SCHEMA_VERSION;
use records::{live_id, Op};
pub use url::redacted;

/// How long the server keeps a writer's lock after its peer stopped answering (TCP keepalive
/// idle time + probes), and the client likewise its connection.
pub const DEAD_PEER_AFTER: Duration = Duration::from_secs(10);

impl Access {
    fn lock(self) -> Option<(Duration, Option<Duration>)> {
        match self {
            Access::Read => None,
            Access::Write { lock_timeout } => Some((lock_timeout, None)),
            Access::Lead {
                lock_timeout,
                lease,
            } => Some((lock_timeout, Some(lease))),
        }
    }
}

/// The scope's records in memory, by tree and key.
type Records = BTreeMap<(Tree, Vec<u8>), Vec<u8>>;

struct Inner {
    client: tokio::sync::Mutex<Client>,
    /// Set when the connection ends (with it, the server drops the lock).
    closed: Arc<tokio::sync::Notify>,
    /// Ends the connection at once ([`Lease::abandon`]).
    connection: tokio::task::AbortHandle,
    scope: String,
    /// The epoch this holder took; `None` for a reader.
    epoch: Option<i64>,
    /// The lease length of a leader ([`Access::Lead`]).
    lease: Option<Duration>,
    /// Whether the database has tenantsync's tables (a reader of a fresh database: no).
    schema: bool,
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

impl PostgresBackend {
    /// Connects, migrates, takes the scope's lock (writers) and loads the scope's records.
    pub fn open(url: &str, scope: &str, access: Access) -> Result<Self, StateError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tenantsync-postgres")
            .on_thread_start(|| {
                crate::memory::cache_this_thread();
            })
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
        if let Some(rt) = self.runtime.take() {
            if self.inner.lease.is_some() && self.inner.epoch.is_some() {
                // Nothing of this holder writes any more: let the next leader in at once
                // rather than when the lease runs out (best effort, briefly).
                let (tx, rx) = std::sync::mpsc::channel();
                let inner = self.inner.clone();
                rt.spawn(async move {
                    let _ = tx.send(inner.release().await);
                });
                let _ = rx.recv_timeout(Duration::from_secs(1));
            }
            // Dropped inside the caller's async context: no blocking shutdown allowed there.
            rt.shutdown_background();
        }
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

/// Drives a connection until it ends, logging the server's notices at debug; then tells
/// `closed`.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    closed: Arc<tokio::sync::Notify>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
        if let tokio_postgres::AsyncMessage::Notice(notice) = message {
            tracing::debug!(
                severity = notice.severity(),
                notice = notice.message(),
                "PostgreSQL notice"
            );
        }
    }
    closed.notify_waiters();
}

/// Opens the connection (bounded by the URL's `connect_timeout`, else 10 s, as a whole: a
/// server that accepts and then stays silent does not hang the caller).
async fn open_connection(
    config: &tokio_postgres::Config,
    location: &str,
    closed: Arc<tokio::sync::Notify>,
) -> Result<(Client, tokio::task::AbortHandle), StateError> {
    let within = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(10));
    let timed_out = || StateError::Postgres {
        message: format!("{location}: no answer within {within:?}"),
    };
    if matches!(
        config.get_ssl_mode(),
        tokio_postgres::config::SslMode::Disable
    ) {
        let (client, connection) = tokio::time::timeout(within, config.connect(NoTls))
            .await
            .map_err(|_| timed_out())?
            .map_err(pg(location))?;
        let task = tokio::spawn(drive(connection, closed));
        return Ok((client, task.abort_handle()));
    }
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
    let (client, connection) = tokio::time::timeout(
        within,
        config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(pg(location))?;
    let task = tokio::spawn(drive(connection, closed));
    Ok((client, task.abort_handle()))
}

async fn connect(url: &str, scope: &str, access: Access) -> Result<Inner, StateError> {
    let shown = redacted(url);
    let location = format!("{shown} (scope {scope})");
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| StateError::Postgres {
        message: format!("{shown}: {e}"),
    })?;
    url::password_from_environment(&mut config);
    config.application_name("tenantsync");
    config
        .keepalives(true)
        .keepalives_idle(DEAD_PEER_AFTER / 2)
        .keepalives_interval(DEAD_PEER_AFTER / 10)
        .keepalives_retries(5);
    let closed = Arc::new(tokio::sync::Notify::new());
    let (mut client, connection) = open_connection(&config, &location, closed.clone()).await?;
    let opened = async {
        let schema = migrations::migrate(&mut client, &shown, &location, access).await?;
        let lease = access.lock().and_then(|(_, lease)| lease);
        let epoch = match access.lock() {
            None => None,
            Some((lock_timeout, lease)) => {
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
                Some(lock::lock(&mut client, scope, lock_timeout, lease, &location).await?)
            }
        };
        let rows = if schema {
            client
                .query(
                    "SELECT tree, key, value FROM tenantsync_records WHERE scope = $1",
                    &[&scope],
                )
                .await
                .map_err(pg("reading the state"))?
        } else {
            Vec::new()
        };
        Ok::<_, StateError>((schema, lease, epoch, rows))
    }
    .await;
    let (schema, lease, epoch, rows) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            connection.abort();
            return Err(e);
        }
    };
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
        connection,
        scope: scope.to_owned(),
        epoch,
        lease,
        schema,
        records: Mutex::new(records),
        pending: Mutex::new(Vec::new()),
        last_id: AtomicU64::new(last_id),
        location,
    })
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

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KeyValue>, StateError> {
        let records = self.inner.records.lock().expect("not poisoned");
        Ok(records
            .range((tree, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_last(
        &self,
        tree: Tree,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateError> {
        let records = self.inner.records.lock().expect("not poisoned");
        Ok(records
            .range((tree, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
            .map(|((_, k), v)| (k, v))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn keys(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        let records = self.inner.records.lock().expect("not poisoned");
        Ok(records
            .range((tree, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
            .map(|((_, k), _)| k.clone())
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
        let id = old.as_deref().and_then(|v| live_id(tree, v));
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
        let mut released = Vec::new();
        let mut count = 0;
        records.retain(|(t, _), value| {
            if *t != tree {
                return true;
            }
            count += 1;
            released.extend(live_id(tree, value));
            false
        });
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .push(Op::Clear(tree, released));
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
        if !self.inner.schema {
            return Ok(BTreeMap::new());
        }
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
