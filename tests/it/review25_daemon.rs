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

/// A run killed with creates journaled but not sent, then manifests that no longer ask for
/// them: the next run does not create them (only what had reached the target is recorded).
#[tokio::test]
async fn an_interrupted_create_the_manifests_no_longer_ask_for_is_not_sent_again() {
    use crate::apply::{kill_mid_run, write_tenant};
    use crate::fault_proxy::FaultProxy;
    let ws = Workspace::new();
    write_tenant(&ws.manifests(), 12);
    let proxy = FaultProxy::start(ws.upstream(), 0).await;
    let base = format!("http://{}/cis", proxy.addr);
    let mut cmd = ws.command(&base, &["apply", "--yes", "--concurrency", "4"]);
    cmd.arg(ws.manifests()).stderr(std::process::Stdio::null());
    // Killed after its first write, with its second done on the server and unanswered: the
    // other applications' creates are journaled, never sent.
    kill_mid_run(cmd, &proxy, 1).await;
    let reached = ws.live_apps().await.len();
    assert!(reached < 12, "{reached}");
    for i in 1..12 {
        std::fs::remove_file(ws.manifests().join(format!("app-{i:03}.yaml"))).unwrap();
    }
    let out = ws
        .command(&ws.server.base, &["apply", "--yes"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("never reached the target; dropped"), "{text}");
    let live = ws.live_apps().await.len();
    assert!(
        live == reached || live == reached + 1,
        "only those that reached the target ({reached}) and the kept one: {live}"
    );
}

/// `tenantsync_server_faults_injected_total{kind="429"}` as scraped (0 before the first).
async fn throttled(server: &crate::harness::Server) -> u64 {
    let metrics = server.metrics().await;
    let prefix = "tenantsync_server_faults_injected_total{kind=\"429\"} ";
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Shut down while its reads are being refused (429 to every request): the daemon sends
/// nothing more, rather than retrying each read to the end of its attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_told_to_stop_sends_no_retry() {
    use crate::harness::{signal, ServeOptions, Server};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
    let server = Server::start_with(
        &dir.path().join("server"),
        ServeOptions::with_args(vec!["--faults".into(), "seed=1,rate=1,kinds=429".into()]),
    );
    let ws = Workspace {
        dir,
        server,
        postgres: None,
    };
    ws.write(
        "shop.yaml",
        SHOP.replace("  subdomain: \"${env:SHOP_SUBDOMAIN}\"\n", "")
            .as_str(),
    );
    let mut command = sync_command(&ws, &[]);
    command.stderr(std::process::Stdio::null());
    let (child, _url) = spawn_daemon(command);
    let mut daemon = KillOnDrop(child);
    // Its first read is refused: it waits the Retry-After, to send it again.
    while throttled(&ws.server).await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let at_stop = throttled(&ws.server).await;
    signal(daemon.0.id() as libc::pid_t, libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || daemon.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    let sent_after = throttled(&ws.server).await - at_stop;
    // At most the one request already on its way when the signal came.
    assert!(sent_after <= 1, "{sent_after} requests after the stop");
}

/// An application deleted by hand, which the daemon may not create again (the credential may
/// not see it): its create is held, and an edit of another application is applied all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_deleted_by_hand_holds_its_create_not_every_other_edit() {
    let ws = Workspace::new();
    ws.write("shop.yaml", crate::harness::SHOP_WEB);
    let blog = crate::harness::SHOP_WEB
        .replace("{name: shop}", "{name: blog}")
        .replace("app_name: Shop", "app_name: Blog")
        .replace("shop.example.com", "blog.example.com");
    ws.write("blog.yaml", &blog);
    let out = ws
        .command(&ws.server.base, &["apply", "--yes"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let live = ws.live_apps().await;
    let blog_id = live
        .iter()
        .find(|a| a["app_name"] == "Blog")
        .and_then(|a| a["app_id"].as_str())
        .unwrap()
        .to_owned();
    let api = ws.api().await;
    assert_eq!(
        api.delete(&format!("/v1/applications/{blog_id}"))
            .await
            .status,
        204
    );
    ws.write(
        "shop.yaml",
        &crate::harness::SHOP_WEB.replace(
            "app_name: Shop",
            "app_name: Shop\n  app_description: edited",
        ),
    );
    // The daemon's first round reads everything: `blog` is missing.
    let mut command = sync_command(&ws, &[]);
    command.stderr(std::process::Stdio::null());
    let (child, url) = spawn_daemon(command);
    let _daemon = KillOnDrop(child);
    let status = status_until(&url, |s| s["last_result"].is_string()).await;
    assert_eq!(status["last_result"], "success", "{status}");
    let live = ws.live_apps().await;
    assert!(
        live.iter()
            .any(|a| a["app_name"] == "Shop" && a["app_description"] == "edited"),
        "{live:?}"
    );
    assert!(
        live.iter().all(|a| a["app_name"] != "Blog"),
        "not created again: {live:?}"
    );
}
