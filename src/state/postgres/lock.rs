//! The scope's run lock (a session advisory lock and the lock row with its fencing epoch),
//! leader leases with an expiry, taking over from a holder whose lease ran out, and [`Lease`]:
//! whether a writer still holds the lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{pg, Inner};
use crate::state::store::StateError;

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

/// A writer's hold on its scope's lock, checked without touching the state's records.
#[derive(Clone)]
pub struct Lease {
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) inner: Arc<Inner>,
    pub(super) epoch: i64,
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
pub(super) async fn lock(
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

impl Inner {
    /// Ends a leader's lease now (it writes no more), if it is still this holder's.
    pub(super) async fn release(&self) -> Result<(), StateError> {
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
}
