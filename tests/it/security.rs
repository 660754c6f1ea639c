//! The security review's holes, each as the attack: hostile manifests from a pull request,
//! credentials in git URLs, live data planted through the API, YAML and file-system bombs,
//! stalled git remotes, file modes under a permissive umask, unsigned hooks, amplified error
//! bodies, and a state pointed at another tenant. Each test asserts the refusal, its message,
//! and that nothing was written or leaked.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fault_proxy::{FaultProxy, Hold};
use crate::harness::{
    bin, eventually, get_text, hmac_sha256_hex, output_text, signal, spawn_daemon, Api, KillOnDrop,
    ServeOptions, Server, Workspace,
};

const CANARY: &str = "canary-4f1d9c7e2b";

type Setup = Workspace;

fn text(o: &Output) -> String {
    output_text(o)
}

fn app(key: &str, extra: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {key}}}\nspec:\n  app_name: {key}\n{extra}  clients:\n    - {{name: Web, redirect_uris: ['https://{key}.example.com/cb']}}\n"
    )
}

// ----- H1: hostile manifests from a pull request -------------------------------------------

#[tokio::test]
async fn h1_a_pull_request_cannot_read_the_credential_or_any_file() {
    let s = Setup::new();
    let outside = s.dir.path().join("outside.txt");
    std::fs::write(&outside, CANARY).unwrap();
    std::os::unix::fs::symlink(&outside, s.manifests().join("link.txt")).unwrap();
    s.write(
        "attack.yaml",
        &app(
            "attack",
            "  app_description: \"${env:TENANTSYNC_CLIENT_SECRET}\"\n  login_uri: \"https://x/${env:DEPLOY_TOKEN}\"\n  invite_member_uri: \"${file:/etc/passwd}\"\n  subdomain: \"${file:../outside.txt}\"\n  logo: \"${file:link.txt}\"\n",
        ),
    );
    let mut cmd = s.command(&s.server.base, &["plan", "--format", "markdown"]);
    let out = cmd
        .arg(s.manifests())
        .env("DEPLOY_TOKEN", CANARY)
        .env("TENANTSYNC_CLIENT_SECRET", {
            // The real credential, as the PR job would have it.
            s.server.admin_credentials().1
        })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    let file = s.manifests().join("attack.yaml");
    let f = file.display();
    for expected in [
        format!("{f}:6:20: spec.app_description: `${{env:TENANTSYNC_CLIENT_SECRET}}`: refused: tenantsync's own variables (TENANTSYNC_*) are never readable from a manifest"),
        format!("{f}:7:14: spec.login_uri: `${{env:DEPLOY_TOKEN}}`: refused: the name looks like a secret; allow it with --env-allow DEPLOY_TOKEN (or TENANTSYNC_ENV_ALLOW)"),
        "spec.invite_member_uri: cannot read `/etc/passwd` (referenced as ${file:/etc/passwd}): refused: it is outside the manifest root (symlinks resolved); allow a directory with --allow-file-dir".to_owned(),
        "spec.subdomain: cannot read".to_owned(),
        "spec.logo: cannot read".to_owned(),
    ] {
        assert!(shown.contains(&expected), "missing `{expected}` in:\n{shown}");
    }
    assert_eq!(
        shown.matches("outside the manifest root").count(),
        3,
        "{shown}"
    );
    for secret in [CANARY.to_owned(), s.server.admin_credentials().1] {
        assert!(!shown.contains(&secret), "leaked: {shown}");
    }
    assert!(!shown.contains("root:x:0:0"), "leaked /etc/passwd");
    assert!(s.live_apps().await.is_empty(), "nothing was written");
    assert!(!s.state_dir().exists(), "plan writes no state");

    // Allowed explicitly, a secret-looking variable resolves, and is never shown.
    s.write(
        "attack.yaml",
        &app("attack", "  app_description: \"${env:DEPLOY_TOKEN}\"\n"),
    );
    let mut cmd = s.command(&s.server.base, &["plan", "--env-allow", "DEPLOY_*"]);
    let out = cmd
        .arg(s.manifests())
        .env("DEPLOY_TOKEN", CANARY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(CANARY), "{}", text(&out));
    assert!(text(&out).contains("(sensitive)"), "{}", text(&out));
}

// ----- H2: credentials in the git URL ------------------------------------------------------

