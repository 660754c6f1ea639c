//! Issue 24, manifests (security review F1, F2, F3): a value read through `--env-allow` never
//! reaches any output, identity positions refuse interpolation, a failed `application` is an
//! error and not a panic, and hostile manifest files (alias bombs across documents, deep
//! nesting, symlinks out of the root, endless files) are refused quickly.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{output_text, signal, spawn_daemon, status_until, Workspace};

const CANARY: &str = "canary-XYZ-7d41";

/// The canary as a client name, as a Client document's application and name.
const IDENTITY_ATTEMPTS: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: \"${env:SECRET_CANARY}\"
      redirect_uris: []
---
apiVersion: tenantsync/v1
kind: Client
metadata: {name: by-application}
spec:
  application: \"${env:SECRET_CANARY}\"
  name: Extra
  redirect_uris: []
---
apiVersion: tenantsync/v1
kind: Client
metadata: {name: by-name}
spec:
  application: shop
  name: \"x-${env:SECRET_CANARY}\"
  redirect_uris: []
";

/// The canary inside a (native, custom-scheme) redirect URI and the app's login URI: valid.
const IN_VALUES: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  login_uri: \"https://shop.example.com/${env:SECRET_CANARY}\"
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: Mobile
      client_type: native
      token_endpoint_auth_method: none
      redirect_uris: [\"zz.zzqq:/${env:SECRET_CANARY}\"]
";

/// `tenantsync ARGS… MANIFESTS` with the canary in the environment and allowed.
fn run(ws: &Workspace, args: &[&str]) -> Output {
    let mut cmd = ws.command(&ws.server.base, args);
    cmd.args(["--env-allow", "SECRET_*"])
        .env("SECRET_CANARY", CANARY)
        .arg(ws.manifests());
    cmd.output().unwrap()
}

fn assert_no_canary(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{what} shows the canary:\n{text}");
}

const OUTPUTS: [&[&str]; 9] = [
    &["validate"],
    &["validate", "--format", "json"],
    &["plan"],
    &["plan", "--format", "markdown"],
    &["plan", "--format", "json"],
    &["lint"],
    &["lint", "--format", "json"],
    &["lint", "--format", "sarif"],
    &["lint", "--format", "markdown"],
];

#[tokio::test]
async fn a_canary_in_an_identity_position_is_refused_and_never_shown() {
    let ws = Workspace::new();
    ws.write("shop.yaml", IDENTITY_ATTEMPTS);
    for args in OUTPUTS {
        let out = run(&ws, args);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert_no_canary(&format!("{args:?}"), &text);
        assert_eq!(
            text.matches("is an identity and must be written literally")
                .count(),
            3,
            "{args:?}: every identity position is refused:\n{text}"
        );
    }
    // Each refusal is at the reference's file:line:col.
    let text = output_text(&run(&ws, &["validate"]));
    for at in ["shop.yaml:9:", "shop.yaml:16:", "shop.yaml:25:"] {
        assert!(text.contains(at), "{at} in {text}");
    }
    let plan_file = ws.dir.path().join("plan.json");
    let out = run(&ws, &["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert_no_canary("plan --out", &output_text(&out));
    assert!(!plan_file.exists());
}

#[tokio::test]
async fn a_canary_in_values_is_hidden_but_still_compared_with_the_live_value() {
    let ws = Workspace::new();
    ws.write("shop.yaml", IN_VALUES);
    for args in OUTPUTS {
        let out = run(&ws, args);
        let text = output_text(&out);
        assert_no_canary(&format!("{args:?}"), &text);
        if args[0] == "lint" {
            // The finding about the URI is still reported, without the URI.
            assert!(text.contains("TS003"), "{args:?}: {text}");
        } else {
            assert!(out.status.success(), "{args:?}: {text}");
        }
    }
    let plan = output_text(&run(&ws, &["plan"]));
    assert!(plan.contains("(sensitive)"), "{plan}");
    let plan_file = ws.dir.path().join("plan.json");
    let out = run(&ws, &["plan", "--out", plan_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_no_canary(
        "the plan file",
        &std::fs::read_to_string(&plan_file).unwrap(),
    );
    let out = run(
        &ws,
        &["apply", "--plan", plan_file.to_str().unwrap(), "--yes"],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert_no_canary("apply --plan", &output_text(&out));

    // Applied with the real value; the state keeps only hashes; a second plan is empty.
    let shop = live_shop(&ws).await;
    let wanted = format!("https://shop.example.com/{CANARY}");
    assert_eq!(shop["login_uri"], json!(wanted));
    assert_no_canary("the state", &String::from_utf8_lossy(&ws.state_contents()));
    let again = output_text(&run(&ws, &["plan"]));
    assert!(again.contains("No changes"), "{again}");

    // A live change to the interpolated field is still seen (as a sensitive change) and healed.
    let id = shop["app_id"].as_str().unwrap().to_owned();
    let reply = ws
        .api()
        .await
        .put(
            &format!("/v1/applications/{id}"),
            &json!({"login_uri": "https://portal-edit.example.com/x"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for args in [&["plan"][..], &["plan", "--format", "json"]] {
        let text = output_text(&run(&ws, args));
        assert!(text.contains("login_uri"), "{args:?}: {text}");
        assert!(!text.contains("portal-edit"), "{args:?}: {text}");
        assert_no_canary(&format!("{args:?}"), &text);
    }
    let json: Value =
        serde_json::from_slice(&run(&ws, &["plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["summary"]["update"], 1, "{json}");
    let out = run(&ws, &["apply", "--yes"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_no_canary("apply", &output_text(&out));
    assert_eq!(live_shop(&ws).await["login_uri"], json!(wanted));
    let healed = output_text(&run(&ws, &["plan"]));
    assert!(healed.contains("No changes"), "{healed}");
}

async fn live_shop(ws: &Workspace) -> Value {
    ws.live_apps()
        .await
        .into_iter()
        .find(|a| a["app_name"] == "Shop")
        .expect("the shop is live")
}

#[tokio::test]
async fn the_daemon_never_shows_the_canary_in_status_or_log() {
    let ws = Workspace::new();
    ws.write("shop.yaml", IN_VALUES);
    let log = ws.dir.path().join("daemon.log");
    let mut cmd = ws.command(
        &ws.server.base,
        &["sync", "--listen", "127.0.0.1:0", "--interval", "1h"],
    );
    cmd.args(["--env-allow", "SECRET_*"])
        .env("SECRET_CANARY", CANARY)
        .env("RUST_LOG", "debug")
        .arg(ws.manifests())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let (mut child, url) = spawn_daemon(cmd);
    let first = status_until(&url, |s| s["last_result"] == "success").await;
    assert_no_canary("/status", &first.to_string());
    assert_eq!(
        live_shop(&ws).await["login_uri"],
        json!(format!("https://shop.example.com/{CANARY}"))
    );

    // An edit that puts the canary in identity positions: reported, never shown.
    let tmp = ws.dir.path().join("extra.yaml");
    std::fs::write(
        &tmp,
        IDENTITY_ATTEMPTS.replace("name: shop}", "name: shop2}"),
    )
    .unwrap();
    std::fs::rename(&tmp, ws.manifests().join("extra.yaml")).unwrap();
    let failed = status_until(&url, |s| {
        s["errors"]
            .to_string()
            .contains("is an identity and must be written literally")
    })
    .await;
    assert_no_canary("/status", &failed.to_string());
    signal(child.id() as libc::pid_t, libc::SIGTERM);
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("identity"),
        "the log reports the error:\n{log}"
    );
    assert_no_canary("the daemon's log", &log);
}

#[tokio::test]
async fn a_database_url_with_a_password_is_refused_without_env_allow() {
    let ws = Workspace::new();
    ws.write(
        "shop.yaml",
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: \"${env:DATABASE_URL}\"\n  clients: [{name: Web, redirect_uris: []}]\n",
    );
    let with = |allow: Option<&str>| {
        let mut cmd = ws.command(&ws.server.base, &["validate"]);
        if let Some(a) = allow {
            cmd.args(["--env-allow", a]);
        }
        cmd.env("DATABASE_URL", format!("postgres://u:{CANARY}@h/db"))
            .arg(ws.manifests())
            .output()
            .unwrap()
    };
    let refused = with(None);
    let text = output_text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(text.contains("--env-allow DATABASE_URL"), "{text}");
    assert_no_canary("validate", &text);
    let allowed = with(Some("DATABASE_URL"));
    assert!(allowed.status.success(), "{}", output_text(&allowed));
}

#[tokio::test]
async fn a_client_whose_application_cannot_be_read_is_an_error_not_a_panic() {
    let ws = Workspace::new();
    let doc = |application: &str| {
        format!("{}---\napiVersion: tenantsync/v1\nkind: Client\nmetadata: {{name: extra}}\nspec:\n  application: \"{application}\"\n  name: Extra\n  redirect_uris: []\n", crate::harness::SHOP_WEB)
    };
    for reference in [
        "${env:NOT_SET_ANYWHERE_XYZ}",
        "${env:DB_PASSWORD}",
        "${file:/etc/passwd}",
    ] {
        ws.write("shop.yaml", &doc(reference));
        for command in ["validate", "plan", "lint"] {
            let out = ws.run(&[command]);
            let text = output_text(&out);
            assert_eq!(out.status.code(), Some(1), "{command} {reference}: {text}");
            assert!(text.contains("spec.application"), "{text}");
            assert!(!text.contains("panicked"), "{text}");
        }
    }
}

/// Runs `validate` (and `lint`) on `dir`; both must refuse within 30 s with `expected`.
fn refused(ws: &Workspace, dir: &Path, expected: &str) {
    for command in ["validate", "lint"] {
        let started = Instant::now();
        let out = ws
            .command(&ws.server.base, &[command])
            .arg(dir)
            .output()
            .unwrap();
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {text}");
        assert!(
            text.contains(expected),
            "{command}: `{expected}` in:\n{text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{command} took too long"
        );
    }
}

fn attack_dir(ws: &Workspace, name: &str) -> std::path::PathBuf {
    let dir = ws.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn hostile_manifest_files_are_refused_quickly() {
    let ws = Workspace::new();
    // 1,500 copies of a small alias document (the review's 321 KB file passed 6 GB).
    let mut one = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..4u8 {
        let (prev, this) = ((b'a' + level - 1) as char, (b'a' + level) as char);
        one.push_str(&format!("{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let bombs = attack_dir(&ws, "bombs");
    std::fs::write(bombs.join("bombs.yaml"), vec![one; 1500].join("---\n")).unwrap();
    refused(
        &ws,
        &bombs,
        "aliases in this file expand to more than 100000 nodes",
    );

    // 10,000-deep block nesting: an error, not a stack overflow (rc 134).
    let deep = attack_dir(&ws, "deep");
    std::fs::write(deep.join("deep.yaml"), "- ".repeat(10_000) + "x\n").unwrap();
    refused(&ws, &deep, "nested more than 64 levels deep");

    // Symlinks out of the root (a file, a directory, /dev/zero) are refused, naming the link;
    // nothing of the target is read.
    let outside = attack_dir(&ws, "outside");
    std::fs::write(
        outside.join("o.yaml"),
        "apiVersion: OUTSIDE-CANARY\nkind: OUTSIDE-CANARY\n",
    )
    .unwrap();
    let links = attack_dir(&ws, "links");
    std::os::unix::fs::symlink(outside.join("o.yaml"), links.join("file.yaml")).unwrap();
    std::os::unix::fs::symlink(&outside, links.join("dir")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", links.join("zero.yaml")).unwrap();
    refused(
        &ws,
        &links,
        "a symlink that leads outside the manifest directory",
    );
    let text = output_text(
        &ws.command(&ws.server.base, &["validate"])
            .arg(&links)
            .output()
            .unwrap(),
    );
    assert_eq!(
        text.matches("leads outside the manifest directory").count(),
        3,
        "{text}"
    );
    assert!(!text.contains("OUTSIDE-CANARY"), "{text}");

    // A FIFO is refused without waiting for a writer.
    let fifo_dir = attack_dir(&ws, "fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(fifo_dir.join("f.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    refused(&ws, &fifo_dir, "not a regular file; refused");
}

#[tokio::test]
async fn a_saved_plan_restores_an_interpolated_object_field_with_its_live_sub_fields() {
    let ws = Workspace::new();
    ws.write(
        "shop.yaml",
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  clients:\n    - name: Web\n      redirect_uris: [https://shop.example.com/cb]\n      token_expiration: {access_token_ttl: \"${env:WEB_TTL}\"}\n",
    );
    let with_ttl = |ttl: &str, args: &[&str]| {
        let mut cmd = ws.command(&ws.server.base, args);
        cmd.env("WEB_TTL", ttl).arg(ws.manifests());
        cmd.output().unwrap()
    };
    let out = with_ttl("300", &["apply", "--yes"]);
    assert!(out.status.success(), "{}", output_text(&out));
    // Someone sets a sub-field the manifest does not manage.
    let api = ws.api().await;
    let id = live_shop(&ws).await["app_id"].as_str().unwrap().to_owned();
    let clients = api
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json();
    let cid = clients[0]["client_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/applications/{id}/clients/{cid}");
    let reply = api
        .put(
            &path,
            &json!({"token_expiration": {"access_token_ttl": 300, "refresh_token_ttl": 7777}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let same = output_text(&with_ttl("300", &["plan", "--format", "json"]));
    assert!(same.contains("\"update\": 0"), "{same}");

    // The variable changes: the saved plan hides the value and still keeps the live sub-field.
    let plan_file = ws.dir.path().join("plan.json");
    let out = with_ttl("600", &["plan", "--out", plan_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    // Shown member by member, values hidden: the interpolated one's, and the carried-over one's
    // (a member just removed from the manifest would be carried over with its old value).
    let text = output_text(&out);
    assert!(
        text.contains("(sensitive values hidden)")
            && text.contains("access_token_ttl: \"(sensitive)\" → \"(sensitive)\"")
            && text.contains("refresh_token_ttl: (value not shown) (carried over"),
        "{text}"
    );
    // The value is nowhere in the plan file: no number or string in it is 600 (a hash's hex
    // may hold the digits, which says nothing).
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    fn holds(value: &Value) -> bool {
        match value {
            Value::Number(n) => n.as_f64() == Some(600.0),
            Value::String(s) => s.trim() == "600",
            Value::Array(items) => items.iter().any(holds),
            Value::Object(map) => map.values().any(holds),
            _ => false,
        }
    }
    let parsed: Value = serde_json::from_str(&saved).unwrap();
    assert!(!holds(&parsed), "{saved}");
    let out = with_ttl(
        "600",
        &["apply", "--yes", "--plan", plan_file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let live = api.get(&path).await.json();
    assert_eq!(
        live["token_expiration"]["access_token_ttl"],
        json!(600),
        "{live}"
    );
    assert_eq!(
        live["token_expiration"]["refresh_token_ttl"],
        json!(7777),
        "{live}"
    );
    let after = output_text(&with_ttl("600", &["plan"]));
    assert!(after.contains("No changes"), "{after}");
}
