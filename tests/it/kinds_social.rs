//! A social login's `clientSecret`, which upstream never shows: a live login method tenantsync
//! never wrote may hold one set in the portal, and a write of the method without it (login
//! preferences are replaced whole) would erase it. Against the real binary and server: such a
//! write waits with a warning until the manifest sets the secret; a method tenantsync wrote
//! itself, without a secret, does not hold later writes.

use serde_json::{json, Value};

use crate::harness::{output_text, Api, Workspace, SHOP_WEB as APP};

fn login(google: &str, sms_expires: u32) -> String {
    format!(
        r#"apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {{name: shop-login}}
spec:
  application: shop
  google: {google}
  sms: {{expiresIn: {sms_expires}, maxFailures: 3}}
"#
    )
}

fn run(ws: &Workspace, args: &[&str]) -> (Option<i32>, String) {
    let out = ws
        .command(&ws.server.base, args)
        .arg(ws.manifests())
        .env("SHOP_GOOGLE_SECRET", "from-env-secret")
        .args(["--env-allow", "SHOP_GOOGLE_SECRET"])
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(
        !text.contains("HAND-SET") && !text.contains("from-env-secret"),
        "{args:?}: {text}"
    );
    (out.status.code(), text)
}

/// The application applied, then its login methods set in the portal: Google with a secret,
/// and SMS codes valid 5 minutes. Returns the workspace, the API and the application's id.
async fn shop_with_a_portal_secret() -> (Workspace, Api, String) {
    let ws = Workspace::new();
    ws.write("app.yaml", APP);
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let api = ws.api().await;
    let app_id = ws.live_app_id("Shop").await;
    let by_hand = api
        .put(
            &format!("/loginPreferences/{app_id}/authMethods"),
            &json!({"google": {"clientId": "shop.apps", "clientSecret": "HAND-SET"},
                    "sms": {"expiresIn": 5, "maxFailures": 3}}),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    (ws, api, app_id)
}

/// How long SMS codes are valid live.
async fn sms_expires(api: &Api, app_id: &str) -> Value {
    let reply = api.get(&format!("/loginPreferences/{app_id}")).await;
    reply.json()["result"]["auth_methods"]["sms"]["expiresIn"].clone()
}

#[tokio::test]
async fn a_live_social_login_never_written_by_tenantsync_holds_a_write_without_its_secret() {
    let (ws, api, app_id) = shop_with_a_portal_secret().await;
    let sms = || sms_expires(&api, &app_id);
    // Managed from now on, as live: adopted, with nothing to write.
    ws.write("login.yaml", &login("{clientId: shop.apps}", 5));
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "nothing to write: {text}");

    // Another member changed in the manifest: the write would send `google` without the
    // secret set by hand, so it waits, saying why and what to do.
    ws.write("login.yaml", &login("{clientId: shop.apps}", 9));
    // Nothing can be applied, and CI is told the target does not match the manifests.
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("may hold a `clientSecret`")
            && text.contains("No changes can be applied: 1 object waits"),
        "{text}"
    );
    let (_, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(sms().await, json!(5), "not written: {text}");

    // The secret set in the manifest: written, with it.
    ws.write(
        "login.yaml",
        &login(
            r#"{clientId: shop.apps, clientSecret: "${env:SHOP_GOOGLE_SECRET}"}"#,
            9,
        ),
    );
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(sms().await, json!(9), "{text}");
    let (code, text) = run(&ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "{text}");

    // A method tenantsync adds itself, without a secret, holds no later write: it knows
    // what it sent.
    let with_facebook = |sms_expires| {
        login(
            r#"{clientId: shop.apps, clientSecret: "${env:SHOP_GOOGLE_SECRET}"}"#,
            sms_expires,
        )
        .replace("  sms:", "  facebook: {clientId: fb.shop}\n  sms:")
    };
    let mut text = String::new();
    for sms_expires in [9, 7] {
        ws.write("login.yaml", &with_facebook(sms_expires));
        let (code, out) = run(&ws, &["apply", "--yes"]);
        assert_eq!(code, Some(0), "{out}");
        text = out;
    }
    assert!(!text.contains("not updated"), "{text}");
    assert_eq!(sms().await, json!(7), "{text}");
}

/// The same for login preferences `export` adopted: it exports a social login without its
/// secret (never answered), and the next update that would send it so waits.
#[tokio::test]
async fn a_social_login_adopted_by_export_holds_a_write_without_its_secret() {
    let (ws, api, app_id) = shop_with_a_portal_secret().await;
    let exported = ws.dir.path().join("export");
    let out = ws
        .command(
            &ws.server.base,
            &["export", "--out", exported.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let login = std::fs::read_dir(&exported)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("kind: LoginPreferences")))
        .expect("the login preferences' document");
    let text = std::fs::read_to_string(&login).unwrap();
    assert!(
        text.contains("expiresIn: 5") && !text.contains("HAND-SET"),
        "{text}"
    );
    std::fs::write(&login, text.replace("expiresIn: 5", "expiresIn: 9")).unwrap();
    let out = ws
        .command(
            &ws.server.base,
            &["apply", "--yes", exported.to_str().unwrap()],
        )
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(text.contains("may hold a `clientSecret`"), "{text}");
    assert_eq!(
        sms_expires(&api, &app_id).await,
        json!(5),
        "not written: {text}"
    );
}
