//! The bundled server under bad input, crashes and concurrent openers: durability after SIGKILL,
//! 4xx (never 500) for malformed requests with nothing changed, secrets kept out of logs, the
//! store lock, and graceful shutdown.

use serde_json::{json, Value};

use crate::harness::{ServeOptions, Server};

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let api = server.api(&server.admin_token().await);
    let mut paths = Vec::new();
    for i in 0..20 {
        let app = api
            .create_app(&json!({"app_name": format!("App {i}"), "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": [format!("https://app{i}.example.com/cb")]}}))
            .await;
        let app_id = app["app_id"].as_str().unwrap().to_owned();
        let client = api
            .create_client(
                &app_id,
                &json!({"name": format!("Extra {i}"), "redirect_uris": []}),
            )
            .await;
        paths.push(format!("/v1/applications/{app_id}"));
        paths.push(format!(
            "/v1/applications/{app_id}/clients/{}",
            client["client_id"].as_str().unwrap()
        ));
    }
    // One update last, acknowledged right before the kill.
    let last = api
        .put(
            &paths[0],
            &json!({"app_description": "updated just before the crash"}),
        )
        .await;
    assert_eq!(last.status, 200);
    let mut before = Vec::new();
    for p in &paths {
        before.push(api.get(p).await.text);
    }
    server.kill();

    let server = Server::start(&data);
    let api = server.api(&server.admin_token().await);
    for (p, expected) in paths.iter().zip(&before) {
        let got = api.get(p).await;
        assert_eq!(got.status, 200, "{p} missing after restart");
        assert_eq!(&got.text, expected, "{p} differs after restart");
    }
    assert!(before[0].contains("updated just before the crash"));
}

