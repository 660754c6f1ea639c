//! The sync daemon as a real process against a real `tenantsync serve`: directory watching with
//! atomic-rename edits, prune, git commits, invalid edits, drift, the server going away, and
//! SIGTERM mid-reconcile. Waits are bounded polls, never timing assertions.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::fault_proxy::{FaultProxy, Hold};
use crate::harness::{
    bare_repo_and_clone, bin, eventually, get_json, get_text, git_ok, signal, spawn_daemon, Api,
    ServeOptions, Server,
};

struct Daemon {
    child: Option<Child>,
    url: String,
    http: reqwest::Client,
}

impl Daemon {
    fn start(state_dir: &Path, server: &Server, args: &[&str]) -> Daemon {
        Self::start_at(state_dir, server, &server.base, Stdio::null(), args)
    }

    /// The daemon against `base` (a proxy), its logs into `stderr`.
    fn start_at(
        state_dir: &Path,
        server: &Server,
        base: &str,
        stderr: Stdio,
        args: &[&str],
    ) -> Daemon {
        let mut cmd = server.cli(state_dir, base);
        cmd.arg("sync")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(stderr);
        let (child, url) = spawn_daemon(cmd);
        Daemon {
            child: Some(child),
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn status(&self) -> Value {
        get_json(&self.http, format!("{}/status", self.url)).await
    }

    async fn metrics(&self) -> String {
        get_text(&self.http, format!("{}/metrics", self.url)).await
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id() as libc::pid_t, libc::SIGTERM);
        child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn app_yaml(key: &str, name: &str, description: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {key}}}\nspec:\n  app_name: {name}\n  app_description: {description}\n  clients:\n    - name: Web\n      redirect_uris: [https://{key}.example.com/cb]\n"
    )
}

/// Writes a file the way editors save: a temporary file renamed over the target.
fn atomic_write(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.swp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn live_app(api: &Api, name: &str) -> Option<Value> {
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    apps.as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_name"] == name)
        .cloned()
}

#[tokio::test]
async fn directory_watch_applies_edits_and_prunes_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let state = dir.path().join("state");
    let mut daemon = Daemon::start(
        &state,
        &server,
        &["--interval", "1h", manifests.to_str().unwrap()],
    );

    atomic_write(
        &manifests.join("shop.yaml"),
        &app_yaml("shop", "Shop", "first"),
    );
    eventually("the new app is live", || async {
        live_app(&api, "Shop").await
    })
    .await;
    atomic_write(
        &manifests.join("shop.yaml"),
        &app_yaml("shop", "Shop", "edited"),
    );
    eventually("the edit is live", || async {
        live_app(&api, "Shop")
            .await
            .filter(|a| a["app_description"] == "edited")
    })
    .await;

    std::fs::remove_file(manifests.join("shop.yaml")).unwrap();
    atomic_write(
        &manifests.join("other.yaml"),
        &app_yaml("other", "Other", "x"),
    );
    let status = eventually("the deletion is reported, not done", || async {
        let s = daemon.status().await;
        (s["skipped_deletes"]
            .to_string()
            .contains("Application/shop"))
        .then_some(s)
    })
    .await;
    assert!(status["skipped_deletes"][0]
        .as_str()
        .unwrap()
        .contains("--prune"));
    assert!(
        live_app(&api, "Shop").await.is_some(),
        "deleted without --prune"
    );
    assert_eq!(daemon.terminate().code(), Some(0));

    let _pruning = Daemon::start(
        &state,
        &server,
        &["--interval", "1h", "--prune", manifests.to_str().unwrap()],
    );
    eventually("the app is pruned", || async {
        live_app(&api, "Shop").await.is_none().then_some(())
    })
    .await;
    assert!(live_app(&api, "Other").await.is_some());
}

#[tokio::test]
async fn deletions_past_max_deletes_are_held_and_every_other_change_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    for key in ["one", "two", "keep"] {
        atomic_write(
            &manifests.join(format!("{key}.yaml")),
            &app_yaml(key, key, "first"),
        );
    }
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let state = dir.path().join("state");
    let daemon = Daemon::start(
        &state,
        &server,
        &[
            "--interval",
            "1h",
            "--prune",
            "--max-deletes",
            "1",
            manifests.to_str().unwrap(),
        ],
    );
    eventually("the three apps are live", || async {
        live_app(&api, "keep").await
    })
    .await;

