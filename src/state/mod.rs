//! The reconciler's state: entries mapping manifest keys to live ids, ownership and last-applied
//! specs ([`entry`], keyed by [`address`], one identity for every kind; pure data), the
//! persisted layout and its versions ([`schema`]), kept by [`store`] on a [`backend`]: a local
//! sled directory ([`sled`]) or a shared PostgreSQL database ([`postgres`]); [`migrate`] moves
//! a state between them; [`error`] says what went wrong. [`Location`] is where a state is
//! (parsed once from the command line) and [`open`] the one way to open it.

pub mod address;
pub mod backend;
pub mod entry;
pub mod error;
pub mod migrate;
pub mod postgres;
pub mod schema;
pub mod sled;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use self::sled::{SledBackend, SLED_DIR};
use backend::StateBackend;
use error::StateError;
use postgres::PostgresBackend;
use store::StateStore;

/// Where a state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local sled state under this directory (`--state-dir`).
    Dir(PathBuf),
    /// One scope of a PostgreSQL state (`--state URL --state-scope SCOPE`).
    Postgres {
        /// The connection URL (may hold a password: never shown, see [`Location::describe`]).
        url: String,
        /// The scope.
        scope: String,
    },
}

impl Location {
    /// The state the global flags name: `--state URL` (empty: none) on `--state-scope`, else
    /// `--state-dir`.
    pub fn from_flags(state_url: Option<&str>, state_dir: &Path, scope: &str) -> Self {
        match state_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Self::Postgres {
                url: url.to_owned(),
                scope: scope.to_owned(),
            },
            None => Self::Dir(state_dir.to_owned()),
        }
    }

    /// A location written as one word (`state migrate --to`): a `postgres://` or
    /// `postgresql://` URL (on `scope`), else a state directory.
    pub fn parse(text: &str, scope: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres {
                url: text.to_owned(),
                scope: scope.to_owned(),
            }
        } else {
            Self::Dir(PathBuf::from(text))
        }
    }

    /// For messages: the directory, or the URL without any password and the scope.
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.join(SLED_DIR).display().to_string(),
            Self::Postgres { url, scope } => {
                format!("{} (scope {scope})", postgres::redacted(url))
            }
        }
    }
}

/// How a state is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A writer: takes the state's lock (a shared state's run lock, waiting at most this
    /// long for it), creates the state on first use and upgrades an older layout in place.
    Write {
        /// `--lock-timeout`.
        lock_timeout: Duration,
    },
    /// A reader (`plan`, `state list`): no lock on a shared state, no DDL, nothing written; an
    /// older layout is read as it is, and a missing state is [`StateError::NoState`].
    Read,
    /// A daemon replica contending for the leadership of a PostgreSQL state: a writer whose
    /// hold is also a lease of `lease` on the server, renewed with `postgres::Lease::renew`.
    /// Others may take the scope once it has run out, whether or not this holder's session
    /// still holds the lock.
    Lead {
        /// How long to wait for the lock.
        lock_timeout: Duration,
        /// How long a grant or renewal holds.
        lease: Duration,
    },
}

impl Access {
    /// Whether this access writes.
    pub fn writes(self) -> bool {
        self != Access::Read
    }
}

/// The backend of the state at `location`, raw (no schema check): what `state migrate` copies.
/// A writer creates a missing state directory; a reader of one that holds no state gets
/// [`StateError::NoState`].
pub fn open_backend(
    location: &Location,
    access: Access,
) -> Result<Box<dyn StateBackend>, StateError> {
    match location {
        Location::Dir(dir) if access.writes() => {
            crate::private_dir::create(dir).map_err(|source| StateError::Directory {
                path: dir.clone(),
                source,
            })?;
            Ok(Box::new(SledBackend::open(dir)?))
        }
        Location::Dir(dir) => {
            if !dir.join(SLED_DIR).exists() {
                return Err(StateError::NoState {
                    location: location.describe(),
                });
            }
            Ok(Box::new(SledBackend::open_read(dir)?))
        }
        Location::Postgres { url, scope } => {
            Ok(Box::new(PostgresBackend::open(url, scope, access)?))
        }
    }
}

/// Opens the state at `location`: a writer creates it on first use and upgrades an older
/// layout in place (see [`schema`]); a reader writes nothing and gets
/// [`StateError::NoState`] where there is none. A state of a newer layout is refused.
pub fn open(location: &Location, access: Access) -> Result<StateStore, StateError> {
    let backend = open_backend(location, access)?;
    if access.writes() {
        StateStore::with_backend(backend)
    } else {
        StateStore::read_only(backend)
    }
}

/// The state at `location` for a reader, if there is one.
pub fn open_existing(location: &Location) -> Result<Option<StateStore>, StateError> {
    match open(location, Access::Read) {
        Ok(store) => Ok(Some(store)),
        Err(StateError::NoState { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
