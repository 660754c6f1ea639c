//! Fidelity to the real upstream API: the bundled server is as stingy as upstream's documents
//! (write-only fields never returned, required fields always present), and the reconciler relies
//! on nothing upstream does not promise: write-only fields are managed against last-applied, an
//! app a list leaves out is looked up rather than recreated, a 429 is waited out and sent again,
//! and a generic health answer is never taken for idempotency support.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fault_proxy::{FaultProxy, ProxyOptions};
use crate::harness::{assert_upstream_shape, output_text as text, Reply, Workspace};

const WRITE_ONLY_OIDC: &[&str] = &[
    "role_ids",
    "is_third_party",
    "allowed_scopes",
    "consent_uri",
    "consent_validity_period",
];

type Setup = Workspace;

#[tokio::test]
async fn write_only_fields_are_accepted_but_never_returned() {
    let s = Setup::new();
    let api = s.api().await;
    let app = api
        .create_app(&json!({"app_name": "Portal", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://portal.example.com/cb"]}}))
        .await;
    let app_id = app["app_id"].as_str().unwrap();
    let clients = format!("/v1/applications/{app_id}/clients");
    // A8: create with every write-only field.
    let created = api
        .create_client(
            app_id,
            &json!({"name": "Support", "redirect_uris": ["https://support.example.com/cb"],
                "role_ids": ["support-agent"], "is_third_party": false, "allowed_scopes": ["openid"],
                "consent_uri": "https://support.example.com/consent", "consent_validity_period": 3600}),
        )
        .await;
    let client_id = created["client_id"].as_str().unwrap();
    let one = format!("{clients}/{client_id}");
    let listed = api.get(&clients).await.json();
    let fetched = api.get(&one).await.json();
    // A12: an update sending them answers without them too.
    let updated = api
        .put(&one, &json!({"role_ids": ["support-agent", "billing"]}))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let updated = updated.json();
    let listed_support = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id)
        .unwrap()
        .clone();
    for (what, body) in [
        ("A8 create", &created),
        ("A9 list", &listed_support),
        ("A11 get", &fetched),
        ("A12 update", &updated),
    ] {
        for field in WRITE_ONLY_OIDC {
            assert!(
                body.get(field).is_none(),
                "{what} returned `{field}`: {body}"
            );
        }
        // Required by upstream's response schema, never set by this client: present anyway.
        for field in [
            "description",
            "client_group_id",
            "device_authorization",
            "enforce_par",
        ] {
            assert!(body.get(field).is_some(), "{what} lacks `{field}`: {body}");
        }
    }
    // SAML: supported_prompts is write-only there.
    let saml = api
        .create_client(
            app_id,
            &json!({"name": "SSO", "authentication_protocol": "saml", "sp_entity_id": "urn:sp",
                "supported_prompts": ["login"]}),
        )
        .await;
    assert!(saml.get("supported_prompts").is_none(), "{saml}");
    assert_eq!(saml["sign_assertion"], false, "{saml}");
}

#[tokio::test]
async fn the_shape_check_catches_what_upstream_would_never_send() {
    let reply = |text: Value| Reply {
        status: 200,
        text: text.to_string(),
    };
    let client = json!({"app_id": "a", "tenant_id": "t", "client_id": "c", "client_secret": "s",
        "created_at": "2026-12-04T09:40:00Z", "updated_at": "2026-12-04T09:40:00Z", "authentication_protocol": "oidc", "name": "Web",
        "description": "", "resources": [], "client_group_id": "", "default_custom_claims": [],
        "redirect_uris": [], "device_authorization": {"enabled": false, "approval_uri": "", "success_uri": "", "input_uri": ""},
        "ciba_authorization": {"enabled": false}, "supported_prompts": [], "token_expiration": {},
        "session_expiration": 0, "enforce_par": false, "fapi_version_compliancy": false});
    assert_upstream_shape(
        "GET",
        "/v1/applications/a/clients/c",
        &reply(client.clone()),
    );
    let mut with_roles = client.clone();
    with_roles["role_ids"] = json!(["r"]);
    let caught = std::panic::catch_unwind(|| {
        assert_upstream_shape("GET", "/v1/applications/a/clients/c", &reply(with_roles));
    });
    assert!(
        caught.is_err(),
        "a write-only field in a response must fail the check"
    );
    let mut missing = client;
    missing.as_object_mut().unwrap().remove("enforce_par");
    let caught = std::panic::catch_unwind(|| {
        assert_upstream_shape(
            "GET",
            "/v1/applications/a/clients",
            &reply(json!([missing])),
        );
    });
    assert!(
        caught.is_err(),
        "a missing required field must fail the check"
    );
}

const PORTAL: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: portal}
spec:
  app_name: Partner portal
  clients:
    - name: Web
      redirect_uris: ['https://portal.example.com/cb']
    - name: Support
      redirect_uris: ['https://support.example.com/cb']
";

#[tokio::test]
async fn role_ids_are_managed_against_the_last_applied_value() {
    let s = Setup::new();
    let with_roles = |roles: &str| format!("{PORTAL}      role_ids: {roles}\n");
    s.write("portal.yaml", &with_roles("[{id: support-agent}]"));
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The API never shows role_ids: still no change.
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    s.write(
        "portal.yaml",
        &with_roles("[{id: support-agent}, {id: billing}]"),
    );
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("role_ids") && shown.contains("billing"),
        "{shown}"
    );
    assert!(shown.contains("not returned by the API"), "{shown}");
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Removing the field sends the documented reset, although live cannot show the roles.
    s.write("portal.yaml", PORTAL);
    let out = s.run(&["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Client/portal/Support")
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(change["body"], json!({"role_ids": []}), "{change}");
    assert_eq!(change["fields"][0]["op"], "reset");
    assert_eq!(change["fields"][0]["unseen"], true);
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn app_manifest(key: &str, name: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {key}}}\nspec:\n  app_name: {name}\n  app_description: managed\n  clients:\n    - {{name: Web, redirect_uris: ['https://{key}.example.com/cb']}}\n"
    )
}

