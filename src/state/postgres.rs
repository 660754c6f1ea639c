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
pub use super::Access;

/// The database layout (tables) this binary writes. The records' layout is versioned per
/// scope by the store (`state::schema`): the tables hold any tree, so a new tree (schema 2's
/// `kinds` and `upgrade-backup`) needs no migration here.
pub const SCHEMA_VERSION: i32 = 3;

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
    // 3: leader leases: when the holder's lease runs out (NULL: held for its session's life),
    // the server session holding the lock, and the holding process's random token.
    "ALTER TABLE tenantsync_locks ADD COLUMN expires_at timestamptz,
         ADD COLUMN holder_backend integer, ADD COLUMN holder_token text;",
];

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

enum Op {
    Put(Tree, Vec<u8>, Vec<u8>),
    /// A removal, with the live id of a removed entry (its claim goes with it).
    Delete(Tree, Vec<u8>, Option<String>),
    /// A tree cleared, with the live ids of the entries it held (their claims go).
    Clear(Tree, Vec<String>),
}

/// The live id a record of `tree` claims: an application or client entry's (the client's id,
/// else its application's), a described kind's entry's own id; none for other records.
fn live_id(tree: Tree, record: &[u8]) -> Option<String> {
    let field = |v: &serde_json::Value, name: &str| v.get(name)?.as_str().map(str::to_owned);
    match tree {
        Tree::Objects => {
            let v: serde_json::Value = serde_json::from_slice(record).ok()?;
            field(&v, "client_id").or_else(|| field(&v, "app_id"))
        }
        Tree::Kinds => field(&serde_json::from_slice(record).ok()?, "id"),
        _ => None,
    }
}

/// Whether a tree's records claim live ids.
fn claims(tree: Tree) -> bool {
    matches!(tree, Tree::Objects | Tree::Kinds)
}

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

/// Query parameters a message may show (everything else, `password` and `sslpassword` among
/// them, is left out).
const SHOWN_PARAMETERS: &[&str] = &[
    "user",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
    "load_balance_hosts",
];

/// `url` as messages show it: scheme, user, hosts and ports, database and the parameters that
/// hold no secret; never a password, wherever the URL carries one.
pub fn redacted(url: &str) -> String {
    let unreadable = || "(an unreadable PostgreSQL URL)".to_owned();
    let Some((scheme, rest)) = url.split_once("://") else {
        // The `key=value …` form.
        let shown: Vec<String> = key_values(url)
            .into_iter()
            .filter(|(k, _)| SHOWN_PARAMETERS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        return if shown.is_empty() {
            unreadable()
        } else {
            shown.join(" ")
        };
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        return unreadable();
    }
    // Each part is shown only when it looks like what it should be: a malformed URL (say, a
    // password with a raw `/`, `?` or `@`) must not spill a piece of it into another part.
    let plain = |text: &str, extra: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    let host = |item: &str| {
        let (name, port) = match item.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((address, rest)) if plain(address, ":.%") => {
                    ("", rest.strip_prefix(':').unwrap_or(rest))
                }
                _ => return false,
            },
            None => item.rsplit_once(':').unwrap_or((item, "")),
        };
        (name.is_empty() || plain(name, ".-_%")) && port.chars().all(|c| c.is_ascii_digit())
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = address.split_once('/').unwrap_or((address, ""));
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (userinfo.split(':').next(), hosts),
        None => (None, authority),
    };
    let parameters: Vec<&str> = query
        .split('&')
        .filter(|p| match p.split_once('=') {
            Some((key, value)) => SHOWN_PARAMETERS.contains(&key) && plain(value, "._-%,"),
            None => false,
        })
        .collect();
    let mut shown = format!("{scheme}://");
    if let Some(user) = user.filter(|u| plain(u, "._-%+")) {
        shown.push_str(user);
        shown.push('@');
    }
    if hosts.split(',').all(host) {
        shown.push_str(hosts);
    } else {
        shown.push('…');
    }
    shown.push('/');
    if database.is_empty() || plain(database, "._-%$") {
        shown.push_str(database);
    } else {
        shown.push('…');
    }
    if !parameters.is_empty() {
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}