async fn count_objects(api: &crate::harness::Api) -> (usize, Value) {
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    (apps.as_array().unwrap().len(), apps)
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app = api
        .create_app(&json!({"app_name": "Stable", "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": ["https://stable.example.com/cb"]}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let client_path = format!(
        "/v1/applications/{app_id}/clients/{}",
        app["client_id"].as_str().unwrap()
    );
    let (_, apps_before) = count_objects(&api).await;
    let client_before = api.get(&client_path).await.text;

    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/v1/applications".into(),
            json!({"app_name": "X", "colour": "red"}),
            "unknown field `colour`",
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"app_name": 42}),
            "app_name: expected a string",
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"app_name": "X", "client_type": "desktop"}),
            "expected one of: web, native",
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"app_description": "no name"}),
            "app_name: required field is missing",
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!(["not", "an", "object"]),
            "JSON object",
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"app_name": "X", "allow_public_signup": null}),
            "found null",
        ),
        (
            "POST",
            format!("/v1/applications/{app_id}/clients"),
            json!({"name": "C", "redirect_uris": ["http://evil.example.com/cb"]}),
            "must use https",
        ),
        (
            "POST",
            format!("/v1/applications/{app_id}/clients"),
            json!({"name": "C", "redirect_uris": [], "response_types": ["token"]}),
            "expected one of: code, id_token",
        ),
        (
            "POST",
            format!("/v1/applications/{app_id}/clients"),
            json!({"name": "C", "redirect_uris": [], "default_user_info_claims": ["email"], "sync_id_token_claims_to_userinfo": true}),
            "cannot be set together",
        ),
        (
            "POST",
            format!("/v1/applications/{app_id}/clients"),
            json!({"name": "C", "authentication_protocol": "saml"}),
            "sp_entity_id: required field is missing",
        ),
        (
            "PUT",
            client_path.clone(),
            json!({"token_expiration": {"access_token_ttl": -1}}),
            "token_expiration.access_token_ttl",
        ),
        (
            "PUT",
            client_path.clone(),
            json!({"authentication_protocol": "saml"}),
            "unknown field `authentication_protocol`",
        ),
        (
            "PUT",
            client_path.clone(),
            json!({"device_authorization": {"enabled": true}}),
            "device_authorization.approval_uri: required field is missing",
        ),
        (
            "PUT",
            client_path.clone(),
            json!({"redirect_uri": []}),
            "did you mean `redirect_uris`",
        ),
        (
            "PUT",
            format!("/v1/applications/{app_id}"),
            json!({"subdomain": ["a"]}),
            "subdomain: expected a string, found a list",
        ),
        (
            "PUT",
            format!("/v1/applications/{app_id}/resources"),
            json!({"resource_ids": "r1"}),
            "resource_ids: expected a list",
        ),
    ];
    for (method, path, body, expected) in &cases {
        let r = api.send(method, path, Some(body)).await;
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.text);
        assert_eq!(r.json()["error_code"], 400);
        let messages = r.messages().join(" | ");
        assert!(
            messages.contains(expected),
            "{method} {path} {body}: wanted `{expected}` in {messages}"
        );
    }
    // Several problems in one body: one message each.
    let r = api
        .post(
            "/v1/applications",
            &json!({"app_nme": "X", "client_type": "desk", "logo": 7}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.messages().len(), 5, "{:?}", r.messages());

    // Malformed JSON, wrong content type, oversized body.
    // Its own connection per request: the server closes a connection after refusing a body it
    // did not read, and a pooled connection would then be reused by the next request.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let raw = |content_type: &'static str, body: Vec<u8>| {
        let api = api.clone();
        let fresh = fresh.clone();
        async move {
            let res = fresh
                .post(format!("{}/v1/applications", api.base))
                .bearer_auth(&api.token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (s, b) = raw("application/json", b"{\"app_name\": ".to_vec()).await;
    assert_eq!(s, 400);
    assert!(b.contains("malformed JSON"), "{b}");
    let (s, b) = raw("text/plain", b"{\"app_name\": \"X\"}".to_vec()).await;
    assert_eq!(s, 415);
    assert!(b.contains("application/json"), "{b}");
    let mut huge = b"{\"app_name\": \"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    huge.extend(b"\"}");
    let (s, b) = raw("application/json", huge).await;
    assert_eq!(s, 413, "{b}");
    assert!(b.contains("exceeds"), "{b}");

    // Unknown routes and methods answer JSON errors too.
    assert_eq!(api.get("/v1/nothing-here").await.status, 404);
    assert_eq!(
        api.send(
            "PATCH",
            &format!("/v1/applications/{app_id}"),
            Some(&json!({}))
        )
        .await
        .status,
        405
    );

    // Nothing was created or changed, and nothing answered 500.
    let (n, apps_after) = count_objects(&api).await;
    assert_eq!(n, 1);
    assert_eq!(apps_after, apps_before);
    assert_eq!(api.get(&client_path).await.text, client_before);
    let metrics = server.metrics().await;
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let admin_secret = "admin-secret-canary-7f3a9c1e5b2d4f60a8c7";
    let mut server = Server::start_with(
        &dir.path().join("data"),
        ServeOptions {
            env: vec![
                (
                    "TENANTSYNC_ADMIN_CLIENT_ID".into(),
                    "admin-canary-id".into(),
                ),
                ("TENANTSYNC_ADMIN_CLIENT_SECRET".into(), admin_secret.into()),
            ],
            ..Default::default()
        },
    );
    let token = server.token_for("admin-canary-id", admin_secret).await;
    let api = server.api(&token);
    let mut secrets = vec![admin_secret.to_owned()];
    for i in 0..3 {
        let app = api
            .create_app(&json!({"app_name": format!("S{i}"), "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": []}}))
            .await;
        secrets.push(app["client_secret"].as_str().unwrap().to_owned());
        let app_id = app["app_id"].as_str().unwrap();
        let c = api
            .create_client(app_id, &json!({"name": "More", "redirect_uris": []}))
            .await;
        secrets.push(c["client_secret"].as_str().unwrap().to_owned());
        // Use the client's secret at the token endpoint, right and wrong.
        server
            .token_for(
                c["client_id"].as_str().unwrap(),
                c["client_secret"].as_str().unwrap(),
            )
            .await;
        api.get(&format!("/v1/applications/{app_id}/clients")).await;
    }
    let bad = crate::support::token_request(
        &server.http,
        &server.origin,
        "admin-canary-id",
        "wrong-canary-secret-xyz",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    secrets.push("wrong-canary-secret-xyz".to_owned());
    assert_eq!(server.terminate().code(), Some(0));
    let logs = server.logs();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "logs were captured at trace level"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret appeared in the logs"
        );
    }
    assert!(
        !logs.contains(&token),
        "the bearer token appeared in the logs"
    );
}

