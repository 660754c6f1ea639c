//! Issue 24, the bundled server: the token throttle (F6), what an app client's token reads of its
//! siblings (F9), admin tokens across a rotated secret (M7.4), and upstream's required response
//! fields (N1, N2), every answer checked against the vendored OpenAPI document.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};

use crate::harness::{
    assert_token_answer, request_token, upstream_schema_problems, Api, ServeOptions, Server,
};

const ADMIN_ID: &str = "review24-admin";

fn admin_env(secret: &str) -> ServeOptions {
    ServeOptions {
        env: vec![
            ("TENANTSYNC_ADMIN_CLIENT_ID".into(), ADMIN_ID.into()),
            ("TENANTSYNC_ADMIN_CLIENT_SECRET".into(), secret.into()),
        ],
        ..ServeOptions::default()
    }
}

/// An HTTP client whose requests come from `source` (any 127.0.0.0/8 address is this host).
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .build()
        .unwrap()
}

/// A token request's status, `Retry-After` and body.
async fn token_request(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    secret: &str,
) -> (u16, Option<String>, Value) {
    let res = request_token(http, &server.origin, id, secret).await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json().await.unwrap_or(Value::Null);
    assert_token_answer(status, &body);
    (status, retry, body)
}

#[tokio::test]
async fn f6_wrong_secrets_from_one_address_do_not_lock_out_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "review24-admin-secret-0123456789abcdef";
    let server = Server::start_with(&dir.path().join("data"), admin_env(secret));
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let owner = client_from(Ipv4Addr::LOCALHOST);

    for _ in 0..10 {
        let (status, _, body) = token_request(&attacker, &server, ADMIN_ID, "wrong").await;
        assert_eq!(status, 400, "{body}");
    }
    // The failing address is slowed down…
    let (status, retry, _) = token_request(&attacker, &server, ADMIN_ID, "wrong").await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() > 0));
    // …the owner, elsewhere, is not: the right secret gets its token at once.
    let (status, _, body) = token_request(&owner, &server, ADMIN_ID, secret).await;
    assert_eq!(status, 200, "{body}");
    let api = server.api(body["access_token"].as_str().unwrap());
    assert_eq!(api.get("/v1/applications").await.status, 200);

    // The same for an application's confidential client, whose id is public.
    let app = api
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    let (web_id, web_secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    for _ in 0..12 {
        token_request(&attacker, &server, web_id, "guess").await;
    }
    assert_eq!(
        token_request(&attacker, &server, web_id, "guess").await.0,
        429
    );
    let (status, _, body) = token_request(&owner, &server, web_id, web_secret).await;
    assert_eq!(status, 200, "{body}");
}

/// `VmRSS` of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_huge_client_ids_are_refused_before_anything_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "review24-admin-secret-0123456789abcdef";
    let server = Server::start_with(&dir.path().join("data"), admin_env(secret));
    let http = reqwest::Client::new();
    // Warm up: the first token request sets up what every later one reuses.
    assert_eq!(token_request(&http, &server, ADMIN_ID, secret).await.0, 200);
    let before = rss_kb(server.pid());

    // 400 unique client ids of almost 1 MiB (the body limit), 4 at a time.
    let filler = "x".repeat(1024 * 1024 - 400);
    let mut answered = 0;
    for batch in 0..100 {
        let requests = (0..4).map(|i| {
            let id = format!("{batch:03}-{i}-{filler}");
            let (http, server) = (http.clone(), &server);
            async move { token_request(&http, server, &id, "wrong").await }
        });
        for (status, _, body) in futures::future::join_all(requests).await {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_request", "{body}");
            assert!(
                body["error_description"]
                    .as_str()
                    .is_some_and(|d| d.contains("256 bytes")),
                "{body}"
            );
            answered += 1;
        }
    }
    assert_eq!(answered, 400);
    let after = rss_kb(server.pid());
    let grown_mb = after.saturating_sub(before) / 1024;
    eprintln!("server RSS {before} kB → {after} kB");
    assert!(
        grown_mb < 100,
        "the server's memory grew by {grown_mb} MB ({before} kB → {after} kB)"
    );
    // Nothing was recorded against anyone: the right secret still works from the same address.
    assert_eq!(token_request(&http, &server, ADMIN_ID, secret).await.0, 200);
}

