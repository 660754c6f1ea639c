//! An object-valued field (a login method, a client's `token_expiration`) is compared member
//! by member, as upstream replaces it whole: the defaults upstream's schema documents, which the server
//! fills in, plan nothing; a member set by hand is carried over by the next write; a member
//! removed from the manifest goes back to its default; a method the state keeps as one hash
//! (it holds a secret) tells them apart all the same, by the member names recorded with the
//! hash, and never shows a value it once read from the environment. Against the real binary
//! and server.

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace, SHOP_WEB as APP};

fn login(totp: &str) -> String {
    format!(
        r#"
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {{name: shop-login}}
spec:
  application: shop
  totp: {totp}
  webauthn_api: {{rpId: shop.example.com}}
  google: {{clientId: shop-google, clientSecret: {SECRET}}}
"#
    )
}

/// Written as it is in the document (not read from the environment); as a secret, it makes the
/// state keep its method as one hash (with the method's member names), and plans show only its
/// value as `(sensitive)`.
const SECRET: &str = "literal-g-secret-51c";

fn run(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.command(&ws.server.base, args)
        .arg(ws.manifests())
        .output()
        .unwrap()
}

fn ok(ws: &Workspace, args: &[&str]) -> String {
    let out = run(ws, args);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
    assert!(!text.contains(SECRET), "{text}");
    text
}

/// `plan --detailed-exitcode`'s exit code, and its text.
fn plan(ws: &Workspace) -> (Option<i32>, String) {
    let out = run(ws, &["plan", "--detailed-exitcode"]);
    (out.status.code(), output_text(&out))
}

#[tokio::test]
async fn login_methods_compare_member_by_member_and_keep_what_nobody_manages() {
    let ws = Workspace::new();
    ws.write("app.yaml", APP);
    ws.write("login.yaml", &login("{period: 60}"));
    ok(&ws, &["apply", "--yes"]);
    let api = ws.api().await;
    let app_id = ws.live_app_id("Shop").await;
    let live = || async {
        let reply = api.get(&format!("/loginPreferences/{app_id}")).await;
        reply.json()["result"]["auth_methods"].clone()
    };
    // The server stores what upstream documents: the defaults the request left out.
    let methods: Value = live().await;
    assert_eq!(
        methods["totp"],
        json!({"algorithm": "sha1", "digits": 6, "period": 60, "window": 1, "maxFailures": 5, "lockoutDuration": 15}),
        "{methods}"
    );
    assert_eq!(methods["webauthn_api"]["replaceExistingPasskey"], false);
    // Those defaults are no difference.
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(0), "{text}");

    // A member set by hand (whole replacement, as upstream takes it) is one nobody manages:
    // no difference, and carried over by the next write of its method.
    let by_hand = api
        .put(
            &format!("/loginPreferences/{app_id}/authMethods"),
            &json!({
                "totp": {"period": 60, "issuer": "Hand"},
                "webauthn_api": {"rpId": "shop.example.com"},
                "google": {"clientId": "shop-google", "clientSecret": SECRET, "redirectUris": ["https://hand.example.com/cb"]},
            }),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    // Members nobody manages, on `totp` as on the social login (whose secret makes the state
    // keep it as one hash), ask nothing.
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(0), "{text}");
    ws.write("login.yaml", &login("{period: 90, window: 2}"));
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("issuer") && text.contains("carried over"),
        "the plan says what it keeps: {text}"
    );
    // Saved and applied as saved: what it carries over is in the plan file, the secret is not
    // (it is taken from the document again, member by member).
    let saved = ws.dir.path().join("plan.json");
    ok(&ws, &["plan", "--out", saved.to_str().unwrap()]);
    let file = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !file.contains(SECRET) && file.contains("Hand") && file.contains("hand.example.com"),
        "{file}"
    );
    ok(&ws, &["apply", "--yes", "--plan", saved.to_str().unwrap()]);
    let methods = live().await;
    assert_eq!(
        (
            &methods["totp"]["period"],
            &methods["totp"]["window"],
            &methods["totp"]["issuer"]
        ),
        (&json!(90), &json!(2), &json!("Hand")),
        "{methods}"
    );
    assert_eq!(
        methods["google"],
        json!({"clientId": "shop-google", "redirectUris": ["https://hand.example.com/cb"]}),
        "the social login kept its hand-set member (its secret is never answered)"
    );
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(0), "{text}");

    // A member removed from the manifest is dropped from the replacement: back to its
    // default. The one set by hand stays.
    ws.write("login.yaml", &login("{period: 90}"));
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("dropped"), "{text}");
    ok(&ws, &["apply", "--yes"]);
    let methods = live().await;
    assert_eq!(
        (&methods["totp"]["window"], &methods["totp"]["issuer"]),
        (&json!(1), &json!("Hand")),
        "{methods}"
    );
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(0), "{text}");

    // The social login changed in the document: the state kept its member names with its
    // hash, so the hand-set member, never the document's, is still carried over.
    ws.write(
        "login.yaml",
        &login("{period: 90}").replace("clientId: shop-google", "clientId: shop-google-2"),
    );
    let text = ok(&ws, &["apply", "--yes"]);
    assert!(
        text.contains("update LoginPreferences/shop-login"),
        "{text}"
    );
    let google = live().await["google"].clone();
    assert_eq!(
        google,
        json!({"clientId": "shop-google-2", "redirectUris": ["https://hand.example.com/cb"]})
    );
    // A member the document managed and no longer sets is dropped, its value not shown (it
    // was recorded hidden).
    let with_uris = |uris: &str| {
        login("{period: 90}").replace(
            "clientId: shop-google,",
            &format!("clientId: shop-google-2, redirectUris: {uris},"),
        )
    };
    ws.write(
        "login.yaml",
        &with_uris("[\"https://shop.example.com/google\"]"),
    );
    ok(&ws, &["apply", "--yes"]);
    ws.write(
        "login.yaml",
        &login("{period: 90}").replace("shop-google,", "shop-google-2,"),
    );
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("redirectUris: \"(sensitive)\" (dropped"),
        "{text}"
    );
    assert!(!text.contains("shop.example.com/google"), "{text}");
    ok(&ws, &["apply", "--yes"]);
    assert_eq!(live().await["google"], json!({"clientId": "shop-google-2"}));
    let (code, text) = plan(&ws);
    assert_eq!(code, Some(0), "{text}");
}

