//! Issue 25, export / import / lint / doctor for the described kinds, against the real binary:
//! `import` finds objects by address or document name and refuses what it cannot adopt; `lint`
//! reports object findings (TS015) and the role rule (TS014) in every format with positions;
//! `doctor` reads each kind's collection once and tells what the token allows of each kind;
//! `export` of a tenant using every kind (the embedded tenant) writes references by name, ids
//! only in comments, and plans to zero.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{bin, output_text, Server, Workspace};

const TREE: &str = r#"apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec:
  name: Payouts API
  uri: "https://api.example.com/payouts"
  access_token_ttl: 86400
  refresh_token_ttl: 0
  max_refresh_rotate: 0
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: ["https://shop.example.com/cb"]
      response_types: [code]
      role_ids: [shop-clerk]
    - name: Backend
      redirect_uris: []
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: shop-clerk}
spec: {application: shop, role_name: clerk, permissions: [orders:read]}
"#;

#[test]
fn import_names_objects_by_address_or_document_and_refuses_what_it_cannot_adopt() {
    let ws = Workspace::new();
    ws.write("shop.yaml", TREE);
    let manifests = ws.manifests();
    let import = |address: &str, id: &str| {
        ws.command(&ws.server.base, &["import", address, id, "--manifests"])
            .arg(&manifests)
            .output()
            .unwrap()
    };
    // A misspelt document name: refused with a suggestion, and nothing is written.
    let out = import("Resource/payout-api", "r-1");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("did you mean `Resource/payouts-api`"),
        "{text}"
    );
    assert!(!ws.state_written(), "a refused import writes no state");
    // A role belongs to its application: the application comes first.
    let out = import("Role/shop-clerk", "role-1");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("import the application first: `tenantsync import Application/shop"),
        "{text}"
    );
}

