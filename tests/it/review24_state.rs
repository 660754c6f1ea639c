//! Issue 24, the shared state: a deposed leader writes nothing to the tenant once another
//! replica leads (a cut database link, a frozen process), a follower's log stays quiet and it
//! migrates once, and the PostgreSQL URL's password never shows while `PGPASSWORD`, a password
//! file and a SELECT-only role work.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::fault_proxy::{FaultProxy, FaultStats};
use crate::harness::{output_text, spawn_daemon, status_until, Workspace, SHOP_WEB as SHOP};
use crate::postgres::Postgres;

/// A child process killed when the test ends, passed or not.
struct Daemon {
    child: Child,
    url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }
}

/// A TCP relay to PostgreSQL that can be cut the way a partition cut the review's leader off:
/// the server's side of every connection is closed (its session ends, its lock goes), the
/// client's side stays open and silent, and new connections are accepted and never answered.
struct Relay {
    port: u16,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(upstream_port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cut_rx) = watch::channel(false);
        let held: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    held.lock().unwrap().push(client);
                    continue;
                }
                let (mut cut_rx, held) = (cut_rx.clone(), held.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.wait_for(|c| *c) => {
                            drop(server);
                            held.lock().unwrap().push(client);
                        }
                    }
                });
            }
        });
        Relay { port, cut, task }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

/// The loopback port of the test's PostgreSQL server.
fn pg_port(pg: &Postgres) -> u16 {
    pg.tcp_port()
}

/// `count` applications, each with one client, described as `description`.
fn write_apps(ws: &Workspace, count: usize, description: &str) {
    for i in 0..count {
        ws.write(
            &format!("app-{i:03}.yaml"),
            &format!(
                "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: app-{i}}}\nspec:\n  app_name: App {i}\n  app_description: {description}\n  clients:\n    - {{name: Web, redirect_uris: ['https://app{i}.example.com/cb']}}\n"
            ),
        );
    }
}

/// `tenantsync sync` on `state` against `base`, its logs in `log`; `extra` before the manifests.
fn daemon(ws: &Workspace, base: &str, state: &str, log: &Path, extra: &[&str]) -> Daemon {
    let mut cmd = ws.command(
        base,
        &[
            "--state",
            state,
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--leader-timeout",
            "6s",
        ],
    );
    cmd.args(extra)
        .arg(ws.manifests())
        .env("RUST_LOG", "tenantsync=debug")
        .stderr(std::fs::File::create(log).unwrap());
    let (child, url) = spawn_daemon(cmd);
    Daemon { child, url }
}

/// The scope's lock row: the holder's pid, and when it took the lock, as an `Instant` of this
/// test (`clock` pairs an `Instant` with the wall clock read at the same moment).
fn taken(pg: &Postgres, clock: (Instant, SystemTime)) -> (u32, Instant) {
    let row = pg.sql(
        "SELECT holder_pid || ' ' || extract(epoch FROM since) FROM tenantsync_locks WHERE scope = 'default'",
    );
    let (pid, since) = row.split_once(' ').unwrap();
    let since = UNIX_EPOCH + Duration::from_secs_f64(since.parse().unwrap());
    let at = match since.duration_since(clock.1) {
        Ok(after) => clock.0 + after,
        Err(before) => clock.0 - before.duration(),
    };
    (pid.parse().unwrap(), at)
}

/// The writes to the Applications API a proxy saw (not the token requests).
fn api_writes(stats: &FaultStats) -> Vec<crate::fault_proxy::WriteSeen> {
    stats
        .writes()
        .into_iter()
        .filter(|w| w.path.contains("/v1/"))
        .collect()
}

/// Polls `check` every 50 ms for up to 60 s; whether it held.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// How many applications are described as `description`.
async fn described(ws: &Workspace, description: &str) -> usize {
    ws.live_apps()
        .await
        .iter()
        .filter(|a| a["app_description"] == description)
        .count()
}

