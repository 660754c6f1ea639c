//! Issue 24, credential delivery and what tenantsync shows of URLs, against the real binary and
//! server: `--credentials-out` into a directory prepared by another user (the review's N-C1,
//! N-C2, N-C4 and a 0777 directory) is refused with nothing written, clobbered or deleted; a
//! `--credentials-exec` timeout kills the command's whole process group; the command line
//! (which may hold a token) never reaches the state; the Kubernetes delivery script keeps
//! clients whose names slug alike apart; a target URL's userinfo is never shown.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    output_text, run_kube_hook, serve_in_background, spawn_daemon, status_until, Workspace,
    SHOP_WEB,
};

/// The `nobody` account plays the local attacker (the tests run as root, as the review did).
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Gives `path` to `nobody` (when running as root; otherwise it stays ours and only the mode
/// makes it unsafe).
fn give_to_nobody(path: &Path) {
    if is_root() {
        std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `apply --yes --credentials-out DIR` (plus `extra`) on the workspace's manifests.
fn apply_out(ws: &Workspace, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--yes", "--credentials-out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    ws.run(&args)
}

/// The live `client_secret` of `Client/shop/Web`.
async fn web_secret(ws: &Workspace) -> String {
    let apps = ws.live_apps().await;
    let app = apps.iter().find(|a| a["app_name"] == "Shop").unwrap();
    let id = app["app_id"].as_str().unwrap();
    let clients = ws
        .api()
        .await
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json();
    clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Web")
        .unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `done` every 50 ms for up to 30 s; whether it came true.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// N-C1: the attacker pre-creates `DIR/shop` (0777, theirs) and the temp name the daemon used
/// to write through (`.Web.json.<pid>.tmp`, 0666, theirs). The daemon now refuses the directory
/// and names the fix; the attacker's file stays empty and no credential file appears.
#[tokio::test]
async fn n_c1_an_app_directory_prepared_by_another_user_is_refused() {
    let ws = Workspace::new();
    let out = ws.dir.path().join("creds");
    mkdir(&out, 0o700);
    let log = ws.dir.path().join("daemon.log");
    let mut cmd = ws.delivering_sync(&out);
    cmd.env("RUST_LOG", "warn")
        .stderr(std::fs::File::create(&log).unwrap());
    let (mut daemon, _url) = spawn_daemon(cmd);
    let shop = out.join("shop");
    mkdir(&shop, 0o777);
    give_to_nobody(&shop);
    let planted = shop.join(format!(".Web.json.{}.tmp", daemon.id()));
    std::fs::write(&planted, "").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    give_to_nobody(&planted);

    ws.write("shop.yaml", SHOP_WEB);
    let refused = eventually(|| {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("credential delivery failed"))
    })
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(refused, "no delivery failure was logged: {text}");
    let why = if is_root() {
        format!("owned by uid {NOBODY}")
    } else {
        "other users can write to it".to_owned()
    };
    assert!(
        text.contains(&why) && text.contains(shop.to_str().unwrap()),
        "{text}"
    );
    assert_eq!(
        names_in(&shop),
        vec![planted.file_name().unwrap().to_string_lossy().into_owned()],
        "nothing was written into the attacker's directory"
    );
    assert_eq!(
        std::fs::read(&planted).unwrap(),
        b"",
        "the planted file got nothing"
    );
    let secret = web_secret(&ws).await;
    assert!(!text.contains(&secret));
}

/// N-C2: a temp-like name and the credential's own name are links to a root-owned 0644 file.
/// In a directory of another user the write is refused; in our own directory the links are
/// never followed: the credential file replaces the link at its name and neither target
/// changes.
#[tokio::test]
async fn n_c2_links_at_the_temp_and_file_names_are_never_followed() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    let out = ws.dir.path().join("creds");
    let shop = out.join("shop");
    mkdir(&shop, 0o755);
    mkdir(&out, 0o700);
    let victim = ws.dir.path().join("victim.conf");
    let victim2 = ws.dir.path().join("victim2.conf");
    for v in [&victim, &victim2] {
        std::fs::write(v, "root's own\n").unwrap();
        std::fs::set_permissions(v, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // Every temp name the old code could have used for this run's pid range, and the file's own.
    for pid in 0..64 {
        let _ = std::os::unix::fs::symlink(&victim, shop.join(format!(".Web.json.{pid}.tmp")));
    }
    std::os::unix::fs::symlink(&victim2, shop.join("Web.json")).unwrap();

    if is_root() {
        give_to_nobody(&shop);
        let refused = apply_out(&ws, &out, &[]);
        let text = output_text(&refused);
        assert!(
            text.contains(&format!("owned by uid {NOBODY}")) && text.contains("chown"),
            "{text}"
        );
        assert!(std::fs::symlink_metadata(shop.join("Web.json"))
            .unwrap()
            .is_symlink());
        std::os::unix::fs::lchown(&shop, Some(0), Some(0)).unwrap();
    }

    let applied = apply_out(&ws, &out, &[]);
    let text = output_text(&applied);
    assert!(text.contains("Credentials: 1 delivered"), "{text}");
    let secret = web_secret(&ws).await;
    for v in [&victim, &victim2] {
        assert_eq!(std::fs::read_to_string(v).unwrap(), "root's own\n");
        assert_eq!(mode(v), 0o644);
    }
    let file = shop.join("Web.json");
    assert!(!std::fs::symlink_metadata(&file).unwrap().is_symlink());
    assert_eq!(mode(&file), 0o600);
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["client_secret"], secret.as_str());
    // No temp file of ours is left behind.
    assert!(names_in(&shop).iter().all(|n| n == "Web.json"
        || std::fs::symlink_metadata(shop.join(n))
            .unwrap()
            .is_symlink()));
}

/// N-C4: `DIR/shop` is a link to another directory holding a root-owned `Web.json`. Delivery
/// through it is refused, and so is a prune after the link is swapped in for the real
/// directory: the foreign files are neither replaced nor deleted.
#[tokio::test]
async fn n_c4_an_app_directory_that_is_a_link_is_refused_for_writes_and_prunes() {
    let ws = Workspace::new();
    ws.write(
        "shop.yaml",
        &format!(
            "{SHOP_WEB}    - name: Admin\n      redirect_uris: [https://shop.example.com/admin]\n"
        ),
    );
    let out = ws.dir.path().join("creds");
    mkdir(&out, 0o700);
    let other = ws.dir.path().join("other");
    mkdir(&other, 0o700);
    for name in ["Web.json", "Admin.json"] {
        std::fs::write(other.join(name), "foreign\n").unwrap();
    }
    let shop = out.join("shop");
    std::os::unix::fs::symlink(&other, &shop).unwrap();

    let refused = apply_out(&ws, &out, &[]);
    let text = output_text(&refused);
    assert!(text.contains("is a symbolic link"), "{text}");
    assert!(text.contains("Credentials: 0 delivered"), "{text}");
    let foreign = |name: &str| std::fs::read_to_string(other.join(name)).ok();
    assert_eq!(foreign("Web.json").as_deref(), Some("foreign\n"));
    assert_eq!(names_in(&other), vec!["Admin.json", "Web.json"]);

    // The real directory: delivered.
    std::fs::remove_file(&shop).unwrap();
    let delivered = apply_out(&ws, &out, &[]);
    assert!(
        output_text(&delivered).contains("Credentials: 2 delivered"),
        "{}",
        output_text(&delivered)
    );
    assert!(shop.join("Web.json").is_file());

    // The link swapped in, then a prune of Web: nothing foreign is deleted.
    std::fs::rename(&shop, out.join("shop.real")).unwrap();
    std::os::unix::fs::symlink(&other, &shop).unwrap();
    ws.write(
        "shop.yaml",
        &SHOP_WEB.replace(
            "    - name: Web\n      redirect_uris: [https://shop.example.com/cb]\n",
            "    - name: Admin\n      redirect_uris: [https://shop.example.com/admin]\n",
        ),
    );
    let pruned = apply_out(&ws, &out, &["--prune"]);
    let text = output_text(&pruned);
    assert!(pruned.status.success(), "{text}");
    assert!(text.contains("is a symbolic link"), "{text}");
    assert_eq!(names_in(&other), vec!["Admin.json", "Web.json"]);
    assert_eq!(foreign("Web.json").as_deref(), Some("foreign\n"));
    assert_eq!(foreign("Admin.json").as_deref(), Some("foreign\n"));
}

/// M6.2: a delivery directory that is already 0777 is refused (the fix named), nothing is
/// written, and once it is fixed the next run delivers.
#[tokio::test]
async fn a_world_writable_credentials_directory_is_refused_until_fixed() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    let out = ws.dir.path().join("creds");
    mkdir(&out, 0o777);
    let refused = apply_out(&ws, &out, &[]);
    let text = output_text(&refused);
    assert!(
        text.contains("other users can write to it (mode 777)")
            && text.contains(&format!("chmod go-w {}", out.display())),
        "{text}"
    );
    assert!(names_in(&out).is_empty(), "nothing is written into it");

    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o700)).unwrap();
    let fixed = apply_out(&ws, &out, &[]);
    assert!(
        output_text(&fixed).contains("Credentials: 1 delivered"),
        "{}",
        output_text(&fixed)
    );
    assert_eq!(mode(&out.join("shop/Web.json")), 0o600);
}

