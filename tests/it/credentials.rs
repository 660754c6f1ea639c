//! Client credentials delivered where applications read them: `tenantsync credentials`, and the
//! `--credentials-out` / `--credentials-exec` sinks of `apply` and `sync`, against the real
//! server. Every test also checks that the secret goes nowhere else.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{output_text, spawn_daemon, Workspace, SHOP_WEB};

/// `shop` with a confidential web client and a public native one.
fn shop() -> String {
    format!(
        "{SHOP_WEB}    - name: Mobile app\n      client_type: native\n      token_endpoint_auth_method: none\n      redirect_uris: [com.example.shop://cb]\n"
    )
}

/// The live clients of the app named `app_name`, by name.
async fn live_clients(ws: &Workspace, app_name: &str) -> Vec<Value> {
    let apps = ws.live_apps().await;
    let app = apps
        .iter()
        .find(|a| a["app_name"] == app_name)
        .expect("the app exists");
    let id = app["app_id"].as_str().unwrap();
    ws.api()
        .await
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn client<'a>(clients: &'a [Value], name: &str) -> &'a Value {
    clients.iter().find(|c| c["name"] == name).unwrap()
}

/// Every file below `dir`, read as bytes (sled files included).
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn assert_nowhere(secret: &str, places: &[(&str, &[u8])]) {
    for (name, bytes) in places {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(secret), "the secret leaked into {name}");
    }
}

