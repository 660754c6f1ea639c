//! Login preferences' push keys (`push.apn.key`, the APN private key; `push.fcm.key`, the FCM
//! service-account key, an object read as JSON from a file): secrets one level down, which
//! upstream's response schema (and so the bundled server) answers, and tenantsync removes from
//! whatever it reads. Against the real binary and server: they are never printed, stored in the
//! state or exported in clear; what shows of their configuration is compared and healed; a live
//! one the manifest does not set is never erased by a write that cannot send it back.

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace, SHOP_WEB as APP};

/// The APN key, read from the environment.
const APN: &str = "-----BEGIN PRIVATE KEY-----apn-7f3a-----END PRIVATE KEY-----";
/// The FCM key's private key, inside the JSON key file.
const FCM_PEM: &str = "fcm-pem-91c2";

fn login(push: &str, totp: u32) -> String {
    format!(
        r#"apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {{name: shop-login}}
spec:
  application: shop
  totp: {{period: {totp}}}
  push:
{push}"#
    )
}

const APN_FROM_ENV: &str = "    apn:
      key: \"${env:SHOP_APN_P8}\"
      keyId: K1
      teamId: T1
      bundle: com.example.shop
";

const FCM_FROM_FILE: &str = "    fcm: {key: \"${file:fcm-key.json}\"}
";

/// Runs the binary with `args`, then the manifests directory unless `args` name a state
/// address or an export.
fn run(ws: &Workspace, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = ws.command(&ws.server.base, args);
    if !matches!(args[0], "state" | "export") {
        cmd.arg(ws.manifests());
    }
    let out = cmd.env("SHOP_APN_P8", APN).output().unwrap();
    let text = output_text(&out);
    assert!(
        !text.contains("apn-7f3a") && !text.contains(FCM_PEM),
        "{args:?}: {text}"
    );
    (out.status.code(), text)
}