/// A server that leaves out of its answers a share of the members holding their documented
/// default (`serve --response-variation`): an answer without one means that default, so every
/// seed plans to zero after an apply.
#[tokio::test]
async fn login_methods_converge_when_answers_leave_defaulted_members_out() {
    let mut left_out = false;
    for seed in 1..=6 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        let server = crate::harness::Server::start_with(
            &dir.path().join("server"),
            crate::harness::ServeOptions {
                args: vec!["--response-variation".into(), seed.to_string()],
                ..Default::default()
            },
        );
        let ws = Workspace {
            dir,
            server,
            postgres: None,
        };
        ws.write("app.yaml", APP);
        ws.write("login.yaml", &login("{period: 60, digits: 6}"));
        ok(&ws, &["apply", "--yes"]);
        let (code, text) = plan(&ws);
        assert_eq!(code, Some(0), "seed {seed}: {text}");
        let apps = ws.live_apps().await;
        let app_id = apps[0]["app_id"].as_str().unwrap().to_owned();
        let methods = ws
            .api()
            .await
            .get(&format!("/loginPreferences/{app_id}"))
            .await
            .json()["result"]["auth_methods"]
            .clone();
        left_out |= methods["totp"].get("digits").is_none();
    }
    assert!(left_out, "no seed left a defaulted member out");
}

/// A client whose `token_expiration` reads one member from the environment: the state keeps
/// the field as one hash with its member names, so a member removed from the manifest is
/// dropped upstream while one set by hand is kept, and the value read from the environment is
/// never shown.
#[tokio::test]
async fn a_clients_object_field_read_from_the_environment_drops_a_removed_member() {
    const TTL: &str = "4242";
    let ws = Workspace::new();
    let app = |members: &str| {
        format!(
            "{APP}      token_expiration: {{access_token_ttl: \"${{env:SHOP_TTL}}\"{members}}}\n"
        )
    };
    let run = |args: &[&str]| {
        let out = ws
            .command(&ws.server.base, args)
            .arg(ws.manifests())
            .env("SHOP_TTL", TTL)
            .output()
            .unwrap();
        let text = output_text(&out);
        assert!(!text.contains(TTL), "{args:?}: {text}");
        (out.status.code(), text)
    };
    ws.write("app.yaml", &app(", refresh_token_ttl: 777"));
    let (code, text) = run(&["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    // The state records the field as its hash and member names, never the value.
    let show = ws
        .command(&ws.server.base, &["state", "show", "Client/shop/Web"])
        .output()
        .unwrap();
    let shown = output_text(&show);
    assert_eq!(show.status.code(), Some(0), "{shown}");
    assert!(!shown.contains(TTL), "{shown}");
    assert!(
        shown.contains("$members") && shown.contains("refresh_token_ttl"),
        "{shown}"
    );
    let api = ws.api().await;
    let app_id = ws.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = format!("/v1/applications/{app_id}/clients");
    let client = api.get(&clients).await.json()[0].clone();
    let client_path = format!("{clients}/{}", client["client_id"].as_str().unwrap());
    assert_eq!(
        client["token_expiration"],
        json!({"access_token_ttl": 4242, "refresh_token_ttl": 777})
    );
    // Set by hand: a member nobody manages.
    let by_hand = api
        .put(
            &client_path,
            &json!({"token_expiration": {"access_token_ttl": 4242, "refresh_token_ttl": 777, "max_refresh_rotate": 3}}),
        )
        .await;
    assert!(by_hand.status < 300, "{}", by_hand.text);
    let (code, text) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "{text}");
    // refresh_token_ttl leaves the manifest: dropped; max_refresh_rotate is kept.
    ws.write("app.yaml", &app(""));
    let (code, text) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("dropped"), "{text}");
    let (code, text) = run(&["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        api.get(&client_path).await.json()["token_expiration"],
        json!({"access_token_ttl": 4242, "max_refresh_rotate": 3})
    );
    let (code, text) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "{text}");
}