#[tokio::test]
async fn second_server_on_same_data_dir_fails_at_once_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = Server::start(&data);
    let out = std::process::Command::new(crate::harness::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(
        stderr.contains(&data.join("store").display().to_string()),
        "{stderr}"
    );
}

#[tokio::test]
async fn generated_admin_credentials_file_is_private_and_reused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let creds = server.admin_credentials();
    let mode = std::fs::metadata(data.join("admin-credentials"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!server.logs().contains(&creds.1));
    assert_eq!(server.terminate().code(), Some(0), "SIGTERM exits 0");
    let server = Server::start(&data);
    assert_eq!(
        server.admin_credentials(),
        creds,
        "credentials survive restarts"
    );
    server.admin_token().await;
}

#[tokio::test]
async fn custom_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        ServeOptions {
            args: vec!["--base-path".into(), "/api".into()],
            ..Default::default()
        },
    );
    let token = server.admin_token().await;
    let res = server
        .http
        .get(format!("{}/api/v1/applications", server.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = server
        .http
        .get(format!("{}/cis/v1/applications", server.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// A path segment that does not decode is refused (400) on every kind's routes, never read as
/// absent: an application's token must not create in its own application what it sent to
/// another. A management token on `/v1/clients…` is refused (403) before its body is read.
#[tokio::test]
async fn undecodable_ids_are_refused_and_own_routes_need_an_application() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        ServeOptions::with_args(vec!["--app-token-permissions".into(), "all".into()]),
    );
    let admin = server.api(&server.admin_token().await);
    let app = admin
        .create_app(&json!({"app_name": "Own", "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap();
    let client_id = app["client_id"].as_str().unwrap();
    let mine = server.api(
        &server
            .token_for(client_id, app["client_secret"].as_str().unwrap())
            .await,
    );
    let (apps_before, clients_before) = (
        admin.get("/v1/applications").await.text,
        admin
            .get(&format!("/v1/applications/{app_id}/clients"))
            .await
            .text,
    );
    let new_client = json!({"name": "Z", "redirect_uris": []});
    let item = format!("/v1/applications/{app_id}/clients/%FF");
    for (api, method, path, body) in [
        (&admin, "GET", "/v1/applications/%FF".to_owned(), None),
        (
            &admin,
            "PUT",
            "/v1/applications/%FF".to_owned(),
            Some(json!({})),
        ),
        (&admin, "DELETE", "/v1/applications/%FF".to_owned(), None),
        (
            &admin,
            "GET",
            "/v1/applications/%FF/clients".to_owned(),
            None,
        ),
        (&admin, "GET", item.clone(), None),
        (&admin, "PUT", item.clone(), Some(json!({}))),
        (&admin, "DELETE", item, None),
        (
            &admin,
            "PUT",
            "/v1/resources/%FF".to_owned(),
            Some(json!({})),
        ),
        (
            &admin,
            "GET",
            format!("/v1/applications/{app_id}/roles/%FF"),
            None,
        ),
        (&admin, "GET", "/loginPreferences/%FF".to_owned(), None),
        (
            &mine,
            "GET",
            "/v1/applications/%FF/clients".to_owned(),
            None,
        ),
        (
            &mine,
            "POST",
            "/v1/applications/%FF/clients".to_owned(),
            Some(new_client.clone()),
        ),
        (
            &mine,
            "POST",
            "/v1/applications/%FF/roles".to_owned(),
            Some(json!({"role_name": "r"})),
        ),
        (&mine, "GET", "/v1/clients/%FF".to_owned(), None),
    ] {
        let r = api.send(method, &path, body.as_ref()).await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert!(
            r.text.contains("Invalid URL"),
            "{method} {path}: {}",
            r.text
        );
    }
    assert_eq!(admin.get("/v1/applications").await.text, apps_before);
    let clients = format!("/v1/applications/{app_id}/clients");
    assert_eq!(admin.get(&clients).await.text, clients_before);
    let roles = admin.get(&format!("/v1/applications/{app_id}/roles")).await;
    assert_eq!(roles.json()["result"], json!([]), "no role was created");
    // The application's own clients: its token reaches them; a management token has none,
    // and is told so whatever its body.
    assert_eq!(mine.get("/v1/clients").await.status, 200);
    let r = admin
        .http
        .post(format!("{}/v1/clients", admin.base))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("management token has no application"));
}