/// Whether process `pid` is gone (no such process, or a zombie nobody reaped yet).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// N-E3: a command that backgrounds a child and hangs is killed at its timeout with everything
/// it started.
#[tokio::test]
async fn n_e3_an_exec_timeout_kills_the_whole_process_group() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    let pids = ws.dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let command = format!(
        "sh -c 'sleep 300 & echo $! > {p}/bg; echo $$ > {p}/sh; sleep 300'",
        p = pids.display()
    );
    let applied = ws.run(&[
        "apply",
        "--yes",
        "--credentials-exec",
        &command,
        "--credentials-exec-timeout",
        "3s",
    ]);
    let text = output_text(&applied);
    assert!(text.contains("was killed"), "{text}");
    let read = |name: &str| {
        std::fs::read_to_string(pids.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
            .trim()
            .to_owned()
    };
    let (sh, bg) = (read("sh"), read("bg"));
    let all_gone = eventually(|| gone(&sh) && gone(&bg)).await;
    assert!(
        all_gone,
        "left alive: sh {sh} ({}), sleep {bg} ({})",
        !gone(&sh),
        !gone(&bg)
    );
}

/// N-E4: a token on the command line reaches neither the state nor the output, and the
/// delivery is still recorded (the next run gives nothing again).
#[tokio::test]
async fn n_e4_the_command_line_is_not_kept_in_the_state() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    let command = "sh -c 'cat > /dev/null' sink --vault-token TOKEN-CANARY-7f3a";
    let run = || ws.run(&["apply", "--yes", "--credentials-exec", command]);
    let first = run();
    assert!(
        output_text(&first).contains("Credentials: 1 delivered"),
        "{}",
        output_text(&first)
    );
    let second = run();
    assert!(
        output_text(&second).contains("Credentials: 0 delivered"),
        "{}",
        output_text(&second)
    );
    let state = String::from_utf8_lossy(&ws.state_contents()).into_owned();
    assert!(!state.is_empty());
    assert!(
        !state.contains("TOKEN-CANARY-7f3a"),
        "the token is in the state"
    );
    for out in [&first, &second] {
        assert!(!output_text(out).contains("TOKEN-CANARY-7f3a"));
    }
}