/// The pairs of a `key=value …` connection string (values may be single-quoted, with `\'` and
/// `\\` escapes).
fn key_values(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if key.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// The password of a `~/.pgpass`-format file's first line matching the connection (`*` matches
/// anything; `\:` and `\\` are escapes), as libpq reads it.
fn password_file_entry(
    text: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    text.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => field.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        (matches(&h, host) && matches(&p, &port) && matches(&d, database) && matches(&u, user))
            .then_some(password)
    })
}

/// Gives `config` a password from the environment when its URL has none: `PGPASSWORD`, else
/// the password file (`PGPASSFILE`, default `~/.pgpass`; ignored, as by libpq, when others may
/// read it).
fn password_from_environment(config: &mut tokio_postgres::Config) {
    if config.get_password().is_some() {
        return;
    }
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        config.password(password.as_encoded_bytes());
        return;
    }
    let Some(file) = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))
    else {
        return;
    };
    let Ok(metadata) = std::fs::metadata(&file) else {
        return;
    };
    if std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "the PostgreSQL password file is readable by others; ignored (chmod 0600 it)"
        );
        return;
    }
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let Some(user) = config
        .get_user()
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
    else {
        return;
    };
    let database = config.get_dbname().unwrap_or(&user).to_owned();
    if let Some(password) = password_file_entry(&text, &host, port, &database, &user) {
        config.password(password);
    }
}