#[tokio::test]
async fn f9_an_app_client_reads_only_its_own_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let admin = server.api(&server.admin_token().await);
    // A mobile app whose default client is the native one, plus a confidential web client.
    let (app, web) = admin.create_mobile_app_with_web().await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let (ios_id, ios_secret) = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );
    let (web_id, web_secret) = (
        web["client_id"].as_str().unwrap().to_owned(),
        web["client_secret"].as_str().unwrap().to_owned(),
    );
    let ios = server.api(&server.token_for(&ios_id, &ios_secret).await);

    let mut seen = String::new();
    for path in [
        "/v1/clients".to_owned(),
        format!("/v1/applications/{app_id}/clients"),
    ] {
        let r = ios.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = r.json();
        let by_id = |id: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|c| c["client_id"] == id)
                .cloned()
                .unwrap()
        };
        // client_secret is required in ApiOidcClient: the sibling's is blank, the own one shown.
        assert_eq!(by_id(&web_id)["client_secret"], "", "{list}");
        assert_eq!(by_id(&ios_id)["client_secret"], ios_secret.as_str());
        seen.push_str(&r.text);
    }
    for path in [
        format!("/v1/clients/{web_id}"),
        format!("/v1/applications/{app_id}/clients/{web_id}"),
    ] {
        let r = ios.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["client_secret"], "", "{}", r.text);
        seen.push_str(&r.text);
    }
    // The app's default client is the caller itself: its own secret is shown.
    let r = ios.get(&format!("/v1/applications/{app_id}")).await;
    assert_eq!(r.json()["result"]["client_secret"], ios_secret.as_str());
    assert!(
        !seen.contains(&web_secret),
        "the web client's secret reached the native client's token"
    );

    // The other way round: the web client is the default, a native client reads the app.
    let shop = admin
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    let shop_id = shop["app_id"].as_str().unwrap();
    let shop_web_secret = shop["client_secret"].as_str().unwrap();
    let spa = admin
        .create_client(
            shop_id,
            &json!({"name": "SPA", "client_type": "native", "redirect_uris": ["https://shop.example.com/spa"]}),
        )
        .await;
    let spa_api = server.api(
        &server
            .token_for(
                spa["client_id"].as_str().unwrap(),
                spa["client_secret"].as_str().unwrap(),
            )
            .await,
    );
    for path in [
        format!("/v1/applications/{shop_id}"),
        "/v1/applications".to_owned(),
    ] {
        let r = spa_api.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let result = &r.json()["result"];
        let app = if result.is_array() {
            &result[0]
        } else {
            result
        };
        // Optional (deprecated) in ApiApp: left out.
        assert!(app.get("client_secret").is_none(), "{}", r.text);
        assert_eq!(app["client_id"], shop["client_id"]);
        assert!(!r.text.contains(shop_web_secret), "{}", r.text);
    }

    // The management token still reads every secret, and its cached views are untouched.
    let clients = admin
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await
        .json();
    let secrets: Vec<&str> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_secret"].as_str().unwrap())
        .collect();
    assert!(secrets.contains(&web_secret.as_str()), "{clients}");
    assert!(secrets.contains(&ios_secret.as_str()), "{clients}");
    let shop_now = admin
        .get(&format!("/v1/applications/{shop_id}"))
        .await
        .json();
    assert_eq!(shop_now["result"]["client_secret"], shop_web_secret);
}

