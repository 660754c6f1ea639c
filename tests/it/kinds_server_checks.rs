//! (A second, independent suite written against the same documents.)
//! The bundled server's APIs of the described kinds (resources, SAML service providers, roles,
//! login preferences): CRUD, 409s, 404s, 400s, write-only secrets — every answer checked against
//! upstream's vendored documents by the harness — and the embedded `local` target doing the same.

use serde_json::{json, Value};

use crate::harness::{kinds_schema_problems as upstream_schema_problems, Api, Server};
use tenantsync::model::kinds::{AnyKind, ObjKind};
use tenantsync::targets::local::LocalTarget;
use tenantsync::targets::{Target, TargetErrorKind};

fn resource(uri: &str) -> Value {
    json!({"name": "Orders API", "uri": uri, "access_token_ttl": 3600,
           "refresh_token_ttl": 1209600, "max_refresh_rotate": 600})
}

fn service_provider(entity: &str) -> Value {
    json!({"name": "Payroll", "entity_id": entity,
           "assertion_consumer_service_URL": "https://payroll.example.com/acs"})
}

async fn app(api: &Api, name: &str) -> String {
    let app = api
        .create_app(
            &json!({"app_name": name, "client_display_name": "Web", "first_client": {
            "name": "Web", "redirect_uris": ["https://a.example.com/cb"]}}),
        )
        .await;
    app["app_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_harness_checks_answers_against_the_kinds_documents() {
    for (method, path, status, body) in [
        (
            "GET",
            "/v1/resources",
            200,
            json!({"result": [{"name": "n"}]}),
        ),
        (
            "POST",
            "/v1/serviceprovider/saml2",
            201,
            json!({"result": {}}),
        ),
        (
            "GET",
            "/v1/applications/a/roles/r",
            200,
            json!({"result": {}}),
        ),
        ("GET", "/loginPreferences/a", 200, json!({"result": {}})),
    ] {
        let problems = upstream_schema_problems(method, path, status, &body)
            .unwrap_or_else(|| panic!("{method} {path}: not checked"));
        assert!(!problems.is_empty(), "{method} {path}: {body} passed");
    }
}

#[tokio::test]
async fn resources_crud_uniqueness_and_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);

    let missing = api
        .post("/v1/resources", &json!({"name": "x", "uri": 3}))
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    let text = missing.messages().join("\n");
    assert!(text.contains("uri: expected a string"), "{text}");
    assert!(text.contains("access_token_ttl: required"), "{text}");

    let created = api.post("/v1/resources", &resource("https://orders")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["result"]["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.post("/v1/resources", &resource("https://orders"))
            .await
            .status,
        409
    );
    let listed = api.get("/v1/resources").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["result"][0]["uri"], "https://orders");
    let by_uri = api
        .get("/v1/resources/uri?resourceUri=https%3A%2F%2Forders")
        .await;
    assert_eq!(by_uri.status, 200, "{}", by_uri.text);
    assert_eq!(by_uri.json()["result"]["resource_id"], id.as_str());

    let updated = api
        .put(
            &format!("/v1/resources/{id}"),
            &json!({"description": "orders"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["result"]["description"], "orders");
    assert_eq!(updated.json()["result"]["name"], "Orders API");
    assert_eq!(
        api.put("/v1/resources/nope", &json!({"name": "n"}))
            .await
            .status,
        404
    );
    // A second resource cannot take the first one's uri by update either.
    let other = api.post("/v1/resources", &resource("https://other")).await;
    let other_id = other.json()["result"]["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let taken = api
        .put(
            &format!("/v1/resources/{other_id}"),
            &json!({"uri": "https://orders"}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text);

    // In use while a client lists it; deletable once detached.
    let app_id = app(&api, "Shop").await;
    let client = api
        .create_client(
            &app_id,
            &json!({"name": "M2M", "redirect_uris": ["https://a.example.com/cb"], "resources": [id]}),
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    let in_use = api.delete(&format!("/v1/resources/{id}")).await;
    assert_eq!(in_use.status, 409, "{}", in_use.text);
    assert_eq!(in_use.json()["error_code"], 409);
    let detach = api
        .put(
            &format!("/v1/applications/{app_id}/clients/{client_id}/resources"),
            &json!({"resource_ids": []}),
        )
        .await;
    assert_eq!(detach.status, 200, "{}", detach.text);
    assert_eq!(api.delete(&format!("/v1/resources/{id}")).await.status, 204);
    assert_eq!(api.delete(&format!("/v1/resources/{id}")).await.status, 404);
}

#[tokio::test]
async fn service_providers_crud_and_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let base = "/v1/serviceprovider/saml2";

    let bad = api.post(base, &json!({"name": "Payroll"})).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let created = api.post(base, &service_provider("urn:payroll")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["result"]["service_provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.post(base, &service_provider("urn:payroll"))
            .await
            .status,
        409
    );
    let updated = api
        .put(&format!("{base}/{id}"), &json!({"name": "Payroll 2"}))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(api.get(base).await.json()["result"][0]["name"], "Payroll 2");

    let app_id = app(&api, "HR").await;
    let linked = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"service_providers": [id]}),
        )
        .await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    let in_use = api.delete(&format!("{base}/{id}")).await;
    assert_eq!(in_use.status, 409, "{}", in_use.text);
    api.put(
        &format!("/v1/applications/{app_id}"),
        &json!({"service_providers": []}),
    )
    .await;
    assert_eq!(api.delete(&format!("{base}/{id}")).await.status, 204);
    assert_eq!(api.get(base).await.json()["result"], json!([]));
}

#[tokio::test]
async fn roles_crud_duplicates_and_app_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app_id = app(&api, "Shop").await;
    let roles = format!("/v1/applications/{app_id}/roles");

    assert_eq!(
        api.post(
            "/v1/applications/nope/roles",
            &json!({"role_name": "admin"})
        )
        .await
        .status,
        404
    );
    assert_eq!(api.post(&roles, &json!({})).await.status, 400);
    let created = api
        .post(
            &roles,
            &json!({"role_name": "admin", "permissions": ["orders:read"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let duplicate = api.post(&roles, &json!({"role_name": "admin"})).await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.text);

    let listed = api.get(&roles).await.json()["result"].clone();
    assert_eq!(listed[0]["role_name"], "admin");
    let role_id = listed[0]["role_id"].as_str().unwrap().to_owned();
    let updated = api
        .put(
            &format!("{roles}/{role_id}"),
            &json!({"display_name": "Admins"}),
        )
        .await;
    assert_eq!(updated.status, 202, "{}", updated.text);
    let one = api.get(&format!("{roles}/{role_id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["result"]["display_name"], "Admins");
    assert_eq!(one.json()["result"]["permissions"], json!(["orders:read"]));
    assert_eq!(api.get(&format!("{roles}/nope")).await.status, 404);

    // Deleting the application takes its roles along: a new app never sees them, nor does a
    // recreated store read.
    assert_eq!(
        api.delete(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&roles).await.status, 404);
    let again = app(&api, "Shop 2").await;
    let listed = api
        .get(&format!("/v1/applications/{again}/roles"))
        .await
        .json();
    assert_eq!(listed["result"], json!([]));

    let second = api
        .post(
            &format!("/v1/applications/{again}/roles"),
            &json!({"role_name": "x"}),
        )
        .await;
    assert_eq!(second.status, 201);
    let rid = api
        .get(&format!("/v1/applications/{again}/roles"))
        .await
        .json()["result"][0]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.delete(&format!("/v1/applications/{again}/roles/{rid}"))
            .await
            .status,
        202
    );
    assert_eq!(
        api.get(&format!("/v1/applications/{again}/roles/{rid}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn login_preferences_replace_whole_and_never_return_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let api = server.api(&server.admin_token().await);
    let app_id = app(&api, "Shop").await;
    let path = format!("/loginPreferences/{app_id}");

    let initial = api.get(&path).await;
    assert_eq!(initial.status, 200, "{}", initial.text);
    assert_eq!(initial.json()["result"], json!({"auth_methods": {}}));
    assert_eq!(api.get("/loginPreferences/nope").await.status, 404);

    let apple = api
        .put(
            &format!("{path}/authMethods"),
            &json!({"apple": {"clientId": "c"}}),
        )
        .await;
    assert_eq!(apple.status, 400, "{}", apple.text);
    assert!(apple.messages().iter().any(|m| m.contains("apple.keyId")));
    // Members of the wrong type, outside their values or bounds, or a required one missing
    // one level down: refused as upstream's schema does, nothing stored.
    for (body, member) in [
        (json!({"totp": {"algorithm": "md5"}}), "totp.algorithm"),
        (json!({"totp": {"digits": "six"}}), "totp.digits"),
        (
            json!({"email": {"expiresIn": 5, "message": {}}}),
            "email.message.primaryColor",
        ),
        (
            json!({"webauthn_api": {"rpId": "x", "replaceExistingPasskey": "yes"}}),
            "webauthn_api.replaceExistingPasskey",
        ),
        (
            json!({"sms": {"expiresIn": 5, "maxFailures": null}}),
            "sms.maxFailures",
        ),
        (json!({"google": {"clientId": 5}}), "google.clientId"),
        (
            json!({"password": {"resetValidityMinutes": 5, "passwordComplexity": 5, "passwordMinLength": 20,
            "blockPreviousPasswords": 0, "passwordExpiresIn": 90, "maxPasswordFailures": 5,
            "passwordSuspensionDuration": 15, "message": {"primaryColor": "#111"}}}),
            "password.passwordMinLength",
        ),
    ] {
        let refused = api.put(&format!("{path}/authMethods"), &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert!(
            refused.messages().iter().any(|m| m.contains(member)),
            "{member}: {:?}",
            refused.messages()
        );
    }
    assert_eq!(
        api.get(&path).await.json()["result"],
        json!({"auth_methods": {}})
    );

    let set = api
        .put(
            &format!("{path}/authMethods"),
            &json!({"google": {"clientId": "g", "clientSecret": "top-secret-value"},
                    "sms": {"expiresIn": 5, "maxFailures": 3}}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert!(!set.text.contains("top-secret-value"), "{}", set.text);
    assert_eq!(
        set.json()["result"]["auth_methods"]["google"],
        json!({"clientId": "g"})
    );
    // Replaced whole: sms goes when the next update leaves it out.
    let replaced = api
        .put(
            &format!("{path}/authMethods"),
            &json!({"google": {"clientId": "g2", "clientSecret": "top-secret-value"}}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let read = api.get(&path).await;
    assert_eq!(
        read.json()["result"]["auth_methods"],
        json!({"google": {"clientId": "g2"}})
    );
    for text in [&read.text, &replaced.text] {
        assert!(!text.contains("top-secret-value"));
        assert!(!text.contains("clientSecret"));
    }
    assert_eq!(
        api.put(
            "/loginPreferences/nope/authMethods",
            &json!({"google": {"clientId": "g"}})
        )
        .await
        .status,
        404
    );
    // Deleting the app removes its preferences too: nothing of it can be read.
    api.delete(&format!("/v1/applications/{app_id}")).await;
    assert_eq!(api.get(&path).await.status, 404);
}

#[tokio::test]
async fn the_local_target_serves_the_same_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let target = LocalTarget::open(&dir.path().join("local"), true).unwrap();
    let body = |v: Value| v.as_object().unwrap().clone();

    let created = target
        .create(
            AnyKind::Described(ObjKind::Resource),
            None,
            &body(resource("https://r")),
            "k1",
        )
        .await
        .unwrap();
    let id = created["resource_id"].as_str().unwrap().to_owned();
    // A retried create (same key, same body) answers the first result.
    let retried = target
        .create(
            AnyKind::Described(ObjKind::Resource),
            None,
            &body(resource("https://r")),
            "k1",
        )
        .await
        .unwrap();
    assert_eq!(retried, created);
    let again = target
        .create(
            AnyKind::Described(ObjKind::Resource),
            None,
            &body(resource("https://r")),
            "k2",
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind, TargetErrorKind::Conflict);
    target
        .update(
            AnyKind::Described(ObjKind::Resource),
            None,
            Some(&id),
            &body(json!({"name": "Renamed"})),
        )
        .await
        .unwrap();
    let listed = target
        .list_objects(ObjKind::Resource.into(), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Renamed");

    let app = target
        .create_app(
            &body(
                json!({"app_name": "Shop", "client_display_name": "Web", "first_client": {
                "name": "Web", "redirect_uris": ["https://a.example.com/cb"]}}),
            ),
            "k3",
        )
        .await
        .unwrap();
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    target
        .create(
            AnyKind::Described(ObjKind::Role),
            Some(&app_id),
            &body(json!({"role_name": "admin"})),
            "k4",
        )
        .await
        .unwrap();
    let roles = target
        .list_objects(ObjKind::Role.into(), Some(&app_id))
        .await
        .unwrap();
    assert_eq!(roles[0]["role_name"], "admin");
    assert_eq!(
        target
            .list_objects(ObjKind::LoginPreferences.into(), Some(&app_id))
            .await
            .unwrap(),
        vec![serde_json::Map::new()]
    );
    target
        .update(
            AnyKind::Described(ObjKind::LoginPreferences),
            Some(&app_id),
            None,
            &body(json!({"google": {"clientId": "g", "clientSecret": "s3cr3t"}})),
        )
        .await
        .unwrap();
    let prefs = target
        .list_objects(ObjKind::LoginPreferences.into(), Some(&app_id))
        .await
        .unwrap();
    assert_eq!(prefs[0]["google"], json!({"clientId": "g"}));
    target
        .delete(AnyKind::Described(ObjKind::Resource), None, &id)
        .await
        .unwrap();
    let gone = target
        .delete(AnyKind::Described(ObjKind::Resource), None, &id)
        .await
        .unwrap_err();
    assert_eq!(gone.kind, TargetErrorKind::NotFound);
}

#[tokio::test]
async fn an_application_token_reaches_only_its_own_app_and_reads_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let admin = server.api(&server.admin_token().await);
    let shop = admin
        .create_app(
            &json!({"app_name": "Shop", "client_display_name": "Web", "first_client": {
            "name": "Web", "redirect_uris": ["https://a.example.com/cb"]}}),
        )
        .await;
    let shop_id = shop["app_id"].as_str().unwrap();
    let other = app(&admin, "Other").await;
    let roles = format!("/v1/applications/{shop_id}/roles");
    assert_eq!(
        admin
            .post(&roles, &json!({"role_name": "admin"}))
            .await
            .status,
        201
    );
    let own = server.api(
        &server
            .token_for(
                shop["client_id"].as_str().unwrap(),
                shop["client_secret"].as_str().unwrap(),
            )
            .await,
    );
    assert_eq!(own.get(&roles).await.status, 200);
    assert_eq!(
        own.get(&format!("/loginPreferences/{shop_id}"))
            .await
            .status,
        200
    );
    // Reads only (the default app-token permissions), its own app only, nothing tenant-wide.
    assert_eq!(
        own.post(&roles, &json!({"role_name": "x"})).await.status,
        403
    );
    assert_eq!(
        own.get(&format!("/v1/applications/{other}/roles"))
            .await
            .status,
        403
    );
    assert_eq!(own.get("/v1/resources").await.status, 403);
    assert_eq!(own.get("/v1/serviceprovider/saml2").await.status, 403);
}
