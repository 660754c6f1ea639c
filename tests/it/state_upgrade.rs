//! States written by an older tenantsync (schema 1, the binary of commit 9a3abb4: the fixtures in
//! `tests/fixtures/state-v1/`, a sled state directory, a PostgreSQL dump of the same state and
//! the embedded tenant both describe) are read as they are by readers, upgraded in place by the
//! first writer with a backup of their records kept until the next successful apply, and plan
//! to zero; a state of a newer layout is refused with a message naming both versions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tenantsync::state::address::Address;
use tenantsync::state::backend::{SledBackend, StateBackend, Tree};

use crate::harness::{bin, output_text};
use crate::postgres::Postgres;

const NO_CHANGES: &str = "Plan: 0 to create, 0 to update, 0 to delete, 0 to adopt.";

/// The five entries the fixture's state holds.
const ENTRIES: [&str; 5] = [
    "Application/blog",
    "Application/shop",
    "Client/blog/Editor",
    "Client/shop/Mobile",
    "Client/shop/Web",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-v1")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A copy of the fixture (state directory, embedded tenant, manifests) in a temp directory.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for part in ["state-dir", "tenant", "manifests"] {
            copy_dir(&fixture().join(part), &dir.path().join(part));
        }
        Self { dir }
    }

    fn path(&self, part: &str) -> PathBuf {
        self.dir.path().join(part)
    }

    /// `tenantsync --state-dir COPY/state-dir --target local:COPY/TENANT EXTRA… ARGS…`.
    fn run(&self, tenant: &str, extra: &[&str], args: &[&str]) -> Output {
        let target = format!("local:{}", self.path(tenant).display());
        Command::new(bin())
            .arg("--state-dir")
            .arg(self.path("state-dir"))
            .args(["--target", &target])
            .args(extra)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("TENANTSYNC_STATE")
            .output()
            .unwrap()
    }

    /// `run` with the manifests as the last argument.
    fn on_manifests(&self, tenant: &str, extra: &[&str], args: &[&str]) -> Output {
        let manifests = self.path("manifests");
        let mut all: Vec<&str> = args.to_vec();
        all.push(manifests.to_str().unwrap());
        self.run(tenant, extra, &all)
    }

    /// Every record of the local state's trees, read without writing.
    fn local_records(&self) -> BTreeMap<(Tree, Vec<u8>), Vec<u8>> {
        let backend = SledBackend::open_read(&self.path("state-dir")).unwrap();
        Tree::ALL
            .iter()
            .flat_map(|&t| {
                backend
                    .scan(t, b"")
                    .unwrap()
                    .into_iter()
                    .map(move |(k, v)| ((t, k), v))
            })
            .collect()
    }
}

fn succeeded(out: &Output) -> String {
    let text = output_text(out);
    assert!(out.status.success(), "{text}");
    text
}

fn version(records: &BTreeMap<(Tree, Vec<u8>), Vec<u8>>) -> String {
    String::from_utf8_lossy(&records[&(Tree::Meta, b"schema_version".to_vec())]).into_owned()
}