#[tokio::test]
async fn m7_4_rotating_the_admin_secret_revokes_the_tokens_issued_before() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = "review24-first-secret-0123456789abcdef";
    let mut server = Server::start_with(&data, admin_env(first));
    let old = server.api(&server.token_for(ADMIN_ID, first).await);
    assert_eq!(old.get("/v1/applications").await.status, 200);

    // A restart with the same secret keeps the token.
    server.terminate();
    let mut server = Server::start_with(&data, admin_env(first));
    let old = Api {
        base: server.base.clone(),
        ..old
    };
    assert_eq!(old.get("/v1/applications").await.status, 200);

    // A restart with a rotated secret (same client id) revokes it.
    server.terminate();
    let rotated = "review24-rotated-secret-0123456789abcdef";
    let server = Server::start_with(&data, admin_env(rotated));
    let old = Api {
        base: server.base.clone(),
        ..old
    };
    let r = old.get("/v1/applications").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("secret has changed"), "{}", r.text);
    let http = reqwest::Client::new();
    assert_eq!(token_request(&http, &server, ADMIN_ID, first).await.0, 400);
    let new = server.api(&server.token_for(ADMIN_ID, rotated).await);
    assert_eq!(new.get("/v1/applications").await.status, 200);
}

/// Every OIDC client field upstream's create schema has, with values other than the defaults.
fn every_oidc_field(name: &str) -> Value {
    json!({
        "name": name,
        "description": "every field",
        "resources": ["https://api.example.com"],
        "authentication_protocol": "oidc",
        "client_group_id": "group-1",
        "default_custom_claims": ["email", "phone_number"],
        "default_user_info_claims": ["fname"],
        "sync_id_token_claims_to_userinfo": false,
        "short_cookies_samesite_type": "none",
        "redirect_uris": ["https://every.example.com/cb"],
        "client_type": "native",
        "device_authorization": {"enabled": true, "approval_uri": "https://every.example.com/approve",
            "success_uri": "https://every.example.com/done", "input_uri": "https://every.example.com/start"},
        "ciba_authorization": {"enabled": true, "login_uri": "https://every.example.com/ciba"},
        "is_third_party": true,
        "allowed_scopes": ["openid", "email"],
        "consent_uri": "https://every.example.com/consent",
        "consent_validity_period": 86400,
        "pkce": "enforcePkceAlongsideClientCredentials",
        "supported_prompts": ["login", "consent"],
        "token_expiration": {"access_token_ttl": 600, "refresh_token_ttl": 7200, "max_refresh_rotate": 60},
        "session_expiration": 3600,
        "enforce_par": true,
        "role_ids": ["role-a"],
        "fapi_version_compliancy": false,
        "token_endpoint_auth_method": "private_key_jwt",
        "response_types": ["code"],
        "authentication_configuration": {"method": "private_key_jwt", "jwks": {"keys": []}},
        "id_token_encryption": {"enabled": false}
    })
}

