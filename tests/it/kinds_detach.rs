//! Deleting an object something names, against the real server: the deletion waits for the
//! updates that take the references out (a failed one keeps the object), and the plan names
//! what still holds it, managed or not.

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace, SHOP_WEB};
use crate::kinds_skips::WIKI;

/// `shop`'s role `clerk`.
const CLERK: &str = r#"apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec: {application: shop, role_name: clerk, permissions: ["orders:read"]}
"#;

/// `shop`, its client `Web` naming the role `clerk`, and the role.
fn shop_with_clerk() -> String {
    format!("{SHOP_WEB}      role_ids: [clerk]\n---\n{CLERK}")
}

fn run(ws: &Workspace, args: &[&str]) -> (Option<i32>, String) {
    let out = ws
        .command(&ws.server.base, args)
        .arg(ws.manifests())
        .output()
        .unwrap();
    (out.status.code(), output_text(&out))
}

async fn list(ws: &Workspace, path: &str) -> Vec<Value> {
    let reply = ws.api().await.get(path).await.json();
    let items = reply.get("result").unwrap_or(&reply);
    items.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_role_is_not_deleted_while_the_update_that_detaches_it_failed() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &shop_with_clerk());
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    // The role and its reference leave the manifests; the plan is saved.
    ws.write("shop.yaml", SHOP_WEB);
    let plan_file = ws.dir.path().join("plan.json");
    let (code, text) = run(
        &ws,
        &["plan", "--prune", "--out", plan_file.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("delete Role/clerk"), "{text}");
    // The client changes by hand after the plan: its update (the detach) is refused.
    let app_id = ws.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = list(&ws, &format!("/v1/applications/{app_id}/clients")).await;
    let client_id = clients[0]["client_id"].as_str().unwrap().to_owned();
    let reply = ws
        .api()
        .await
        .put(
            &format!("/v1/applications/{app_id}/clients/{client_id}"),
            &json!({"redirect_uris": ["https://shop.example.com/cb", "https://shop.example.com/by-hand"]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let (code, text) = run(
        &ws,
        &[
            "apply",
            "--prune",
            "--yes",
            "--plan",
            plan_file.to_str().unwrap(),
        ],
    );
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("Client/shop/Web"), "{text}");
    assert!(
        text.contains("not deleted: Client/shop/Web still names it"),
        "{text}"
    );
    let roles = list(&ws, &format!("/v1/applications/{app_id}/roles")).await;
    assert_eq!(roles.len(), 1, "the role is kept: {roles:?}");
    // A fresh plan detaches, then deletes.
    let (code, text) = run(&ws, &["apply", "--prune", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let roles = list(&ws, &format!("/v1/applications/{app_id}/roles")).await;
    assert!(roles.is_empty(), "{roles:?}");
}

#[tokio::test]
async fn the_plan_names_an_application_nobody_manages_that_still_names_a_deleted_provider() {
    let ws = Workspace::new();
    ws.write("wiki.yaml", WIKI);
    // Something stays managed: an empty manifest set deletes nothing.
    ws.write("shop.yaml", SHOP_WEB);
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let providers = list(&ws, "/v1/serviceprovider/saml2").await;
    let sp_id = providers[0]["service_provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An application made by hand names it.
    let reply = ws
        .api()
        .await
        .post(
            "/v1/applications",
            &json!({"app_name": "Legacy", "client_display_name": "Legacy", "redirect_uris": ["https://legacy.example.com/cb"], "service_providers": [sp_id]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    std::fs::remove_file(ws.manifests().join("wiki.yaml")).unwrap();
    let (code, text) = run(&ws, &["plan", "--prune"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("delete ServiceProvider/wiki-sp"), "{text}");
    assert!(
        text.contains("still named by application `Legacy`"),
        "{text}"
    );
}

const PAYOUTS: &str = r#"apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec: {name: Payouts, uri: "https://api.example.com/payouts", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
"#;

#[tokio::test]
async fn a_reference_by_id_added_to_a_resource_the_plan_deletes_is_named_on_the_deletion() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP_WEB);
    ws.write("payouts.yaml", PAYOUTS);
    let (code, text) = run(&ws, &["apply", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    let resources = list(&ws, "/v1/resources").await;
    let id = resources[0]["resource_id"].as_str().unwrap().to_owned();
    // No longer managed, but still used: the client names it by id.
    std::fs::remove_file(ws.manifests().join("payouts.yaml")).unwrap();
    ws.write(
        "shop.yaml",
        &format!("{SHOP_WEB}      resources: [{{id: \"{id}\"}}]\n"),
    );
    let (code, text) = run(&ws, &["plan", "--prune"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("delete Resource/payouts-api"), "{text}");
    assert!(
        text.contains("still named by Client/shop/Web (this plan's update sends it)"),
        "{text}"
    );
}