/// K.1: the shipped Kubernetes delivery script gives `Client/a-b/c` and `Client/a/b-c` (and
/// `Web Prod` / `web-prod`) Secrets of their own.
#[tokio::test]
async fn k1_clients_whose_names_slug_alike_get_their_own_secrets() {
    use axum::extract::{Request, State};
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<String>>>;
    let seen: Seen = Arc::default();
    async fn record(State(seen): State<Seen>, request: Request) -> &'static str {
        seen.lock().unwrap().push(request.uri().path().to_owned());
        "{}"
    }
    let app = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    let addr = serve_in_background(app).await;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/kubernetes/common.yaml")).unwrap();
    let script = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| {
            let doc: serde_yaml::Value = serde::Deserialize::deserialize(d).ok()?;
            doc["data"]["deliver-secret.sh"].as_str().map(str::to_owned)
        })
        .next()
        .expect("the delivery script");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deliver-secret.sh");
    std::fs::write(&path, script).unwrap();
    let api = dir.path().join("kube-api");
    std::fs::create_dir(&api).unwrap();
    for (name, value) in [("token", "t"), ("ca.crt", ""), ("namespace", "idp")] {
        std::fs::write(api.join(name), value).unwrap();
    }
    let objects = [
        "Client/a-b/c",
        "Client/a/b-c",
        "Client/shop/Web Prod",
        "Client/shop/web-prod",
    ];
    for object in objects {
        let (path, api) = (path.clone(), api.clone());
        let event = serde_json::json!({"event": "created", "object": object, "app_id": "a",
            "client_id": "c", "client_secret": "s", "token_url": "https://idp/oidc/token"});
        let status = tokio::task::spawn_blocking(move || run_kube_hook(&path, addr, &api, &event))
            .await
            .unwrap();
        assert!(status.success(), "{object}");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), objects.len(), "{seen:?}");
    let names: std::collections::BTreeSet<&str> =
        seen.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
    assert_eq!(names.len(), objects.len(), "one Secret each: {seen:?}");
    for name in &names {
        assert!(
            name.len() <= 253
                && name.starts_with("oauth-")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !name.ends_with('-'),
            "not a valid Secret name: {name}"
        );
    }
}