#[tokio::test]
async fn n1_n2_every_answer_of_varied_apps_validates_against_the_vendored_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    // Every reply below is also validated by the harness against the vendored document
    // (tests/fixtures/upstream/apps.openapi.2026.yml) and the catalogue.
    let admin = server.api(&server.admin_token().await);

    // Deprecated fields only: a default OIDC client without redirect_uris, no description.
    let bare = admin
        .create_app(&json!({"app_name": "Bare", "client_display_name": "Default"}))
        .await;
    // (The app's deprecated `redirect_uris` mirror is optional in ApiApp; the client's is not.)
    let bare_id = bare["app_id"].as_str().unwrap().to_owned();
    let bare_clients = admin
        .get(&format!("/v1/applications/{bare_id}/clients"))
        .await
        .json();
    assert_eq!(
        bare_clients[0]["redirect_uris"],
        json!([]),
        "{bare_clients}"
    );

    // first_client is upstream's oneOf(OIDC create, SAML create): each requires its fields.
    for (first_client, missing) in [
        (json!({"name": "Web"}), "first_client.redirect_uris"),
        (
            json!({"redirect_uris": ["https://x.example.com/cb"]}),
            "first_client.name",
        ),
    ] {
        let r = admin
            .post(
                "/v1/applications",
                &json!({"app_name": "Refused", "client_display_name": "Web", "first_client": first_client}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.messages().iter().any(|m| m.contains(missing)),
            "{missing}: {}",
            r.text
        );
    }
    let r = admin
        .post(
            "/v1/applications",
            &json!({"app_name": "Refused", "client_display_name": "SSO",
                "first_client_authentication_protocol": "saml",
                "first_client": {"name": "SSO", "authentication_protocol": "saml"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.messages()
            .iter()
            .any(|m| m.contains("first_client.sp_entity_id")),
        "{}",
        r.text
    );

    // OIDC first_client with every field; SAML first_client; a described app.
    let every = admin
        .create_app(&json!({"app_name": "Every", "client_display_name": "All",
            "first_client": every_oidc_field("All")}))
        .await;
    let every_id = every["app_id"].as_str().unwrap().to_owned();
    admin
        .create_client(&every_id, &every_oidc_field("All again"))
        .await;
    let saml = admin
        .create_app(
            &json!({"app_name": "Federated", "client_display_name": "SSO",
            "app_description": "SAML first",
            "first_client_authentication_protocol": "saml",
            "first_client": {"name": "SSO", "authentication_protocol": "saml",
                "sp_entity_id": "urn:sp:federated", "sp_acs_url": "https://sp.example.com/acs",
                "sign_assertion": true, "supported_prompts": ["login"]}}),
        )
        .await;
    let saml_id = saml["app_id"].as_str().unwrap().to_owned();

    // Every GET answer.
    let list = admin.get("/v1/applications/list").await;
    assert_eq!(list.status, 200);
    let basics = list.json()["result"].clone();
    assert_eq!(basics.as_array().unwrap().len(), 3, "{basics}");
    for basic in basics.as_array().unwrap() {
        assert!(basic["app_description"].is_string(), "{basic}");
    }
    admin.get("/v1/applications").await;
    for app_id in [&bare_id, &every_id, &saml_id] {
        admin.get(&format!("/v1/applications/{app_id}")).await;
        let clients = admin
            .get(&format!("/v1/applications/{app_id}/clients"))
            .await
            .json();
        for client in clients.as_array().unwrap() {
            let id = client["client_id"].as_str().unwrap();
            let one = admin
                .get(&format!("/v1/applications/{app_id}/clients/{id}"))
                .await;
            assert_eq!(one.status, 200);
        }
    }
    // Documented error answers are checked too.
    let missing = admin.get("/v1/applications/no-such-app").await;
    assert_eq!(missing.status, 404);

    // The check can fail: a basic list item without app_description breaks the document.
    let problems = upstream_schema_problems(
        "GET",
        "/v1/applications/list",
        200,
        &json!({"result": [{"app_id": "a", "tenant_id": "t", "app_name": "n"}]}),
    )
    .expect("the document describes the answer");
    assert!(
        problems.iter().any(|p| p.contains("app_description")),
        "{problems:?}"
    );
    // …and so does an OIDC client without redirect_uris (the response is anyOf(OIDC, SAML)), on
    // either client route family, while the same client with it passes.
    let mut client = bare_clients[0].clone();
    for path in ["/v1/applications/a/clients/c", "/v1/clients/c"] {
        let problems = upstream_schema_problems("GET", path, 200, &client);
        assert_eq!(problems, Some(vec![]), "{path}");
    }
    client.as_object_mut().unwrap().remove("redirect_uris");
    for path in ["/v1/applications/a/clients/c", "/v1/clients/c"] {
        let problems = upstream_schema_problems("GET", path, 200, &client)
            .expect("the document describes the answer");
        assert!(!problems.is_empty(), "{path}: {client}");
    }
}

#[tokio::test]
async fn n8_a_wrong_content_type_at_the_token_endpoint_is_a_documented_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (id, secret) = server.admin_credentials();
    let res = server
        .http
        .post(format!("{}/oidc/token", server.origin))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap();
    // The token endpoint's document lists 200, 400 and 500 only.
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_token_answer(400, &body);
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(body["error_code"], 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("application/x-www-form-urlencoded")),
        "{body}"
    );
}
