//! Shared state on a real PostgreSQL: each test starts its own throwaway server
//! ([`Postgres`], on its Unix socket). Apply and plan on it, the run lock naming its holder, fencing of an ex-holder, leader
//! election among daemon replicas, and scopes with their claims on live objects.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::harness::{
    get_text, output_text, spawn_daemon, KillOnDrop, Workspace, SHOP_WEB as SHOP,
};
use crate::postgres::Postgres;

/// `tenantsync --state URL [--state-scope S] ARGS… MANIFESTS` against the workspace's server,
/// each run from a working directory (and `--state-dir`) of its own, as separate CI runners
/// would: whatever they share, they share through the database.
fn on_shared(ws: &Workspace, pg: &Postgres, scope: &str, args: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let workdir = ws.dir.path().join(format!("runner-{run}"));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut cmd = ws.server.cli(&workdir.join(".tenantsync"), &ws.server.base);
    cmd.current_dir(&workdir)
        .args(["--state", &pg.url(), "--state-scope", scope])
        .args(args)
        .arg(ws.manifests());
    cmd.output().unwrap()
}

/// `tenantsync sync` on the shared state's `scope` with the workspace's manifests, listening
/// on a free port; killed when dropped.
fn shared_daemon(
    ws: &Workspace,
    pg: &Postgres,
    scope: &str,
    extra: &[&str],
) -> (KillOnDrop, String) {
    let mut cmd = ws.command(
        &ws.server.base,
        &[
            "--state",
            &pg.url(),
            "--state-scope",
            scope,
            "sync",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    cmd.args(extra).arg(ws.manifests());
    let (child, url) = spawn_daemon(cmd);
    (KillOnDrop(child), url)
}

#[tokio::test]
async fn apply_and_plan_work_on_a_postgresql_state_and_leave_the_local_directory_alone() {
    let pg = Postgres::start();
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let applied = on_shared(&ws, &pg, "default", &["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let plan = on_shared(&ws, &pg, "default", &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "no changes: {}",
        output_text(&plan)
    );
    let local_states = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join(".tenantsync/state").exists())
        .count();
    assert_eq!(local_states, 0, "nothing was written to any --state-dir");
    let entries = pg.sql(
        "SELECT count(*) FROM tenantsync_records WHERE scope = 'default' AND tree = 'objects'",
    );
    assert_eq!(entries, "2", "the app and its client");
    let history = ws
        .command(&ws.server.base, &["--state", &pg.url(), "history"])
        .output()
        .unwrap();
    assert!(
        output_text(&history).contains("apply"),
        "{}",
        output_text(&history)
    );
    assert_eq!(pg.sql("SELECT max(version) FROM tenantsync_schema"), "3");
    // A database a newer tenantsync wrote is refused, with a message that says so.
    pg.sql("INSERT INTO tenantsync_schema (version) VALUES (99)");
    let newer = on_shared(&ws, &pg, "default", &["apply", "--yes"]);
    assert_eq!(newer.status.code(), Some(1));
    assert!(
        output_text(&newer).contains("schema version 99"),
        "{}",
        output_text(&newer)
    );
    assert_eq!(ws.live_apps().await.len(), 1);
}

#[tokio::test]
async fn a_second_writer_fails_at_once_naming_the_holder_and_a_cut_off_daemon_is_re_elected() {
    let pg = Postgres::start();
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    // The daemon holds the scope's lock for as long as it runs.
    let (mut daemon, url) = shared_daemon(&ws, &pg, "default", &["--interval", "300ms"]);
    let http = reqwest::Client::new();
    // Leading (a follower is ready too, once its manifests load) and reconciled.
    let leading = |http: reqwest::Client, url: String| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                let status: serde_json::Value = r.json().await.unwrap_or_default();
                if status["role"] == "leader" && status["last_result"] == "success" {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(
        leading(http.clone(), url.clone()).await,
        "the daemon leads and has reconciled"
    );

    let started = Instant::now();
    let second = on_shared(&ws, &pg, "default", &["apply", "--yes"]);
    assert_eq!(second.status.code(), Some(1));
    let text = output_text(&second);
    assert!(
        text.contains("is locked by") && text.contains(&format!("pid {}", daemon.0.id())),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it did not wait"
    );
    // Reading the history takes no lock: it works while the daemon holds the scope.
    let history = ws
        .command(&ws.server.base, &["--state", &pg.url(), "history"])
        .output()
        .unwrap();
    assert!(
        history.status.success() && output_text(&history).contains("sync"),
        "{}",
        output_text(&history)
    );
    let waited = on_shared(
        &ws,
        &pg,
        "default",
        &["apply", "--yes", "--lock-timeout", "1s"],
    );
    assert!(
        output_text(&waited).contains("waited 1s"),
        "{}",
        output_text(&waited)
    );

    // Cut the holder off: its connection, and with it the lock, is gone. The daemon stops
    // writing, steps down, and (alone here) takes the leadership again under a new epoch.
    let epoch_before: i64 = pg
        .sql("SELECT epoch FROM tenantsync_locks WHERE scope = 'default'")
        .parse()
        .unwrap();
    let terminated = pg.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tenantsync'",
    );
    assert_eq!(terminated, "1");
    ws.write(
        "blog.yaml",
        &SHOP.replace("shop", "blog").replace("Shop", "Blog"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut blogs = 0;
    while Instant::now() < deadline && blogs == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        blogs = live_named(&ws, "Blog").await;
    }
    assert_eq!(blogs, 1, "the re-elected daemon applied the new manifest");
    let epoch_after: i64 = pg
        .sql("SELECT epoch FROM tenantsync_locks WHERE scope = 'default'")
        .parse()
        .unwrap();
    assert!(
        epoch_after > epoch_before,
        "{epoch_before} -> {epoch_after}"
    );
    let metrics = get_text(&http, format!("{url}/metrics")).await;
    assert!(
        metrics.contains("tenantsync_leader_changes_total 2"),
        "{metrics}"
    );
    daemon.stop();
    let takeover = on_shared(&ws, &pg, "default", &["plan", "--detailed-exitcode"]);
    assert_eq!(
        takeover.status.code(),
        Some(0),
        "{}",
        output_text(&takeover)
    );
}

/// How many live applications are called `name`.
async fn live_named(ws: &Workspace, name: &str) -> usize {
    ws.live_apps()
        .await
        .iter()
        .filter(|a| a["app_name"] == name)
        .count()
}

/// Fencing, at the backend itself: a holder whose connection was terminated, or whose epoch a
/// newer holder took, commits nothing, and its lease says so.
#[tokio::test(flavor = "multi_thread")]
async fn an_ex_holder_is_fenced_whether_its_connection_died_or_its_epoch_was_taken() {
    use tenantsync::state::backend::{StateBackend, Tree};
    use tenantsync::state::postgres::{Access, PostgresBackend};
    use tenantsync::state::store::StateError;
    let pg = Postgres::start();
    let write = Access::Write {
        lock_timeout: Duration::ZERO,
    };
    let holder = PostgresBackend::open(&pg.url(), "default", write).unwrap();
    let lease = holder.lease().unwrap();
    holder.insert(Tree::Meta, b"first", b"1".to_vec()).unwrap();
    holder.flush().unwrap();
    assert!(lease.holds(Duration::from_secs(5)).await);

    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tenantsync'");
    tokio::time::timeout(Duration::from_secs(10), lease.lost())
        .await
        .expect("the lease notices the lost connection");
    assert!(!lease.holds(Duration::from_secs(5)).await);
    holder
        .insert(Tree::Meta, b"after-kill", b"2".to_vec())
        .unwrap();
    assert!(holder.flush().is_err(), "a dead connection commits nothing");

    // A paused holder whose connection survived while the lock moved on: the epoch check in
    // the write transaction refuses it.
    let next = PostgresBackend::open(&pg.url(), "default", write).unwrap();
    let next_lease = next.lease().unwrap();
    assert_eq!(next_lease.epoch(), lease.epoch() + 1);
    pg.sql("UPDATE tenantsync_locks SET epoch = epoch + 1 WHERE scope = 'default'");
    next.insert(Tree::Meta, b"after-takeover", b"3".to_vec())
        .unwrap();
    assert!(matches!(next.flush(), Err(StateError::Fenced { .. })));
    assert!(!next_lease.holds(Duration::from_secs(5)).await);
    assert_eq!(
        pg.sql("SELECT string_agg(encode(key, 'escape'), ',' ORDER BY key) FROM tenantsync_records WHERE tree = 'meta'"),
        "first",
        "only the write made while holding the lock"
    );
}

/// The keys of a tree, as the history trim reads them, come from what the backend holds (its
/// own writes included, in key order); removals of the oldest are committed and stay removed.
#[tokio::test(flavor = "multi_thread")]
async fn history_keys_are_listed_in_order_and_trimmed_ones_stay_removed() {
    use tenantsync::state::backend::{StateBackend, Tree};
    use tenantsync::state::postgres::{Access, PostgresBackend};
    let pg = Postgres::start();
    let write = Access::Write {
        lock_timeout: Duration::ZERO,
    };
    let backend = PostgresBackend::open(&pg.url(), "default", write).unwrap();
    for n in [3u64, 1, 2, 5, 4] {
        backend
            .insert(Tree::History, &n.to_be_bytes(), b"{}".to_vec())
            .unwrap();
    }
    backend
        .insert(Tree::Drift, b"open/app", b"{}".to_vec())
        .unwrap();
    let key = |n: u64| n.to_be_bytes().to_vec();
    assert_eq!(
        backend.keys(Tree::History, b"").unwrap(),
        (1..=5).map(key).collect::<Vec<_>>()
    );
    backend.flush().unwrap();
    for n in 1..=3 {
        assert!(backend.remove(Tree::History, &key(n)).unwrap());
    }
    backend.flush().unwrap();
    drop(backend);
    let reopened = PostgresBackend::open(&pg.url(), "default", Access::Read).unwrap();
    assert_eq!(
        reopened.keys(Tree::History, b"").unwrap(),
        vec![key(4), key(5)]
    );
    assert_eq!(reopened.keys(Tree::Drift, b"open/").unwrap().len(), 1);
}

/// Three daemon replicas on one state: one leader; SIGKILL it, and a follower takes over and
/// applies the next change; every object exists once.
#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_elect_one_leader_and_a_follower_takes_over_when_it_is_killed() {
    let pg = Postgres::start();
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let mut replicas: Vec<(KillOnDrop, String)> = (0..3)
        .map(|_| {
            shared_daemon(
                &ws,
                &pg,
                "default",
                &["--interval", "2s", "--leader-timeout", "9s"],
            )
        })
        .collect();
    let http = reqwest::Client::new();
    let roles = |urls: Vec<String>| {
        let http = http.clone();
        async move {
            let mut roles = Vec::new();
            for url in urls {
                let status: serde_json::Value = match http.get(format!("{url}/status")).send().await
                {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
                roles.push(status);
            }
            roles
        }
    };
    let urls = |replicas: &[(KillOnDrop, String)]| -> Vec<String> {
        replicas.iter().map(|(_, u)| u.clone()).collect()
    };
    let leader_of = |statuses: &[serde_json::Value]| -> Vec<usize> {
        (0..statuses.len())
            .filter(|&i| statuses[i]["role"] == "leader")
            .collect()
    };

    // Exactly one leader, which applies the manifests; the others follow, healthy.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut statuses = Vec::new();
    while Instant::now() < deadline {
        statuses = roles(urls(&replicas)).await;
        let leaders = leader_of(&statuses);
        if leaders.len() == 1 && statuses[leaders[0]]["last_result"] == "success" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leaders = leader_of(&statuses);
    assert_eq!(leaders.len(), 1, "{statuses:?}");
    let leader = leaders[0];
    assert_eq!(statuses[leader]["last_result"], "success", "{statuses:?}");
    for (i, status) in statuses.iter().enumerate().filter(|(i, _)| *i != leader) {
        assert_eq!(status["role"], "follower", "{statuses:?}");
        let url = &replicas[i].1;
        let health = http.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let metrics = http.get(format!("{url}/metrics")).send().await.unwrap();
        assert!(metrics
            .text()
            .await
            .unwrap()
            .contains("tenantsync_leader 0"));
    }
    let metrics = http
        .get(format!("{}/metrics", replicas[leader].1))
        .send()
        .await
        .unwrap();
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("tenantsync_leader 1"));
    assert_eq!(live_named(&ws, "Shop").await, 1);

    // SIGKILL the leader, then change the manifests: a follower takes over and applies it.
    let (mut killed, _) = replicas.remove(leader);
    killed.stop();
    ws.write(
        "blog.yaml",
        &SHOP.replace("shop", "blog").replace("Shop", "Blog"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut applied = false;
    while Instant::now() < deadline && !applied {
        tokio::time::sleep(Duration::from_millis(100)).await;
        statuses = roles(urls(&replicas)).await;
        applied = leader_of(&statuses).len() == 1 && live_named(&ws, "Blog").await == 1;
    }
    assert!(applied, "a follower took over within 30 s: {statuses:?}");
    assert_eq!(leader_of(&statuses).len(), 1, "{statuses:?}");
    // Every object once: one Shop, one Blog, each with its one client.
    let apps = ws.live_apps().await;
    assert_eq!(apps.len(), 2, "{apps:?}");
    let api = ws.api().await;
    for app in &apps {
        let id = app["app_id"].as_str().unwrap();
        let clients = api
            .get(&format!("/v1/applications/{id}/clients"))
            .await
            .json();
        assert_eq!(
            clients.as_array().map(Vec::len),
            Some(1),
            "{}: {clients}",
            app["app_name"]
        );
    }
}

#[tokio::test]
async fn scopes_manage_disjoint_objects_and_a_scope_naming_another_scopes_app_is_refused() {
    let pg = Postgres::start();
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let a = on_shared(&ws, &pg, "team-a", &["apply", "--yes"]);
    assert!(a.status.success(), "{}", output_text(&a));
    let claims = |scope: &str| {
        pg.sql(&format!(
            "SELECT count(*) FROM tenantsync_claims WHERE scope = '{scope}'"
        ))
    };
    assert_eq!(claims("team-a"), "2", "the app and its client");
    // Scope B's manifests name scope A's app: refused at plan and at apply, naming scope A.
    for args in [&["plan"][..], &["apply", "--yes"][..]] {
        let b = on_shared(&ws, &pg, "team-b", args);
        assert_eq!(b.status.code(), Some(1), "{args:?}: {}", output_text(&b));
        let text = output_text(&b);
        assert!(
            text.contains("Application/shop is managed by the state scope `team-a`"),
            "{text}"
        );
    }
    // A daemon in scope B is refused the same way, before it writes anything.
    let (mut daemon, url) = shared_daemon(&ws, &pg, "team-b", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = serde_json::Value::Null;
    while Instant::now() < deadline && status["last_result"] != "error" {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = reqwest::get(format!("{url}/status")).await {
            status = r.json().await.unwrap_or_default();
        }
    }
    assert!(
        status["errors"]
            .to_string()
            .contains("Application/shop is managed by the state scope `team-a`"),
        "{status}"
    );
    // Stopped gracefully, the daemon ends its leader's lease: the scope is free at once.
    crate::harness::signal(daemon.0.id() as libc::pid_t, libc::SIGTERM);
    assert!(daemon.0.wait().unwrap().success());
    assert_eq!(claims("team-b"), "0");

    // Disjoint apps: scope B manages its own.
    std::fs::remove_file(ws.manifests().join("shop.yaml")).unwrap();
    ws.write(
        "blog.yaml",
        &SHOP.replace("shop", "blog").replace("Shop", "Blog"),
    );
    let b = on_shared(&ws, &pg, "team-b", &["apply", "--yes"]);
    assert!(b.status.success(), "{}", output_text(&b));
    assert_eq!(claims("team-b"), "2");
    let entries = |scope: &str| {
        pg.sql(&format!(
            "SELECT count(*) FROM tenantsync_records WHERE scope = '{scope}' AND tree = 'objects'"
        ))
    };
    assert_eq!(
        (entries("team-a"), entries("team-b")),
        ("2".to_owned(), "2".to_owned())
    );
    assert_eq!(ws.live_apps().await.len(), 2);
}

/// A resource one scope manages is refused to another scope's plan and apply before anything
/// is written, like an application: the other scope would adopt it by its `uri` and overwrite
/// it, and only its state write would fail, after the PUT.
#[tokio::test]
async fn a_scope_naming_another_scopes_resource_is_refused_before_it_writes() {
    const RESOURCE: &str = "apiVersion: tenantsync/v1\nkind: Resource\nmetadata: {name: payouts}\nspec: {name: Payouts, uri: \"https://api.example.com/payouts\", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}\n";
    let pg = Postgres::start();
    let ws = Workspace::new();
    ws.write("payouts.yaml", RESOURCE);
    let a = on_shared(&ws, &pg, "team-a", &["apply", "--yes"]);
    assert!(a.status.success(), "{}", output_text(&a));
    ws.write(
        "payouts.yaml",
        &RESOURCE.replace("access_token_ttl: 300", "access_token_ttl: 900"),
    );
    for args in [&["plan"][..], &["apply", "--yes"][..]] {
        let b = on_shared(&ws, &pg, "team-b", args);
        assert_eq!(b.status.code(), Some(1), "{args:?}: {}", output_text(&b));
        let text = output_text(&b);
        assert!(
            text.contains(
                "Resource/https://api.example.com/payouts is managed by the state scope `team-a`"
            ),
            "{text}"
        );
    }
    let live = ws.api().await.get("/v1/resources").await.json();
    assert_eq!(live["result"][0]["access_token_ttl"], 300, "{live}");
}

type Records = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

/// Every record of every tree of `backend`, by tree.
fn all_records(backend: &dyn tenantsync::state::backend::StateBackend) -> Records {
    use tenantsync::state::backend::Tree;
    Tree::ALL
        .iter()
        .map(|&t| (t.name().to_owned(), backend.scan(t, b"").unwrap()))
        .collect()
}

/// Every record of the local state in `dir`.
fn local_records(dir: &Path) -> Records {
    all_records(&tenantsync::state::backend::SledBackend::open(dir).unwrap())
}

/// Every record of a scope of the PostgreSQL state.
fn postgres_records(pg: &Postgres, scope: &str) -> Records {
    use tenantsync::state::postgres::{Access, PostgresBackend};
    all_records(&PostgresBackend::open(&pg.url(), scope, Access::Read).unwrap())
}

/// `state migrate` moves a state (entries, journal, history, deliveries) from a directory to
/// PostgreSQL and back byte for byte; each copy works where it landed (the journal an
/// interrupted apply left is resolved there), the source is left alone and an occupied
/// destination is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_round_trips_local_to_postgresql_and_back() {
    use crate::apply::{assert_converged, kill_mid_run, write_tenant};
    use crate::fault_proxy::FaultProxy;
    let pg = Postgres::start();
    let ws = Workspace::new();
    // One complete apply (history), then an interrupted one (journal intents in flight).
    write_tenant(&ws.manifests(), 1);
    let first = ws.run(&["apply", "--yes"]);
    assert!(first.status.success(), "{}", output_text(&first));
    write_tenant(&ws.manifests(), 20);
    let proxy = FaultProxy::start(ws.upstream(), 0).await;
    let mut cmd = ws.command(
        &format!("http://{}/cis", proxy.addr),
        &["apply", "--yes", "--concurrency", "8", "--rate", "100"],
    );
    cmd.arg(ws.manifests()).stderr(std::process::Stdio::null());
    kill_mid_run(cmd, &proxy, 30).await;
    let before = local_records(&ws.state_dir());
    let count = |records: &Records, tree: &str| {
        records
            .iter()
            .find(|(t, _)| t == tree)
            .map_or(0, |(_, r)| r.len())
    };
    let counts: Vec<(&str, usize)> = before.iter().map(|(t, r)| (t.as_str(), r.len())).collect();
    assert!(count(&before, "history") >= 1, "{counts:?}");
    assert!(count(&before, "journal") >= 1, "{counts:?}");

    let to_pg = ws
        .command(&ws.server.base, &["state", "migrate", "--to", &pg.url()])
        .output()
        .unwrap();
    assert!(to_pg.status.success(), "{}", output_text(&to_pg));
    assert!(
        output_text(&to_pg).contains("verified"),
        "{}",
        output_text(&to_pg)
    );
    assert_eq!(
        local_records(&ws.state_dir()),
        before,
        "the source is untouched"
    );
    assert_eq!(postgres_records(&pg, "default"), before);

    // The migrated state works: the next apply there resolves the journal, without duplicates.
    let resolved = on_shared(&ws, &pg, "default", &["apply", "--yes"]);
    assert!(resolved.status.success(), "{}", output_text(&resolved));
    assert!(
        output_text(&resolved).contains("an interrupted create had reached the target"),
        "{}",
        output_text(&resolved)
    );
    let plan = on_shared(&ws, &pg, "default", &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
    assert_converged(&ws.api().await, 20).await;

    // A second migration into the now-occupied scope is refused and writes nothing.
    let again = ws
        .command(&ws.server.base, &["state", "migrate", "--to", &pg.url()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        output_text(&again).contains("already holds a state"),
        "{}",
        output_text(&again)
    );

    // And back into a fresh directory: the same records, byte for byte.
    let on_pg = postgres_records(&pg, "default");
    assert_eq!(count(&on_pg, "objects"), 100, "20 apps with 4 clients each");
    assert_eq!(count(&on_pg, "journal"), 0, "resolved");
    let back = ws.dir.path().join("back");
    let to_local = ws
        .command(
            &ws.server.base,
            &[
                "--state",
                &pg.url(),
                "state",
                "migrate",
                "--to",
                back.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(to_local.status.success(), "{}", output_text(&to_local));
    assert_eq!(local_records(&back), on_pg);
    let plan = ws
        .server
        .cli(&back, &ws.server.base)
        .args(["plan", "--detailed-exitcode"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
}