#[tokio::test]
async fn h2_a_token_in_the_git_url_never_shows() {
    let s = Setup::new();
    // A remote that refuses connections: every fetch fails and is reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("https://x-access-token:{CANARY}@127.0.0.1:{port}/org/repo.git");
    let log = s.dir.path().join("sync.log");
    let mut cmd = s.command(
        &s.server.base,
        &[
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--git",
            &url,
            "--poll",
            "200ms",
            "--git-timeout",
            "5s",
        ],
    );
    cmd.env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let (mut child, listen) = spawn_daemon(cmd);
    let http = reqwest::Client::new();
    let get = |path: &'static str| get_text(&http, format!("{listen}{path}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = get("/status").await;
        let v: Value = serde_json::from_str(&status).unwrap();
        if v["failed_fetches"].as_u64().unwrap_or(0) >= 3 {
            break status;
        }
        assert!(Instant::now() < deadline, "no failed fetches: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ready = http.get(format!("{listen}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("git fetches failed"));
    let metrics = get("/metrics").await;
    signal(child.id() as libc::pid_t, libc::SIGTERM);
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let logs = std::fs::read_to_string(&log).unwrap();
    let history = Command::new(bin())
        .arg("--state-dir")
        .arg(s.state_dir())
        .args(["history", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        status.contains(&format!("https://127.0.0.1:{port}/org/repo.git")),
        "{status}"
    );
    for (what, body) in [
        ("/status", status.as_str()),
        ("/metrics", metrics.as_str()),
        ("logs", logs.as_str()),
        ("history", &String::from_utf8_lossy(&history.stdout)),
    ] {
        assert!(!body.contains(CANARY), "{what} shows the token:\n{body}");
    }
    assert!(
        logs.contains("pass them with --git-credentials-file"),
        "{logs}"
    );
}

// ----- H3: live data planted through the API -----------------------------------------------

#[tokio::test]
async fn h3_a_reference_planted_in_live_data_is_exported_escaped_and_never_interpolated() {
    let s = Setup::new();
    let api = s.api().await;
    api.create_app(&json!({"app_name": "Planted", "client_display_name": "Web",
        "app_description": "${env:HOME} and ${file:/dev/zero}",
        "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    let out_dir = s.manifests().join("exported");
    let mut cmd = s.command(
        &s.server.base,
        &["export", "--out", out_dir.to_str().unwrap()],
    );
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let exported = std::fs::read_to_string(out_dir.join("planted.yaml")).unwrap();
    assert!(
        exported.contains("$${env:HOME} and $${file:/dev/zero}"),
        "{exported}"
    );
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(
        !text(&out).contains(&home) || home.len() < 3,
        "{}",
        text(&out)
    );
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live = s.live_apps().await;
    assert_eq!(
        live[0]["app_description"],
        "${env:HOME} and ${file:/dev/zero}"
    );
}

// ----- M1: saved plans and secret values -----------------------------------------------------

/// Saves the plan of the manifests made with the secret in `SHOP_SECRET_NOTE`: its file, the
/// command's output, and the file's text, which never holds the secret.
fn saved_plan_with_secret(s: &Setup) -> (PathBuf, Output, String) {
    let plan = s.dir.path().join("plan.json");
    let out = with_secret(s, &["plan", "--out", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved = std::fs::read_to_string(&plan).unwrap();
    assert!(!saved.contains(CANARY), "the plan file holds the secret");
    (plan, out, saved)
}

/// Runs tenantsync `args` on the manifests with the secret in `SHOP_SECRET_NOTE`, allowed for
/// them.
fn with_secret(s: &Setup, args: &[&str]) -> Output {
    let mut cmd = s.command(&s.server.base, args);
    cmd.args(["--env-allow", "SHOP_*"])
        .arg(s.manifests())
        .env("SHOP_SECRET_NOTE", CANARY)
        .output()
        .unwrap()
}

#[tokio::test]
async fn m1_a_saved_plan_sends_the_secret_not_the_placeholder() {
    let s = Setup::new();
    s.write(
        "shop.yaml",
        &app(
            "shop",
            "  app_description: \"${env:SHOP_SECRET_NOTE}\"\n  refresh_token_invalidation_trigger_configuration: {invalidateOnMemberPasswordReset: false}\n",
        ),
    );
    let (plan, out, _) = saved_plan_with_secret(&s);
    let plan_path = plan.to_str().unwrap();
    // A flag whose name mentions a password is not a secret: reviewers see it.
    assert!(
        text(&out).contains("invalidateOnMemberPasswordReset"),
        "{}",
        text(&out)
    );
    let out = with_secret(&s, &["apply", "--yes", "--plan", plan_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(CANARY));
    let live = s.live_apps().await;
    assert_eq!(
        live[0]["app_description"], CANARY,
        "the real value was sent"
    );
    assert_eq!(
        live[0]["refresh_token_invalidation_trigger_configuration"]
            ["invalidateOnMemberPasswordReset"],
        false
    );
    // Drift in the flag is seen (it is not hidden behind a hash).
    let id = live[0]["app_id"].as_str().unwrap();
    s.api()
        .await
        .put(
            &format!("/v1/applications/{id}"),
            &json!({"refresh_token_invalidation_trigger_configuration": {"invalidateOnMemberPasswordReset": true}}),
        )
        .await;
    let mut cmd = s.command(
        &s.server.base,
        &["plan", "--env-allow", "SHOP_*", "--detailed-exitcode"],
    );
    let out = cmd
        .arg(s.manifests())
        .env("SHOP_SECRET_NOTE", CANARY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("drift"), "{}", text(&out));
}

// ----- M2: prune and the clients that go with an application ---------------------------------

#[tokio::test]
async fn m2_deleting_an_app_counts_and_names_the_clients_it_takes() {
    let s = Setup::new();
    s.write("keep.yaml", &app("keep", ""));
    s.write("gone.yaml", &app("gone", ""));
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Someone adds two clients to `gone` in the portal.
    let api = s.api().await;
    let gone = s
        .live_apps()
        .await
        .into_iter()
        .find(|a| a["app_name"] == "gone")
        .unwrap();
    let id = gone["app_id"].as_str().unwrap();
    for name in ["Portal A", "Portal B"] {
        api.create_client(id, &json!({"name": name, "redirect_uris": []}))
            .await;
    }
    std::fs::remove_file(s.manifests().join("gone.yaml")).unwrap();
    // 1 app + 3 clients = 4 objects, over a limit of 3 (hand-made clients go only with
    // --allow-cascade: see review24_plandoc; here the count is what is tested).
    let out = s.run(&[
        "apply",
        "--yes",
        "--prune",
        "--allow-cascade",
        "--max-deletes",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the plan deletes 4 objects, more than --max-deletes 3"),
        "{}",
        text(&out)
    );
    assert_eq!(s.live_apps().await.len(), 2, "nothing was deleted");
    let out = s.run(&["plan", "--prune", "--allow-cascade", "--max-deletes", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "deletes its 3 client(s) with it, 2 of them not managed by tenantsync: `Portal A`"
        ),
        "{}",
        text(&out)
    );
}

// ----- M3: bombs ------------------------------------------------------------------------------

#[tokio::test]
async fn m3_alias_bombs_symlink_loops_devices_and_huge_files_are_refused() {
    let s = Setup::new();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9u8 {
        let (prev, this) = ((b'a' + level - 1) as char, (b'a' + level) as char);
        bomb.push_str(&format!("{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let attack = |name: &str| {
        let dir = s.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let bomb_dir = attack("bomb");
    std::fs::write(bomb_dir.join("bomb.yaml"), &bomb).unwrap();
    let loop_dir = attack("loop");
    std::fs::write(loop_dir.join("shop.yaml"), app("shop", "")).unwrap();
    std::fs::create_dir_all(loop_dir.join("nested")).unwrap();
    std::os::unix::fs::symlink("..", loop_dir.join("nested/loop")).unwrap();
    let device_dir = attack("device");
    std::fs::write(
        device_dir.join("device.yaml"),
        app("device", "  app_description: \"${file:/dev/zero}\"\n"),
    )
    .unwrap();
    let big_dir = attack("big");
    std::fs::write(big_dir.join("big.yaml"), vec![b'#'; 5 * 1024 * 1024 + 1]).unwrap();
    let started = Instant::now();
    for (dir, expected) in [
        (&bomb_dir, "aliases in this file expand to more than 100000 nodes (nested aliases?); refused"),
        (&loop_dir, "(a symlink loop, or a second path to it); remove the link"),
        (&device_dir, "cannot read `/dev/zero` (referenced as ${file:/dev/zero}): refused: it is outside the manifest root"),
        (&big_dir, "the file is larger than 5 MiB; refused"),
    ] {
        let mut cmd = s.command(&s.server.base, &["validate"]);
        let out = cmd.arg(dir).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(expected), "missing `{expected}` in:\n{}", text(&out));
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it did not hang"
    );
    // Inside an allowed directory, a device is still not a regular file.
    let mut cmd = s.command(&s.server.base, &["validate", "--allow-file-dir", "/dev"]);
    let out = cmd.arg(device_dir.join("device.yaml")).output().unwrap();
    assert!(
        text(&out).contains("refused: not a regular file"),
        "{}",
        text(&out)
    );
}

// ----- M4: a stalled git remote ------------------------------------------------------------

#[tokio::test]
async fn m4_a_stalled_git_remote_is_killed_and_sigterm_is_prompt() {
    let s = Setup::new();
    // Accepts connections, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut cmd = s.command(
        &s.server.base,
        &[
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--git",
            &format!("http://127.0.0.1:{port}/repo.git"),
            "--git-timeout",
            "1s",
        ],
    );
    cmd.stderr(Stdio::null());
    let (mut child, listen) = spawn_daemon(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = reqwest::get(format!("{listen}/status"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["errors"]
            .to_string()
            .contains("no answer within 1s (--git-timeout); killed")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM while a fetch hangs: the daemon still exits at once.
    let stop = Instant::now();
    signal(child.id() as libc::pid_t, libc::SIGTERM);
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        stop.elapsed() < Duration::from_secs(10),
        "{:?}",
        stop.elapsed()
    );
    drop(silent);
}

// ----- M6: file modes whatever the umask ----------------------------------------------------

fn modes_under(dir: &Path, out: &mut Vec<(PathBuf, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::symlink_metadata(&path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        out.push((path.clone(), mode));
        if path.is_dir() {
            modes_under(&path, out);
        }
    }
}

#[tokio::test]
async fn m6_state_and_data_are_private_under_umask_022() {
    let s = Setup::new();
    s.write("shop.yaml", &app("shop", ""));
    let (id, secret) = s.server.admin_credentials();
    let state = s.dir.path().join("umask-state");
    let data = s.dir.path().join("umask-data");
    let shell = format!(
        "umask 022 && exec \"$0\" --state-dir '{}' apply --yes '{}'",
        state.display(),
        s.manifests().display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .arg(bin())
        .env("TENANTSYNC_CLIENT_ID", &id)
        .env("TENANTSYNC_CLIENT_SECRET", &secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The server's data directory too (token signing key, client secrets).
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "umask 022 && exec \"$0\" serve --listen 127.0.0.1:0 --data '{}'",
            data.display()
        ))
        .arg(bin())
        .stderr(Stdio::null());
    let (mut serve, _) = spawn_daemon(cmd);
    serve.kill().unwrap();
    serve.wait().unwrap();
    for dir in [&state, &data] {
        let top = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(top, 0o700, "{}", dir.display());
        let mut modes = Vec::new();
        modes_under(dir, &mut modes);
        assert!(modes.len() > 3, "{modes:?}");
        for (path, mode) in modes {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        }
    }
}

// ----- M8: hooks ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m8_hooks_must_be_signed_and_bursts_coalesce() {
    let s = Setup::new();
    s.write("shop.yaml", &app("shop", ""));
    let secret_file = s.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "hook-secret-value\n").unwrap();
    // The daemon's first round is held at the proxy (past the point where a round takes in
    // the hooks that queued before it) while the hooks arrive: they all queue for one round.
    let proxy = FaultProxy::start(s.upstream(), 0).await;
    proxy.hold(Hold::Requests("GET /cis/v1/".to_owned()));
    let mut cmd = s.command(
        &format!("http://{}/cis", proxy.addr),
        &[
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1h",
            "--webhook-secret-file",
            secret_file.to_str().unwrap(),
        ],
    );
    cmd.arg(s.manifests()).stderr(Stdio::null());
    let (child, listen) = spawn_daemon(cmd);
    let mut child = KillOnDrop(child);
    proxy.held(1).await;
    let http = reqwest::Client::new();
    let reconciles = || {
        let (http, listen) = (http.clone(), listen.clone());
        async move {
            let metrics = get_text(&http, format!("{listen}/metrics")).await;
            tenantsync::telemetry::prometheus::sample(
                &metrics,
                "tenantsync_sync_reconciles_total",
                &[("result", "success"), ("trigger", "hook")],
            )
            .unwrap_or(0.0)
        }
    };
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let post = |headers: Vec<(&'static str, String)>| {
        let (http, listen, body) = (http.clone(), listen.clone(), body.clone());
        async move {
            let mut req = http.post(format!("{listen}/hooks/sync")).body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(post(vec![]).await, 401, "unsigned");
    assert_eq!(
        post(vec![(
            "x-hub-signature-256",
            format!("sha256={}", "00".repeat(32))
        )])
        .await,
        401,
        "wrongly signed"
    );
    assert_eq!(post(vec![("x-gitlab-token", "guess".into())]).await, 401);
    assert_eq!(
        reconciles().await,
        0.0,
        "no refused hook triggered anything"
    );
    let signature = hmac_sha256_hex(b"hook-secret-value", &body);
    // A burst of twenty signed hooks at once, all while the first round runs: one reconcile.
    let burst = (0..20).map(|_| post(vec![("x-hub-signature-256", format!("sha256={signature}"))]));
    for status in futures::future::join_all(burst).await {
        assert_eq!(status, 202);
    }
    proxy.release_all();
    let n = eventually("the signed hooks trigger a reconcile", || async {
        let n = reconciles().await;
        (n >= 1.0).then_some(n)
    })
    .await;
    // That round began after every hook had arrived and took them all in: nothing more is
    // queued, so the count is final.
    assert_eq!(n, 1.0, "{n} reconciles for one burst");
    assert!(s.live_apps().await.iter().any(|a| a["app_name"] == "shop"));
    // GitLab's token works as well.
    assert_eq!(
        post(vec![("x-gitlab-token", "hook-secret-value".into())]).await,
        202
    );
    let after = eventually("the GitLab hook triggers a reconcile", || async {
        let after = reconciles().await;
        (after > n).then_some(after)
    })
    .await;
    assert_eq!(after, 2.0, "one reconcile for one hook");
    signal(child.0.id() as libc::pid_t, libc::SIGTERM);
    child.0.wait().unwrap();

    // Listening beyond loopback without a secret: hooks are closed.
    let mut cmd = s.command(
        &s.server.base,
        &["sync", "--listen", "0.0.0.0:0", "--interval", "1h"],
    );
    cmd.arg(s.manifests()).stderr(Stdio::null());
    let (mut child, listen) = spawn_daemon(cmd);
    let port = listen.rsplit(':').next().unwrap().to_owned();
    let status = http
        .post(format!("http://127.0.0.1:{port}/hooks/sync"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
    signal(child.id() as libc::pid_t, libc::SIGTERM);
    child.wait().unwrap();
}

// ----- M9: amplified error bodies -------------------------------------------------------------

#[tokio::test]
async fn m9_a_one_megabyte_body_gets_a_bounded_answer() {
    let s = Setup::new();
    let api = s.api().await;
    let app = api
        .create_app(&json!({"app_name": "A", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    let id = app["app_id"].as_str().unwrap();
    let prompts: Vec<&str> = vec!["x"; 200_000];
    let r = api
        .post(
            &format!("/v1/applications/{id}/clients"),
            &json!({"name": "n", "redirect_uris": [], "supported_prompts": prompts}),
        )
        .await;
    assert_eq!(r.status, 400);
    let messages = r.messages();
    assert_eq!(messages.len(), 101, "{:?}", &messages[..3]);
    assert!(messages[100].starts_with("… and "), "{}", messages[100]);
    assert!(r.text.len() < 20_000, "{} bytes", r.text.len());
    // A huge unknown key: no suggestion is computed for it.
    let key = "k".repeat(500_000);
    let r = api
        .post(
            &format!("/v1/applications/{id}/clients"),
            &json!({"name": "n", "redirect_uris": [], key: 1}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.text.contains("did you mean"));
}

/// A client created beside its application's default client, with a value read from the
/// environment: the saved plan shows it as `(sensitive)`, and apply sends the real value, given
/// back from the manifests by the rule every kind's saved bodies follow.
#[tokio::test]
async fn m1_a_saved_plan_sends_a_new_clients_secret_not_the_placeholder() {
    let s = Setup::new();
    s.write(
        "shop.yaml",
        &format!(
            "{}    - {{name: Admin, redirect_uris: ['https://shop.example.com/admin'], description: \"${{env:SHOP_SECRET_NOTE}}\"}}\n",
            app("shop", "")
        ),
    );
    let (plan, _, saved) = saved_plan_with_secret(&s);
    let plan_path = plan.to_str().unwrap();
    assert!(saved.contains("(sensitive)"), "{saved}");
    let out = with_secret(&s, &["apply", "--yes", "--plan", plan_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(CANARY));
    let id = s.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = s
        .api()
        .await
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json();
    let admin = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Admin")
        .expect("Admin created");
    assert_eq!(admin["description"], CANARY, "the real value was sent");
}

// ----- M10: a state pointed at another tenant ---------------------------------------------------

#[tokio::test]
async fn m10_a_state_is_refused_against_another_tenant_unless_rebound() {
    let s = Setup::new();
    s.write("shop.yaml", &app("shop", ""));
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A second tenant, already holding an app of the same name.
    let other = Server::start(&s.dir.path().join("other"));
    let other_api = other.api(&other.admin_token().await);
    other_api
        .create_app(&json!({"app_name": "shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    let run_other = |args: &[&str]| {
        other
            .cli(&s.state_dir(), &other.base)
            .args(args)
            .arg(s.manifests())
            .output()
            .unwrap()
    };
    for args in [&["plan"][..], &["apply", "--yes"][..]] {
        let out = run_other(args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("refused: this state belongs to {}", s.server.base)),
            "{}",
            text(&out)
        );
        assert!(text(&out).contains("--rebind-target"), "{}", text(&out));
    }
    let count = |api: &Api| {
        let api = api.clone();
        async move {
            api.get("/v1/applications").await.json()["result"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(&other_api).await, 1, "nothing was created there");
    // Rebound: the existing app is adopted by name, nothing is duplicated.
    let out = run_other(&["apply", "--yes", "--rebind-target"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("adopt"), "{}", text(&out));
    assert_eq!(count(&other_api).await, 1);
    let out = run_other(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // And now the first tenant is the other one.
    let out = s.run(&["plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

// ----- M2 (watch mode): no prune from a tree that is being written -------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m2_the_daemon_prunes_nothing_while_the_tree_keeps_changing() {
    let s = Setup::new();
    s.write("keep.yaml", &app("keep", ""));
    s.write("gone.yaml", &app("gone", ""));
    let proxy = FaultProxy::start(s.upstream(), 0).await;
    let mut cmd = s.command(
        &format!("http://{}/cis", proxy.addr),
        &[
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--prune",
            "--interval",
            "1h",
        ],
    );
    cmd.arg(s.manifests()).stderr(Stdio::null());
    let (child, _) = spawn_daemon(cmd);
    let mut child = KillOnDrop(child);
    let live_id = |name: &'static str| {
        let s = &s;
        async move {
            s.live_apps()
                .await
                .iter()
                .find(|a| a["app_name"] == name)
                .map(|a| a["app_id"].as_str().unwrap().to_owned())
        }
    };
    eventually("keep is live", || live_id("keep")).await;
    let gone = eventually("gone is live", || live_id("gone")).await;
    // A checkout in progress, in lockstep with the daemon: each round that could delete
    // `gone` reads it first, and that read is held until the tree has changed again. So no
    // two reads of the manifests ever find the same tree, however slow either side is.
    proxy.hold(Hold::Requests(format!("GET /cis/v1/applications/{gone} ")));
    std::fs::remove_file(s.manifests().join("gone.yaml")).unwrap();
    let removed = Instant::now();
    let quiet = tenantsync::daemon::decide::PRUNE_QUIET;
    let mut rounds = 0;
    while rounds < 5 || removed.elapsed() < quiet * 2 {
        let pruned = || async { live_id("gone").await.is_none().then_some(()) };
        tokio::select! {
            () = proxy.held(rounds + 1) => {}
            () = eventually("a prune", pruned) => {
                panic!("pruned from a tree that was being written (after {rounds} rounds)")
            }
        }
        rounds += 1;
        s.write(
            "keep.yaml",
            &app("keep", &format!("  app_description: v{rounds}\n")),
        );
        proxy.release(1);
    }
    // The tree settles: the deletion goes through.
    proxy.release_all();
    eventually("pruned once the tree settled", || async {
        live_id("gone").await.is_none().then_some(())
    })
    .await;
    assert!(live_id("keep").await.is_some());
    signal(child.0.id() as libc::pid_t, libc::SIGTERM);
    child.0.wait().unwrap();
}

// ----- HTTP client: no redirect is followed ---------------------------------------------------

#[tokio::test]
async fn a_redirect_to_another_origin_carries_nothing_there() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Setup::new();
    s.write("shop.yaml", &app("shop", ""));
    // The "other origin": records whatever reaches it.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = elsewhere.local_addr().unwrap();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = elsewhere.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf).await;
        }
    });
    // The target: redirects everything there.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = target.accept().await {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{elsewhere_addr}/steal\r\ncontent-length: 0\r\n\r\n"
            );
            let _ = c.write_all(response.as_bytes()).await;
        }
    });
    let mut cmd = s.command(&format!("http://{target_addr}/cis"), &["plan"]);
    let out = tokio::task::spawn_blocking(move || cmd.arg("manifests").output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("HTTP 307"), "{}", text(&out));
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a request (and its credentials) went to the other origin"
    );
}

// ----- M7: what tokens may do --------------------------------------------------------------

#[tokio::test]
async fn m7_app_tokens_are_least_privilege_and_management_tokens_follow_their_credential() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.yaml");
    std::fs::write(
        &creds,
        "- {client_id: ops, client_secret: ops-secret-0123456789abcdef, permissions: [apps:list, apps:read, apps:create, apps:edit, apps:delete]}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    // The server on `data`, accepting the credentials file as it is now.
    let start_with_credentials = |data: &Path, creds: &Path| {
        Server::start_with(
            data,
            ServeOptions::with_args(vec!["--credentials".into(), creds.display().to_string()]),
        )
    };
    let mut server = start_with_credentials(&data, &creds);
    let admin = server.api(&server.admin_token().await);
    let (app, web) = admin.create_mobile_app_with_web().await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    // The secret of a native client (as shipped in a mobile binary) reads, and nothing more.
    let ios = app["client_id"].as_str().unwrap();
    let ios_secret = app["client_secret"].as_str().unwrap();
    let app_api = server.api(&server.token_for(ios, ios_secret).await);
    assert_eq!(
        app_api
            .get(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        200
    );
    let web_id = web["client_id"].as_str().unwrap();
    assert_eq!(
        app_api
            .put(
                &format!("/v1/clients/{web_id}"),
                &json!({"redirect_uris": ["https://evil.example/cb"]})
            )
            .await
            .status,
        403,
        "rewrote a sibling's redirect URIs"
    );
    assert_eq!(
        app_api
            .delete(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        403
    );
    assert_eq!(
        app_api
            .post(
                "/v1/clients",
                &json!({"name": "Extra", "redirect_uris": []})
            )
            .await
            .status,
        403
    );
    // A management token issued before its credential was narrowed is narrowed with it.
    let ops = server.api(&server.token_for("ops", "ops-secret-0123456789abcdef").await);
    server.terminate();
    std::fs::write(
        &creds,
        "- {client_id: ops, client_secret: ops-secret-0123456789abcdef, permissions: [apps:list, apps:read]}\n",
    )
    .unwrap();
    let server = start_with_credentials(&data, &creds);
    let ops = Api {
        base: server.base.clone(),
        ..ops
    };
    assert_eq!(ops.get("/v1/applications").await.status, 200);
    assert_eq!(
        ops.delete(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        403
    );
    // Removed altogether: its tokens stop working.
    let mut server = server;
    server.terminate();
    std::fs::write(&creds, "[]\n").unwrap();
    let server = start_with_credentials(&data, &creds);
    let ops = Api {
        base: server.base.clone(),
        ..ops
    };
    let r = ops.get("/v1/applications").await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Guessing secrets is throttled per client id.
    let http = reqwest::Client::new();
    let try_token = |secret: &'static str| {
        let (http, origin) = (http.clone(), server.origin.clone());
        async move {
            let r = http
                .post(format!("{origin}/oidc/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "ops"),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers().get("retry-after").is_some(),
            )
        }
    };
    for _ in 0..10 {
        assert_eq!(try_token("wrong").await.0, 400);
    }
    assert_eq!(try_token("wrong").await, (429, true));
}