fn backup(records: &BTreeMap<(Tree, Vec<u8>), Vec<u8>>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    records
        .iter()
        .filter(|((t, _), _)| *t == Tree::UpgradeBackup)
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn a_local_schema_1_state_is_read_as_is_upgraded_by_a_writer_and_keeps_its_backup_until_an_apply() {
    let copy = Copy::new();
    let before = copy.local_records();
    assert_eq!(version(&before), "1", "the fixture is a schema 1 state");

    // Readers read it as it is and write nothing.
    assert!(succeeded(&copy.on_manifests("tenant", &[], &["plan"])).contains(NO_CHANGES));
    let listed = succeeded(&copy.run("tenant", &[], &["state", "list"]));
    for entry in ENTRIES {
        assert!(listed.contains(entry), "{listed}");
    }
    assert_eq!(copy.local_records(), before, "readers wrote nothing");

    // The first writer upgrades it, even one that then fails (here: another tenant).
    std::fs::create_dir_all(copy.path("other")).unwrap();
    let refused = copy.on_manifests("other", &[], &["apply", "--yes"]);
    let text = output_text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("upgraded the state") && text.contains("from schema 1 to 2"),
        "{text}"
    );
    let upgraded = copy.local_records();
    assert_eq!(version(&upgraded), "2");
    // The backup holds every record of the old state, as it was.
    let expected: BTreeMap<Vec<u8>, Vec<u8>> = before
        .iter()
        .map(|((t, k), v)| {
            (
                tenantsync::state::schema::backup_key(t.name(), k),
                v.clone(),
            )
        })
        .collect();
    assert_eq!(backup(&upgraded), expected);
    for (key, value) in &before {
        if *key != (Tree::Meta, b"schema_version".to_vec()) {
            assert_eq!(
                upgraded.get(key),
                Some(value),
                "records are kept as they were"
            );
        }
    }

    // Upgraded, it plans to zero; the backup stays until an apply succeeds.
    assert!(succeeded(&copy.on_manifests("tenant", &[], &["plan"])).contains(NO_CHANGES));
    assert!(!backup(&copy.local_records()).is_empty());
    let applied = succeeded(&copy.on_manifests("tenant", &[], &["apply", "--yes"]));
    assert!(applied.contains("0 failed"), "{applied}");
    assert!(
        !applied.contains("upgraded the state"),
        "upgraded once: {applied}"
    );
    assert!(
        backup(&copy.local_records()).is_empty(),
        "dropped by the apply"
    );
    assert!(succeeded(&copy.on_manifests("tenant", &[], &["plan"])).contains(NO_CHANGES));
    let listed = succeeded(&copy.run("tenant", &[], &["state", "list"]));
    assert_eq!(
        listed.lines().filter(|l| l.contains('\t')).count(),
        5,
        "{listed}"
    );
}

