//! Drift as a signal, against the real server: `tenantsync drift` tells drift from pending,
//! `sync --on-drift report` keeps reporting a live change without reverting it (first seen
//! stays put) while other changes apply, `heal` reverts, and `--notify-url` gets one
//! notification per episode event, none with a secret.

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{
    bare_repo_with_shop, changed_lines, git, git_ok, output_text, serve_in_background,
    spawn_daemon, spawn_proposing_daemon, status_until, Workspace,
};

/// A managed app with comments, a scalar field and a client.
pub const SHOP: &str = "# The shop: storefront and its web client.
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  # Shown on the consent screen.
  app_description: Online shop
  clients:
    - name: Web
      # Where users come back after login.
      redirect_uris: [https://shop.example.com/cb]
      description: Storefront
";

fn run(ws: &Workspace, args: &[&str]) -> Output {
    ws.run(args)
}

/// The live application `name`.
async fn live_app(ws: &Workspace, name: &str) -> Value {
    ws.live_apps()
        .await
        .into_iter()
        .find(|a| a["app_name"] == name)
        .unwrap_or_else(|| panic!("no live {name}"))
}

/// Changes the shop's description through the API, as someone in the portal would.
pub async fn change_in_the_portal(ws: &Workspace, description: &str) {
    let id = live_app(ws, "Shop").await["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = ws
        .api()
        .await
        .put(
            &format!("/v1/applications/{id}"),
            &json!({"app_description": description}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn drift_is_reported_apart_from_pending_and_both_go_after_apply() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let applied = run(&ws, &["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let clean = run(&ws, &["drift", "--detailed-exitcode"]);
    assert_eq!(clean.status.code(), Some(0), "{}", output_text(&clean));

    change_in_the_portal(&ws, "Changed in the portal").await;
    let drift = run(&ws, &["drift", "--detailed-exitcode"]);
    assert_eq!(drift.status.code(), Some(2), "{}", output_text(&drift));
    let text = output_text(&drift);
    assert!(
        text.contains("Application/shop") && text.contains("app_description"),
        "{text}"
    );
    assert!(text.contains("Changed in the portal"), "{text}");

    // A manifest change not applied yet is pending, not drift.
    ws.write("shop.yaml", &SHOP.replace("Storefront", "Storefront v2"));
    let report = run(&ws, &["drift", "--format", "json"]);
    assert!(report.status.success(), "{}", output_text(&report));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let drifted: Vec<&str> = report["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["object"].as_str().unwrap())
        .collect();
    assert_eq!(drifted, vec!["Application/shop"], "{report}");
    assert_eq!(report["drift"][0]["fields"][0]["field"], "app_description");
    assert_eq!(
        report["pending"][0]["object"], "Client/shop/Web",
        "{report}"
    );
    assert_eq!(report["pending"][0]["fields"], json!(["description"]));
    // Pending alone does not make drift's exit code.
    let markdown = run(&ws, &["drift", "--format", "markdown"]);
    assert!(
        String::from_utf8_lossy(&markdown.stdout)
            .contains("| `Application/shop` | `app_description` |"),
        "{}",
        output_text(&markdown)
    );

    let applied = run(&ws, &["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let after = run(&ws, &["drift", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(after.status.code(), Some(0), "{}", output_text(&after));
    let after: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["drift"], json!([]));
    assert_eq!(after["pending"], json!([]));
    assert_eq!(
        live_app(&ws, "Shop").await["app_description"],
        "Online shop"
    );
}

/// Waits until the daemon at `url` has reconciled `rounds` more times after `seen`.
pub async fn more_rounds(url: &str, seen: &Value, rounds: usize) {
    let reconciles = |s: &Value| s["last_reconcile"].as_str().unwrap_or("").to_owned();
    let mut last = reconciles(seen);
    for _ in 0..rounds {
        let now = status_until(url, |s| reconciles(s) != last).await;
        last = reconciles(&now);
    }
}

/// The daemon's metrics say one object drifts, in one episode detected so far.
pub async fn assert_one_drift_episode(url: &str) {
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tenantsync_drift_objects 1"), "{metrics}");
    assert!(
        metrics.contains("tenantsync_drift_detected_total 1"),
        "one episode: {metrics}"
    );
}

/// `tenantsync sync` on the workspace's manifests and server, resyncing every 300 ms.
pub fn sync_command(ws: &Workspace, extra: &[&str]) -> std::process::Command {
    let mut args = vec!["sync", "--listen", "127.0.0.1:0", "--interval", "300ms"];
    args.extend_from_slice(extra);
    let mut cmd = ws.command(&ws.server.base, &args);
    cmd.arg(ws.manifests());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_keeps_the_live_change_and_reports_it_heal_mode_reverts_it() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let (mut daemon, url) = spawn_daemon(sync_command(&ws, &["--on-drift", "report"]));
    status_until(&url, |s| s["last_result"] == "success").await;

    change_in_the_portal(&ws, "Changed in the portal").await;
    let seen = status_until(&url, |s| !s["drift"].as_array().unwrap().is_empty()).await;
    let first_seen = seen["drift"][0]["first_seen"].clone();
    assert_eq!(seen["drift"][0]["object"], "Application/shop");
    assert_eq!(seen["drift"][0]["fields"], json!(["app_description"]));

    // Another object's change still applies while the drifted one is held.
    ws.write(
        "blog.yaml",
        &crate::harness::SHOP_WEB
            .replace("shop", "blog")
            .replace("Shop", "Blog"),
    );
    more_rounds(&url, &seen, 3).await;
    let status = status_until(&url, |s| s["last_result"] == "success").await;
    assert_eq!(
        status["drift"][0]["first_seen"], first_seen,
        "first seen stays put: {status}"
    );
    assert_eq!(
        live_app(&ws, "Shop").await["app_description"],
        "Changed in the portal",
        "report never writes the drifted object"
    );
    assert_eq!(live_app(&ws, "Blog").await["app_name"], "Blog");
    assert_one_drift_episode(&url).await;
    let _ = daemon.kill();
    let _ = daemon.wait();

    // heal (the default) writes the manifest's value back and ends the episode.
    let (mut daemon, url) = spawn_daemon(sync_command(&ws, &[]));
    let healed = status_until(&url, |s| {
        s["last_result"] == "success" && s["drift"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(healed["drift"], json!([]));
    assert_eq!(
        live_app(&ws, "Shop").await["app_description"],
        "Online shop"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    let report = run(&ws, &["drift", "--detailed-exitcode"]);
    assert_eq!(report.status.code(), Some(0), "{}", output_text(&report));
}

/// What a notification receiver got.
type Seen = Arc<Mutex<Vec<Value>>>;

/// A local HTTP receiver of notifications: its URL and what it got, in order.
async fn receiver() -> (String, Seen) {
    use axum::extract::State;
    async fn receive(
        State(seen): State<Seen>,
        axum::Json(body): axum::Json<Value>,
    ) -> &'static str {
        seen.lock().unwrap().push(body);
        "ok"
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let hook = format!("http://{}/hook", serve_in_background(app).await);
    (hook, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_per_episode_event_and_none_carries_a_secret() {
    let (hook, seen) = receiver().await;

    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let (mut daemon, url) = spawn_daemon(sync_command(&ws, &["--notify-url", &hook]));
    status_until(&url, |s| s["last_result"] == "success").await;
    // The canary: the client's secret, as the server holds it.
    let api = ws.api().await;
    let shop = live_app(&ws, "Shop").await;
    let id = shop["app_id"].as_str().unwrap();
    let clients = api
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json();
    let secret = clients[0]["client_secret"].as_str().unwrap().to_owned();

    change_in_the_portal(&ws, "Changed in the portal").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && seen.lock().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More resyncs: nothing more is sent for the same episode.
    let reconciles = |s: &Value| s["last_reconcile"].as_str().unwrap_or("").to_owned();
    let mut last = String::new();
    for _ in 0..3 {
        let now = status_until(&url, |s| reconciles(s) != last).await;
        last = reconciles(&now);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let bodies = seen.lock().unwrap().clone();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["detected", "healed"], "{bodies:?}");
    for b in &bodies {
        assert_eq!(b["object"], "Application/shop");
        assert!(b["text"].as_str().unwrap().contains("Application/shop"));
        let text = b.to_string();
        assert!(!text.contains(&secret), "a secret reached a notification");
        assert!(
            !text.contains("Changed in the portal"),
            "values stay out: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_commits_only_the_drifted_value_and_deletes_the_branch_when_it_ends() {
    let (hook, notified) = receiver().await;
    let ws = Workspace::new();
    let bare = bare_repo_with_shop(ws.dir.path(), SHOP);
    let (mut daemon, status_url) =
        spawn_proposing_daemon(&ws, &bare, &["--notify-url", &hook]).await;

    change_in_the_portal(&ws, "Changed in the portal").await;
    let branch = "tenantsync/drift/application/shop";
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !git(&bare, &["rev-parse", "--verify", branch])
            .status
            .success()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let proposed = git_ok(&bare, &["show", &format!("{branch}:tenant/shop.yaml")]);
    let diff = git_ok(&bare, &["diff", "--unified=0", "main", branch]);
    let changed = changed_lines(&diff);
    assert_eq!(
        changed,
        vec![
            "-  app_description: Online shop",
            "+  app_description: Changed in the portal"
        ],
        "{diff}"
    );
    for comment in SHOP.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(proposed.contains(comment), "{comment:?} kept:\n{proposed}");
    }
    assert_eq!(
        git_ok(&bare, &["rev-parse", &format!("{branch}^")]),
        git_ok(&bare, &["rev-parse", "main"]),
        "on top of the commit in force"
    );
    // Proposing never writes the drifted object.
    assert_eq!(
        live_app(&ws, "Shop").await["app_description"],
        "Changed in the portal"
    );
    // Further resyncs update the same branch, never a second one.
    let reconciles = |s: &Value| s["last_reconcile"].as_str().unwrap_or("").to_owned();
    let mut last = String::new();
    for _ in 0..2 {
        let now = status_until(&status_url, |s| reconciles(s) != last).await;
        last = reconciles(&now);
    }
    let branches = git_ok(
        &bare,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/tenantsync",
        ],
    );
    assert_eq!(branches, format!("refs/heads/{branch}"));

    // The live change is reverted: the episode ends and its branch goes.
    change_in_the_portal(&ws, "Online shop").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && git(&bare, &["rev-parse", "--verify", branch])
            .status
            .success()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !git(&bare, &["rev-parse", "--verify", branch])
            .status
            .success(),
        "the branch was deleted"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && notified.lock().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let events: Vec<String> = notified
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, vec!["detected", "proposed", "resolved"]);
    let proposed = notified.lock().unwrap()[1]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(proposed.contains(branch), "{proposed}");
}