/// A random token naming this process in the lock row (its own earlier hold is recognised
/// whatever its host and pid look like).
fn process_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
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

    /// How long a grant or renewal holds (`None`: held for the session's life).
    pub fn length(&self) -> Option<Duration> {
        self.inner.lease
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

    /// Extends a leader's lease to its length from the server's now. `Ok(false)`: the scope's
    /// epoch moved (another holder took it). The caller bounds how long it waits.
    pub async fn renew(&self) -> Result<bool, StateError> {
        let (inner, epoch) = (self.inner.clone(), self.epoch);
        let Some(lease) = inner.lease else {
            return Ok(true);
        };
        self.runtime
            .spawn(async move {
                let client = inner.client.lock().await;
                let renewed = client
                    .execute(
                        "UPDATE tenantsync_locks SET expires_at = now() + $3 * interval '1 second'
                         WHERE scope = $1 AND epoch = $2",
                        &[&inner.scope, &epoch, &lease.as_secs_f64()],
                    )
                    .await
                    .map_err(pg("renewing the lease"))?;
                Ok(renewed == 1)
            })
            .await
            .map_err(|e| StateError::Postgres {
                message: format!("renewing the lease: {e}"),
            })?
    }

    /// Ends the connection now: pending and future statements fail at once, and the server
    /// drops the session's lock as soon as it hears of it. For a holder that gave up.
    pub fn abandon(&self) {
        self.inner.connection.abort();
        self.inner.closed.notify_waiters();
    }

    /// Resolves when the connection ends (or has ended).
    pub async fn lost(&self) {
        let notified = self.inner.closed.notified();
        if self.inner.connection.is_finished() || self.inner.client.lock().await.is_closed() {
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
    password_from_environment(&mut config);
    config.application_name("tenantsync");
    config
        .keepalives(true)
        .keepalives_idle(DEAD_PEER_AFTER / 2)
        .keepalives_interval(DEAD_PEER_AFTER / 10)
        .keepalives_retries(5);
    let closed = Arc::new(tokio::sync::Notify::new());
    let (mut client, connection) = open_connection(&config, &location, closed.clone()).await?;
    let opened = async {
        let schema = migrate(&mut client, &shown, &location, access).await?;
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
                Some(lock(&mut client, scope, lock_timeout, lease, &location).await?)
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

/// The schema version of the database: `None` when it has no tenantsync tables.
async fn schema_version(client: &Client) -> Result<Option<i32>, StateError> {
    let read = pg("reading the state schema version");
    let exists: bool = client
        .query_one("SELECT to_regclass('tenantsync_schema') IS NOT NULL", &[])
        .await
        .map_err(&read)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let found: Option<i32> = client
        .query_one("SELECT max(version) FROM tenantsync_schema", &[])
        .await
        .map_err(&read)?
        .get(0);
    Ok(Some(found.unwrap_or(0)))
}

/// Brings the schema to [`SCHEMA_VERSION`] (writers), once per process and database; readers
/// only read the version. Whether the database has the tables (only a reader may find none).
async fn migrate(
    client: &mut Client,
    database: &str,
    location: &str,
    access: Access,
) -> Result<bool, StateError> {
    static CURRENT: Mutex<std::collections::BTreeSet<String>> =
        Mutex::new(std::collections::BTreeSet::new());
    if CURRENT.lock().expect("not poisoned").contains(database) {
        return Ok(true);
    }
    let newer = |found: i32| StateError::Newer {
        location: location.to_owned(),
        found: found as u32,
        supported: SCHEMA_VERSION as u32,
    };
    let found = schema_version(client).await?;
    match (found, access) {
        (Some(v), _) if v > SCHEMA_VERSION => return Err(newer(v)),
        (Some(v), _) if v == SCHEMA_VERSION => {}
        (None, Access::Read) => return Ok(false),
        (Some(v), Access::Read) => {
            return Err(StateError::Postgres {
                message: format!(
                    "{location} has state schema version {v}; this tenantsync reads version \
                     {SCHEMA_VERSION}. Run a writing command (`apply`) once with a role that \
                     may alter tables, then read again"
                ),
            })
        }
        (_, Access::Write { .. } | Access::Lead { .. }) => {
            tracing::info!(
                from = found.unwrap_or(0),
                to = SCHEMA_VERSION,
                "migrating the state schema"
            );
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
                return Err(newer(found));
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
            tx.commit().await.map_err(pg("migrating"))?;
        }
    }
    tracing::debug!(database, version = SCHEMA_VERSION, "state schema checked");
    CURRENT
        .lock()
        .expect("not poisoned")
        .insert(database.to_owned());
    Ok(true)
}

/// The scope's lock row as a contender sees it.
struct Holder {
    /// Host, pid and since when, for messages.
    shown: String,
    /// Its lease still runs (it may be writing, whether or not its session holds the lock).
    running: bool,
    /// Its lease has run out.
    expired: bool,
    /// The server session that took it.
    backend: Option<i32>,
    /// This process took it (an earlier leadership it gave up).
    ours: bool,
}

async fn holder(client: &Client, scope: &str) -> Result<Option<Holder>, StateError> {
    let row = client
        .query_opt(
            "SELECT holder_host, holder_pid, since::text, expires_at::text,
                    coalesce(expires_at > now(), false), coalesce(expires_at <= now(), false),
                    holder_backend, holder_token
             FROM tenantsync_locks WHERE scope = $1",
            &[&scope],
        )
        .await
        .map_err(pg("reading the lock holder"))?;
    Ok(row.map(|row| {
        let (host, pid, since): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        let until: Option<String> = row.get(3);
        let running: bool = row.get(4);
        Holder {
            shown: match until {
                Some(until) if running => {
                    format!("{host} pid {pid} since {since} (its lease runs until {until})")
                }
                _ => format!("{host} pid {pid} since {since}"),
            },
            running,
            expired: row.get(5),
            backend: row.get(6),
            ours: row.get::<_, Option<String>>(7).as_deref() == Some(process_token()),
        }
    }))
}

/// Takes the scope's session advisory lock and bumps its epoch, with a lease of `lease` when
/// given; names the holder when it cannot. The scope is free when nobody's session holds the
/// lock and no lease runs; a holder whose lease has run out while its session still holds the
/// lock (frozen, or cut off) has its session ended.
async fn lock(
    client: &mut Client,
    scope: &str,
    timeout: Duration,
    lease: Option<Duration>,
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
        let current = holder(client, scope).await?;
        // A leader's own earlier hold (it stopped writing before contending again).
        let ours = |h: &Holder| lease.is_some() && h.ours;
        match &current {
            _ if got && !current.as_ref().is_some_and(|h| h.running && !ours(h)) => break,
            Some(h) if got => {
                // The previous leader's session is gone but its lease runs: it may still be
                // writing to the tenant. Not before the lease is out.
                tracing::debug!(holder = %h.shown, "the previous leader's lease still runs");
                client
                    .query_one(
                        "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                        &[&key],
                    )
                    .await
                    .map_err(pg("taking the state lock"))?;
            }
            Some(h) if h.expired || ours(h) => {
                if let Some(backend) = h.backend {
                    end_session(client, backend, &key, &h.shown).await;
                }
            }
            _ => {}
        }
        if started.elapsed() >= timeout {
            return Err(StateError::Held {
                location: location.to_owned(),
                holder: current.map_or_else(|| "another tenantsync".to_owned(), |h| h.shown),
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(200).min(timeout)).await;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned());
    let pid = std::process::id() as i32;
    let seconds = lease.map(|l| l.as_secs_f64());
    let row = client
        .query_one(
            "INSERT INTO tenantsync_locks
                 (scope, epoch, holder_host, holder_pid, since, expires_at, holder_backend, holder_token)
             VALUES ($1, 1, $2, $3, now(), now() + $4 * interval '1 second', pg_backend_pid(), $5)
             ON CONFLICT (scope) DO UPDATE SET epoch = tenantsync_locks.epoch + 1,
                 holder_host = $2, holder_pid = $3, since = now(),
                 expires_at = EXCLUDED.expires_at, holder_backend = pg_backend_pid(),
                 holder_token = $5
             RETURNING epoch",
            &[&scope, &host, &pid, &seconds, &process_token()],
        )
        .await
        .map_err(pg("taking the state lock"))?;
    Ok(row.get(0))
}

/// Ends the server session `backend` if it holds the scope's lock (`key`): a holder whose lease
/// ran out. Needs the same role as that session, or `pg_signal_backend`.
async fn end_session(client: &Client, backend: i32, key: &str, shown: &str) {
    let ended = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND pid = $1
               AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($2, 0)",
            &[&backend, &key],
        )
        .await;
    match ended {
        Ok(rows) if !rows.is_empty() => {
            tracing::info!(holder = %shown, "ended the session of a holder whose lease ran out");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            holder = %shown,
            error = %pg("ending the expired holder's session")(e),
            "the lock's holder let its lease run out but its session still holds the lock; \
             give this role the holder's role or pg_signal_backend so it can take over"
        ),
    }
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
                Op::Clear(tree, ids) => {
                    // Everything pending for the tree is superseded by the clear.
                    net.trees.remove(&tree);
                    net.cleared.push(tree);
                    net.released.extend(ids);
                    net.objects_cleared |= tree == Tree::Objects;
                }
            }
        }
        net
    }
}

impl Inner {
    /// Ends a leader's lease now (it writes no more), if it is still this holder's.
    async fn release(&self) -> Result<(), StateError> {
        let Some(epoch) = self.epoch else {
            return Ok(());
        };
        self.client
            .lock()
            .await
            .execute(
                "UPDATE tenantsync_locks SET expires_at = now()
                 WHERE scope = $1 AND epoch = $2 AND expires_at > now()",
                &[&self.scope, &epoch],
            )
            .await
            .map_err(pg("ending the lease"))?;
        Ok(())
    }

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
            if claims(*tree) {
                self.claim(&tx, *tree, &batch.puts).await?;
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
        tree: Tree,
        entries: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), StateError> {
        let mut keys_by_id: BTreeMap<String, &[u8]> = BTreeMap::new();
        for (key, value) in entries {
            if let Some(id) = live_id(tree, value) {
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
            Op::Clear(Tree::History, Vec::new()),
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
    fn entries_claim_their_own_live_id_and_other_records_none() {
        let record = br#"{"id":"r1","app_id":"a1","client_id":"c1"}"#;
        assert_eq!(live_id(Tree::Kinds, record).as_deref(), Some("r1"));
        assert_eq!(live_id(Tree::Objects, record).as_deref(), Some("c1"));
        assert_eq!(
            live_id(Tree::Objects, br#"{"app_id":"a1"}"#).as_deref(),
            Some("a1")
        );
        // A singleton has no id of its own: its application's is not its to claim.
        assert_eq!(live_id(Tree::Kinds, br#"{"app_id":"a1"}"#), None);
        for tree in [Tree::Journal, Tree::UpgradeBackup, Tree::History] {
            assert_eq!(live_id(tree, record), None, "{tree:?}");
        }
        let net = Net::of(vec![Op::Clear(Tree::Kinds, vec!["r1".into()])]);
        assert_eq!(net.released, vec!["r1".to_owned()]);
        assert!(!net.objects_cleared);
    }

    #[test]
    fn messages_name_the_database_but_never_the_password() {
        let shown = redacted("postgres://ts:hunter2@db.internal:5432/state?sslmode=require");
        assert_eq!(
            shown,
            "postgres://ts@db.internal:5432/state?sslmode=require"
        );
        let shown = redacted(
            "postgresql://ts@db1:5432,db2:5433/state?sslmode=disable&password=hunter2&sslpassword=hunter3&application_name=x",
        );
        assert_eq!(
            shown,
            "postgresql://ts@db1:5432,db2:5433/state?sslmode=disable&application_name=x"
        );
        let shown = redacted("host=db.internal user=ts password='hunter2 host=evil' dbname=state");
        assert_eq!(shown, "host=db.internal user=ts dbname=state");
        assert!(!redacted("not a url hunter2").contains("hunter2"));
        // Malformed: raw separators in a password spill nothing into the other parts.
        for url in [
            "postgres://ts:hun/ter2@db/state",
            "postgres://ts:hun?ter2@db/state",
            "postgres://ts:hun@ter2@db/state",
            "postgres://db/state?password=hun@ter2",
            "postgres://ts@db/state?password=x&sslmode=hun@ter2",
        ] {
            let shown = redacted(url);
            assert!(
                !shown.contains("hun") && !shown.contains("ter2"),
                "{url}: {shown}"
            );
        }
        assert_eq!(
            redacted("postgres://ts@[::1]:5432,db.internal/state"),
            "postgres://ts@[::1]:5432,db.internal/state"
        );
        assert!(!redacted("mysql://ts:hunter2@db/x").contains("hunter2"));
        for url in [
            "postgres://ts:hunter2@",
            "postgres://ts@db/x?password=hunter2&sslpassword=hunter2",
            "postgres://ts@db/x?password=hunter2&bogus=1",
        ] {
            let refused = PostgresBackend::open(url, "default", Access::Read)
                .err()
                .expect("an unusable URL is refused");
            assert!(!refused.to_string().contains("hunter2"), "{refused}");
        }
    }

    #[test]
    fn the_password_file_is_read_as_libpq_reads_it() {
        let file = "# comment\n\
                    other:5432:*:ts:no\n\
                    db\\:x:*:state:ts:escaped\n\
                    db:*:state:ts:pa\\:ss\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            password_file_entry(file, "db", 5432, "state", "ts").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            password_file_entry(file, "db:x", 1, "state", "ts").as_deref(),
            Some("escaped")
        );
        assert_eq!(
            password_file_entry(file, "elsewhere", 5432, "state", "ts").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            password_file_entry("db:5432:state:ts", "db", 5432, "state", "ts"),
            None
        );
    }

    #[test]
    fn connection_strings_split_into_pairs() {
        assert_eq!(
            key_values("host=a  port = 5 password='x \\' y' user=u\\ v"),
            vec![
                ("host".to_owned(), "a".to_owned()),
                ("port".to_owned(), "5".to_owned()),
                ("password".to_owned(), "x ' y".to_owned()),
                ("user".to_owned(), "u v".to_owned()),
            ]
        );
    }
}
