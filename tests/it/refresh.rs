//! `plan --refresh changed` against the real binary and server: on a tenant of a few hundred
//! applications it reads only the changed objects (counted exactly, by the plan's `api` section
//! and by the server's own request counter), plans them exactly as `--refresh all` does, and says
//! that the other objects were not refreshed; the other kinds are read one list per collection.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::harness::{change_names, output_text as text, Workspace};

const APPS: usize = 300;

fn app(key: &str, name: &str, extra_client: bool) -> String {
    let mut out = format!(
        "apiVersion: tenantsync/v1
kind: Application
metadata: {{name: {key}}}
spec:
  app_name: {name}
  clients:
    - name: Web
      redirect_uris: [https://{key}.example.com/cb]
"
    );
    if extra_client {
        out.push_str(&format!(
            "    - name: Api\n      redirect_uris: [https://{key}.example.com/api]\n"
        ));
    }
    out
}

/// The Applications API requests the server answered (routes under `/v1/`), in all.
async fn api_requests(ws: &Workspace) -> u64 {
    let metrics = ws.server.metrics().await;
    let mut by_series: BTreeMap<String, u64> = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("tenantsync_server_requests_total{") && l.contains("/v1/"))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        by_series.insert(series.to_owned(), value.parse::<f64>().unwrap() as u64);
    }
    by_series.values().sum()
}