fn lint(dir: &Path, format: &str) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(["lint", "--format", format, "manifests"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn lint_reports_object_and_role_findings_with_positions_in_every_format() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join(".git")).unwrap();
    std::fs::create_dir_all(repo.path().join("manifests")).unwrap();
    std::fs::write(repo.path().join("manifests/shop.yaml"), TREE).unwrap();

    let json = lint(repo.path(), "json");
    let found: Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&json)));
    let of = |rule: &str| -> Vec<(String, u64, u64)> {
        found["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| {
                (
                    f["object"].as_str().unwrap().to_owned(),
                    f["line"].as_u64().unwrap(),
                    f["column"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // The Resource's one-day access tokens, at the field.
    assert_eq!(of("TS015"), [("Resource/payouts-api".to_owned(), 7, 3)]);
    // The client without roles, not the one with them.
    assert_eq!(of("TS014"), [("Client/shop/Backend".to_owned(), 21, 7)]);
    // Medium findings only: the default --fail-on high passes.
    assert_eq!(json.status.code(), Some(0), "{}", output_text(&json));

    let text = String::from_utf8(lint(repo.path(), "text").stdout).unwrap();
    assert!(
        text.contains("manifests/shop.yaml:7:3: medium TS015 Resource token lifetimes above the policy limits: access tokens live 1 days (limit 1 hours, `limits.resource_access_token_ttl`) [Resource/payouts-api]"),
        "{text}"
    );
    let markdown = String::from_utf8(lint(repo.path(), "markdown").stdout).unwrap();
    assert!(
        markdown
            .contains("| medium | TS015 | `Resource/payouts-api` | `manifests/shop.yaml:7:3` |"),
        "{markdown}"
    );
    let sarif: Value = serde_json::from_slice(&lint(repo.path(), "sarif").stdout).unwrap();
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(rules.contains(&"TS014") && rules.contains(&"TS015"));
    let ts015 = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "TS015")
        .unwrap();
    let location = &ts015["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "manifests/shop.yaml");
    assert_eq!(location["region"]["startLine"], 7);
}

#[tokio::test]
async fn doctor_reads_each_kind_once_and_tells_what_the_token_allows() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    api.create_app(
        &serde_json::json!({"app_name": "Shop", "client_display_name": "Web",
        "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}),
    )
    .await;
    let (id, secret) = server.admin_credentials();
    let out = Command::new(bin())
        .args(["doctor", "--format", "json", "--target", &server.base])
        .env("TENANTSYNC_CLIENT_ID", &id)
        .env("TENANTSYNC_CLIENT_SECRET", &secret)
        .env_remove("TENANTSYNC_TOKEN")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
    let checks = report["checks"].as_array().unwrap();
    // One read per kind: the tenant's collections and the first application's.
    for (name, path) in [
        ("read resource", "GET /v1/resources"),
        (
            "read SAML service provider",
            "GET /v1/serviceprovider/saml2",
        ),
        ("read role", "/roles"),
        ("read login preferences", "GET /loginPreferences/"),
    ] {
        let found: Vec<&Value> = checks.iter().filter(|c| c["name"] == name).collect();
        assert_eq!(found.len(), 1, "{name}: {report:#}");
        let check = found[0];
        assert!(check["detail"].as_str().unwrap().contains(path), "{check}");
        // A kind's read never makes the target unsafe: only manifests using it need it.
        assert_ne!(check["status"], "fail", "{check}");
    }
    // The bundled server's admin credential holds every permission upstream documents.
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "kind permissions" && c["status"] == "ok"),
        "{report:#}"
    );
    assert_eq!(report["safe"], true, "{report:#}");
    assert!(!output_text(&out).contains(&secret));
}

const GRAPH: &str = r#"apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec: {name: Payouts API, uri: "https://api.example.com/payouts", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: reports-api}
spec: {name: Reports API, uri: "https://api.example.com/reports", access_token_ttl: 600, refresh_token_ttl: 0, max_refresh_rotate: 0}
---
apiVersion: tenantsync/v1
kind: ServiceProvider
metadata: {name: wiki-sp}
spec: {name: Wiki, entity_id: "https://wiki.example.com/saml", assertion_consumer_service_URL: "https://wiki.example.com/acs"}
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  service_providers: [wiki-sp]
  clients:
    - name: Web
      redirect_uris: ["https://shop.example.com/cb"]
    - name: Backend
      redirect_uris: []
      resources: [payouts-api, reports-api]
      role_ids: [clerk]
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec: {application: shop, role_name: clerk, display_name: Clerk, permissions: ["orders:read"]}
---
apiVersion: tenantsync/v1
kind: RoleGroup
metadata: {name: counter}
spec: {application: shop, name: Counter, role_ids: [clerk]}
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec:
  application: shop
  google: {clientId: shop-google, clientSecret: "${env:SHOP_GOOGLE_SECRET}"}
  sms: {expiresIn: 10, maxFailures: 3}
  totp: {period: 60}
"#;

const GOOGLE_SECRET: &str = "g-secret-5be1c";

/// `tenantsync --state-dir DIR/STATE --target local:DIR/tenant ARGS…`, with the Google secret
/// under both the manifests' variable and the one export names.
fn local(dir: &Path, state: &str, args: &[&str]) -> Output {
    let target = format!("local:{}", dir.join("tenant").display());
    Command::new(bin())
        .arg("--state-dir")
        .arg(dir.join(state))
        .args(["--target", &target])
        .args(args)
        .env("SHOP_GOOGLE_SECRET", GOOGLE_SECRET)
        .env(
            "SECRET_LOGINPREFERENCES_SHOP_GOOGLE_CLIENTSECRET",
            GOOGLE_SECRET,
        )
        .env("TENANTSYNC_ENV_ALLOW", "SHOP_GOOGLE_SECRET,SECRET_*")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("TENANTSYNC_STATE")
        .output()
        .unwrap()
}

fn succeeded(out: &Output) -> String {
    let text = output_text(out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.contains(GOOGLE_SECRET),
        "the secret was printed: {text}"
    );
    text
}

/// Every YAML document of the files under `dir`, and all their text.
fn exported(dir: &Path) -> (Vec<Value>, String) {
    let mut files = vec![dir.join("shop.yaml")];
    for name in ["resources.yaml", "saml-service-providers.yaml"] {
        files.push(dir.join("shared").join(name));
    }
    let mut docs = Vec::new();
    let mut text = String::new();
    for file in files {
        let body =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for doc in serde_yaml::Deserializer::from_str(&body) {
            docs.push(serde::Deserialize::deserialize(doc).unwrap());
        }
        text.push_str(&body);
    }
    (docs, text)
}

fn spec<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    &docs
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {docs:#?}"))["spec"]
}

#[test]
fn export_of_every_kind_writes_names_keeps_ids_in_comments_and_plans_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("tree.yaml"), GRAPH).unwrap();
    let m = manifests.to_str().unwrap();
    succeeded(&local(dir.path(), "state", &["apply", "--yes", m]));

    // With the state that applied it: every object keeps its document name.
    let out_dir = dir.path().join("export");
    let e = out_dir.to_str().unwrap();
    let text = succeeded(&local(dir.path(), "state", &["export", "--out", e]));
    assert!(
        text.contains(
            "2 resources, 1 SAML service providers, 1 roles, 1 role groups and 1 login preferences"
        ),
        "{text}"
    );
    let (docs, all) = exported(&out_dir);
    let shop = spec(&docs, "Application", "shop");
    assert_eq!(shop["service_providers"], serde_json::json!(["wiki-sp"]));
    let backend = shop["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Backend")
        .unwrap();
    assert_eq!(
        backend["resources"].as_array().map(Vec::len),
        Some(2),
        "{backend}"
    );
    for r in backend["resources"].as_array().unwrap() {
        assert!(r == "payouts-api" || r == "reports-api", "{backend}");
    }
    // `role_ids` is never returned: the state's last applied value, by name.
    assert_eq!(backend["role_ids"], serde_json::json!(["clerk"]));
    assert_eq!(spec(&docs, "Role", "clerk")["application"], "shop");
    // A role group's roles, which upstream answers as role objects: by name.
    assert_eq!(
        spec(&docs, "RoleGroup", "counter")["role_ids"],
        serde_json::json!(["clerk"])
    );
    let login = spec(&docs, "LoginPreferences", "shop-login");
    assert_eq!(
        login["google"]["clientSecret"],
        "${env:SECRET_LOGINPREFERENCES_SHOP_GOOGLE_CLIENTSECRET}"
    );
    assert!(!all.contains(GOOGLE_SECRET));
    // The members upstream stores at their documented defaults are left out, as the
    // manifest had them.
    assert_eq!(login["totp"], serde_json::json!({"period": 60}), "{all}");
    // Ids only in comments: every live id a comment names appears nowhere else.
    let ids: Vec<&str> = all
        .lines()
        .filter_map(|l| l.split_once(": live ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().nth(1))
        .map(|id| id.trim_end_matches(';'))
        .collect();
    assert_eq!(
        ids.len(),
        5,
        "one per resource, service provider, role and role group: {all}"
    );
    for id in &ids {
        for line in all.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(!line.contains(id), "live id {id} outside a comment: {line}");
        }
    }
    let plan = succeeded(&local(
        dir.path(),
        "state",
        &["plan", "--detailed-exitcode", e],
    ));
    assert!(plan.contains("No changes"), "{plan}");

    // A fresh state: export adopts every object and the next plan is empty. The Google secret
    // was never applied from this state and upstream does not show it: left out, and told.
    let fresh_dir = dir.path().join("fresh");
    let f = fresh_dir.to_str().unwrap();
    let text = succeeded(&local(dir.path(), "fresh-state", &["export", "--out", f]));
    assert!(text.contains("recorded 9 as adopted"), "{text}");
    assert!(
        text.contains(
            "LoginPreferences/shop: `google.clientSecret` is a secret upstream never returns"
        ),
        "{text}"
    );
    // The clients' role_ids cannot be read: said once.
    assert!(
        text.contains("upstream never returns a client's role_ids: 2 clients"),
        "{text}"
    );
    let (docs, _) = exported(&fresh_dir);
    let group = docs
        .iter()
        .find(|d| d["kind"] == "RoleGroup")
        .unwrap_or_else(|| panic!("no RoleGroup in {docs:#?}"));
    let role = docs
        .iter()
        .find(|d| d["kind"] == "Role")
        .unwrap_or_else(|| panic!("no Role in {docs:#?}"));
    assert_eq!(
        group["spec"]["role_ids"],
        serde_json::json!([role["metadata"]["name"]]),
        "a role group names its roles by their exported documents"
    );
    let login = spec(&docs, "LoginPreferences", "shop-login-preferences");
    assert_eq!(
        login["google"],
        serde_json::json!({"clientId": "shop-google"})
    );
    let plan = succeeded(&local(
        dir.path(),
        "fresh-state",
        &["plan", "--detailed-exitcode", f],
    ));
    assert!(plan.contains("No changes"), "{plan}");
    // What export recorded is what an apply would: no record is written again, references
    // (an application's service providers, a client's resources) included.
    assert!(!plan.contains("state only"), "{plan}");
    assert!(!plan.contains("now managed"), "{plan}");
}

#[test]
fn an_id_no_exported_document_has_stays_an_id_with_a_comment() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("shop.yaml"),
        "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Backend
      redirect_uris: []
      resources: [{id: ext-resource-1}]
",
    )
    .unwrap();
    succeeded(&local(
        dir.path(),
        "state",
        &["apply", "--yes", manifests.to_str().unwrap()],
    ));
    let e = dir.path().join("export");
    let out = local(
        dir.path(),
        "state",
        &["export", "--out", e.to_str().unwrap()],
    );
    let text = succeeded(&out);
    // Each collection read once: applications, the app, its clients, and one per kind.
    assert!(text.contains("8 requests: 8 GET"), "{text}");
    assert!(
        text.contains("names the resource ext-resource-1 that no exported document describes"),
        "{text}"
    );
    let file = std::fs::read_to_string(e.join("shop.yaml")).unwrap();
    assert!(
        file.contains("- id: ext-resource-1 # not managed by tenantsync: no exported Resource document has this id"),
        "{file}"
    );
    let plan = succeeded(&local(
        dir.path(),
        "state",
        &["plan", "--detailed-exitcode", e.to_str().unwrap()],
    ));
    assert!(plan.contains("No changes"), "{plan}");
}