/// What if upstream lists an application without its `app_id`? A manifest application of that
/// name is neither adopted with an empty id nor created a second time beside it: the plan
/// refuses, saying why, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_listed_without_its_id_is_neither_adopted_nor_doubled() {
    let s = Setup::new();
    let api = s.api().await;
    api.create_app(&json!({
        "app_name": "Shop",
        "client_display_name": "Web",
        "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}
    }))
    .await;
    s.write("shop.yaml", &app_manifest("shop", "Shop"));
    let proxy = FaultProxy::start_with(
        s.upstream(),
        ProxyOptions {
            idless_app: Some("Shop".into()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    // The full read, and the daemon's: only what changed is read, the application by name.
    for args in [&["apply", "--yes"][..], &["plan", "--refresh", "changed"]] {
        let out = s.run_at(&base, args).await;
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {shown}");
        assert!(
            shown.contains("Application/shop") && shown.contains("leaves its `app_id` out"),
            "{args:?}: the plan says why: {shown}"
        );
    }
    assert!(
        proxy.stats.writes().is_empty(),
        "apply wrote: {:?}",
        proxy.stats.writes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_missing_from_the_list_is_looked_up_never_recreated() {
    let s = Setup::new();
    s.write("shop.yaml", &app_manifest("shop", "Shop"));
    s.write("blog.yaml", &app_manifest("blog", "Blog"));
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A list that leaves `Blog` out (a token that sees only some apps, a lagging list).
    let proxy = FaultProxy::start_with(
        s.upstream(),
        ProxyOptions {
            hide_app: Some("Blog".into()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    let out = s.run_at(&base, &["plan", "--detailed-exitcode"]).await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("Application/blog")
            && shown.contains("leaves it out, but a lookup by id")
            && shown.contains("neither created again nor deleted"),
        "the plan says why: {shown}"
    );
    assert!(
        shown.contains("0 to create") && !shown.contains("+ create"),
        "{shown}"
    );
    let out = s.run_at(&base, &["apply", "--yes", "--prune"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        proxy.stats.writes().is_empty(),
        "apply wrote: {:?}",
        proxy.stats.writes()
    );
    let live = s.api().await.get("/v1/applications").await.json();
    assert_eq!(live["result"].as_array().unwrap().len(), 2, "{live}");
}

/// One app to create, behind an upstream-like proxy that answers the first POST 429 with
/// `Retry-After: retry_after` seconds. Returns the workspace, the proxy and its base URL.
async fn shop_behind_a_rate_limit(retry_after: u64) -> (Setup, FaultProxy, String) {
    let s = Setup::new();
    s.write("shop.yaml", &app_manifest("shop", "Shop"));
    let proxy = FaultProxy::start_with(
        s.upstream(),
        ProxyOptions {
            upstream_like: true,
            rate_limit_posts: Some((1, retry_after)),
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    (s, proxy, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_create_is_sent_again_after_retry_after() {
    // Upstream-like (no idempotency advertisement): the second POST is sent only because a 429
    // says the first was not processed.
    let (s, proxy, base) = shop_behind_a_rate_limit(2).await;
    let out = s.run_at(&base, &["apply", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let posts = proxy.stats.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].answered_by_proxy, 429);
    assert_eq!(posts[1].answered_by_proxy, 0);
    assert_eq!(posts[0].key, posts[1].key, "the same request, sent again");
    let waited = posts[1].at - posts[0].at;
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?}");
    let live = s.api().await.get("/v1/applications").await.json();
    assert_eq!(live["result"].as_array().unwrap().len(), 1, "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_longer_than_the_limit_fails_without_waiting() {
    let (s, proxy, base) = shop_behind_a_rate_limit(600).await;
    let out = s
        .run_at(&base, &["apply", "--yes", "--max-retry-after", "5s"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("longer than --max-retry-after 5s"),
        "{}",
        text(&out)
    );
    assert_eq!(proxy.stats.posts().len(), 1);
    // Nothing was created, and nothing is left pending: the next run simply creates it.
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live = s.api().await.get("/v1/applications").await.json();
    assert_eq!(live["result"].as_array().unwrap().len(), 1, "{live}");
}

#[tokio::test]
async fn an_unmanaged_logo_does_not_make_a_saved_plan_refuse() {
    let s = Setup::new();
    s.write("shop.yaml", &app_manifest("shop", "Shop"));
    let out = s.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Someone sets a logo in the portal; no manifest manages it.
    let api = s.api().await;
    let apps = api.get("/v1/applications").await.json();
    let app_id = apps["result"][0]["app_id"].as_str().unwrap().to_owned();
    let r = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"logo": "https://shop.example.com/logo.png"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.write(
        "shop.yaml",
        &app_manifest("shop", "Shop")
            .replace("app_description: managed", "app_description: reviewed"),
    );
    let plan = s.dir.path().join("plan.json");
    let out = s.run(&["plan", "--out", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.run(&["apply", "--yes", "--plan", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let app = api.get(&format!("/v1/applications/{app_id}")).await.json();
    assert_eq!(app["result"]["app_description"], "reviewed");
    assert_eq!(app["result"]["logo"], "https://shop.example.com/logo.png");
}

#[tokio::test]
async fn a_reused_idempotency_key_is_told_apart_from_a_taken_identifier() {
    use tenantsync::targets::http::{Credentials, HttpTarget};
    use tenantsync::targets::{Target, TargetErrorKind};
    let s = Setup::new();
    let (id, secret) = s.server.admin_credentials();
    let target = HttpTarget::new(
        &s.server.base,
        Credentials::ClientCredentials {
            client_id: id,
            client_secret: secret,
        },
        None,
    )
    .unwrap();
    let body = |name: &str, subdomain: &str| {
        json!({"app_name": name, "client_display_name": "Web", "subdomain": subdomain,
            "first_client": {"name": "Web", "redirect_uris": []}})
        .as_object()
        .unwrap()
        .clone()
    };
    let first = target.create_app(&body("A", "a"), "key-1").await.unwrap();
    // The same key and body: the first answer again (the extension this server advertises).
    let again = target.create_app(&body("A", "a"), "key-1").await.unwrap();
    assert_eq!(first["app_id"], again["app_id"]);
    // The same key, another body: "it was applied" (find it by name), not a refusal.
    let reused = target
        .create_app(&body("B", "b"), "key-1")
        .await
        .unwrap_err();
    assert_eq!(reused.kind, TargetErrorKind::KeyReused, "{reused}");
    assert!(!reused.certainly_not_applied());
    // A taken identifier is a refusal: nothing was created.
    let taken = target
        .create_app(&body("C", "a"), "key-2")
        .await
        .unwrap_err();
    assert_eq!(taken.kind, TargetErrorKind::Conflict, "{taken}");
    assert!(taken.certainly_not_applied());
}