/// LE.1: the leader's database link is cut while it heals 40 objects at 4 writes/s. A
/// follower takes over, and the old leader sent no write at or after that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_database_writes_nothing_once_a_follower_leads() {
    let clock = (Instant::now(), SystemTime::now());
    let pg = Postgres::start_tcp();
    let ws = Workspace::new();
    write_apps(&ws, 40, "v1");
    let applied = ws
        .command(&ws.server.base, &["--state", &pg.url(), "apply", "--yes"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", output_text(&applied));

    // A reaches the database through the relay and the tenant through a recording proxy.
    let relay = Relay::start(pg_port(&pg)).await;
    let a_state = pg
        .url()
        .replace(&format!(":{}/", pg_port(&pg)), &format!(":{}/", relay.port));
    let proxy = FaultProxy::start(ws.upstream(), 0).await;
    let a_base = format!("http://{}/cis", proxy.addr);
    let logs = tempfile::tempdir().unwrap();
    let slow = ["--rate", "4", "--concurrency", "4"];
    let a = daemon(&ws, &a_base, &a_state, &logs.path().join("a.log"), &slow);
    status_until(&a.url, |s| {
        s["role"] == "leader" && s["last_result"] == "success"
    })
    .await;
    let b = daemon(
        &ws,
        &ws.server.base,
        &pg.url(),
        &logs.path().join("b.log"),
        &slow,
    );
    status_until(&b.url, |s| s["role"] == "follower" && s["ready"] == true).await;

    // A starts healing; cut its link once it has sent a few writes.
    write_apps(&ws, 40, "v2");
    assert!(
        eventually(|| api_writes(&proxy.stats).len() >= 3).await,
        "A started writing"
    );
    relay.cut();
    status_until(&b.url, |s| s["role"] == "leader").await;
    let (holder, takeover) = taken(&pg, clock);
    assert_eq!(holder, b.child.id(), "B holds the lock");
    status_until(&a.url, |s| s["role"] == "follower").await;
    status_until(&b.url, |s| {
        s["role"] == "leader" && s["last_result"] == "success"
    })
    .await;
    assert_eq!(described(&ws, "v2").await, 40, "B finished the heal");

    let writes = api_writes(&proxy.stats);
    let late: Vec<String> = writes
        .iter()
        .filter(|w| w.at >= takeover)
        .map(|w| {
            format!(
                "{} {} {:?} after",
                w.method,
                w.path,
                w.at.duration_since(takeover)
            )
        })
        .collect();
    assert!(
        late.is_empty(),
        "A wrote after B took over: {late:?}\nA's log:\n{}",
        std::fs::read_to_string(logs.path().join("a.log")).unwrap()
    );
    assert!(
        writes.len() < 40,
        "A was cut off mid-heal ({} writes)",
        writes.len()
    );
    // Exactly one leader all along, as far as the two agree: A stepped down before B led.
    let a_log = std::fs::read_to_string(logs.path().join("a.log")).unwrap();
    assert!(a_log.contains("stepping down"), "{a_log}");
}

/// LE.2 and item 10: a follower checking the leadership logs no PostgreSQL notice at info and
/// checks the schema once; a leader frozen with SIGSTOP keeps its session and its lock, yet the
/// follower takes over within --leader-timeout, and the frozen one, resumed, writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_and_a_quiet_follower_migrates_once() {
    let clock = (Instant::now(), SystemTime::now());
    let pg = Postgres::start_tcp();
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let proxy = FaultProxy::start(ws.upstream(), 0).await;
    let a_base = format!("http://{}/cis", proxy.addr);
    let logs = tempfile::tempdir().unwrap();
    let a = daemon(&ws, &a_base, &pg.url(), &logs.path().join("a.log"), &[]);
    status_until(&a.url, |s| {
        s["role"] == "leader" && s["last_result"] == "success"
    })
    .await;
    let b_log = logs.path().join("b.log");
    let b = daemon(&ws, &ws.server.base, &pg.url(), &b_log, &[]);
    let read_b = || std::fs::read_to_string(&b_log).unwrap_or_default();
    assert!(
        eventually(|| read_b().matches("another replica leads").count() >= 3).await,
        "B contended three times: {}",
        read_b()
    );
    let follower_log = read_b();
    assert_eq!(
        follower_log.matches("state schema checked").count(),
        1,
        "one schema check per process: {follower_log}"
    );
    let noisy: Vec<&str> = follower_log
        .lines()
        .filter(|l| l.contains("NOTICE") || l.contains("already exists"))
        .filter(|l| !l.contains("DEBUG"))
        .collect();
    assert!(noisy.is_empty(), "{noisy:?}");

    // Freeze the leader: its connection stays up and keeps the advisory lock.
    let frozen = Instant::now();
    a.signal(rustix::process::Signal::STOP);
    ws.write(
        "blog.yaml",
        &SHOP.replace("shop", "blog").replace("Shop", "Blog"),
    );
    status_until(&b.url, |s| {
        s["role"] == "leader" && s["last_result"] == "success"
    })
    .await;
    let (holder, takeover) = taken(&pg, clock);
    assert_eq!(holder, b.child.id());
    assert!(
        takeover.duration_since(frozen) < Duration::from_secs(6),
        "taken over within --leader-timeout: {:?}",
        takeover.duration_since(frozen)
    );
    let blogs = ws
        .live_apps()
        .await
        .iter()
        .filter(|a| a["app_name"] == "Blog")
        .count();
    assert_eq!(blogs, 1, "the new leader applied the change");

    // A change for the resumed ex-leader to want: it must leave it to B.
    ws.write(
        "blog.yaml",
        &SHOP
            .replace("shop", "blog")
            .replace("Shop", "Blog")
            .replace("  clients:", "  app_description: resumed\n  clients:"),
    );
    a.signal(rustix::process::Signal::CONT);
    status_until(&a.url, |s| s["role"] == "follower").await;
    assert!(
        eventually(|| std::fs::read_to_string(logs.path().join("a.log"))
            .unwrap_or_default()
            .contains("stepping down"))
        .await
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while described(&ws, "resumed").await == 0 {
        assert!(Instant::now() < deadline, "B applied the change");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late: Vec<_> = api_writes(&proxy.stats)
        .into_iter()
        .filter(|w| w.at >= takeover)
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert!(late.is_empty(), "the resumed ex-leader wrote: {late:?}");
}

/// Password authentication for the roles `ts` (may create tables) and `tsread` (SELECT only),
/// on the test's server, which otherwise trusts every local connection.
fn with_password_roles(pg: &Postgres) {
    pg.sql("CREATE ROLE ts LOGIN PASSWORD 'ts-CANARY-pw'");
    pg.sql("GRANT CREATE, USAGE ON SCHEMA public TO ts");
    pg.sql("CREATE ROLE tsread LOGIN PASSWORD 'tsread-pw'");
    let hba = pg.sql("SHOW hba_file");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all ts,tsread 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .unwrap();
    pg.sql("SELECT pg_reload_conf()");
    // Reloaded once a password-less login is refused.
    let port = pg_port(pg).to_string();
    let refused = || {
        !Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "ts", "-d", "postgres"])
            .args(["-w", "-X", "-c", "SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !refused() {
        assert!(Instant::now() < deadline, "pg_hba.conf was not reloaded");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `postgres://USER@127.0.0.1:PORT/postgres?sslmode=disable` plus `extra` parameters.
fn role_url(pg: &Postgres, user: &str, extra: &str) -> String {
    format!(
        "postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable{extra}",
        pg_port(pg)
    )
}

/// `tenantsync --state URL ARGS… MANIFESTS` without any PostgreSQL variable but `env`.
fn on_state(ws: &Workspace, url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = ws.command(&ws.server.base, &["--state", url]);
    cmd.args(args)
        .arg(ws.manifests())
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", ws.dir.path().join("no-such-pgpass"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// PG.2 / PG.8: a password in the URL's query (`password=`, `sslpassword=`) shows nowhere:
/// not in `state migrate`'s report, not in errors, not in the daemon's leadership log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_query_never_shows() {
    let pg = Postgres::start_tcp();
    with_password_roles(&pg);
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let local = ws.run(&["apply", "--yes"]);
    assert!(local.status.success(), "{}", output_text(&local));

    let to = role_url(&pg, "ts", "&password=ts-CANARY-pw");
    let migrated = ws
        .command(&ws.server.base, &["state", "migrate", "--to", &to])
        .output()
        .unwrap();
    let text = output_text(&migrated);
    assert!(migrated.status.success(), "{text}");
    assert!(
        text.contains("migrated") && text.contains("postgres://ts@127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("CANARY"), "{text}");

    for url in [
        role_url(&pg, "ts", "&password=WRONG-CANARY-pw"),
        role_url(&pg, "ts", "&sslpassword=SSL-CANARY-pw"),
        role_url(&pg, "ts", "&password=WRONG-CANARY-pw&bogus=1"),
    ] {
        let refused = on_state(&ws, &url, &["plan"], &[]);
        let text = output_text(&refused);
        assert_eq!(refused.status.code(), Some(1), "{text}");
        assert!(text.contains("127.0.0.1"), "names the database: {text}");
        assert!(!text.contains("CANARY"), "{text}");
    }

    // Every leadership attempt fails and is logged, without the password.
    let log = ws.dir.path().join("daemon.log");
    let url = role_url(&pg, "ts", "&password=WRONG-CANARY-pw");
    let d = daemon(&ws, &ws.server.base, &url, &log, &[]);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        eventually(|| read().matches("could not contend").count() >= 2).await,
        "{}",
        read()
    );
    assert!(!read().contains("CANARY"), "{}", read());
    let status = reqwest::get(format!("{}/status", d.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!status.contains("CANARY"), "{status}");
}

/// PG.3 and PG.7: a URL without a password works with `PGPASSWORD` or a password file, and
/// not without (the server does check); a role with SELECT only plans (no DDL on reading).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgpassword_a_password_file_and_a_select_only_role_work() {
    let pg = Postgres::start_tcp();
    with_password_roles(&pg);
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let url = role_url(&pg, "ts", "");

    let without = on_state(&ws, &url, &["apply", "--yes"], &[]);
    assert_eq!(without.status.code(), Some(1), "{}", output_text(&without));
    let with_env = on_state(
        &ws,
        &url,
        &["apply", "--yes"],
        &[("PGPASSWORD", "ts-CANARY-pw")],
    );
    assert!(with_env.status.success(), "{}", output_text(&with_env));

    let passfile = ws.dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{}:postgres:ts:ts-CANARY-pw\n", pg_port(&pg)),
    )
    .unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let passfile = passfile.to_str().unwrap();
    let plan = on_state(
        &ws,
        &url,
        &["plan", "--detailed-exitcode"],
        &[("PGPASSFILE", passfile)],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));

    // The reader: SELECT on the tables ts created, nothing else.
    pg.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO tsread");
    let reader = role_url(&pg, "tsread", "");
    let env = [("PGPASSWORD", "tsread-pw")];
    let plan = on_state(&ws, &reader, &["plan", "--detailed-exitcode"], &env);
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
    ws.write(
        "blog.yaml",
        &SHOP.replace("shop", "blog").replace("Shop", "Blog"),
    );
    let plan = on_state(&ws, &reader, &["plan", "--detailed-exitcode"], &env);
    assert_eq!(plan.status.code(), Some(2), "{}", output_text(&plan));
    assert!(
        output_text(&plan).contains("Blog"),
        "{}",
        output_text(&plan)
    );
    let listed = ws
        .command(&ws.server.base, &["--state", &reader, "state", "list"])
        .env("PGPASSWORD", "tsread-pw")
        .output()
        .unwrap();
    assert!(
        listed.status.success() && output_text(&listed).contains("Application/shop"),
        "{}",
        output_text(&listed)
    );
    // It cannot write, and says so.
    let apply = on_state(&ws, &reader, &["apply", "--yes"], &env);
    assert_eq!(apply.status.code(), Some(1), "{}", output_text(&apply));
    assert!(
        output_text(&apply).contains("permission denied"),
        "{}",
        output_text(&apply)
    );
}

/// `--help` lists the variable `--state` reads, not its value.
#[test]
fn help_does_not_print_the_state_url() {
    let help = Command::new(crate::harness::bin())
        .args(["plan", "--help"])
        .env(
            "TENANTSYNC_STATE",
            "postgres://ts@db/x?password=HELP-CANARY",
        )
        .output()
        .unwrap();
    let text = output_text(&help);
    assert!(
        help.status.success() && text.contains("TENANTSYNC_STATE"),
        "{text}"
    );
    assert!(!text.contains("CANARY"), "{text}");
}
