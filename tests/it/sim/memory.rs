//! The simulation's state backend: the state's trees in memory, with what a crash keeps apart
//! from what it loses. Writes are visible at once and durable after a flush or sync, as with
//! sled; a crash reopens the state from its durable records only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tenantsync::state::backend::{KeyValue, StateBackend, Tree};
use tenantsync::state::store::StateError;

type Trees = BTreeMap<Tree, BTreeMap<Vec<u8>, Vec<u8>>>;

/// One state's records: what the running reconciler sees, and what survives a crash.
#[derive(Default)]
pub struct Disk {
    visible: Mutex<Trees>,
    durable: Mutex<Trees>,
    next_id: AtomicU64,
    /// A deliberately broken reconciler (the simulation's self-test): the journal's writes
    /// are dropped, so interrupted creates are never looked up.
    pub forget_journal: bool,
}

impl Disk {
    /// A state that keeps (or, `forget_journal`, drops) its journal.
    pub fn new(forget_journal: bool) -> Arc<Self> {
        Arc::new(Self {
            forget_journal,
            ..Self::default()
        })
    }

    /// The process died: what was not flushed is gone.
    pub fn crash(&self) {
        let durable = self.durable.lock().unwrap().clone();
        *self.visible.lock().unwrap() = durable;
    }

    /// Every value, of every tree, as the reconciler sees them now (secrets are looked for in
    /// them).
    pub fn all_values(&self) -> Vec<Vec<u8>> {
        let visible = self.visible.lock().unwrap();
        visible
            .values()
            .flat_map(|tree| tree.iter().flat_map(|(k, v)| [k.clone(), v.clone()]))
            .collect()
    }
}

/// A [`StateBackend`] over a [`Disk`].
pub struct MemoryBackend(pub Arc<Disk>);

#[async_trait]
impl StateBackend for MemoryBackend {
    fn describe(&self) -> String {
        "the simulation's state".to_owned()
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let visible = self.0.visible.lock().unwrap();
        Ok(visible.get(&tree).and_then(|t| t.get(key)).cloned())
    }

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KeyValue>, StateError> {
        let visible = self.0.visible.lock().unwrap();
        Ok(visible
            .get(&tree)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        if tree == Tree::Journal && self.0.forget_journal {
            return Ok(());
        }
        let mut visible = self.0.visible.lock().unwrap();
        visible.entry(tree).or_default().insert(key.to_vec(), value);
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<bool, StateError> {
        let mut visible = self.0.visible.lock().unwrap();
        Ok(visible
            .get_mut(&tree)
            .is_some_and(|t| t.remove(key).is_some()))
    }

    fn clear(&self, tree: Tree) -> Result<usize, StateError> {
        let mut visible = self.0.visible.lock().unwrap();
        Ok(visible.remove(&tree).map_or(0, |t| t.len()))
    }

    fn next_id(&self) -> Result<u64, StateError> {
        Ok(self.0.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn flush(&self) -> Result<(), StateError> {
        let visible = self.0.visible.lock().unwrap().clone();
        *self.0.durable.lock().unwrap() = visible;
        Ok(())
    }

    async fn sync(&self) -> Result<(), StateError> {
        self.flush()
    }
}