    // Two applications leave (four objects, more than --max-deletes 1) as another is edited.
    std::fs::remove_file(manifests.join("one.yaml")).unwrap();
    std::fs::remove_file(manifests.join("two.yaml")).unwrap();
    atomic_write(
        &manifests.join("keep.yaml"),
        &app_yaml("keep", "keep", "edited"),
    );
    eventually("the edit is applied", || async {
        live_app(&api, "keep")
            .await
            .filter(|a| a["app_description"] == "edited")
    })
    .await;
    let status = eventually("the held deletions are reported", || async {
        let s = daemon.status().await;
        (s["skipped_deletes"].as_array().map_or(0, Vec::len) == 2).then_some(s)
    })
    .await;
    for held in status["skipped_deletes"].as_array().unwrap() {
        let held = held.as_str().unwrap();
        assert!(
            held.contains("held") && held.contains("more than --max-deletes 1"),
            "{held}"
        );
    }
    assert!(
        live_app(&api, "one").await.is_some(),
        "deleted past the guard"
    );
    assert!(
        live_app(&api, "two").await.is_some(),
        "deleted past the guard"
    );
}

#[tokio::test]
async fn git_commits_are_applied_at_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo_and_clone(dir.path(), "repo.git");
    std::fs::create_dir_all(work.join("tenant")).unwrap();
    std::fs::write(
        work.join("tenant/shop.yaml"),
        app_yaml("shop", "Shop", "from git"),
    )
    .unwrap();
    std::fs::write(work.join("README.md"), "not a manifest").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "--quiet", "-m", "first"]);
    git_ok(&work, &["push", "--quiet", "origin", "main"]);
    let first = git_ok(&work, &["rev-parse", "HEAD"]);

    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let url = format!("file://{}", bare.display());
    let daemon = Daemon::start(
        &dir.path().join("state"),
        &server,
        &[
            "--git",
            &url,
            "--branch",
            "main",
            "--git-path",
            "tenant",
            "--poll",
            "200ms",
            "--interval",
            "1h",
        ],
    );
    eventually("applied at the first commit", || async {
        let s = daemon.status().await;
        (s["revision"] == first.as_str()).then_some(())
    })
    .await;
    assert_eq!(
        live_app(&api, "Shop").await.unwrap()["app_description"],
        "from git"
    );

    std::fs::write(
        work.join("tenant/shop.yaml"),
        app_yaml("shop", "Shop", "second commit"),
    )
    .unwrap();
    git_ok(&work, &["commit", "--quiet", "-am", "second"]);
    git_ok(&work, &["push", "--quiet", "origin", "main"]);
    let second = git_ok(&work, &["rev-parse", "HEAD"]);
    eventually("applied at the second commit", || async {
        let s = daemon.status().await;
        (s["revision"] == second.as_str()).then_some(())
    })
    .await;
    assert_eq!(
        live_app(&api, "Shop").await.unwrap()["app_description"],
        "second commit"
    );
    let metrics = daemon.metrics().await;
    assert!(
        metrics.contains(&format!(
            "tenantsync_sync_revision_info{{revision=\"{second}\"}} 1"
        )),
        "{metrics}"
    );

    // A commit that does not load: its errors name the file by its path in the repository.
    std::fs::write(work.join("tenant/bad.yaml"), "kind: Application\nspec: [\n").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "--quiet", "-m", "third"]);
    git_ok(&work, &["push", "--quiet", "origin", "main"]);
    let errors = eventually("the third commit refused", || async {
        let s = daemon.status().await;
        let errors = s["errors"].as_array().cloned().unwrap_or_default();
        (!errors.is_empty()).then_some(errors)
    })
    .await;
    let first_error = errors[0].as_str().unwrap();
    assert!(first_error.starts_with("tenant/bad.yaml:"), "{errors:?}");
}

