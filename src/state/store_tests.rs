//! Unit tests of the state store.
use super::*;
use crate::state::address::Address;
use crate::state::entry::Ownership;

#[test]
fn entries_persist_and_a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let entry = StateEntry {
        address: Address::app("shop"),
        name: String::new(),
        app_id: Some("a1".into()),
        id: None,
        ownership: Ownership::Created,
        last_applied: serde_json::Map::new(),
        protect: false,
        applied_at: "now".into(),
    };
    store.put(&entry).unwrap();
    assert!(matches!(
        StateStore::open(dir.path()),
        Err(StateError::Locked { .. })
    ));
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.entries[&Address::app("shop")], entry);
    assert_eq!(snapshot.salt.len(), 32);
    assert_eq!(snapshot.lineage.len(), 32);
    assert!(store.remove(Address::app("shop")).unwrap());
    assert!(store.snapshot().unwrap().entries.is_empty());
}

#[test]
fn a_writers_snapshot_follows_its_own_writes_and_never_changes_one_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let entry = |app: &str, id: &str| StateEntry {
        address: Address::app(app),
        name: String::new(),
        app_id: Some(id.into()),
        id: None,
        ownership: Ownership::Created,
        last_applied: serde_json::Map::new(),
        protect: false,
        applied_at: "now".into(),
    };
    store.put(&entry("shop", "a1")).unwrap();
    let before = store.snapshot().unwrap();
    // Answered from memory: the very same snapshot, until a write.
    assert!(Arc::ptr_eq(&before, &store.snapshot().unwrap()));
    store.put(&entry("shop", "a2")).unwrap();
    store.put_pending(&entry("blog", "b1")).unwrap();
    store.put(&object("https://api.example.com")).unwrap();
    let after = store.snapshot().unwrap();
    assert_eq!(before.entries[&Address::app("shop")].application_id(), "a1");
    assert_eq!(before.entries.len(), 1);
    assert_eq!(after.entries[&Address::app("shop")].application_id(), "a2");
    assert_eq!(after.object_entries().count(), 1);
    // What memory answers is what the records say.
    assert_eq!(*after, store.read_snapshot().unwrap());
    store.remove_pending(Address::app("blog")).unwrap();
    store
        .remove_pending(&object("https://api.example.com").address)
        .unwrap();
    assert_eq!(*store.snapshot().unwrap(), store.read_snapshot().unwrap());
    store.forget_all().unwrap();
    let forgotten = store.snapshot().unwrap();
    assert!(forgotten.entries.is_empty());
    assert_eq!(*forgotten, store.read_snapshot().unwrap());
    // A reader holds no lock and reads every time.
    drop(store);
    let reader = StateStore::read_only(Box::new(SledBackend::open(dir.path()).unwrap())).unwrap();
    assert!(!Arc::ptr_eq(
        &reader.snapshot().unwrap(),
        &reader.snapshot().unwrap()
    ));
}

fn object(key: &str) -> StateEntry {
    use crate::model::kinds::ObjKind;
    StateEntry {
        address: Address::new(ObjKind::Resource, None, key),
        name: "payouts".into(),
        id: Some("r1".into()),
        app_id: None,
        ownership: Ownership::Created,
        last_applied: serde_json::Map::new(),
        protect: false,
        applied_at: "now".into(),
    }
}

#[test]
fn entries_of_the_described_kinds_persist_apart_and_are_forgotten_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let entry = object("https://api.example.com/payouts");
    store.put(&entry).unwrap();
    drop(store);
    // Stored apart, in the `kinds` tree, as its kind's record.
    let raw = SledBackend::open(dir.path()).unwrap();
    let record = raw
        .get(Tree::Kinds, b"Resource/https://api.example.com/payouts")
        .unwrap()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["name"], "payouts");
    assert_eq!(record["id"], "r1");
    assert!(raw.scan(Tree::Objects, b"").unwrap().is_empty());
    drop(raw);
    let store = StateStore::open(dir.path()).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.entries[&entry.address], entry);
    assert_eq!(snapshot.app_entries().count(), 0);
    assert_eq!(store.get(&entry.address).unwrap(), Some(entry.clone()));
    assert_eq!(store.forget_all().unwrap(), 1);
    assert!(store.snapshot().unwrap().entries.is_empty());
    store.put(&entry).unwrap();
    assert!(store.remove(&entry.address).unwrap());
    assert!(!store.remove(&entry.address).unwrap());
}

/// A schema 1 state: what today's main wrote (its trees, version "1").
fn v1_state(dir: &Path) {
    let backend = SledBackend::open(dir).unwrap();
    backend
        .insert(Tree::Meta, VERSION_KEY, b"1".to_vec())
        .unwrap();
    backend
        .insert(Tree::Meta, b"lineage", b"abc".to_vec())
        .unwrap();
    backend
        .insert(Tree::Objects, b"Application/shop", b"{}".to_vec())
        .unwrap();
    backend.flush().unwrap();
}