/// L2.1: a target URL with userinfo: the password is never shown in any plan format, the
/// daemon's `/status` (its target and its errors) or its log. (The bundled server answers such
/// a target 401: the userinfo is sent as Basic authorization; what matters here is what is
/// shown.)
#[tokio::test]
async fn l2_1_a_target_urls_userinfo_is_never_shown() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    let base = ws
        .server
        .base
        .replacen("http://", "http://user:PW-CANARY-91@", 1);
    let shown = ws.server.base.trim_end_matches('/');
    let mut outputs = Vec::new();
    for format in ["text", "json", "markdown"] {
        let mut cmd = ws.command(&base, &["plan", "--format", format]);
        let out = cmd.arg(ws.manifests()).output().unwrap();
        outputs.push((format, output_text(&out)));
    }
    for (format, text) in &outputs {
        assert!(
            text.contains(shown),
            "{format}: the target is named: {text}"
        );
        assert!(!text.contains("PW-CANARY-91"), "{format}: {text}");
    }

    let log = ws.dir.path().join("daemon.log");
    let mut cmd = ws.command(
        &base,
        &["sync", "--listen", "127.0.0.1:0", "--interval", "300ms"],
    );
    cmd.arg(ws.manifests())
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let (mut daemon, url) = spawn_daemon(cmd);
    let status = status_until(&url, |s| {
        s["last_result"].is_string() && !s["errors"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(status["target"], shown, "{status}");
    assert!(
        status["errors"][0].as_str().unwrap().contains(shown),
        "{status}"
    );
    let status_text = status.to_string();
    assert!(!status_text.contains("PW-CANARY-91"), "{status_text}");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains(shown),
        "the log names the target: {log_text}"
    );
    assert!(!log_text.contains("PW-CANARY-91"), "{log_text}");
}

/// F5: a live `app_description` with carriage returns that a plain scalar would turn into new
/// keys (`allow_public_signup: true`, `ignore_fields`) is proposed as one escaped string: the
/// branch's manifest reads back with that description and no other key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f5_a_proposed_live_value_cannot_inject_keys() {
    use crate::harness::{bare_repo_with_shop, changed_lines, git, git_ok, spawn_proposing_daemon};
    const PAYLOAD: &str = "Shop\r  allow_public_signup:\r    true\r  ignore_fields:\r  - login_uri";
    let ws = Workspace::new();
    let bare = bare_repo_with_shop(ws.dir.path(), crate::drift::SHOP);
    let (mut daemon, _) = spawn_proposing_daemon(&ws, &bare, &[]).await;

    crate::drift::change_in_the_portal(&ws, PAYLOAD).await;
    let branch = "tenantsync/drift/application/shop";
    let pushed = eventually(|| {
        git(&bare, &["rev-parse", "--verify", branch])
            .status
            .success()
    })
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(pushed, "no proposal was pushed");
    let proposed = git_ok(&bare, &["show", &format!("{branch}:tenant/shop.yaml")]);
    assert!(!proposed.contains('\r'), "{proposed:?}");
    let doc: Value = serde_yaml::from_str(&proposed).unwrap();
    assert_eq!(doc["spec"]["app_description"], PAYLOAD, "{proposed}");
    let keys: Vec<&String> = doc["spec"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["app_name", "app_description", "clients"],
        "{proposed}"
    );
    let diff = git_ok(&bare, &["diff", "--unified=0", "main", branch]);
    let changed = changed_lines(&diff).len();
    assert_eq!(changed, 2, "one line out, one in: {diff}");
}