#[test]
fn a_state_of_a_newer_layout_is_refused_by_readers_and_writers_and_left_alone() {
    let copy = Copy::new();
    {
        let backend = SledBackend::open(&copy.path("state-dir")).unwrap();
        backend
            .insert(Tree::Meta, b"schema_version", b"3".to_vec())
            .unwrap();
        backend.flush().unwrap();
    }
    let before = copy.local_records();
    for args in [&["plan"][..], &["apply", "--yes"][..]] {
        let out = copy.on_manifests("tenant", &[], args);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("was written by a newer tenantsync (schema version 3)")
                && text.contains(
                    "this binary understands schema versions up to 2: upgrade tenantsync"
                ),
            "{args:?}: {text}"
        );
    }
    assert_eq!(copy.local_records(), before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_schema_1_state_is_upgraded_in_place_and_plans_to_zero() {
    let pg = Postgres::start();
    let dump = std::fs::read_to_string(fixture().join("postgres.sql")).unwrap();
    pg.sql(&dump);
    let copy = Copy::new();
    let url = pg.url();
    let shared = ["--state", url.as_str()];
    let meta = |key: &str| {
        pg.sql(&format!(
            "SELECT convert_from(value, 'UTF8') FROM tenantsync_records
             WHERE scope = 'default' AND tree = 'meta' AND key = convert_to('{key}', 'UTF8')"
        ))
    };
    let count = |tree: &str| {
        pg.sql(&format!(
            "SELECT count(*) FROM tenantsync_records WHERE scope = 'default' AND tree = '{tree}'"
        ))
    };
    let records = || {
        pg.sql(
            "SELECT tree, encode(key, 'hex'), md5(value) FROM tenantsync_records
             WHERE scope = 'default' AND tree <> 'upgrade-backup' AND key <> convert_to('schema_version', 'UTF8')
             ORDER BY 1, 2",
        )
    };
    assert_eq!(
        meta("schema_version"),
        "1",
        "the fixture is a schema 1 state"
    );
    let old_records = records();

    // A reader (plan, state list) reads it as it is: nothing written, no DDL.
    assert!(succeeded(&copy.on_manifests("tenant", &shared, &["plan"])).contains(NO_CHANGES));
    let listed = succeeded(&copy.run("tenant", &shared, &["state", "list"]));
    for entry in ENTRIES {
        assert!(listed.contains(entry), "{listed}");
    }
    assert_eq!(meta("schema_version"), "1");
    assert_eq!(count("upgrade-backup"), "0");

    // The first writer upgrades it (even one that then fails), backing up the old records.
    std::fs::create_dir_all(copy.path("other")).unwrap();
    let refused = copy.on_manifests("other", &shared, &["apply", "--yes"]);
    let text = output_text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(text.contains("from schema 1 to 2"), "{text}");
    assert_eq!(meta("schema_version"), "2");
    // Four meta records, five entries, one history record.
    assert_eq!(count("upgrade-backup"), "10");
    assert_eq!(records(), old_records, "the old records are untouched");
    assert_eq!(pg.sql("SELECT max(version) FROM tenantsync_schema"), "3");

    assert!(succeeded(&copy.on_manifests("tenant", &shared, &["plan"])).contains(NO_CHANGES));
    assert_eq!(
        count("upgrade-backup"),
        "10",
        "kept until an apply succeeds"
    );
    let applied = succeeded(&copy.on_manifests("tenant", &shared, &["apply", "--yes"]));
    assert!(applied.contains("0 failed"), "{applied}");
    assert_eq!(count("upgrade-backup"), "0", "dropped by the apply");
    assert!(succeeded(&copy.on_manifests("tenant", &shared, &["plan"])).contains(NO_CHANGES));

    // A scope a newer tenantsync wrote is refused, readers and writers alike.
    pg.sql(
        "UPDATE tenantsync_records SET value = convert_to('3', 'UTF8')
         WHERE scope = 'default' AND tree = 'meta' AND key = convert_to('schema_version', 'UTF8')",
    );
    for args in [&["plan"][..], &["apply", "--yes"][..]] {
        let out = copy.on_manifests("tenant", &shared, args);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("newer tenantsync (schema version 3)")
                && text.contains("up to 2: upgrade tenantsync"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(meta("schema_version"), "3");
}

fn resource_entry(uri: &str, id: &str) -> tenantsync::state::entry::StateEntry {
    use tenantsync::model::kinds::ObjKind;
    use tenantsync::state::entry::StateEntry;
    StateEntry {
        address: Address::new(ObjKind::Resource, None, uri),
        name: "payouts".into(),
        id: Some(id.into()),
        app_id: None,
        ownership: tenantsync::state::entry::Ownership::Created,
        last_applied: serde_json::Map::new(),
        protect: false,
        applied_at: "2026-12-04T00:00:00Z".into(),
    }
}

#[test]
fn state_list_show_and_forget_know_the_described_kinds() {
    let copy = Copy::new();
    let uri = "https://api.example.com/payouts";
    {
        let store = tenantsync::state::store::StateStore::open(&copy.path("state-dir")).unwrap();
        store.put(&resource_entry(uri, "res-1")).unwrap();
    }
    let address = format!("Resource/{uri}");
    let listed = succeeded(&copy.run("tenant", &[], &["state", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l == format!("{address}\tres-1\tcreated")),
        "{listed}"
    );
    let shown = succeeded(&copy.run("tenant", &[], &["state", "show", &address]));
    assert!(shown.contains("\"id\": \"res-1\""), "{shown}");
    let forgotten = succeeded(&copy.run("tenant", &[], &["state", "forget", &address]));
    assert!(forgotten.contains("forgotten"), "{forgotten}");
    let again = copy.run("tenant", &[], &["state", "forget", &address]);
    assert_eq!(again.status.code(), Some(1), "{}", output_text(&again));
    let listed = succeeded(&copy.run("tenant", &[], &["state", "list"]));
    assert!(!listed.contains("Resource/"), "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.contains('\t')).count(),
        5,
        "{listed}"
    );
}

/// On PostgreSQL a described kind's entry claims its live id for its scope, and forgetting it
/// releases the claim.
#[test]
fn a_described_kinds_entry_claims_its_live_id_on_postgresql() {
    use tenantsync::state::{self, Access, Location};
    let pg = Postgres::start();
    let at = |scope: &str| Location::Postgres {
        url: pg.url(),
        scope: scope.into(),
    };
    let write = Access::Write {
        lock_timeout: std::time::Duration::ZERO,
    };
    let entry = resource_entry("https://api.example.com/payouts", "res-1");
    let ids = vec!["res-1".to_owned()];
    {
        let store = state::open(&at("team-a"), write).unwrap();
        store.put(&entry).unwrap();
    }
    let other = state::open_backend(&at("team-b"), Access::Read).unwrap();
    assert_eq!(
        other
            .claimed_elsewhere(&ids)
            .unwrap()
            .get("res-1")
            .map(String::as_str),
        Some("team-a")
    );
    drop(other);
    {
        let store = state::open(&at("team-a"), write).unwrap();
        assert_eq!(store.snapshot().unwrap().entries[&entry.address], entry);
        assert!(store.remove(&entry.address).unwrap());
    }
    let other = state::open_backend(&at("team-b"), Access::Read).unwrap();
    assert!(other.claimed_elsewhere(&ids).unwrap().is_empty());
}