/// Runs `plan … --format json` with `refresh`; the plan and the server's count of its requests.
async fn plan_json(ws: &Workspace, refresh: &str, extra: &[&str]) -> (Value, u64) {
    let before = api_requests(ws).await;
    let mut args = vec!["plan", "--format", "json", "--refresh", refresh];
    args.extend_from_slice(extra);
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let seen = api_requests(ws).await - before;
    (serde_json::from_slice(&out.stdout).unwrap(), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_changed_reads_only_the_changed_objects_and_plans_them_as_all_does() {
    let ws = Workspace::new();
    for i in 0..APPS {
        ws.write(
            &format!("a{i}.yaml"),
            &app(&format!("a{i}"), &format!("App {i}"), false),
        );
    }
    let out = ws.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));

    // Three changes: an application's field, a client's field, a new client.
    ws.write("a1.yaml", &app("a1", "App one", false));
    ws.write(
        "a2.yaml",
        &app("a2", "App 2", false).replace("a2.example.com/cb", "a2.example.com/callback"),
    );
    ws.write("a3.yaml", &app("a3", "App 3", true));

    let (changed, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!(changed["api"]["reads"], json!(requests), "{changed:#}");
    // A GET and a list of clients for each of the three applications.
    assert_eq!(requests, 6, "{changed:#}");
    assert_eq!(changed["not_refreshed"], json!(2 * APPS - 6), "{changed:#}");
    let (all, all_requests) = plan_json(&ws, "all", &[]).await;
    assert!(all_requests > APPS as u64, "{all_requests}");
    assert!(all.get("not_refreshed").is_none(), "{all:#}");
    assert_eq!(changed["changes"], all["changes"]);
    let addresses = change_names(&changed["changes"]);
    assert_eq!(
        addresses.len(),
        3,
        "one change per edited object: {addresses:?}"
    );

    // Drift behind tenantsync's back in an object the manifests did not change: not shown.
    let live = ws.live_apps().await;
    let id = live.iter().find(|a| a["app_name"] == "App 100").unwrap()["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = ws
        .api()
        .await
        .put(
            &format!("/v1/applications/{id}"),
            &json!({"app_name": "App 100 (edited live)"}),
        )
        .await;
    assert!(reply.status < 300, "{}", reply.text);
    let out = ws.run(&["plan", "--refresh", "changed"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("a100"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{} managed objects not refreshed (--refresh changed): drift in them is not shown",
            2 * APPS - 6
        )),
        "{stdout}"
    );
    let out = ws.run(&["plan", "--refresh", "changed", "--format", "markdown"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not refreshed (--refresh changed)"),
        "{}",
        text(&out)
    );
    let (all, _) = plan_json(&ws, "all", &[]).await;
    assert!(
        all["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Application/a100" && c["drift"] == json!(true)),
        "{all:#}"
    );

    // A saved `--refresh changed` plan applies (re-reading what it writes); then nothing differs
    // from last-applied, so nothing is read.
    let plan_file = ws.dir.path().join("changed.json");
    let out = ws.run(&[
        "plan",
        "--refresh",
        "changed",
        "--out",
        plan_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = ws.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let live = ws.live_apps().await;
    assert!(live.iter().any(|a| a["app_name"] == "App one"), "{live:?}");
    assert!(
        live.iter()
            .any(|a| a["app_name"] == "App 100 (edited live)"),
        "the drift of an object the plan did not read is left alone"
    );
    let (none, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!(requests, 0, "nothing to read");
    assert_eq!(none["api"]["reads"], json!(requests));
    assert_eq!(none["changes"], json!([]));
    assert_eq!(none["not_refreshed"], json!(2 * APPS + 1));

    // An application that left the manifests is read and planned as with `all`, without the
    // drift of a100 (not read).
    std::fs::remove_file(ws.manifests().join("a5.yaml")).unwrap();
    for extra in [&[][..], &["--prune"][..]] {
        let (changed, requests) = plan_json(&ws, "changed", extra).await;
        let (all, _) = plan_json(&ws, "all", extra).await;
        // The application and its clients; with --prune also its roles and role groups: what
        // its deletion would take with it upstream.
        let expected = if extra.is_empty() { 2 } else { 4 };
        assert_eq!(requests, expected, "{changed:#}");
        // `all` also shows the drift of a100, which `changed` did not read.
        let all_but_drift: Vec<&Value> = all["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] != "Application/a100")
            .collect();
        assert_eq!(
            all["changes"].as_array().unwrap().len(),
            all_but_drift.len() + 1
        );
        assert_eq!(
            changed["changes"]
                .as_array()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            all_but_drift,
            "{extra:?}"
        );
        assert_eq!(
            changed["skipped_deletes"], all["skipped_deletes"],
            "{extra:?}"
        );
        let planned = changed["changes"].as_array().unwrap().len()
            + changed["skipped_deletes"].as_array().unwrap().len();
        assert_eq!(planned, 1, "{changed:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refresh_changed_reads_and_writes_only_the_edited_application() {
    let ws = Workspace::new();
    for i in 0..20 {
        ws.write(
            &format!("a{i}.yaml"),
            &app(&format!("a{i}"), &format!("App {i}"), false),
        );
    }
    let out = ws.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    ws.write("a7.yaml", &app("a7", "App seven", false));
    let before = api_requests(&ws).await;
    let out = ws.run(&["apply", "--yes", "--refresh", "changed"]);
    assert!(out.status.success(), "{}", text(&out));
    // The application and its client list, by id, then its one write.
    assert_eq!(api_requests(&ws).await - before, 3, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("38 managed objects not refreshed"),
        "{shown}"
    );
    let names: Vec<Value> = ws
        .live_apps()
        .await
        .iter()
        .map(|a| a["app_name"].clone())
        .collect();
    assert!(names.contains(&json!("App seven")), "{names:?}");
    assert_eq!(names.len(), 20);
    // Nothing left: a full plan agrees.
    let out = ws.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// An application with two roles, and the resource every one of them shares.
fn app_with_role(i: usize, display: &str) -> String {
    format!(
        "{}---
apiVersion: tenantsync/v1
kind: Role
metadata: {{name: clerk-{i}}}
spec: {{application: a{i}, role_name: clerk, display_name: {display}, permissions: [\"orders:read\"]}}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {{name: lead-{i}}}
spec: {{application: a{i}, role_name: lead, permissions: [\"orders:write\"]}}
",
        app(&format!("a{i}"), &format!("App {i}"), false)
    )
}

const RESOURCE: &str = "apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts}
spec: {name: Payouts, uri: \"https://api.example.com/payouts\", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_changed_reads_one_collection_for_one_edited_role_or_resource() {
    const ROLE_APPS: usize = 40;
    let ws = Workspace::new();
    for i in 0..ROLE_APPS {
        ws.write(&format!("a{i}.yaml"), &app_with_role(i, "Clerk"));
    }
    ws.write("resource.yaml", RESOURCE);
    let out = ws.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    // Apps, their default clients, their roles and the resource.
    let managed = 4 * ROLE_APPS + 1;
    let (none, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!((requests, &none["changes"]), (0, &json!([])), "{none:#}");
    assert_eq!(none["not_refreshed"], json!(managed));

    // One role edited: that application's roles are read, once; no application, no other
    // application's roles, no resources.
    ws.write("a7.yaml", &app_with_role(7, "Cashier"));
    let (changed, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!(requests, 1, "{changed:#}");
    assert_eq!(changed["api"]["reads"], json!(requests));
    // Both roles of a7 were read (one list).
    assert_eq!(changed["not_refreshed"], json!(managed - 2));
    let (all, all_requests) = plan_json(&ws, "all", &[]).await;
    // A full read: the applications, each one's clients and roles (one list for its two
    // roles), the resources: one list per collection, not one request per object.
    assert_eq!(all_requests, 1 + 2 * ROLE_APPS as u64 + 1, "{all:#}");
    assert_eq!(all["api"]["reads"], json!(all_requests));
    assert_eq!(changed["changes"], all["changes"]);
    let names = change_names(&changed["changes"]);
    assert_eq!(names, ["Role/clerk-7"], "{changed:#}");
    let out = ws.run(&["apply", "--yes", "--refresh", "changed"]);
    assert!(out.status.success(), "{}", text(&out));
    let (after, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!((requests, &after["changes"]), (0, &json!([])), "{after:#}");

    // The resource edited: the resources are read, once.
    ws.write("resource.yaml", &RESOURCE.replace("ttl: 300", "ttl: 600"));
    let (changed, requests) = plan_json(&ws, "changed", &[]).await;
    assert_eq!(requests, 1, "{changed:#}");
    let names = change_names(&changed["changes"]);
    assert_eq!(names, ["Resource/payouts"], "{changed:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_changed_reads_the_objects_of_an_application_it_adopts_by_name() {
    let ws = Workspace::new();
    ws.write("a0.yaml", &app_with_role(0, "Clerk"));
    let out = ws.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    // The state forgotten: the application and its roles exist live only, and the next plan
    // adopts them by name (creating a role again would answer 409).
    std::fs::remove_dir_all(ws.state_dir()).unwrap();
    let actions = |plan: &Value| -> Vec<String> {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["action"].as_str().unwrap(),
                    c["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (changed, _) = plan_json(&ws, "changed", &[]).await;
    let (all, _) = plan_json(&ws, "all", &[]).await;
    assert_eq!(actions(&changed), actions(&all));
    assert!(
        actions(&changed).contains(&"adopt Role/clerk-0".to_owned()),
        "{changed:#}"
    );
    let out = ws.run(&["apply", "--yes", "--refresh", "changed"]);
    assert!(out.status.success(), "{}", text(&out));
    let (after, _) = plan_json(&ws, "all", &[]).await;
    assert_eq!(after["changes"], json!([]), "{after:#}");
}
