//! The state in a local sled directory (`--state-dir/state`): one process at a time, a reader
//! creating no tree an older layout lacks, writes made durable by a shared group commit.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::backend::{KeyValue, StateBackend, Tree};
use super::error::StateError;
use crate::group_commit::GroupCommit;
use crate::sled_db::{open_exclusive, OpenError};

/// The directory under `--state-dir` that holds the sled database.
pub const SLED_DIR: &str = "state";

/// The state in a local sled directory (`--state-dir/state`), one process at a time.
pub struct SledBackend {
    path: PathBuf,
    db: sled::Db,
    commit: GroupCommit,
    /// By [`Tree::ALL`]'s order; `None`: a tree a reader found missing (it reads as empty).
    trees: Vec<Option<sled::Tree>>,
}

impl SledBackend {
    /// Opens (creating) the sled database at `dir/state`; another opener is refused.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        Self::open_with(dir, true)
    }

    /// Opens the sled database at `dir/state` for reading: trees it does not have yet (an
    /// older layout's) read as empty and are not created; another opener is refused.
    pub fn open_read(dir: &Path) -> Result<Self, StateError> {
        Self::open_with(dir, false)
    }

    fn open_with(dir: &Path, create_trees: bool) -> Result<Self, StateError> {
        let path = dir.join(SLED_DIR);
        let sled_err = |source| StateError::Sled {
            path: path.clone(),
            source,
        };
        // The store keeps its own decoded snapshot of the entries; sled's page cache serves
        // only the journal, drift and history reads, so a small one does.
        let config = sled::Config::new().path(&path).cache_capacity(1024 * 1024);
        let db = match open_exclusive(&config) {
            Ok(db) => db,
            Err(OpenError::Locked) => return Err(StateError::Locked { path: dir.to_owned() }),
            Err(OpenError::Other(e)) => return Err(sled_err(e)),
            Err(OpenError::Corrupt) => {
                return Err(sled_err(sled::Error::Unsupported(
                    "the state files are corrupt; move the directory aside and re-adopt with `tenantsync export` or `import`".into(),
                )))
            }
        };
        let existing = db.tree_names();
        let trees = Tree::ALL
            .iter()
            .map(|t| {
                let exists = existing.iter().any(|n| n.as_ref() == t.name().as_bytes());
                (create_trees || exists)
                    .then(|| db.open_tree(t.name()).map_err(sled_err))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            commit: GroupCommit::new(db.clone()),
            db,
            trees,
            path,
        })
    }

    /// The tree, if it is open (a reader leaves missing trees unopened).
    fn opened(&self, tree: Tree) -> Option<&sled::Tree> {
        self.trees[Tree::ALL
            .iter()
            .position(|t| *t == tree)
            .expect("every tree is listed")]
        .as_ref()
    }

    /// The tree, for a write: a reader's missing tree is refused.
    fn tree(&self, tree: Tree) -> Result<&sled::Tree, StateError> {
        self.opened(tree).ok_or_else(|| {
            self.err(sled::Error::Unsupported(format!(
                "the `{}` tree was opened for reading",
                tree.name()
            )))
        })
    }

    fn err(&self, source: sled::Error) -> StateError {
        StateError::Sled {
            path: self.path.clone(),
            source,
        }
    }
}

#[async_trait]
impl StateBackend for SledBackend {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let Some(tree) = self.opened(tree) else {
            return Ok(None);
        };
        Ok(tree.get(key).map_err(|e| self.err(e))?.map(|v| v.to_vec()))
    }

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KeyValue>, StateError> {
        let Some(tree) = self.opened(tree) else {
            return Ok(Vec::new());
        };
        tree.scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Reads backwards and stops at `limit`: the newest records of a history without
    /// materialising all of it (it grows with every apply for the daemon's whole life).
    fn scan_last(
        &self,
        tree: Tree,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateError> {
        let Some(tree) = self.opened(tree) else {
            return Ok(Vec::new());
        };
        tree.scan_prefix(prefix)
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn keys(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        let Some(tree) = self.opened(tree) else {
            return Ok(Vec::new());
        };
        tree.scan_prefix(prefix)
            .keys()
            .map(|k| k.map(|k| k.to_vec()).map_err(|e| self.err(e)))
            .collect()
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        self.tree(tree)?
            .insert(key, value)
            .map_err(|e| self.err(e))?;
        self.commit.wrote();
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<bool, StateError> {
        let old = self.tree(tree)?.remove(key).map_err(|e| self.err(e))?;
        self.commit.wrote();
        Ok(old.is_some())
    }

    fn clear(&self, tree: Tree) -> Result<usize, StateError> {
        let tree = self.tree(tree)?;
        let count = tree.len();
        tree.clear().map_err(|e| self.err(e))?;
        self.commit.wrote();
        Ok(count)
    }

    fn next_id(&self) -> Result<u64, StateError> {
        self.db.generate_id().map_err(|e| self.err(e))
    }

    fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn sync(&self) -> Result<(), StateError> {
        self.commit.durable().await.map_err(|e| self.err(e))
    }
}