#[tokio::test]
async fn credentials_prints_exactly_the_named_clients_and_refuses_without_names() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &shop());
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let clients = live_clients(&ws, "Shop").await;
    let web = client(&clients, "Web");

    let out = ws
        .command(
            &ws.server.base,
            &["credentials", "Client/shop/Web", "--format", "env"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let variables: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        variables,
        vec![
            format!(
                "SHOP_WEB_CLIENT_ID='{}'",
                web["client_id"].as_str().unwrap()
            ),
            format!(
                "SHOP_WEB_CLIENT_SECRET='{}'",
                web["client_secret"].as_str().unwrap()
            ),
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("/oidc/token"),
        "the comment names the token URL: {stdout}"
    );
    // Nothing on stderr but the request summary every command that talks to a target ends with.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().count() == 1 && stderr.contains(" GET; no rate limit"),
        "{stderr}"
    );

    let refused = ws
        .command(&ws.server.base, &["credentials"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--all"));

    let all = ws
        .command(
            &ws.server.base,
            &["credentials", "--all", "--format", "json"],
        )
        .output()
        .unwrap();
    let docs: Vec<Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(docs.len(), 2, "{docs:?}");
    let mobile = docs
        .iter()
        .find(|d| d["object"] == "Client/shop/Mobile app")
        .unwrap();
    assert_eq!(
        mobile["client_id"],
        client(&clients, "Mobile app")["client_id"]
    );
    assert!(
        mobile.get("client_secret").is_none(),
        "a public client has no secret to print"
    );

    let unknown = ws
        .command(&ws.server.base, &["credentials", "Client/shop/Nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stdout.is_empty());
}

#[tokio::test]
async fn credentials_out_writes_private_files_once_and_removes_a_pruned_clients_file() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &shop());
    let out_dir = ws.dir.path().join("creds");
    let out_arg = out_dir.to_str().unwrap();
    let applied = ws.run(&["apply", "--yes", "--credentials-out", out_arg]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    assert!(
        output_text(&applied).contains("Credentials: 2 delivered"),
        "{}",
        output_text(&applied)
    );

    let clients = live_clients(&ws, "Shop").await;
    let web = client(&clients, "Web");
    let web_file = out_dir.join("shop/Web.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&web_file).unwrap()).unwrap();
    assert_eq!(doc["client_id"], web["client_id"]);
    assert_eq!(doc["client_secret"], web["client_secret"]);
    assert!(doc["token_url"].as_str().unwrap().ends_with("/oidc/token"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&web_file), 0o600);
    assert_eq!(mode(&out_dir.join("shop")), 0o700);
    let mobile_file = out_dir.join("shop/Mobile%20app.json");
    let mobile: Value = serde_json::from_slice(&std::fs::read(&mobile_file).unwrap()).unwrap();
    assert!(mobile.get("client_secret").is_none());

    // Nothing changed: nothing is rewritten.
    let before = std::fs::metadata(&web_file).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let again = ws.run(&["apply", "--yes", "--credentials-out", out_arg]);
    assert!(
        output_text(&again).contains("Credentials: 0 delivered, 0 withdrawn"),
        "{}",
        output_text(&again)
    );
    assert_eq!(
        std::fs::metadata(&web_file).unwrap().modified().unwrap(),
        before
    );

    // The client is pruned: its file goes.
    ws.write(
        "shop.yaml",
        &shop().replace(
            "    - name: Web\n      redirect_uris: [https://shop.example.com/cb]\n",
            "",
        ),
    );
    let pruned = ws.run(&["apply", "--yes", "--prune", "--credentials-out", out_arg]);
    assert!(pruned.status.success(), "{}", output_text(&pruned));
    assert!(!web_file.exists(), "the pruned client's file is removed");
    assert!(mobile_file.exists());

    let secret = web["client_secret"].as_str().unwrap();
    let state = all_bytes(&ws.state_dir());
    let mut places: Vec<(&str, &[u8])> = vec![
        ("apply output", &applied.stdout),
        ("apply errors", &applied.stderr),
        ("second apply", &again.stdout),
        ("prune output", &pruned.stdout),
    ];
    places.extend(state.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    assert_nowhere(secret, &places);
}

#[tokio::test]
async fn credentials_exec_gets_one_event_per_client_and_a_failure_is_delivered_next_run() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &shop());
    let events = ws.dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let script = ws.dir.path().join("sink.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ -f \"$EVENTS/fail\" ] && exit 3\nenv | grep -c '^TENANTSYNC_' > \"$EVENTS/leaked-vars\"\ncat > \"$EVENTS/event-$$.json\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(events.join("fail"), "").unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = ws.command(&ws.server.base, &["apply", "--yes"]);
        cmd.args(extra)
            .args(["--credentials-exec", script.to_str().unwrap()])
            .arg(ws.manifests())
            .env("EVENTS", &events);
        cmd.output().unwrap()
    };
    let event_files = || {
        std::fs::read_dir(&events)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("event-"))
            .map(|e| serde_json::from_slice::<Value>(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect::<Vec<_>>()
    };

    let failing = run(&[]);
    assert!(
        failing.status.success(),
        "a failed delivery does not fail the apply: {}",
        output_text(&failing)
    );
    let text = output_text(&failing);
    assert!(
        text.contains("credential delivery") && text.contains("failed (exit status: 3)"),
        "{text}"
    );
    assert!(event_files().is_empty());

    std::fs::remove_file(events.join("fail")).unwrap();
    let delivered = run(&[]);
    assert!(delivered.status.success(), "{}", output_text(&delivered));
    let got = event_files();
    assert_eq!(got.len(), 2, "one created event per client: {got:?}");
    assert!(got.iter().all(|e| e["event"] == "created"));
    let clients = live_clients(&ws, "Shop").await;
    let web = client(&clients, "Web");
    let web_event = got
        .iter()
        .find(|e| e["object"] == "Client/shop/Web")
        .unwrap();
    assert_eq!(web_event["client_secret"], web["client_secret"]);
    assert_eq!(
        std::fs::read_to_string(events.join("leaked-vars"))
            .unwrap()
            .trim(),
        "0"
    );

    // Delivered: the next run gives nothing again.
    let quiet = run(&[]);
    assert_eq!(event_files().len(), 2, "{}", output_text(&quiet));

    let secret = web["client_secret"].as_str().unwrap();
    let plan_file = ws.dir.path().join("plan.json");
    let plan = ws.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    let history = ws
        .command(&ws.server.base, &["history", "--format", "json"])
        .output()
        .unwrap();
    let plan_bytes = std::fs::read(&plan_file).unwrap();
    let state = all_bytes(&ws.state_dir());
    let mut places: Vec<(&str, &[u8])> = vec![
        ("failing apply stdout", &failing.stdout),
        ("failing apply stderr", &failing.stderr),
        ("apply stdout", &delivered.stdout),
        ("apply stderr", &delivered.stderr),
        ("plan output", &plan.stdout),
        ("plan file", &plan_bytes),
        ("history", &history.stdout),
    ];
    places.extend(state.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    assert_nowhere(secret, &places);
}

#[tokio::test]
async fn the_daemon_delivers_a_new_client_within_one_reconcile() {
    let ws = Workspace::new();
    let out_dir = ws.dir.path().join("creds");
    let (mut daemon, _url) = spawn_daemon(ws.delivering_sync(&out_dir));
    ws.write("shop.yaml", &shop());
    let file = out_dir.join("shop/Web.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        file.exists(),
        "the daemon did not deliver the new client's credentials"
    );
    let clients = live_clients(&ws, "Shop").await;
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        doc["client_secret"],
        client(&clients, "Web")["client_secret"]
    );
}
