//! export and import against a real `tenantsync serve` populated through the API: a round trip
//! (export → validate → plan empty → apply writes nothing), byte-identical re-exports, no
//! secrets in files or output, and import adopting one object without a write.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::harness::{bin, output_text as text, Api, Server};

fn run(server: &Server, state: &Path, args: &[&str]) -> Output {
    server.cli(state, &server.base).args(args).output().unwrap()
}

async fn writes(server: &Server) -> f64 {
    let m = server.metrics().await;
    let total: f64 = ["POST", "PUT", "DELETE"]
        .iter()
        .map(|method| {
            tenantsync::telemetry::prometheus::sample(
                &m,
                "tenantsync_server_requests_total",
                &[("method", method)],
            )
            .unwrap_or(0.0)
        })
        .sum();
    total
        - tenantsync::telemetry::prometheus::sample(
            &m,
            "tenantsync_server_requests_total",
            &[("route", "/oidc/token")],
        )
        .unwrap_or(0.0)
}

/// 22 applications and 55 clients of varied shapes, created outside tenantsync.
async fn populate(api: &Api) -> usize {
    let mut clients = 0;
    for i in 0..22 {
        let mut body = json!({
            "app_name": format!("Tenant App {}", i % 20),
            "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": [format!("https://app{i}.example.com/cb")]},
        });
        if i % 3 == 0 {
            body["app_description"] = json!(format!("Application number {i}"));
            body["login_uri"] = json!(format!("https://app{i}.example.com/login"));
        }
        if i % 6 == 4 {
            // One flag off, two at their default: only the one that says something is written.
            body["refresh_token_invalidation_trigger_configuration"] = json!({
                "invalidateOnMemberSuspension": true, "invalidateOnMemberPasswordReset": false});
        }
        if i % 4 == 1 {
            body["subdomain"] = json!(format!("tenant{i}"));
            body["custom_domain"] = json!(format!("login{i}.example.com"));
        }
        if i % 5 == 2 {
            // Old-style body: the deprecated fields make the default client.
            body = json!({"app_name": format!("Legacy {i}"), "client_display_name": "Main", "redirect_uris": [format!("https://legacy{i}.example.com/cb")], "allow_public_signup": true});
        }
        let app = api.create_app(&body).await;
        clients += 1;
        let app_id = app["app_id"].as_str().unwrap();
        let extra = [
            json!({"name": "iOS", "client_type": "native", "redirect_uris": [format!("com.example.app{i}://cb")], "pkce": "enforcePkceInsteadOfClientCredentials", "token_endpoint_auth_method": "none"}),
            json!({"name": "TV", "redirect_uris": [], "device_authorization": {"enabled": true, "input_uri": "https://tv.example.com/in", "approval_uri": "https://tv.example.com/ok", "success_uri": "https://tv.example.com/done"}, "token_expiration": {"access_token_ttl": 3600, "refresh_token_ttl": 7776000}}),
            json!({"name": "SSO", "authentication_protocol": "saml", "sp_entity_id": format!("urn:sp:{i}"), "sp_acs_url": "https://sp.example.com/acs", "sign_assertion": true}),
        ];
        for c in extra.iter().take(1 + i % 3) {
            api.create_client(app_id, c).await;
            clients += 1;
        }
    }
    clients
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn export_round_trip_is_clean_stable_and_secret_free() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let clients = populate(&api).await;
    assert!(clients >= 50, "{clients} clients");

    let state = dir.path().join("state");
    let out1 = dir.path().join("export1");
    let o = run(
        &server,
        &state,
        &["export", "--out", out1.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Exported 22 applications and {clients} clients")),
        "{}",
        text(&o)
    );
    let files = read_dir_sorted(&out1);
    // 22 manifests, and the schema they link to (this export is outside any repository).
    assert_eq!(
        files.iter().filter(|(n, _)| n.ends_with(".yaml")).count(),
        22
    );
    assert!(files.iter().any(|(n, _)| n == "tenantsync.schema.json"));
    assert!(
        files.iter().any(|(n, _)| n == "tenant-app-0-2.yaml"),
        "name collisions get stable suffixes"
    );
    // An object field's members at their documented default are left out of what it writes.
    let yaml: String = files
        .iter()
        .filter(|(n, _)| n.ends_with(".yaml"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        yaml.contains("invalidateOnMemberPasswordReset: false"),
        "{yaml}"
    );
    assert!(!yaml.contains("invalidateOnMemberSuspension"), "{yaml}");

    let v = Command::new(bin())
        .args(["validate", out1.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    let before = writes(&server).await;
    let p = run(
        &server,
        &state,
        &["plan", "--detailed-exitcode", out1.to_str().unwrap()],
    );
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = run(&server, &state, &["apply", "--yes", out1.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(
        writes(&server).await,
        before,
        "apply after export wrote to the target"
    );

    let out2 = dir.path().join("export2");
    let o2 = run(
        &server,
        &dir.path().join("state2"),
        &["export", "--no-adopt", "--out", out2.to_str().unwrap()],
    );
    assert_eq!(o2.status.code(), Some(0));
    assert_eq!(
        read_dir_sorted(&out1),
        read_dir_sorted(&out2),
        "two exports differ"
    );
    assert!(
        !dir.path().join("state2").join("state").exists(),
        "--no-adopt wrote state"
    );

    let all: Vec<u8> = files
        .iter()
        .filter(|(n, _)| n.ends_with(".yaml"))
        .flat_map(|(_, b)| b.clone())
        .chain(o.stdout.clone())
        .chain(o.stderr.clone())
        .collect();
    let haystack = String::from_utf8_lossy(&all);
    for app in api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
    {
        let id = app["app_id"].as_str().unwrap();
        assert!(!haystack.contains(app["client_secret"].as_str().unwrap()));
        for c in api
            .get(&format!("/v1/applications/{id}/clients"))
            .await
            .json()
            .as_array()
            .unwrap()
        {
            assert!(
                !haystack.contains(c["client_secret"].as_str().unwrap()),
                "a client secret was exported"
            );
        }
    }
    assert!(
        !haystack.contains("x509_certificate")
            && !haystack.contains("created_at")
            && !haystack.contains("tenant_id")
    );
}

#[tokio::test]
async fn import_adopts_one_object_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let app = api
        .create_app(&json!({"app_name": "Billing", "client_display_name": "Web", "app_description": "old", "first_client": {"name": "Web", "redirect_uris": ["https://billing.example.com/cb"]}}))
        .await;
    // A second app with the same name makes adoption by name ambiguous: import decides.
    api.create_app(
        &json!({"app_name": "Billing", "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": []}}),
    )
    .await;
    let manifests = dir.path().join("m");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("billing.yaml"),
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: billing}\nspec:\n  app_name: Billing\n  app_description: new\n  clients:\n    - name: Web\n      redirect_uris: [https://billing.example.com/cb]\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let m = manifests.to_str().unwrap();
    let p = run(&server, &state, &["plan", m]);
    assert_eq!(p.status.code(), Some(1));
    assert!(
        text(&p).contains("tenantsync import Application/billing"),
        "{}",
        text(&p)
    );

    let before = writes(&server).await;
    let app_id = app["app_id"].as_str().unwrap();
    let i = run(
        &server,
        &state,
        &["import", "Application/billing", app_id, "--manifests", m],
    );
    assert_eq!(i.status.code(), Some(0), "{}", text(&i));
    let c = run(
        &server,
        &state,
        &[
            "import",
            "Client/billing/Web",
            app["client_id"].as_str().unwrap(),
            "--manifests",
            m,
        ],
    );
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let wrong = run(
        &server,
        &state,
        &[
            "import",
            "Application/billing",
            app["client_id"].as_str().unwrap(),
            "--manifests",
            m,
        ],
    );
    assert_eq!(
        wrong.status.code(),
        Some(1),
        "a client id is not an application"
    );
    assert_eq!(writes(&server).await, before, "import wrote to the target");

    let p = run(&server, &state, &["plan", "--format", "json", m]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let plan: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1);
    assert_eq!(plan["changes"][0]["app_id"], app_id);
    let fields: Vec<&str> = plan["changes"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["app_description"],
        "only the manifest's real difference"
    );
}

/// The `$schema` link of the first exported file, resolved against the file's directory.
fn schema_link(out: &Path) -> std::path::PathBuf {
    let file = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "yaml"))
        .expect("an exported manifest");
    let text = std::fs::read_to_string(&file).unwrap();
    let link = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
        .unwrap_or_else(|| panic!("no schema link in {}", file.display()));
    assert!(!link.contains("://"), "a link elsewhere: {link}");
    file.parent().unwrap().join(link)
}

#[tokio::test]
async fn exported_files_link_a_schema_that_resolves() {
    let w = crate::harness::Workspace::new();
    w.api()
        .await
        .create_app(&json!({"app_name": "Linked", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    // Outside any repository: a copy is written next to the export.
    let outside = w.dir.path().join("exported");
    let out = w
        .command(
            &w.server.base,
            &["export", "--no-adopt", "--out", outside.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::output_text(&out)
    );
    let resolved = schema_link(&outside);
    assert_eq!(resolved, outside.join("tenantsync.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&resolved).unwrap()).unwrap();
    assert!(schema["$defs"].is_object() || schema["definitions"].is_object());
    // Inside this repository: the committed schema, by a relative path.
    let inside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out = w
        .command(
            &w.server.base,
            &[
                "export",
                "--no-adopt",
                "--out",
                inside.path().to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::output_text(&out)
    );
    let resolved = std::fs::canonicalize(schema_link(inside.path())).unwrap();
    let committed = std::fs::canonicalize(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/tenantsync.schema.json"),
    )
    .unwrap();
    assert_eq!(resolved, committed);
    assert!(!inside.path().join("tenantsync.schema.json").exists());
}

/// Two live clients of one application named alike: one is exported under another name, and
/// the rename the next apply makes is the manifest's (pending), never labelled drift.
#[tokio::test]
async fn a_client_exported_under_a_new_name_is_renamed_as_the_manifests_change_not_as_drift() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    let app = api
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap();
    api.create_client(
        app_id,
        &json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb2"]}),
    )
    .await;
    let state = dir.path().join("state");
    let out = dir.path().join("export");
    let o = run(&server, &state, &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("one is exported as `Web (2)`"),
        "{}",
        text(&o)
    );
    let o = run(
        &server,
        &state,
        &["plan", "--format", "json", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = plan["plan"]["changes"]
        .as_array()
        .or_else(|| plan["changes"].as_array())
        .cloned()
        .unwrap_or_default();
    let rename = changes
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.contains("Web (2)")))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        rename.get("drift").is_none_or(|d| d == false) && rename["pending"] == true,
        "{rename}"
    );
    assert!(rename.to_string().contains("Web (2)"), "{rename}");
    // Applied, the tenant matches the manifests.
    let o = run(&server, &state, &["apply", "--yes", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(
        &server,
        &state,
        &["plan", "--detailed-exitcode", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// `state` shows live names escaped (a tab or an escape in one is shown, never acted on), and
/// an address of no kind it knows is answered with every kind's form.
#[tokio::test]
async fn state_commands_show_live_names_escaped_and_every_address_form() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    api.create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
        "first_client": {"name": "c\ttab\u{1b}[31m", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    let state = dir.path().join("state");
    let out = dir.path().join("export");
    let o = run(&server, &state, &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&server, &state, &["state", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(listed.contains("c\\ttab\\e[31m"), "{listed}");
    assert!(!listed.contains('\u{1b}'), "{listed}");
    assert!(
        listed.lines().all(|l| l.split('\t').count() <= 4),
        "{listed}"
    );
    let o = run(&server, &state, &["state", "show", "Role/shop-clerk"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("Role/APP/ROLE_NAME") && text(&o).contains("Resource/URI"),
        "{}",
        text(&o)
    );
}
