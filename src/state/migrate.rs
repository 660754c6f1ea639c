//! Moves a state from one backend to another (`tenantsync state migrate --to`): every record
//! of every tree is copied as it is (salt, lineage and target binding included), then the
//! destination, read back from where it was written, is compared with the source. The source
//! is only read.

use super::backend::{KeyValue, StateBackend, Tree};
use super::store::StateError;

/// Why a migration did not happen or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Reading or writing either side failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The source holds no state.
    #[error("there is no state at {location} to migrate")]
    NothingToMigrate {
        /// The source.
        location: String,
    },
    /// The destination already holds records: nothing was written.
    #[error("{location} already holds a state ({records} records in `{tree}`); migrate only into an empty state (another scope, or a new directory)")]
    DestinationNotEmpty {
        /// The destination.
        location: String,
        /// The first tree found non-empty.
        tree: &'static str,
        /// How many records it holds.
        records: usize,
    },
    /// The destination, read back, differs from the source.
    #[error("the copy at {location} differs from the source in `{tree}` ({detail}); the source is unchanged")]
    Differs {
        /// The destination.
        location: String,
        /// The tree that differs.
        tree: &'static str,
        /// What differs (counts or the first differing key, never a value).
        detail: String,
    },
}

/// How many records each tree held.
pub type Counts = Vec<(Tree, usize)>;

/// Every record of every tree of `from`.
fn read_all(from: &dyn StateBackend) -> Result<Vec<(Tree, Vec<KeyValue>)>, StateError> {
    Tree::ALL
        .iter()
        .map(|&tree| Ok((tree, from.scan(tree, b"")?)))
        .collect()
}

/// Copies every record of `from` into the empty `to` and makes it durable; the counts copied.
pub fn copy(from: &dyn StateBackend, to: &dyn StateBackend) -> Result<Counts, MigrateError> {
    if from.get(Tree::Meta, b"schema_version")?.is_none() {
        return Err(MigrateError::NothingToMigrate {
            location: from.describe(),
        });
    }
    for tree in Tree::ALL {
        let records = to.scan(tree, b"")?.len();
        if records > 0 {
            return Err(MigrateError::DestinationNotEmpty {
                location: to.describe(),
                tree: tree.name(),
                records,
            });
        }
    }
    let mut counts = Vec::new();
    for (tree, records) in read_all(from)? {
        counts.push((tree, records.len()));
        for (key, value) in records {
            to.insert(tree, &key, value)?;
        }
    }
    to.flush()?;
    Ok(counts)
}

/// Compares `copy` (the destination, freshly re-opened) with `source`, record by record.
pub fn verify(source: &dyn StateBackend, copy: &dyn StateBackend) -> Result<(), MigrateError> {
    for ((tree, want), (_, got)) in read_all(source)?.into_iter().zip(read_all(copy)?) {
        let differs = |detail: String| MigrateError::Differs {
            location: copy.describe(),
            tree: tree.name(),
            detail,
        };
        if want.len() != got.len() {
            return Err(differs(format!(
                "{} records, the source has {}",
                got.len(),
                want.len()
            )));
        }
        if let Some(((key, _), _)) = want.iter().zip(&got).find(|(w, g)| w != g) {
            return Err(differs(format!(
                "first at key {}",
                String::from_utf8_lossy(key)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::backend::SledBackend;

    fn state(dir: &std::path::Path) -> SledBackend {
        SledBackend::open(dir).unwrap()
    }

    #[test]
    fn copies_every_tree_verifies_and_refuses_a_non_empty_destination() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = state(a.path());
        source
            .insert(Tree::Meta, b"schema_version", b"3".to_vec())
            .unwrap();
        source
            .insert(Tree::Objects, b"app\x00shop", b"{}".to_vec())
            .unwrap();
        source
            .insert(Tree::Journal, b"intent-1", b"{\"k\":1}".to_vec())
            .unwrap();
        source
            .insert(Tree::History, &7u64.to_be_bytes(), b"{}".to_vec())
            .unwrap();
        let dest = state(b.path());
        let counts = copy(&source, &dest).unwrap();
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<usize>(), 4);
        drop(dest);
        // Read back from the files: what was copied is durable.
        let dest = state(b.path());
        verify(&source, &dest).unwrap();

        let again = copy(&source, &dest).unwrap_err();
        assert!(
            matches!(again, MigrateError::DestinationNotEmpty { .. }),
            "{again}"
        );

        dest.insert(Tree::History, &8u64.to_be_bytes(), b"{}".to_vec())
            .unwrap();
        let differs = verify(&source, &dest).unwrap_err();
        assert!(differs.to_string().contains("`history`"), "{differs}");
    }

    #[test]
    fn an_empty_source_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let refused = copy(&state(a.path()), &state(b.path())).unwrap_err();
        assert!(matches!(refused, MigrateError::NothingToMigrate { .. }));
    }
}
