//! The scope's records on the way to the database: pending writes folded to their net effect
//! and committed in one fenced transaction (a fixed handful of array statements), and the
//! claims that give each live object to one scope.

use std::collections::BTreeMap;

use super::{pg, Inner};
use crate::state::backend::Tree;
use crate::state::store::StateError;

/// A pending write.
pub(super) enum Op {
    Put(Tree, Vec<u8>, Vec<u8>),
    /// A removal, with the live id of a removed entry (its claim goes with it).
    Delete(Tree, Vec<u8>, Option<String>),
    /// A tree cleared, with the live ids of the entries it held (their claims go).
    Clear(Tree, Vec<String>),
}

/// The live id a record of `tree` claims: an application or client entry's (the client's id,
/// else its application's), a described kind's entry's own id; none for other records.
pub(super) fn live_id(tree: Tree, record: &[u8]) -> Option<String> {
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
    /// Commits the pending writes in one transaction, if this holder's epoch still stands: a
    /// fixed number of statements whatever the number of writes (arrays through `unnest`).
    pub(super) async fn commit(&self) -> Result<(), StateError> {
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
}