/// Every byte under `dir` (the state's files): neither key is there in clear.
fn assert_nowhere_in(dir: &std::path::Path) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("apn-7f3a") && !text.contains(FCM_PEM),
            "{} holds a push key",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn push_keys_are_never_shown_stored_or_exported_and_a_live_one_is_never_erased() {
    let ws = Workspace::new();
    ws.write("app.yaml", APP);
    ws.write(
        "fcm-key.json",
        &json!({"type": "service_account", "project_id": "shop", "private_key": FCM_PEM})
            .to_string(),
    );
    ws.write(
        "login.yaml",
        &login(&format!("{APN_FROM_ENV}{FCM_FROM_FILE}"), 30),
    );
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let api = ws.api().await;
    let app_id = ws.live_app_id("Shop").await;
    let live = || async {
        let reply = api.get(&format!("/loginPreferences/{app_id}")).await;
        reply.json()["result"]["auth_methods"]["push"].clone()
    };
    // Stored as the manifest's files and environment hold them (the server answers them, as
    // upstream documents).
    let push = live().await;
    assert_eq!(
        (
            &push["apn"]["key"],
            &push["apn"]["keyId"],
            &push["fcm"]["key"]["private_key"]
        ),
        (&json!(APN), &json!("K1"), &json!(FCM_PEM)),
        "{push}"
    );
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "applied, then nothing to do: {text}");
    // The members of `apn` written in another order (as `export` writes them): nothing to do.
    let reordered =
        "    apn: {bundle: com.example.shop, teamId: T1, keyId: K1, key: \"${env:SHOP_APN_P8}\"}\n";
    ws.write(
        "login.yaml",
        &login(&format!("{FCM_FROM_FILE}{reordered}"), 30),
    );
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "only reordered: {text}");
    ws.write(
        "login.yaml",
        &login(&format!("{APN_FROM_ENV}{FCM_FROM_FILE}"), 30),
    );
    let (code, text) = run(&ws, &["state", "show", "LoginPreferences/shop"]);
    assert_eq!(code, Some(0), "{text}");
    assert_nowhere_in(&ws.state_dir());

    // What shows of the APN configuration, changed by hand (the key sent again, as upstream
    // requires): drift, shown without the key, and healed.
    let by_hand = api
        .put(
            &format!("/loginPreferences/{app_id}/authMethods"),
            &json!({"totp": {"period": 30}, "push": {
                "apn": {"key": "hand-key", "keyId": "K9", "teamId": "T1", "bundle": "com.example.shop"},
                "fcm": {"key": {"type": "service_account", "private_key": "hand-pem"}}}}),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("push") && text.contains("(sensitive)") && !text.contains("hand-"),
        "{text}"
    );
    // Which member beside the keys changed reads as such (its live value hidden: the field
    // was recorded hidden, so a live value may be one read from the environment).
    assert!(
        text.contains(r#"{"keyId":"(sensitive)","teamId":"T1""#)
            && text.contains(r#""keyId":"K1""#),
        "{text}"
    );
    // Healed by a saved plan, which holds neither key: they are read from the manifest again.
    let saved = ws.dir.path().join("plan.json");
    let (code, text) = run(&ws, &["plan", "--out", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let file = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !file.contains("apn-7f3a") && !file.contains(FCM_PEM) && !file.contains("hand-"),
        "{file}"
    );
    // The key id changed again by hand after the plan was saved: the part of `apn` an answer
    // shows is part of the fingerprint, so the saved plan refuses to write over it.
    let by_hand = api
        .put(
            &format!("/loginPreferences/{app_id}/authMethods"),
            &json!({"totp": {"period": 30}, "push": {
                "apn": {"key": "hand-key", "keyId": "K8", "teamId": "T1", "bundle": "com.example.shop"},
                "fcm": {"key": {"type": "service_account", "private_key": "hand-pem"}}}}),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    let (code, text) = run(&ws, &["apply", "--yes", "--plan", saved.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("changed on the target since the plan was made"),
        "{text}"
    );
    assert_eq!(
        live().await["apn"]["keyId"],
        "K8",
        "nothing written: {text}"
    );
    let (code, text) = run(&ws, &["plan", "--out", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&ws, &["apply", "--yes", "--plan", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let healed = live().await;
    assert_eq!(
        (
            &healed["apn"]["keyId"],
            &healed["apn"]["key"],
            &healed["fcm"]["key"]["private_key"]
        ),
        (&json!("K1"), &json!(APN), &json!(FCM_PEM))
    );

    // Exported: the keys tenantsync applied are named by variables, never written.
    let exported = ws.dir.path().join("export");
    let (code, text) = run(
        &ws,
        &["export", "--no-adopt", "--out", exported.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{text}");
    let files: Vec<String> = walk(&exported)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let login_doc = files
        .iter()
        .find(|f| f.contains("kind: LoginPreferences"))
        .unwrap_or_else(|| panic!("{files:?}"));
    assert!(
        login_doc.contains("${env:SECRET_") && login_doc.contains("keyId: K1"),
        "{login_doc}"
    );
    assert_nowhere_in(&exported);

    // The FCM key removed from the manifest: it managed it, so the write drops it.
    ws.write("login.yaml", &login(APN_FROM_ENV, 30));
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(live().await.get("fcm"), None);
    assert_eq!(live().await["apn"]["key"], APN);

    // Set by hand again, then another change in the manifest: the write would erase the hand-set
    // key it cannot see, so the update is held, saying why, and the key stays.
    let by_hand = api
        .put(
            &format!("/loginPreferences/{app_id}/authMethods"),
            &json!({"totp": {"period": 30}, "push": {
                "apn": {"key": "hand-key", "keyId": "K1", "teamId": "T1", "bundle": "com.example.shop"},
                "fcm": {"key": {"type": "service_account", "private_key": "hand-pem"}}}}),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    ws.write("login.yaml", &login(APN_FROM_ENV, 60));
    let (_, text) = run(&ws, &["plan"]);
    assert!(
        text.contains("push.fcm") && text.contains("not updated"),
        "{text}"
    );
    let (_, text) = run(&ws, &["apply", "--yes"]);
    let now: Value = live().await;
    assert_eq!(now["fcm"]["key"]["private_key"], "hand-pem", "kept: {text}");
    let totp = api.get(&format!("/loginPreferences/{app_id}")).await.json()["result"]
        ["auth_methods"]["totp"]["period"]
        .clone();
    assert_eq!(totp, 30, "held whole: {text}");
}

/// A login method turned off by hand (absent from the answer, so off) is drift and is written
/// again, a secret-holding one too; a whole `push` removed from the manifest is not dropped
/// while it holds a key set by hand, which the drop would take with it.
#[tokio::test]
async fn a_method_turned_off_by_hand_is_healed_and_a_hand_set_key_is_never_dropped_with_push() {
    let ws = Workspace::new();
    ws.write("app.yaml", APP);
    ws.write("login.yaml", &login(APN_FROM_ENV, 60));
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let api = ws.api().await;
    let app_id = ws.live_app_id("Shop").await;
    let methods = || async {
        let reply = api.get(&format!("/loginPreferences/{app_id}")).await;
        reply.json()["result"]["auth_methods"].clone()
    };
    let put = |body: Value| {
        let api = &api;
        let path = format!("/loginPreferences/{app_id}/authMethods");
        async move {
            let reply = api.put(&path, &body).await;
            assert!(reply.status < 300, "{}", reply.text);
        }
    };
    // Every method turned off by hand.
    put(json!({})).await;
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("push") && text.contains("totp"), "{text}");
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let now = methods().await;
    assert_eq!(
        (&now["push"]["apn"]["key"], &now["totp"]["period"]),
        (&json!(APN), &json!(60)),
        "{now}"
    );
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "healed: {text}");

    // An FCM key set by hand beside the managed APN configuration, then `push` removed from
    // the manifest: the drop would take the hand-set key, so the update waits.
    put(json!({"totp": {"period": 60}, "push": {
        "apn": {"key": APN, "keyId": "K1", "teamId": "T1", "bundle": "com.example.shop"},
        "fcm": {"key": {"type": "service_account", "private_key": "hand-pem"}}}}))
    .await;
    ws.write("login.yaml", &login("", 60).replace("  push:\n", ""));
    let (_, text) = run(&ws, &["plan"]);
    assert!(
        text.contains("push.fcm") && text.contains("not updated"),
        "{text}"
    );
    let (_, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(
        methods().await["push"]["fcm"]["key"]["private_key"],
        "hand-pem",
        "{text}"
    );
}
