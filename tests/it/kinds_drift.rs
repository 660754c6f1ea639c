//! Drift episodes of the described kinds, against the real server and daemon: a Resource or a
//! Role changed by hand opens an episode under its own address (`/status`, the metrics,
//! `history --drift`), `--on-drift report` keeps it and its first-seen time, `heal` writes the
//! manifest back and ends it as healed, and `--on-drift propose` commits the live value of a
//! Role to its own review branch.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drift::{assert_one_drift_episode, more_rounds, sync_command};
use crate::harness::{
    bare_repo_with_shop, changed_lines, git, git_ok, output_text, spawn_daemon,
    spawn_proposing_daemon, status_until, Workspace,
};

const RESOURCE: &str = "Resource/https://api.example.com/payouts";

const TREE: &str = r#"apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec:
  name: Payouts API
  description: Creates payouts
  uri: "https://api.example.com/payouts"
  access_token_ttl: 300
  refresh_token_ttl: 0
  max_refresh_rotate: 0
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: ["https://shop.example.com/cb"]
"#;

/// The live resource's id and its description.
async fn live_resource(ws: &Workspace) -> (String, Value) {
    let listed = ws.api().await.get("/v1/resources").await.json();
    let resource = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["uri"] == "https://api.example.com/payouts")
        .unwrap_or_else(|| panic!("no live resource: {listed}"))
        .clone();
    (
        resource["resource_id"].as_str().unwrap().to_owned(),
        resource["description"].clone(),
    )
}

/// Changes the resource's description through the API, as someone in the portal would.
async fn change_by_hand(ws: &Workspace, description: &str) {
    let (id, _) = live_resource(ws).await;
    let reply = ws
        .api()
        .await
        .put(
            &format!("/v1/resources/{id}"),
            &json!({"description": description}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// `tenantsync history --drift` with `extra`, on the workspace's state.
fn drift_history(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["history", "--drift"];
    args.extend_from_slice(extra);
    ws.command(&ws.server.base, &args).output().unwrap()
}

fn episode<'a>(status: &'a Value, object: &str) -> Option<&'a Value> {
    status["drift"]
        .as_array()?
        .iter()
        .find(|d| d["object"] == object)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_changed_by_hand_opens_an_episode_report_keeps_it_and_heal_ends_it() {
    let ws = Workspace::new();
    ws.write("tree.yaml", TREE);
    let log = ws.dir.path().join("daemon.log");
    let mut command = sync_command(&ws, &["--on-drift", "report"]);
    command.stderr(std::fs::File::create(&log).unwrap());
    let (mut daemon, url) = spawn_daemon(command);
    status_until(&url, |s| s["last_result"] == "success").await;

    change_by_hand(&ws, "Changed in the portal").await;
    let seen = status_until(&url, |s| episode(s, RESOURCE).is_some()).await;
    let opened = episode(&seen, RESOURCE).unwrap().clone();
    assert_eq!(opened["fields"], json!(["description"]), "{seen}");
    // Three more rounds: the episode stays open, first seen stays put, nothing is written.
    more_rounds(&url, &seen, 3).await;
    let status = status_until(&url, |s| s["last_result"] == "success").await;
    assert_eq!(
        episode(&status, RESOURCE).map(|e| e["first_seen"].clone()),
        Some(opened["first_seen"].clone()),
        "{status}"
    );
    assert_eq!(live_resource(&ws).await.1, "Changed in the portal");
    assert_one_drift_episode(&url).await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    // The log names it as plans and "applied" lines do (its document), with its state key.
    let logged = std::fs::read_to_string(&log).unwrap();
    let detected = logged
        .lines()
        .find(|l| l.contains("drift detected"))
        .unwrap_or_else(|| panic!("{logged}"));
    assert!(
        detected.contains("object=Resource/payouts-api") && detected.contains(RESOURCE),
        "{detected}"
    );
    let history = drift_history(&ws, &[]);
    let text = output_text(&history);
    assert!(history.status.success(), "{text}");
    assert!(
        text.contains(&format!("open   {RESOURCE}  description")),
        "the open episode is kept: {text}"
    );

    // heal (the default) writes the manifest's value back and ends the episode as healed.
    let (mut daemon, url) = spawn_daemon(sync_command(&ws, &[]));
    status_until(&url, |s| {
        s["last_result"] == "success" && s["drift"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(live_resource(&ws).await.1, "Creates payouts");
    let history = drift_history(&ws, &["--format", "json"]);
    let text = output_text(&history);
    let episodes: Value = serde_json::from_str(&String::from_utf8_lossy(&history.stdout))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(episodes["open"], json!([]), "{episodes}");
    let ended: Vec<&Value> = episodes["ended"]
        .as_array()
        .unwrap_or_else(|| panic!("{episodes}"))
        .iter()
        .filter(|e| e["object"].to_string().contains("api.example.com/payouts"))
        .collect();
    assert_eq!(ended.len(), 1, "{episodes}");
    assert_eq!(ended[0]["resolution"], "healed", "{episodes}");
    assert_eq!(ended[0]["first_seen"], opened["first_seen"], "{episodes}");
}

const SHOP_WITH_ROLE: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
---
# Clerks read orders.
apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec:
  application: shop
  role_name: clerk
  # Shown in the portal.
  display_name: Clerk
  permissions: [\"orders:read\"]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_commits_a_role_changed_by_hand_to_its_own_branch() {
    let ws = Workspace::new();
    let bare = bare_repo_with_shop(ws.dir.path(), SHOP_WITH_ROLE);
    let (mut daemon, _url) = spawn_proposing_daemon(&ws, &bare, &[]).await;

    let api = ws.api().await;
    let apps = api.get("/v1/applications").await.json();
    let app_id = apps["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_name"] == "Shop")
        .unwrap()["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles = api.get(&format!("/v1/applications/{app_id}/roles")).await;
    let role_id = roles.json()["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", roles.text))
        .iter()
        .find(|r| r["role_name"] == "clerk")
        .unwrap_or_else(|| panic!("no clerk: {}", roles.text))["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = api
        .put(
            &format!("/v1/applications/{app_id}/roles/{role_id}"),
            &json!({"display_name": "Store clerk"}),
        )
        .await;
    assert!(changed.status / 100 == 2, "{}", changed.text);

    let branch = "tenantsync/drift/role/shop/clerk";
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !git(&bare, &["rev-parse", "--verify", branch])
            .status
            .success()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let diff = git_ok(&bare, &["diff", "--unified=0", "main", branch]);
    assert_eq!(
        changed_lines(&diff),
        vec!["-  display_name: Clerk", "+  display_name: Store clerk"],
        "{diff}"
    );
    let proposed = git_ok(&bare, &["show", &format!("{branch}:tenant/shop.yaml")]);
    for comment in SHOP_WITH_ROLE
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
    {
        assert!(proposed.contains(comment), "{comment:?} kept:\n{proposed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_of_resources_alone_is_swept_too() {
    // No application managed: no slices of applications, yet each pass reads the resources.
    let ws = Workspace::new();
    let resource_only = TREE.split("\n---\n").next().unwrap();
    assert!(!resource_only.contains("kind: Application"));
    ws.write("tree.yaml", resource_only);
    let (mut daemon, url) = spawn_daemon(sync_command(&ws, &["--on-drift", "report"]));
    status_until(&url, |s| s["last_result"] == "success").await;
    change_by_hand(&ws, "Changed in the portal").await;
    let seen = status_until(&url, |s| episode(s, RESOURCE).is_some()).await;
    assert_eq!(
        episode(&seen, RESOURCE).unwrap()["fields"],
        json!(["description"]),
        "{seen}"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
