//! Where the state's records live: the one I/O seam of the state. A backend is a handful of
//! ordered key-value trees with pending writes and two ways to make them durable (now, or
//! shared among concurrent callers); [`super::store::StateStore`] builds every state operation
//! on it. [`SledBackend`] keeps them in a local directory (`super::sled`), `super::postgres`
//! in a database.

use async_trait::async_trait;

use super::error::StateError;
pub use super::sled::{SledBackend, SLED_DIR};

/// The trees of the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tree {
    /// Applications' and clients' entries (`schema::AppRecord`) by address key.
    Objects,
    /// Schema version, salt, lineage, binding.
    Meta,
    /// Create intents.
    Journal,
    /// Apply history, by increasing id.
    History,
    /// Credential deliveries, by sink and address key.
    Deliveries,
    /// Drift episodes: open ones by address key, ended ones by increasing id.
    Drift,
    /// Entries of the described kinds (`schema::ObjectRecord`) by `Address::key` (since
    /// schema 2).
    Kinds,
    /// The records of the state as it was before its last in-place upgrade, by
    /// `schema::backup_key`; kept until the next successful apply (since schema 2).
    UpgradeBackup,
}

impl Tree {
    /// Every tree.
    pub const ALL: [Tree; 8] = [
        Tree::Objects,
        Tree::Meta,
        Tree::Journal,
        Tree::History,
        Tree::Deliveries,
        Tree::Drift,
        Tree::Kinds,
        Tree::UpgradeBackup,
    ];

    /// The trees of a schema 1 state (what an upgrade from it backs up).
    pub const V1: [Tree; 6] = [
        Tree::Objects,
        Tree::Meta,
        Tree::Journal,
        Tree::History,
        Tree::Deliveries,
        Tree::Drift,
    ];

    /// The tree's name on disk and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Objects => "objects",
            Tree::Meta => "meta",
            Tree::Journal => "journal",
            Tree::History => "history",
            Tree::Deliveries => "deliveries",
            Tree::Drift => "drift",
            Tree::Kinds => "kinds",
            Tree::UpgradeBackup => "upgrade-backup",
        }
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Ordered key-value trees with pending writes.
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// Where the state is (for messages; no credentials).
    fn describe(&self) -> String;
    /// One value.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Every record whose key starts with `prefix`, in key order.
    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KeyValue>, StateError>;
    /// The last `limit` records whose key starts with `prefix`, last first (the newest of a
    /// history). A backend that can read backwards reads only those.
    fn scan_last(
        &self,
        tree: Tree,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateError> {
        let mut records = self.scan(tree, prefix)?;
        records.reverse();
        records.truncate(limit);
        Ok(records)
    }
    /// The keys of every record whose key starts with `prefix`, in key order. A backend that
    /// can read keys alone reads only those.
    fn keys(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        Ok(self
            .scan(tree, prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }
    /// Writes a value; durable after [`Self::flush`] or [`Self::sync`].
    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StateError>;
    /// Removes a value; whether it existed. Durable after a flush or sync.
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<bool, StateError>;
    /// Removes every value of a tree; how many there were.
    fn clear(&self, tree: Tree) -> Result<usize, StateError>;
    /// An id larger than every id handed out before (history keys).
    fn next_id(&self) -> Result<u64, StateError>;
    /// Makes every write so far durable, now.
    fn flush(&self) -> Result<(), StateError>;
    /// Makes every write made before the call durable; concurrent callers share the work.
    async fn sync(&self) -> Result<(), StateError>;
    /// Of `live_ids`, those another scope of a shared state manages, with that scope. A state
    /// nobody shares has none.
    fn claimed_elsewhere(
        &self,
        live_ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, String>, StateError> {
        let _ = live_ids;
        Ok(std::collections::BTreeMap::new())
    }
}
