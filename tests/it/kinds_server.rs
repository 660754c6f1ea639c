//! Issue 25, the bundled server's APIs of the described kinds against their vendored OpenAPI
//! documents: every call goes through the harness's `Api`, which checks each answer the
//! documents describe (success and documented errors) against its schema. The walk covers
//! every operation of the documents the server serves, with upstream's status codes, and the
//! rules upstream states in prose: unique `uri`, `entity_id` and (per application)
//! `role_name`; 409 for deleting a resource or service provider still named; write-only
//! secrets never returned; an application's roles and login preferences go with it.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::harness::{Api, Server};

async fn api() -> (tempfile::TempDir, Server, Api) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let api = server.api(&server.admin_token().await);
    (dir, server, api)
}

/// (method, path template) of every call made, to check the walk covers the documents.
#[derive(Default)]
struct Walk(BTreeSet<(String, String)>);

impl Walk {
    fn saw(&mut self, method: &str, template: &str) {
        self.0.insert((method.to_owned(), template.to_owned()));
    }
}

fn resource(uri: &str) -> Value {
    json!({"name": "Payouts", "uri": uri, "access_token_ttl": 300, "refresh_token_ttl": 0, "max_refresh_rotate": 0})
}

#[tokio::test]
async fn every_documented_operation_answers_as_its_document_says() {
    let (_dir, _server, api) = api().await;
    let mut walk = Walk::default();
    // The check every answer goes through is live: a resource without its required fields is
    // not what the document promises.
    let problems = crate::harness::kinds_schema_problems(
        "GET",
        "/v1/resources",
        200,
        &json!({"result": [{"name": "x"}]}),
    );
    assert!(problems.is_some_and(|p| !p.is_empty()));

    // Resources.
    let r = api
        .post("/v1/resources", &resource("https://api.example.com/a"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    walk.saw("post", "/v1/resources");
    let id = r.json()["result"]["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.post("/v1/resources", &json!({"name": "x"}))
            .await
            .status,
        400
    );
    let dup = api
        .post("/v1/resources", &resource("https://api.example.com/a"))
        .await;
    assert_eq!(dup.status, 409, "a uri identifies a resource: {}", dup.text);
    let r = api.get("/v1/resources").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"].as_array().unwrap().len(), 1);
    walk.saw("get", "/v1/resources");
    let r = api
        .get("/v1/resources/uri?resourceUri=https%3A%2F%2Fapi.example.com%2Fa")
        .await;
    assert_eq!(
        (r.status, r.json()["result"]["resource_id"].clone()),
        (200, json!(id))
    );
    walk.saw("get", "/v1/resources/uri");
    assert_eq!(
        api.get("/v1/resources/uri?resourceUri=https%3A%2F%2Fnone")
            .await
            .status,
        404
    );
    let r = api
        .put(
            &format!("/v1/resources/{id}"),
            &json!({"access_token_ttl": 600}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["result"]["access_token_ttl"], 600);
    assert_eq!(
        r.json()["result"]["name"],
        "Payouts",
        "a partial update keeps the rest"
    );
    walk.saw("put", "/v1/resources/{resourceId}");
    assert_eq!(
        api.put("/v1/resources/nope", &json!({"name": "x"}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.put(&format!("/v1/resources/{id}"), &json!({"bogus": 1}))
            .await
            .status,
        400,
        "an unknown field is refused"
    );
    // In use by a client: 409, then 204 once detached.
    let app = api
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": [], "resources": [id]}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let r = api.delete(&format!("/v1/resources/{id}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.text.contains("client `Web` (") && r.text.contains(") of application `Shop`"),
        "names the referrer and its application: {}",
        r.text
    );
    let clients = api
        .get(&format!("/v1/applications/{app_id}/clients"))
        .await
        .json();
    let client_id = clients[0]["client_id"].as_str().unwrap().to_owned();
    let r = api
        .put(
            &format!("/v1/applications/{app_id}/clients/{client_id}"),
            &json!({"resources": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.delete(&format!("/v1/resources/{id}")).await.status, 204);
    walk.saw("delete", "/v1/resources/{resourceId}");
    assert_eq!(api.delete(&format!("/v1/resources/{id}")).await.status, 404);
    // The freed uri can be used again.
    assert_eq!(
        api.post("/v1/resources", &resource("https://api.example.com/a"))
            .await
            .status,
        201
    );

    // SAML service providers.
    let sp = json!({"name": "Wiki", "entity_id": "https://wiki.example.com", "assertion_consumer_service_URL": "https://wiki.example.com/acs"});
    let r = api.post("/v1/serviceprovider/saml2", &sp).await;
    assert_eq!(r.status, 201, "{}", r.text);
    walk.saw("post", "/v1/serviceprovider/saml2");
    let sp_id = r.json()["result"]["service_provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.post("/v1/serviceprovider/saml2", &sp).await.status, 409);
    assert_eq!(api.get("/v1/serviceprovider/saml2").await.status, 200);
    walk.saw("get", "/v1/serviceprovider/saml2");
    let r = api
        .put(
            &format!("/v1/serviceprovider/saml2/{sp_id}"),
            &json!({"name": "Wiki 2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    walk.saw("put", "/v1/serviceprovider/saml2/{serviceProviderId}");
    let r = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"service_providers": [sp_id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .delete(&format!("/v1/serviceprovider/saml2/{sp_id}"))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    api.put(
        &format!("/v1/applications/{app_id}"),
        &json!({"service_providers": []}),
    )
    .await;
    assert_eq!(
        api.delete(&format!("/v1/serviceprovider/saml2/{sp_id}"))
            .await
            .status,
        204
    );
    walk.saw("delete", "/v1/serviceprovider/saml2/{serviceProviderId}");
    assert_eq!(
        api.delete(&format!("/v1/serviceprovider/saml2/{sp_id}"))
            .await
            .status,
        404
    );

    // Roles of the application.
    let roles = format!("/v1/applications/{app_id}/roles");
    let r = api
        .post(
            &roles,
            &json!({"role_name": "clerk", "permissions": ["orders:read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    walk.saw("post", "/v1/applications/{app_id}/roles");
    let r = api.post(&roles, &json!({"role_name": "clerk"})).await;
    assert_eq!(
        r.status, 409,
        "role names are unique in an application: {}",
        r.text
    );
    assert_eq!(
        api.post(&roles, &json!({"display_name": "x"})).await.status,
        400
    );
    assert_eq!(
        api.post("/v1/applications/nope/roles", &json!({"role_name": "x"}))
            .await
            .status,
        404
    );
    let listed = api.get(&roles).await;
    assert_eq!(listed.status, 200);
    walk.saw("get", "/v1/applications/{app_id}/roles");
    let role_id = listed.json()["result"][0]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api.get(&format!("{roles}/{role_id}")).await;
    assert_eq!(
        (r.status, r.json()["result"]["role_name"].clone()),
        (200, json!("clerk"))
    );
    walk.saw("get", "/v1/applications/{app_id}/roles/{role_id}");
    assert_eq!(api.get(&format!("{roles}/nope")).await.status, 404);
    let r = api
        .put(
            &format!("{roles}/{role_id}"),
            &json!({"display_name": "Clerk"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    walk.saw("put", "/v1/applications/{app_id}/roles/{role_id}");

    // Role groups: written with `role_ids`, answered with the role objects as `roles`.
    let groups = format!("/v1/applications/{app_id}/role-groups");
    let r = api
        .post(&groups, &json!({"name": "Counter", "role_ids": [role_id]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    walk.saw("post", "/v1/applications/{app_id}/role-groups");
    let r = api
        .post(&groups, &json!({"name": "Counter", "role_ids": []}))
        .await;
    assert_eq!(
        r.status, 409,
        "group names are unique in an application: {}",
        r.text
    );
    assert_eq!(
        api.post(&groups, &json!({"name": "No roles"})).await.status,
        400,
        "role_ids is required"
    );
    assert_eq!(
        api.post(&groups, &json!({"name": "Ghost", "role_ids": ["nope"]}))
            .await
            .status,
        400,
        "a group names roles that exist"
    );
    let listed = api.get(&groups).await;
    assert_eq!(listed.status, 200);
    walk.saw("get", "/v1/applications/{app_id}/role-groups");
    let group = listed.json()["result"][0].clone();
    assert_eq!(group["roles"][0]["role_id"], json!(role_id), "{group}");
    assert_eq!(group["roles"][0]["role_name"], "clerk", "{group}");
    assert!(group.get("role_ids").is_none(), "{group}");
    let group_id = group["group_id"].as_str().unwrap().to_owned();
    let r = api
        .put(
            &format!("{groups}/{group_id}"),
            &json!({"display_name": "Counter staff", "role_ids": []}),
        )
        .await;
    assert!(r.status / 100 == 2, "{}", r.text);
    walk.saw("put", "/v1/applications/{app_id}/role-groups/{group_id}");
    let group = api.get(&groups).await.json()["result"][0].clone();
    assert_eq!(
        (group["display_name"].clone(), group["roles"].clone()),
        (json!("Counter staff"), json!([]))
    );
    assert_eq!(
        api.put(&format!("{groups}/nope"), &json!({"name": "x"}))
            .await
            .status,
        404
    );
    // The one-field replacement of its roles.
    let set = format!("{groups}/{group_id}/roles/set");
    let r = api.post(&set, &json!({"role_ids": [role_id]})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    walk.saw(
        "post",
        "/v1/applications/{app_id}/role-groups/{group_id}/roles/set",
    );
    let group = api.get(&groups).await.json()["result"][0].clone();
    assert_eq!(
        (
            group["display_name"].clone(),
            group["roles"][0]["role_id"].clone()
        ),
        (json!("Counter staff"), json!(role_id)),
        "only the roles are replaced"
    );
    assert_eq!(api.post(&set, &json!({})).await.status, 400);
    assert_eq!(
        api.post(&set, &json!({"role_ids": [], "name": "Renamed"}))
            .await
            .status,
        400,
        "it sets only the roles"
    );
    assert_eq!(
        api.post(&set, &json!({"role_ids": ["nope"]})).await.status,
        400
    );
    assert_eq!(
        api.post(
            &format!("{groups}/nope/roles/set"),
            &json!({"role_ids": []})
        )
        .await
        .status,
        404
    );
    let r = api.delete(&format!("{groups}/{group_id}")).await;
    assert!(r.status / 100 == 2, "{}", r.text);
    walk.saw("delete", "/v1/applications/{app_id}/role-groups/{group_id}");
    assert_eq!(
        api.delete(&format!("{groups}/{group_id}")).await.status,
        404
    );

    assert_eq!(api.delete(&format!("{roles}/{role_id}")).await.status, 202);
    walk.saw("delete", "/v1/applications/{app_id}/roles/{role_id}");

    // Login preferences: replaced whole; the secret is kept, never shown.
    let prefs = format!("/loginPreferences/{app_id}");
    let r = api.get(&prefs).await;
    assert_eq!(
        (r.status, r.json()["result"]["auth_methods"].clone()),
        (200, json!({}))
    );
    walk.saw("get", "/loginPreferences/{appId}");
    let methods = json!({"google": {"clientId": "g", "clientSecret": "s3cr3t-value"}, "sms": {"expiresIn": 5, "maxFailures": 3}});
    let r = api.put(&format!("{prefs}/authMethods"), &methods).await;
    assert_eq!(r.status, 200, "{}", r.text);
    walk.saw("put", "/loginPreferences/{appId}/authMethods");
    assert!(!r.text.contains("s3cr3t-value"), "{}", r.text);
    let r = api
        .put(
            &format!("{prefs}/authMethods"),
            &json!({"sms": {"expiresIn": 5, "maxFailures": 3}}),
        )
        .await;
    let shown = api.get(&prefs).await.json();
    assert_eq!(
        shown["result"]["auth_methods"],
        json!({"sms": {"expiresIn": 5, "maxFailures": 3}}),
        "replaced whole: {}",
        r.text
    );
    assert_eq!(
        api.put(
            &format!("{prefs}/authMethods"),
            &json!({"google": {"clientSecret": "x"}})
        )
        .await
        .status,
        400,
        "google needs its clientId"
    );
    assert_eq!(api.get("/loginPreferences/nope").await.status, 404);

    // An application's roles and login preferences go with it.
    api.post(&roles, &json!({"role_name": "gone-with-it"}))
        .await;
    assert_eq!(
        api.delete(&format!("/v1/applications/{app_id}"))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&roles).await.status, 404);
    assert_eq!(api.get(&prefs).await.status, 404);

    // The walk covered every operation the documents give the served routes.
    let served = [
        ("resources", vec![]),
        (
            "service-providers",
            vec!["/v1/serviceprovider/saml2/sso/{serviceProviderId}"],
        ),
        (
            "roles",
            vec![
                "/v1/applications/{app_id}/roles/{role_id}/assignments",
                "/v1/applications/{app_id}/roles/{role_id}/assignments/{entity_id}",
            ],
        ),
        ("role-groups", vec![]),
        ("login-preferences", vec![]),
    ];
    for (document, not_served) in served {
        let path = format!(
            "{}/tests/fixtures/upstream/{document}.openapi.2025.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (template, operations) in doc["paths"].as_object().unwrap() {
            if not_served.contains(&template.as_str()) {
                continue;
            }
            for method in operations.as_object().unwrap().keys() {
                assert!(
                    walk.0.contains(&(method.clone(), template.clone())),
                    "{document}: {method} {template} was not exercised"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_application_token_reaches_only_its_own_roles() {
    let (_dir, _server, admin) = api().await;
    let app = admin
        .create_app(&json!({"app_name": "Own", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    let other = admin
        .create_app(&json!({"app_name": "Other", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    let (own_id, other_id) = (
        app["app_id"].as_str().unwrap(),
        other["app_id"].as_str().unwrap(),
    );
    let client = &admin
        .get(&format!("/v1/applications/{own_id}/clients"))
        .await
        .json()[0];
    let token = _server
        .token_for(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap(),
        )
        .await;
    let own = _server.api(&token);
    assert_eq!(
        own.get(&format!("/v1/applications/{other_id}/roles"))
            .await
            .status,
        403
    );
    assert_eq!(
        own.get("/v1/resources").await.status,
        403,
        "resources are tenant-wide"
    );
}
