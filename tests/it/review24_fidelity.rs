//! Issue 24, fidelity: against an upstream as sparse as its response schemas allow (every
//! field they do not require left out, lists shuffled), an applied manifest that sets
//! non-default values plans nothing, run after run; reordering a set-like list in a manifest
//! plans nothing and does not invalidate a saved plan; export of a tenant answering with a field
//! and an enum value newer than the vendored spec succeeds, warns, and plans to nothing.

use serde_json::{json, Value};

use crate::fault_proxy::{FaultProxy, ProxyOptions};
use crate::harness::{output_text as text, Workspace};

/// Non-default values throughout, above all of fields whose response schema requires nothing
/// and documents no default (`signing_key_enabled`, `token_endpoint_auth_method`, `pkce`,
/// `token_expiration`, `login_uri`, `use_centralized_login`, …), set-like lists of several
/// items, and write-only sets.
const SHOP: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  app_description: managed
  allow_public_signup: true
  signing_key_enabled: true
  login_uri: https://shop.example.com/login
  invite_member_uri: https://shop.example.com/invite
  invite_member_email_expiration_minutes: 60
  service_providers: [{id: sp-b}, {id: sp-a}, {id: sp-c}]
  clients:
    - name: Web
      description: storefront
      redirect_uris: [https://shop.example.com/cb, https://shop.example.com/cb2, https://shop.example.com/cb3]
      client_type: native
      token_endpoint_auth_method: none
      pkce: enforcePkceInsteadOfClientCredentials
      response_types: [code]
      resources: [{id: res-b}, {id: res-a}, {id: res-c}]
      role_ids: [{id: role-b}, {id: role-a}]
      supported_prompts: [login, consent]
      token_expiration: {access_token_ttl: 600, refresh_token_ttl: 7200}
      sync_id_token_claims_to_userinfo: true
      short_cookies_samesite_type: none
      enforce_par: true
      session_expiration: 3600
    - name: Partner
      authentication_protocol: saml
      sp_entity_id: urn:partner
      sp_acs_url: https://partner.example.com/acs
      supported_prompts: [login, none]
      use_centralized_login: true
      sign_assertion: true
";

/// `GET base + path` with the server's admin token, as JSON.
async fn get_through(s: &Workspace, base: &str, path: &str) -> Value {
    let token = s.server.admin_token().await;
    s.server
        .http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sparse_shuffling_upstream_plans_nothing_ten_times_after_apply() {
    let s = Workspace::new();
    s.write("shop.yaml", SHOP);
    let proxy = FaultProxy::start_with(
        s.upstream(),
        ProxyOptions {
            upstream_like: true,
            sparse: true,
            shuffle_seed: Some(24),
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    let out = s.run_at(&base, &["apply", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The proxy really answers sparsely and out of order: the fields are stored, but not shown.
    let apps = get_through(&s, &base, "/v1/applications").await;
    let app = &apps["result"][0];
    let app_id = app["app_id"].as_str().unwrap();
    for absent in ["signing_key_enabled", "login_uri", "client_id"] {
        assert!(app.get(absent).is_none(), "{absent} shown: {app}");
    }
    assert_eq!(app["invite_member_email_expiration_minutes"], 60, "{app}");
    let direct = s
        .api()
        .await
        .get(&format!("/v1/applications/{app_id}"))
        .await
        .json();
    assert_eq!(direct["result"]["signing_key_enabled"], true, "{direct}");
    let clients = get_through(&s, &base, &format!("/v1/applications/{app_id}/clients")).await;
    let web = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Web")
        .unwrap_or_else(|| panic!("{clients}"));
    for absent in ["token_endpoint_auth_method", "pkce"] {
        assert!(web.get(absent).is_none(), "{absent} shown: {web}");
    }
    // Required, but none of its members is.
    assert_eq!(web["token_expiration"], json!({}), "{web}");
    assert_eq!(
        web["client_type"], "native",
        "a non-default value with a response default stays"
    );
    let stored = s
        .api()
        .await
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await
        .json();
    let stored_web = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Web")
        .unwrap()
        .clone();
    assert_eq!(stored_web["token_endpoint_auth_method"], "none");
    assert_ne!(
        web["redirect_uris"], stored_web["redirect_uris"],
        "not shuffled"
    );

    let writes = proxy.stats.writes().len();
    for round in 0..10 {
        let out = s.run_at(&base, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(out.status.code(), Some(0), "plan {round}: {}", text(&out));
        assert!(
            text(&out).contains("No changes"),
            "plan {round}: {}",
            text(&out)
        );
    }
    let out = s.run_at(&base, &["apply", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        proxy.stats.writes().len(),
        writes,
        "a second apply wrote: {:?}",
        proxy.stats.writes()
    );
    // The drift report agrees: nothing changed outside tenantsync.
    let out = s.run_at(&base, &["drift", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn reordering_role_ids_or_saml_supported_prompts_plans_no_change() {
    let s = Workspace::new();
    s.write("shop.yaml", SHOP);
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reordered = SHOP
        .replace(
            "role_ids: [{id: role-b}, {id: role-a}]",
            "role_ids: [{id: role-a}, {id: role-b}, {id: role-a}]",
        )
        .replace(
            "supported_prompts: [login, none]",
            "supported_prompts: [none, login]",
        )
        .replace(
            "supported_prompts: [login, consent]",
            "supported_prompts: [consent, login]",
        )
        .replace(
            "service_providers: [{id: sp-b}, {id: sp-a}, {id: sp-c}]",
            "service_providers: [{id: sp-c}, {id: sp-b}, {id: sp-a}]",
        );
    assert_ne!(reordered, SHOP);
    s.write("shop.yaml", &reordered);
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A plan saved before a reorder is still the plan of these manifests.
    s.write(
        "shop.yaml",
        &SHOP.replace("description: storefront", "description: shop front"),
    );
    let plan_file = s.dir.path().join("plan.json");
    let out = s.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    s.write(
        "shop.yaml",
        &reordered.replace("description: storefront", "description: shop front"),
    );
    let out = s.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A real change to a write-only set is still planned.
    s.write(
        "shop.yaml",
        &reordered.replace(
            "role_ids: [{id: role-a}, {id: role-b}, {id: role-a}]",
            "role_ids: [{id: role-a}]",
        ),
    );
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_leaves_out_newer_fields_and_values_warns_and_plans_to_nothing() {
    let s = Workspace::new();
    let api = s.api().await;
    let app = api
        .create_app(&json!({"app_name": "Blog", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://blog.example.com/cb"]}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap();
    api.create_client(
        app_id,
        &json!({"name": "Reader", "redirect_uris": ["https://blog.example.com/read"],
            "response_types": ["code"]}),
    )
    .await;
    // A newer upstream: a client field the vendored spec lacks, and `none` in response_types
    // (the value upstream's response default names).
    let proxy = FaultProxy::start_with(
        s.upstream(),
        ProxyOptions {
            extra_client_fields: vec![("post_logout_redirect_uris".into(), json!([]))],
            none_response_type: true,
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    let clients = get_through(&s, &base, &format!("/v1/applications/{app_id}/clients")).await;
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["post_logout_redirect_uris"] == json!([])
                && c["response_types"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("none"))),
        "{clients}"
    );

    let out_dir = s.manifests();
    let mut cmd = s.command(&base, &["export", "--out", out_dir.to_str().unwrap()]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for client in ["Web", "Reader"] {
        assert!(
            stderr.contains(&format!(
                "warning: Client/blog/{client}: `post_logout_redirect_uris` is left out of the export"
            )),
            "{stderr}"
        );
    }
    let file = std::fs::read_to_string(out_dir.join("blog.yaml")).unwrap();
    assert_eq!(
        file.matches("- post_logout_redirect_uris").count(),
        2,
        "an ignore_fields entry per client: {file}"
    );
    assert!(!file.contains("none"), "{file}");
    // The Reader's own non-default value survives, without `none`.
    let exported: Value =
        serde_yaml::from_str(file.lines().skip(2).collect::<Vec<_>>().join("\n").as_str()).unwrap();
    let reader = exported["spec"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Reader")
        .unwrap_or_else(|| panic!("{exported}"))
        .clone();
    assert_eq!(reader["response_types"], json!(["code"]), "{reader}");
    assert_eq!(
        reader["ignore_fields"],
        json!(["post_logout_redirect_uris"]),
        "{reader}"
    );

    for at in [base.as_str(), s.server.base.as_str()] {
        let out = s.run_at(at, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(out.status.code(), Some(0), "{at}: {}", text(&out));
    }
}
