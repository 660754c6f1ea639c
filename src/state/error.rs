//! What can go wrong with a state, whatever its backend: one error type for the state layer,
//! each variant saying where and what to do.

use std::path::PathBuf;

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
    /// Written by a newer tenantsync.
    #[error(
        "the state in {location} was written by a newer tenantsync (schema version {found}); \
         this binary understands schema versions up to {supported}: upgrade tenantsync"
    )]
    Newer {
        /// Where the state is.
        location: String,
        /// The version found.
        found: u32,
        /// The newest this binary understands.
        supported: u32,
    },
    /// Written in a layout this binary does not know (not newer: unreadable or too old).
    #[error(
        "the state in {location} has schema version `{found}`, which this tenantsync does not \
         know (it reads versions {oldest} to {supported}); restore the state from a backup or \
         re-adopt the tenant with `tenantsync export`"
    )]
    UnknownVersion {
        /// Where the state is.
        location: String,
        /// The version record found.
        found: String,
        /// The oldest version this binary reads.
        oldest: u32,
        /// The newest.
        supported: u32,
    },
    /// A reader found no state (nothing applied yet).
    #[error("there is no state in {location} (nothing applied yet)")]
    NoState {
        /// Where it was looked for.
        location: String,
    },
    /// The state directory could not be created.
    #[error("creating the state directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
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