#[tokio::test]
async fn invalid_edits_keep_the_last_good_set_and_drift_is_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("shop.yaml"),
        app_yaml("shop", "Shop", "good"),
    )
    .unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let daemon = Daemon::start(
        &dir.path().join("state"),
        &server,
        &["--interval", "1s", manifests.to_str().unwrap()],
    );
    let shop = eventually("applied", || async { live_app(&api, "Shop").await }).await;
    let ready = daemon
        .http
        .get(format!("{}/readyz", daemon.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    atomic_write(
        &manifests.join("shop.yaml"),
        &app_yaml("shop", "Shop", "good").replace("app_name", "app_nmae"),
    );
    let status = eventually("the error is reported", || async {
        let s = daemon.status().await;
        (!s["errors"].as_array().unwrap().is_empty()).then_some(s)
    })
    .await;
    assert!(
        status["errors"]
            .to_string()
            .contains("did you mean `app_name`"),
        "{status}"
    );
    let metrics = daemon.metrics().await;
    let errors =
        tenantsync::telemetry::prometheus::sample(&metrics, "tenantsync_sync_manifest_errors", &[])
            .unwrap();
    assert!(errors >= 1.0, "{metrics}");
    assert!(
        live_app(&api, "Shop").await.is_some(),
        "the last good set stays in force"
    );

    // Drift under an invalid edit is still corrected from the last good set.
    let app_id = shop["app_id"].as_str().unwrap();
    api.put(
        &format!("/v1/applications/{app_id}"),
        &json!({"app_description": "drifted"}),
    )
    .await;
    eventually("drift corrected", || async {
        live_app(&api, "Shop")
            .await
            .filter(|a| a["app_description"] == "good")
    })
    .await;
    // The live fix lands inside a reconcile; its metrics are recorded when it ends.
    eventually("the correction is counted", || async {
        let metrics = daemon.metrics().await;
        tenantsync::telemetry::prometheus::sample(
            &metrics,
            "tenantsync_sync_drift_corrected_total",
            &[],
        )
        .filter(|c| *c >= 1.0)
    })
    .await;

    atomic_write(
        &manifests.join("shop.yaml"),
        &app_yaml("shop", "Shop", "fixed"),
    );
    eventually("the fix is applied and the error cleared", || async {
        let s = daemon.status().await;
        let live = live_app(&api, "Shop").await?;
        (live["app_description"] == "fixed" && s["errors"].as_array().unwrap().is_empty())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_daemon_backs_off_while_the_server_is_down_and_converges_after() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("shop.yaml"), app_yaml("shop", "Shop", "one")).unwrap();
    let data = dir.path().join("server");
    let mut server = Server::start(&data);
    let port = server.origin.rsplit(':').next().unwrap().to_owned();
    let daemon = Daemon::start(
        &dir.path().join("state"),
        &server,
        &["--interval", "1h", manifests.to_str().unwrap()],
    );
    eventually("first reconcile", || async {
        (daemon.status().await["last_result"] == "success").then_some(())
    })
    .await;

    server.kill();
    atomic_write(
        &manifests.join("blog.yaml"),
        &app_yaml("blog", "Blog", "while down"),
    );
    eventually("the failure is reported", || async {
        (daemon.status().await["last_result"] == "error").then_some(())
    })
    .await;
    // Backing off: 2 s after the first failure, doubling after the next one.
    assert_eq!(daemon.status().await["retry_in_seconds"], 2.0);
    eventually("the backoff doubles", || async {
        (daemon.status().await["retry_in_seconds"] == 4.0).then_some(())
    })
    .await;

    let server = Server::start_with(
        &data,
        ServeOptions {
            args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
            ..Default::default()
        },
    );
    let api = server.api(&server.admin_token().await);
    eventually("converged after the server came back", || async {
        live_app(&api, "Blog").await
    })
    .await;
    eventually("status recovers", || async {
        (daemon.status().await["last_result"] == "success").then_some(())
    })
    .await;
    let metrics = daemon.metrics().await;
    assert!(
        tenantsync::telemetry::prometheus::sample(
            &metrics,
            "tenantsync_sync_reconciles_total",
            &[("result", "error")]
        )
        .unwrap()
            >= 1.0
    );
    // The binary allocates through jemalloc on Linux/glibc, and says how much it holds.
    let figure = |name| tenantsync::telemetry::prometheus::sample(&metrics, name, &[]);
    let (allocated, resident) = (
        figure("tenantsync_memory_allocated_bytes"),
        figure("tenantsync_memory_resident_bytes"),
    );
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let (allocated, resident) = (allocated.unwrap(), resident.unwrap());
        assert!(
            allocated > 1e6 && resident >= allocated,
            "{allocated} allocated, {resident} resident"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_reconcile_exits_cleanly_and_the_next_run_converges() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    for i in 0..40 {
        std::fs::write(
            manifests.join(format!("app{i}.yaml")),
            app_yaml(&format!("app{i}"), &format!("App {i}"), "x"),
        )
        .unwrap();
    }
    let server = Server::start(&dir.path().join("server"));
    let state = dir.path().join("state");
    // Mid-reconcile by construction: the proxy carries out the fourth create and holds its
    // answer (and any other in flight) until the daemon has taken the SIGTERM in.
    let proxy = FaultProxy::start(
        server.origin.trim_start_matches("http://").parse().unwrap(),
        0,
    )
    .await;
    proxy.hold(Hold::WritesAfter(3));
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::start_at(
        &state,
        &server,
        &format!("http://{}/cis", proxy.addr),
        Stdio::from(std::fs::File::create(&log).unwrap()),
        &["--concurrency", "2", manifests.to_str().unwrap()],
    );
    proxy.held(1).await;
    let mut child = daemon.child.take().unwrap();
    signal(child.id() as libc::pid_t, libc::SIGTERM);
    eventually("the daemon takes the SIGTERM in", || async {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        logs.contains("shutdown signal received").then_some(())
    })
    .await;
    proxy.release_all();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    let api = server.api(&server.admin_token().await);
    let count = |apps: Value| apps["result"].as_array().map_or(0, Vec::len);
    let at_exit = count(api.get("/v1/applications").await.json());
    // The three let through, the held one, and at most one more in flight (two at a time):
    // nothing started after the SIGTERM.
    assert!(
        (4..=5).contains(&at_exit),
        "SIGTERM landed mid-reconcile: {at_exit} of 40 applications existed when the daemon exited"
    );
    assert_eq!(
        proxy.stats.posts().len(),
        at_exit,
        "every create sent was carried out, and answered before the exit"
    );

    let run = |args: &[&str]| {
        server
            .cli(&state, &server.base)
            .args(args)
            .arg(&manifests)
            .output()
            .unwrap()
    };
    // The interrupted reconcile is in the history, its unstarted objects skipped.
    let history = Command::new(bin())
        .arg("--state-dir")
        .arg(&state)
        .args(["history", "--format", "json", "--limit", "5"])
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("skipped: shutting down"), "{history}");
    let out = run(&["apply", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(run(&["plan", "--detailed-exitcode"]).status.code(), Some(0));
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    assert_eq!(
        apps.as_array().unwrap().len(),
        40,
        "no duplicates, nothing missing"
    );
}

#[tokio::test]
async fn kubernetes_configmap_symlink_swaps_are_seen() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    std::fs::create_dir_all(mount.join("..2026_11_27_v1")).unwrap();
    std::fs::write(
        mount.join("..2026_11_27_v1/shop.yaml"),
        app_yaml("shop", "Shop", "v1"),
    )
    .unwrap();
    // The kubelet's layout: ..data → a timestamped directory; each key a symlink via ..data.
    symlink("..2026_11_27_v1", mount.join("..data")).unwrap();
    symlink("..data/shop.yaml", mount.join("shop.yaml")).unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let _daemon = Daemon::start(
        &dir.path().join("state"),
        &server,
        &["--interval", "1h", mount.to_str().unwrap()],
    );
    eventually("v1 is live", || async {
        live_app(&api, "Shop")
            .await
            .filter(|a| a["app_description"] == "v1")
    })
    .await;

    // An update: a new timestamped directory, a new ..data link renamed over the old one.
    std::fs::create_dir_all(mount.join("..2026_11_27_v2")).unwrap();
    std::fs::write(
        mount.join("..2026_11_27_v2/shop.yaml"),
        app_yaml("shop", "Shop", "v2"),
    )
    .unwrap();
    symlink("..2026_11_27_v2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_11_27_v1")).unwrap();
    eventually("v2 is live after the swap", || async {
        live_app(&api, "Shop")
            .await
            .filter(|a| a["app_description"] == "v2")
    })
    .await;
}
