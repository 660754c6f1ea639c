//! The bundled server's API contract: every endpoint (A1–A14, C1–C7, token), its success shape
//! and its documented errors, plus the semantics of mosaic-api.md §5 and decisions.md.

use serde_json::{json, Value};

use crate::harness::{ServeOptions, Server};

fn web_app(name: &str) -> Value {
    json!({
        "app_name": name,
        "app_description": "Orders and couriers",
        "client_display_name": "Web",
        "first_client": {
            "name": "Web",
            "redirect_uris": ["https://food.example.com/cb"],
            "token_expiration": {"access_token_ttl": 3600, "refresh_token_ttl": 1209600, "max_refresh_rotate": 600}
        }
    })
}

#[tokio::test]
async fn applications_endpoints_a1_to_a7() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);

    // A1 create: 201, wrapped app with the default client's mirror fields.
    let app = api.create_app(&web_app("Food Delivery")).await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    assert_eq!(app["app_name"], "Food Delivery");
    assert_eq!(app["client_display_name"], "Web");
    assert_eq!(app["redirect_uris"], json!(["https://food.example.com/cb"]));
    assert_eq!(app["allow_public_signup"], false);
    assert_eq!(app["invite_member_email_expiration_minutes"], 2880);
    assert_eq!(app["login_preferences"], json!({"auth_methods": {}}));
    assert!(app["client_secret"].as_str().unwrap().len() >= 43);
    assert!(
        app.as_object().unwrap().values().all(|v| !v.is_null()),
        "no nulls: {app}"
    );

    // A2 list: wrapped array without logo.
    api.put(
        &format!("/v1/applications/{app_id}"),
        &json!({"logo": "https://cdn.example.com/l.png"}),
    )
    .await;
    let list = api.get("/v1/applications").await;
    assert_eq!(list.status, 200);
    let apps = list.json()["result"].as_array().unwrap().clone();
    assert_eq!(apps.len(), 1);
    assert!(apps[0].get("logo").is_none(), "list omits logo");
    assert_eq!(apps[0]["client_id"], app["client_id"]);

    // A3 basic list.
    let basic = api.get("/v1/applications/list").await;
    assert_eq!(basic.status, 200);
    let basic = basic.json()["result"][0].clone();
    assert_eq!(basic["app_id"], app_id.as_str());
    assert!(basic.get("client_id").is_none());

    // A4 get: includes logo.
    let got = api.get(&format!("/v1/applications/{app_id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.json()["result"]["logo"],
        "https://cdn.example.com/l.png"
    );

    // A5 update: only app_description changes; everything else stays.
    let before = got.json()["result"].clone();
    let updated = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"app_description": "New"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let after = updated.json()["result"].clone();
    assert_eq!(after["app_description"], "New");
    for (k, v) in before.as_object().unwrap() {
        if k != "app_description" && k != "updated_at" {
            assert_eq!(&after[k], v, "field {k} changed");
        }
    }

    // A7 (deprecated) sets the default client's resources.
    let r = api
        .put(
            &format!("/v1/applications/{app_id}/resources"),
            &json!({"resource_ids": ["r1", "r2"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["result"]["resources"], json!(["r1", "r2"]));

    // A6 delete: 204, then 404.
    let d = api.delete(&format!("/v1/applications/{app_id}")).await;
    assert_eq!((d.status, d.text.as_str()), (204, ""));
    let gone = api.get(&format!("/v1/applications/{app_id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error_code"], 404);
    assert!(gone.messages()[0].contains(&app_id));
    // Its clients went with it.
    let clients = api.get(&format!("/v1/applications/{app_id}/clients")).await;
    assert_eq!(clients.status, 404);
}

#[tokio::test]
async fn client_endpoints_a8_to_a14() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app = api.create_app(&web_app("Shop")).await;
    let app_id = app["app_id"].as_str().unwrap();
    let clients_path = format!("/v1/applications/{app_id}/clients");

    // A8 create OIDC and SAML: 201, bare client.
    let ios = api
        .create_client(
            app_id,
            &json!({"name": "iOS", "client_type": "native", "redirect_uris": ["com.example.shop://cb"], "pkce": "enforcePkceInsteadOfClientCredentials"}),
        )
        .await;
    assert!(ios.get("result").is_none(), "clients are not wrapped");
    assert_eq!(ios["authentication_protocol"], "oidc");
    assert_eq!(ios["response_types"], json!(["code", "id_token"]));
    assert_eq!(ios["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(ios["short_cookies_samesite_type"], "lax");
    let saml = api
        .create_client(
            app_id,
            &json!({"name": "Intranet SSO", "authentication_protocol": "saml", "sp_entity_id": "urn:intranet", "sp_acs_url": "https://intranet.example.com/acs", "sp_name_id_type": "email"}),
        )
        .await;
    assert_eq!(saml["authentication_protocol"], "saml");
    for generated in ["metadata_url", "sso_url", "entity_id", "x509_certificate"] {
        assert!(
            saml[generated].as_str().is_some_and(|s| !s.is_empty()),
            "{generated}"
        );
    }

    // A9 list: bare array in creation order.
    let list = api.get(&clients_path).await;
    assert_eq!(list.status, 200);
    let names: Vec<_> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("Web"), json!("iOS"), json!("Intranet SSO")]
    );

    // A11 get.
    let ios_id = ios["client_id"].as_str().unwrap();
    let got = api.get(&format!("{clients_path}/{ios_id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), ios);

    // A12 update.
    let upd = api
        .put(
            &format!("{clients_path}/{ios_id}"),
            &json!({"description": "iPhone app"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.json()["description"], "iPhone app");
    assert_eq!(upd.json()["pkce"], "enforcePkceInsteadOfClientCredentials");

    // A14 resources.
    let res = api
        .put(
            &format!("{clients_path}/{ios_id}/resources"),
            &json!({"resource_ids": ["orders"]}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["resources"], json!(["orders"]));

    // A13 delete one; A10 delete all.
    let d = api.delete(&format!("{clients_path}/{ios_id}")).await;
    assert_eq!(d.status, 204);
    assert_eq!(
        api.get(&format!("{clients_path}/{ios_id}")).await.status,
        404
    );
    let d = api.delete(&clients_path).await;
    assert_eq!(d.status, 204);
    assert_eq!(api.get(&clients_path).await.json(), json!([]));
    // The app survives without clients; client-derived fields are omitted.
    let app_now = api.get(&format!("/v1/applications/{app_id}")).await.json()["result"].clone();
    assert!(app_now.get("client_id").is_none(), "{app_now}");
    // A new client becomes the default.
    let fresh = api
        .create_client(app_id, &json!({"name": "Again", "redirect_uris": []}))
        .await;
    let app_now = api.get(&format!("/v1/applications/{app_id}")).await.json()["result"].clone();
    assert_eq!(app_now["client_id"], fresh["client_id"]);
}

#[tokio::test]
async fn own_clients_family_c1_to_c7_and_app_tokens() {
    let dir = tempfile::tempdir().unwrap();
    // Application tokens may only list and read unless the server grants more.
    let server = Server::start_with(
        &dir.path().join("data"),
        ServeOptions::with_args(vec!["--app-token-permissions".into(), "all".into()]),
    );
    let admin = server.api(&server.admin_token().await);
    let app = admin.create_app(&web_app("Mine")).await;
    let other = admin.create_app(&web_app("Other")).await;
    let app_id = app["app_id"].as_str().unwrap();
    let token = server
        .token_for(
            app["client_id"].as_str().unwrap(),
            app["client_secret"].as_str().unwrap(),
        )
        .await;
    let own = server.api(&token);

    // C1 create, C2 list, C4 get, C5 update, C7 resources, C6 delete, C3 delete all.
    let c = own
        .post(
            "/v1/clients",
            &json!({"name": "CLI", "redirect_uris": ["http://localhost:7000/cb"]}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let cid = c.json()["client_id"].as_str().unwrap().to_owned();
    assert_eq!(c.json()["app_id"], app_id);
    let list = own.get("/v1/clients").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json().as_array().unwrap().len(), 2);
    assert_eq!(
        own.get(&format!("/v1/clients/{cid}")).await.json()["name"],
        "CLI"
    );
    let u = own
        .put(&format!("/v1/clients/{cid}"), &json!({"name": "CLI 2"}))
        .await;
    assert_eq!(u.json()["name"], "CLI 2");
    let r = own
        .put(
            &format!("/v1/clients/{cid}/resources"),
            &json!({"resource_ids": ["x"]}),
        )
        .await;
    assert_eq!(r.json()["resources"], json!(["x"]));
    assert_eq!(own.delete(&format!("/v1/clients/{cid}")).await.status, 204);
    assert_eq!(own.get(&format!("/v1/clients/{cid}")).await.status, 404);

    // An app's token reaches only its own app (decision 7).
    let mine = own.get("/v1/applications").await.json()["result"].clone();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["app_id"], app_id);
    let forbidden = own
        .get(&format!(
            "/v1/applications/{}",
            other["app_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json()["error_code"], 403);
    assert_eq!(
        own.post("/v1/applications", &web_app("Nope")).await.status,
        403
    );
    // A management token has no own app for /v1/clients.
    assert_eq!(admin.get("/v1/clients").await.status, 403);

    // C3 deletes every client; the token's client is gone, so the token stops working.
    assert_eq!(own.delete("/v1/clients").await.status, 204);
    assert_eq!(own.get("/v1/clients").await.status, 401);
    let clients = admin
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await;
    assert_eq!(clients.json(), json!([]));
}

#[tokio::test]
async fn token_endpoint_form_basic_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (id, secret) = server.admin_credentials();
    for url in [
        format!("{}/oidc/token", server.origin),
        format!("{}/oidc/token", server.base),
    ] {
        let res = server
            .http
            .post(&url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert!(body["scope"].as_str().unwrap().contains("apps:delete"));
        // The token is a JWT carrying the documented claims.
        let payload = body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let claims: Value = serde_json::from_slice(&base64_decode(&payload)).unwrap();
        for claim in [
            "sub",
            "iss",
            "iat",
            "exp",
            "aud",
            "scope",
            "roles",
            "client_id",
            "tid",
            "jti",
        ] {
            assert!(
                claims.get(claim).is_some(),
                "claim {claim} missing: {claims}"
            );
        }
        assert_eq!(claims["roles"], json!(["Admin"]));
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
    }
    let bad = server
        .http
        .post(format!("{}/oidc/token", server.origin))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error_code"], 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("invalid client credentials"));
    let grant = server
        .http
        .post(format!("{}/oidc/token", server.origin))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);

    // 401: no token, garbage token, token from another server.
    let api = server.api("not-a-jwt");
    assert_eq!(api.get("/v1/applications").await.status, 401);
    let other_dir = tempfile::tempdir().unwrap();
    let other = Server::start(&other_dir.path().join("data"));
    let foreign = server.api(&other.admin_token().await);
    let r = foreign.get("/v1/applications").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error_code"], 401);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// A server in `dir` whose credentials file adds `reader` (secret `reader-secret`), who may only
/// list and read applications.
fn with_reader(dir: &std::path::Path) -> Server {
    let creds = dir.join("creds.yaml");
    std::fs::write(
        &creds,
        "- {client_id: reader, client_secret: reader-secret, permissions: [apps:list, apps:read]}\n",
    )
    .unwrap();
    Server::start_with(
        &dir.join("data"),
        ServeOptions {
            args: vec!["--credentials".into(), creds.display().to_string()],
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn permissions_403_per_verb() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_reader(dir.path());
    let admin = server.api(&server.admin_token().await);
    let app = admin.create_app(&web_app("A")).await;
    let app_id = app["app_id"].as_str().unwrap();
    let reader = server.api(&server.token_for("reader", "reader-secret").await);
    assert_eq!(reader.get("/v1/applications").await.status, 200);
    assert_eq!(
        reader
            .get(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        200
    );
    let denied = reader.post("/v1/applications", &web_app("B")).await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.messages()[0].contains("apps:create"),
        "{}",
        denied.text
    );
    let denied = reader
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"app_description": "x"}),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert!(denied.messages()[0].contains("apps:edit"));
    assert_eq!(
        reader
            .delete(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        403
    );
    // Nothing changed.
    let after = admin
        .get(&format!("/v1/applications/{app_id}"))
        .await
        .json()["result"]
        .clone();
    assert_eq!(after["app_description"], "Orders and couriers");
}

/// A write the caller may not make is refused (403) whatever its body: malformed JSON, another
/// content type or a bad `Idempotency-Key` is judged (400, 415) only for a caller who may make
/// it, and a caller without the permission learns nothing of what the body would need.
#[tokio::test]
async fn a_write_the_caller_may_not_make_is_403_before_its_body_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_reader(dir.path());
    let admin = server.api(&server.admin_token().await);
    let app = admin.create_app(&web_app("A")).await;
    let app_id = app["app_id"].as_str().unwrap();
    let client_id = app["client_id"].as_str().unwrap();
    // `bad_key`: an empty `Idempotency-Key` (400 when judged).
    let send = |token: String,
                method: reqwest::Method,
                path: String,
                content_type: &'static str,
                bad_key: bool| {
        let http = reqwest::Client::new();
        let url = format!("{}{path}", server.base);
        async move {
            let mut request = http
                .request(method, url)
                .bearer_auth(token)
                .header("content-type", content_type);
            if bad_key {
                request = request.header("idempotency-key", "");
            }
            request
                .body("{not json")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let reader = server.token_for("reader", "reader-secret").await;
    let writes = [
        (reqwest::Method::POST, "/v1/applications".to_owned()),
        (reqwest::Method::PUT, format!("/v1/applications/{app_id}")),
        (
            reqwest::Method::POST,
            format!("/v1/applications/{app_id}/clients"),
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/applications/{app_id}/clients/{client_id}"),
        ),
        (reqwest::Method::POST, "/v1/resources".to_owned()),
        (
            reqwest::Method::POST,
            format!("/v1/applications/{app_id}/roles"),
        ),
    ];
    for (method, path) in &writes {
        for content_type in ["application/json", "text/plain"] {
            let status = send(
                reader.clone(),
                method.clone(),
                path.clone(),
                content_type,
                true,
            )
            .await;
            assert_eq!(status, 403, "{method} {path} ({content_type})");
        }
    }
    // The same requests from a caller who may make them: the body is judged.
    let admin_token = server.admin_token().await;
    for (method, path) in &writes {
        let status = send(
            admin_token.clone(),
            method.clone(),
            path.clone(),
            "text/plain",
            false,
        )
        .await;
        assert_eq!(status, 415, "{method} {path}");
        let status = send(
            admin_token.clone(),
            method.clone(),
            path.clone(),
            "application/json",
            false,
        )
        .await;
        assert_eq!(status, 400, "{method} {path}");
        if *method == reqwest::Method::POST {
            let status = send(
                admin_token.clone(),
                method.clone(),
                path.clone(),
                "application/json",
                true,
            )
            .await;
            assert_eq!(status, 400, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn conflicts_409_for_subdomain_custom_domain_and_hub() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let mut first = web_app("One");
    first["subdomain"] = json!("shop");
    first["custom_domain"] = json!("login.shop.example.com");
    first["authenticator_preferences"] =
        json!({"is_centralized": true, "login_uri": "https://hub.example.com/login"});
    let one = api.create_app(&first).await;
    assert_eq!(one["custom_domain"]["domain"], "login.shop.example.com");
    assert_eq!(one["custom_domain"]["status"], "pending");

    for (field, value) in [
        ("subdomain", json!("SHOP")),
        ("custom_domain", json!("login.shop.example.com")),
        (
            "authenticator_preferences",
            json!({"is_centralized": true, "login_uri": "https://x.example.com"}),
        ),
    ] {
        let mut body = web_app("Two");
        body[field] = value;
        let r = api.post("/v1/applications", &body).await;
        assert_eq!(r.status, 409, "{field}: {}", r.text);
        let json = r.json();
        assert_eq!(json["error_code"], 409);
        assert_eq!(json["ts_error_code"], "identifier_taken");
        assert!(json["message"].is_string());
    }
    // app_name is not unique.
    api.create_app(&web_app("One")).await;
    // After the holder releases the subdomain, another app may take it.
    let one_id = one["app_id"].as_str().unwrap();
    let r = api
        .put(
            &format!("/v1/applications/{one_id}"),
            &json!({"subdomain": "shop-old"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut again = web_app("Three");
    again["subdomain"] = json!("shop");
    api.create_app(&again).await;
    assert_eq!(
        api.get("/v1/applications").await.json()["result"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn object_fields_are_replaced_whole_and_scalars_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app = api.create_app(&web_app("Food")).await;
    let app_id = app["app_id"].as_str().unwrap();
    let client_id = app["client_id"].as_str().unwrap();
    let path = format!("/v1/applications/{app_id}/clients/{client_id}");
    let before = api.get(&path).await.json();
    assert_eq!(before["token_expiration"].as_object().unwrap().len(), 3);

    let r = api
        .put(
            &path,
            &json!({"token_expiration": {"access_token_ttl": 60}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = api.get(&path).await.json();
    assert_eq!(after["token_expiration"], json!({"access_token_ttl": 60}));
    for (k, v) in before.as_object().unwrap() {
        if k != "token_expiration" && k != "updated_at" {
            assert_eq!(&after[k], v, "{k} changed");
        }
    }
}

#[tokio::test]
async fn default_client_mirrors_and_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    // Old-style body: deprecated fields only (2025 revision).
    let app = api
        .create_app(&json!({"app_name": "Legacy", "client_display_name": "Main", "redirect_uris": ["https://legacy.example.com/cb"], "client_type": "web"}))
        .await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let default_id = app["client_id"].as_str().unwrap().to_owned();
    let clients = api
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await
        .json();
    assert_eq!(
        clients.as_array().unwrap().len(),
        1,
        "default client created with the app"
    );
    assert_eq!(clients[0]["name"], "Main");

    // Deprecated fields on GET app track the default client after PUT …/clients/{id}.
    let r = api
        .put(
            &format!("/v1/applications/{app_id}/clients/{default_id}"),
            &json!({"name": "Renamed", "redirect_uris": ["https://new.example.com/cb"], "client_type": "native"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = api.get(&format!("/v1/applications/{app_id}")).await.json()["result"].clone();
    assert_eq!(got["client_display_name"], "Renamed");
    assert_eq!(got["redirect_uris"], json!(["https://new.example.com/cb"]));
    assert_eq!(got["client_type"], "native");

    // Deprecated fields on PUT app write through to the default client (decision 3).
    let r = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"client_description": "via app"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let c = api
        .get(&format!("/v1/applications/{app_id}/clients/{default_id}"))
        .await
        .json();
    assert_eq!(c["description"], "via app");
    // first_client on PUT app updates the default client, whole-object rule included.
    let r = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"first_client": {"token_expiration": {"refresh_token_ttl": 5}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = api
        .get(&format!("/v1/applications/{app_id}/clients/{default_id}"))
        .await
        .json();
    assert_eq!(c["token_expiration"], json!({"refresh_token_ttl": 5}));

    // Deleting the default client promotes the oldest remaining one.
    let second = api
        .create_client(&app_id, &json!({"name": "Second", "redirect_uris": []}))
        .await;
    let third = api
        .create_client(&app_id, &json!({"name": "Third", "redirect_uris": []}))
        .await;
    assert_eq!(
        api.delete(&format!("/v1/applications/{app_id}/clients/{default_id}"))
            .await
            .status,
        204
    );
    let got = api.get(&format!("/v1/applications/{app_id}")).await.json()["result"].clone();
    assert_eq!(got["client_id"], second["client_id"]);
    assert_eq!(got["client_display_name"], "Second");
    let second_id = second["client_id"].as_str().unwrap();
    api.delete(&format!("/v1/applications/{app_id}/clients/{second_id}"))
        .await;
    let got = api.get(&format!("/v1/applications/{app_id}")).await.json()["result"].clone();
    assert_eq!(got["client_id"], third["client_id"]);
}

#[tokio::test]
async fn first_client_wins_over_deprecated_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app = api
        .create_app(&json!({
            "app_name": "Both",
            "client_display_name": "Deprecated name",
            "client_description": "from deprecated field",
            "first_client": {"name": "First client name", "redirect_uris": ["https://both.example.com/cb"]}
        }))
        .await;
    assert_eq!(app["client_display_name"], "First client name");
    assert_eq!(app["client_description"], "from deprecated field");
    // client_display_name is required on create, as both upstream revisions say, even when
    // first_client names the default client; nothing is created.
    let before = api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
        .len();
    let r = api
        .post(
            "/v1/applications",
            &json!({"app_name": "Nameless", "first_client": {"name": "Web", "redirect_uris": []}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.messages(),
        vec!["client_display_name: required field is missing".to_owned()]
    );
    let after = api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused create leaves nothing behind");
    // A SAML first client.
    let saml = api
        .create_app(&json!({
            "app_name": "SSO",
            "client_display_name": "SP",
            "first_client_authentication_protocol": "saml",
            "first_client": {"name": "SP", "sp_entity_id": "urn:sp"}
        }))
        .await;
    let clients = api
        .get(&format!(
            "/v1/applications/{}/clients",
            saml["app_id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(clients[0]["authentication_protocol"], "saml");
    assert!(saml.get("redirect_uris").is_none());
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let send = |key: &'static str, body: Value| {
        let api = api.clone();
        async move {
            let res = api
                .http
                .post(format!("{}/v1/applications", api.base))
                .bearer_auth(&api.token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (s1, b1) = send("key-1", web_app("Once")).await;
    let (s2, b2) = send("key-1", web_app("Once")).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(b1, b2, "the same body is returned");
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    assert_eq!(apps.as_array().unwrap().len(), 1, "one object created");
    let (s3, b3) = send("key-1", web_app("Different")).await;
    assert_eq!(s3, 409, "{b3}");
    assert!(b3.contains("Idempotency-Key"));
    // Concurrent duplicates also create once.
    let (a, b) = tokio::join!(
        send("key-2", web_app("Race")),
        send("key-2", web_app("Race"))
    );
    assert_eq!((a.0, b.0), (201, 201));
    assert_eq!(a.1, b.1);
    // Clients too.
    let app_id = serde_json::from_str::<Value>(&b1).unwrap()["result"]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The retries name the application another way (percent-encoded): one collection, so
    // the same request.
    let encoded = format!("%{:02X}{}", app_id.as_bytes()[0], &app_id[1..]);
    let mut answers = Vec::new();
    for app in [&app_id, &encoded, &app_id] {
        let res = api
            .http
            .post(format!("{}/v1/applications/{app}/clients", api.base))
            .bearer_auth(&api.token)
            .header("Idempotency-Key", "client-key")
            .json(&json!({"name": "Once", "redirect_uris": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let replayed = res.headers().contains_key("idempotent-replayed");
        answers.push((replayed, res.text().await.unwrap()));
    }
    assert_eq!(
        answers.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert!(answers.iter().all(|(_, body)| *body == answers[0].1));
    let clients = api
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await
        .json();
    assert_eq!(clients.as_array().unwrap().len(), 2, "default + one");
    assert_eq!(
        api.get("/v1/applications").await.json()["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn healthz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    api.create_app(&web_app("M")).await;
    let health = server
        .http
        .get(format!("{}/healthz", server.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let text = server.metrics().await;
    use tenantsync::telemetry::prometheus::sample;
    assert_eq!(
        sample(
            &text,
            "tenantsync_server_requests_total",
            &[
                ("method", "POST"),
                ("route", "/cis/v1/applications"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tenantsync_server_objects",
            &[("kind", "application")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tenantsync_server_objects", &[("kind", "client")]),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "tenantsync_server_request_duration_seconds_count",
            &[("route", "/cis/v1/applications")]
        )
        .unwrap()
            >= 1.0
    );
}
