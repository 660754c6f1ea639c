//! What an apply skips when an object it depends on was not created: an application created
//! again (deleted outside tenantsync) whose service provider's create is refused is skipped,
//! and so is every client of it, rather than sent to the id the state still holds for the
//! deleted application.

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, ProxyOptions};
use crate::harness::{output_text, Workspace, SHOP_WEB};

/// `shop` with a second client, `Admin`.
fn shop() -> String {
    format!("{SHOP_WEB}    - name: Admin\n      redirect_uris: [https://shop.example.com/admin]\n")
}

/// A SAML service provider, `wiki-sp`.
pub(crate) const WIKI: &str = r#"apiVersion: tenantsync/v1
kind: ServiceProvider
metadata: {name: wiki-sp}
spec: {name: Wiki, entity_id: "https://wiki.example.com/saml", assertion_consumer_service_URL: "https://wiki.example.com/acs"}
"#;

#[tokio::test]
async fn clients_of_an_application_whose_create_was_skipped_are_skipped_not_sent_to_its_old_id() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &shop());
    let mut cmd = ws.command(&ws.server.base, &["apply", "--yes"]);
    let out = cmd.arg(ws.manifests()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // The application is deleted outside tenantsync: its state entry still holds its id.
    let api = ws.api().await;
    let old_id = ws.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.delete(&format!("/v1/applications/{old_id}"))
            .await
            .status,
        204
    );
    // It now names a service provider, whose create the credential may not make.
    ws.write(
        "shop.yaml",
        &shop().replace(
            "app_name: Shop",
            "app_name: Shop\n  service_providers: [wiki-sp]",
        ),
    );
    ws.write("wiki.yaml", WIKI);
    let proxy = FaultProxy::start_with(
        ws.upstream(),
        ProxyOptions {
            forbid_creates: Some("/v1/serviceprovider/saml2".to_owned()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    let mut cmd = ws.command(
        &base,
        &["apply", "--yes", "--assume-full-view", "--format", "json"],
    );
    cmd.arg(ws.manifests());
    // The proxy runs on this test's runtime: the command waits on a blocking thread.
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = output_text(&out);
    assert_ne!(out.status.code(), Some(0), "a create failed: {text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{text}"));
    let outcome = |name: &str| {
        report["report"]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {report}"))
            .to_string()
    };
    assert!(
        outcome("ServiceProvider/wiki-sp").contains("403"),
        "{report}"
    );
    assert!(outcome("Application/shop").contains("skipped"), "{report}");
    assert!(
        outcome("Client/shop/Admin").contains("its application `shop` was not created"),
        "{report}"
    );
    // Nothing was sent under the deleted application's id.
    let writes = proxy.stats.writes();
    assert!(
        writes.iter().all(|w| !w.path.contains(&old_id)),
        "{writes:#?}"
    );
    // The application and its service provider are still to be created.
    let mut again = ws.command(
        &ws.server.base,
        &["plan", "--assume-full-view", "--format", "json"],
    );
    let out = again.arg(ws.manifests()).output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let creates: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(creates.contains(&"Application/shop"), "{plan}");
    assert!(creates.contains(&"ServiceProvider/wiki-sp"), "{plan}");
}