#[test]
fn a_writer_upgrades_a_schema_1_state_keeping_a_backup_a_reader_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    v1_state(dir.path());
    let reader =
        StateStore::read_only(Box::new(SledBackend::open_read(dir.path()).unwrap())).unwrap();
    assert_eq!(reader.upgraded_from(), None);
    assert_eq!(reader.upgrade_backup_len().unwrap(), 0);
    drop(reader);
    let raw = SledBackend::open(dir.path()).unwrap();
    assert_eq!(
        raw.get(Tree::Meta, VERSION_KEY).unwrap(),
        Some(b"1".to_vec())
    );
    drop(raw);

    let writer = StateStore::open(dir.path()).unwrap();
    assert_eq!(writer.upgraded_from(), Some(1));
    // The three records of schema 1, as they were (the version included).
    assert_eq!(writer.upgrade_backup_len().unwrap(), 3);
    drop(writer);
    let raw = SledBackend::open(dir.path()).unwrap();
    assert_eq!(
        raw.get(Tree::Meta, VERSION_KEY).unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(
        raw.get(Tree::UpgradeBackup, b"meta\0schema_version")
            .unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        raw.get(Tree::UpgradeBackup, b"objects\0Application/shop")
            .unwrap(),
        Some(b"{}".to_vec())
    );
    drop(raw);

    let again = StateStore::open(dir.path()).unwrap();
    assert_eq!(again.upgraded_from(), None, "upgraded once");
    assert!(again.drop_upgrade_backup().unwrap());
    assert!(!again.drop_upgrade_backup().unwrap());
    assert_eq!(again.upgrade_backup_len().unwrap(), 0);
}

#[test]
fn a_newer_state_is_refused_naming_both_versions_and_a_missing_one_is_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SledBackend::open(dir.path()).unwrap();
    backend
        .insert(Tree::Meta, VERSION_KEY, b"3".to_vec())
        .unwrap();
    for refused in [
        StateStore::with_backend(Box::new(backend)).err().unwrap(),
        StateStore::read_only(Box::new(SledBackend::open_read(dir.path()).unwrap()))
            .err()
            .unwrap(),
    ] {
        let text = refused.to_string();
        assert!(
            text.contains("written by a newer tenantsync (schema version 3)")
                && text.contains("up to 2: upgrade tenantsync"),
            "{text}"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    let none = StateStore::read_only(Box::new(SledBackend::open(empty.path()).unwrap()));
    assert!(matches!(none, Err(StateError::NoState { .. })));
}

#[test]
fn history_answers_the_newest_records_first_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    assert!(store.history::<u32>(3).unwrap().is_empty());
    for n in 0..300u32 {
        store.history_append(&n).unwrap();
    }
    // Read backwards from the newest: the older records are not materialised.
    assert_eq!(store.history::<u32>(3).unwrap(), vec![299, 298, 297]);
    assert_eq!(store.history::<u32>(1000).unwrap().len(), 300);
    assert_eq!(store.history::<u32>(1000).unwrap()[299], 0);
}

#[test]
fn histories_keep_the_newest_records_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.history_kept = 50;
    for n in 0..230u32 {
        store.history_append(&n).unwrap();
    }
    // Trimmed at the first append, at the 100th and at the 200th: the 50 newest then, and the
    // 30 appended since.
    let kept = store.history::<u32>(1000).unwrap();
    assert_eq!(kept.len(), 80);
    assert_eq!((kept[0], kept[79]), (229, 150));
    // Ended drift episodes are trimmed under their prefix; open ones are never touched.
    for n in 0..5u64 {
        let open = [DRIFT_OPEN, format!("app-{n}").as_bytes()].concat();
        store
            .backend
            .insert(Tree::Drift, &open, b"{}".to_vec())
            .unwrap();
        let ended = [DRIFT_ENDED, &n.to_be_bytes()].concat();
        store
            .backend
            .insert(Tree::Drift, &ended, b"{}".to_vec())
            .unwrap();
    }
    assert_eq!(store.keep_last(Tree::Drift, DRIFT_ENDED, 2).unwrap(), 3);
    let left = |prefix| store.backend.keys(Tree::Drift, prefix).unwrap();
    assert_eq!(left(DRIFT_OPEN).len(), 5);
    assert_eq!(
        left(DRIFT_ENDED),
        vec![
            [DRIFT_ENDED, &3u64.to_be_bytes()].concat(),
            [DRIFT_ENDED, &4u64.to_be_bytes()].concat()
        ]
    );
    // What was trimmed stays trimmed after a reopen.
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.history::<u32>(1000).unwrap().len(), 80);
}
