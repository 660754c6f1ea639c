//! The PostgreSQL state's tables and their versions: the migrations, run once per process and
//! database by a writer under a transaction-level advisory lock; readers only read the version.

use std::sync::Mutex;

use tokio_postgres::Client;

use super::{pg, Access};
use crate::state::store::StateError;

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
pub(super) async fn migrate(
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
