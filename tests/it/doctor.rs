//! `tenantsync doctor` against a real `tenantsync serve`: a full credential passes and leaves
//! nothing behind, also when responses vary; a credential without `apps:create` fails `--write`
//! naming the permission.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::harness::{bin, output_text as text, ServeOptions, Server};

fn doctor(server: &Server, id: &str, secret: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("doctor")
        .arg("--target")
        .arg(&server.base)
        .args(args)
        .env("TENANTSYNC_CLIENT_ID", id)
        .env("TENANTSYNC_CLIENT_SECRET", secret)
        .env_remove("TENANTSYNC_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

async fn app_ids(server: &Server) -> Vec<String> {
    let api = server.api(&server.admin_token().await);
    let mut ids: Vec<String> = api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn seed_app(server: &Server) {
    let api = server.api(&server.admin_token().await);
    let app = api
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    api.create_client(
        app["app_id"].as_str().unwrap(),
        &json!({"name": "SSO", "authentication_protocol": "saml", "sp_entity_id": "urn:shop"}),
    )
    .await;
}

async fn passes_and_leaves_nothing(server: &Server) {
    seed_app(server).await;
    let (id, secret) = server.admin_credentials();
    let before = app_ids(server).await;
    let out = doctor(server, &id, &secret, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = doctor(server, &id, &secret, &["--write", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["safe"], true);
    let checks = report["checks"].as_array().unwrap();
    for name in [
        "token",
        "idempotency",
        "list applications",
        "read application",
        "read clients",
        "create application",
        "create client",
        "update nested object",
        "delete client",
        "delete application",
        "nothing left behind",
    ] {
        let check = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` check: {report}"));
        assert_eq!(check["status"], "ok", "{check}");
    }
    assert_eq!(
        app_ids(server).await,
        before,
        "doctor left something behind"
    );
    assert!(!text(&out).contains(&secret), "the secret was printed");
}

#[tokio::test]
async fn doctor_passes_against_serve_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    passes_and_leaves_nothing(&server).await;
}

#[tokio::test]
async fn doctor_passes_when_responses_vary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        ServeOptions::with_args(vec!["--response-variation".into(), "11".into()]),
    );
    passes_and_leaves_nothing(&server).await;
}

/// A server with the extra credential of [`limited_credentials`].
fn limited_server(dir: &Path) -> Server {
    let credentials = limited_credentials(dir);
    Server::start_with(
        &dir.join("data"),
        ServeOptions::with_args(vec![
            "--credentials".into(),
            credentials.display().to_string(),
        ]),
    )
}

fn limited_credentials(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("credentials.yaml");
    std::fs::write(
        &path,
        "- {client_id: reader, client_secret: reader-secret-0123456789, permissions: [apps:list, apps:read, apps:edit, apps:delete]}\n",
    )
    .unwrap();
    path
}

#[tokio::test]
async fn doctor_write_without_apps_create_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = limited_server(dir.path());
    seed_app(&server).await;
    let before = app_ids(&server).await;
    // Read-only: enough to plan; the missing permission is a warning.
    let out = doctor(&server, "reader", "reader-secret-0123456789", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("warn  permissions") && text(&out).contains("apps:create"),
        "{}",
        text(&out)
    );
    let out = doctor(&server, "reader", "reader-secret-0123456789", &["--write"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("fail  create application")
            && shown.contains("403 Forbidden: the credential lacks `apps:create`"),
        "{shown}"
    );
    assert!(shown.contains("cannot operate safely"), "{shown}");
    assert_eq!(app_ids(&server).await, before);
}

#[tokio::test]
async fn doctor_with_wrong_credentials_fails_at_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let out = doctor(&server, "nobody", "wrong-secret-canary", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("fail  token"), "{shown}");
    assert!(!shown.contains("wrong-secret-canary"), "{shown}");
}

/// The bundled server asks for the permissions upstream documents for every kind, not only
/// the applications API's: a credential holding only `apps:*` may read applications but not
/// resources or roles (403 naming what to grant), nor create a resource without
/// `resources:create` or the `apps:create` upstream also accepts, and doctor says what it lacks.
#[tokio::test]
async fn each_kind_asks_for_the_permissions_upstream_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = limited_server(dir.path());
    seed_app(&server).await;
    let token = server.token_for("reader", "reader-secret-0123456789").await;
    let api = server.api(&token);
    assert_eq!(api.get("/v1/applications").await.status, 200);
    let refused = api.get("/v1/resources").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.text.contains("`resources:list`") && refused.text.contains("`resources:read`"),
        "{}",
        refused.text
    );
    let create = api
        .post(
            "/v1/resources",
            &json!({"name": "Payouts", "uri": "https://api.example.com/p"}),
        )
        .await;
    assert_eq!(create.status, 403, "{}", create.text);
    assert!(create.text.contains("`apps:create`"), "{}", create.text);
    let app_id = app_ids(&server).await.remove(0);
    let roles = api.get(&format!("/v1/applications/{app_id}/roles")).await;
    assert_eq!(roles.status, 403, "{}", roles.text);
    let out = doctor(&server, "reader", "reader-secret-0123456789", &[]);
    let shown = text(&out);
    assert!(
        shown.contains("warn  read resource") && shown.contains("lacks `resources:read`"),
        "{shown}"
    );
}