/// `state list`: address → live id.
fn listed_ids(dir: &Path, state: &str) -> std::collections::BTreeMap<String, String> {
    succeeded(&local(dir, state, &["state", "list"]))
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn import_adopts_objects_of_every_kind_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("tree.yaml"), GRAPH).unwrap();
    let m = manifests.to_str().unwrap();
    succeeded(&local(dir.path(), "state", &["apply", "--yes", m]));
    let ids = listed_ids(dir.path(), "state");
    let app_id = ids["Application/shop"].clone();
    // Another state adopts the same tenant object by object, by document name.
    let import = |address: &str, id: &str| {
        let out = local(
            dir.path(),
            "other",
            &["import", address, id, "--manifests", m],
        );
        // The request summary: reads only.
        let text = output_text(&out);
        for verb in ["POST", "PUT", "DELETE"] {
            assert!(!text.contains(verb), "import wrote: {text}");
        }
        out
    };
    succeeded(&import("Application/shop", &app_id));
    for client in ["Web", "Backend"] {
        let address = format!("Client/shop/{client}");
        succeeded(&import(&address, &ids[&address]));
    }
    let resource = &ids["Resource/https://api.example.com/payouts"];
    // Another live resource than the one whose uri is the manifest's: the next apply would
    // give it a uri that one holds (a 409). Refused, naming the right one.
    let wrong = import(
        "Resource/payouts-api",
        &ids["Resource/https://api.example.com/reports"],
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", output_text(&wrong));
    assert!(
        output_text(&wrong).contains(&format!(
            "import that one: `tenantsync import Resource/payouts-api {resource}`"
        )),
        "{}",
        output_text(&wrong)
    );
    let text = succeeded(&import("Resource/payouts-api", resource));
    assert!(
        text.contains("Resource/payouts-api now manages the live object"),
        "{text}"
    );
    // The same object twice: refused, naming the entry that has it.
    let again = import("Resource/reports-api", resource);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        output_text(&again).contains("already managed as Resource/https://api.example.com/payouts"),
        "{}",
        output_text(&again)
    );
    succeeded(&import(
        "Resource/https://api.example.com/reports",
        &ids["Resource/https://api.example.com/reports"],
    ));
    succeeded(&import(
        "ServiceProvider/wiki-sp",
        &ids["ServiceProvider/https://wiki.example.com/saml"],
    ));
    succeeded(&import("Role/shop/clerk", &ids["Role/shop/clerk"]));
    succeeded(&import("RoleGroup/counter", &ids["RoleGroup/shop/Counter"]));
    // Login preferences have no id of their own: the application's.
    let wrong = import("LoginPreferences/shop-login", "not-the-app");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(output_text(&wrong).contains("give the application's app_id"));
    succeeded(&import("LoginPreferences/shop-login", &app_id));
    let adopted = listed_ids(dir.path(), "other");
    assert_eq!(adopted, ids, "the same objects, under the same addresses");
}
