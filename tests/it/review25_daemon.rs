//! Findings of the 2026-12-07 review of the daemon, against the real binary and server: a
//! value read from the environment and quoted back by the target never reaches the history
//! (nor the state's files), whether `apply` or `sync` recorded the run.

use serde_json::json;

use crate::drift::sync_command;
use crate::harness::{output_text, spawn_daemon, status_until, KillOnDrop, Workspace};

const CANARY: &str = "canarysubx";

/// `shop`, its subdomain read from `SHOP_SUBDOMAIN`.
const SHOP: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  subdomain: \"${env:SHOP_SUBDOMAIN}\"
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
";

/// Every file under `dir`, as text where it is not UTF-8.
fn bytes_under(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(bytes_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A workspace whose tenant holds an application by hand with the subdomain the manifest's
/// variable will ask for: the create is refused (409) naming it.
async fn taken_subdomain() -> Workspace {
    let ws = Workspace::new();
    let reply = ws
        .api()
        .await
        .post(
            "/v1/applications",
            &json!({"app_name": "Other", "client_display_name": "Other", "redirect_uris": ["https://other.example.com/cb"], "subdomain": CANARY}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    ws.write("shop.yaml", SHOP);
    ws
}

#[tokio::test]
async fn a_value_read_from_the_environment_never_reaches_the_history_of_an_apply() {
    let ws = taken_subdomain().await;
    let out = ws
        .command(&ws.server.base, &["apply", "--yes"])
        .arg(ws.manifests())
        .env("SHOP_SUBDOMAIN", CANARY)
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains(CANARY), "{text}");
    let history = ws.command(&ws.server.base, &["history"]).output().unwrap();
    let shown = output_text(&history);
    assert!(
        shown.contains("FAILED") || shown.contains("failed"),
        "{shown}"
    );
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(!contains(&bytes_under(&ws.state_dir()), CANARY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_read_from_the_environment_never_reaches_the_history_of_a_sync() {
    let ws = taken_subdomain().await;
    let mut command = sync_command(&ws, &[]);
    command
        .env("SHOP_SUBDOMAIN", CANARY)
        .stderr(std::process::Stdio::null());
    let (child, url) = spawn_daemon(command);
    let mut daemon = KillOnDrop(child);
    status_until(&url, |s| s["last_result"] == "error").await;
    daemon.stop();
    let history = ws.command(&ws.server.base, &["history"]).output().unwrap();
    let shown = output_text(&history);
    assert!(shown.contains("sync"), "{shown}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(!contains(&bytes_under(&ws.state_dir()), CANARY));
}
