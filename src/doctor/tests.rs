//! `doctor`'s conclusions, each from hand-made tokens, responses and headers.

use super::*;
use crate::model::kinds::{AnyKind, ObjKind};
use serde_json::json;

#[test]
fn forbidden_names_the_missing_permission() {
    let c = request_failed("create application", Operation::CreateApp, 403, "no");
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("`apps:create`"), "{}", c.detail);
}

#[test]
fn shapes_and_envelopes() {
    let ok = shape(
        "list",
        "GET /v1/applications",
        Expected::APP_LIST,
        &json!({"result": []}),
    );
    assert_eq!(ok.status, Status::Ok);
    let bare = shape(
        "list",
        "GET /v1/applications",
        Expected::APP_LIST,
        &json!([]),
    );
    assert_eq!(bare.status, Status::Fail);
    let client = json!({"name": "x", "authentication_protocol": "oidc", "role_ids": []});
    let odd = shape("client", "GET …/clients/x", Expected::CLIENT, &client);
    assert_eq!(odd.status, Status::Warn);
    assert!(
        odd.detail.contains("role_ids: upstream never returns it"),
        "{}",
        odd.detail
    );
}

#[test]
fn token_claims_are_reported() {
    let claims =
        json!({"roles": ["Admin"], "ts_permissions": ["apps:list", "apps:read"], "iat": 1000})
            .as_object()
            .unwrap()
            .clone();
    let checks = token(Some(&claims), Some(3600), 1000);
    assert!(checks.iter().any(|c| c.name == "permissions"
        && c.status == Status::Warn
        && c.detail.contains("apps:create")));
    assert!(checks.iter().all(|c| c.status != Status::Fail));
    let skewed = token(Some(&claims), Some(3600), 5000);
    assert!(skewed
        .iter()
        .any(|c| c.name == "clock" && c.status == Status::Warn));
    let report = Report {
        target: "t".into(),
        checks: vec![request_failed("x", Operation::Delete, 403, "no")],
    };
    assert!(!report.safe());
    assert!(report.render_text().contains("fail  x"));
}

#[test]
fn jwt_payload_is_read() {
    use base64::Engine as _;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"roles":["Admin"]}"#);
    let claims = crate::targets::http::jwt_claims(&format!("h.{payload}.s")).unwrap();
    assert_eq!(claims["roles"], json!(["Admin"]));
    assert!(crate::targets::http::jwt_claims("opaque").is_none());
}

fn claims(iat: i64, exp: i64) -> Map<String, Value> {
    json!({"iat": iat, "exp": exp}).as_object().unwrap().clone()
}

#[test]
fn token_lifetimes_name_the_factor() {
    let ok = token_lifetime(300, Some(&claims(1000, 1300)), Some(300));
    assert_eq!(ok.status, Status::Ok, "{}", ok.detail);
    let minutes = token_lifetime(300, Some(&claims(1000, 19000)), Some(18000));
    assert_eq!(minutes.status, Status::Fail);
    assert!(
        minutes
            .detail
            .starts_with("×60: upstream reads token lifetimes as minutes"),
        "{}",
        minutes.detail
    );
    let capped = token_lifetime(300, None, Some(3600));
    assert_eq!(capped.status, Status::Fail);
    assert!(
        capped.detail.starts_with("×12: upstream does not apply"),
        "{}",
        capped.detail
    );
    let short = token_lifetime(300, None, Some(5));
    assert!(short.detail.starts_with("÷60"), "{}", short.detail);
    // The JWT's own claims win over expires_in, and a disagreement is told.
    let lying = token_lifetime(300, Some(&claims(1000, 1300)), Some(18000));
    assert_eq!(lying.status, Status::Ok);
    assert!(
        lying.detail.contains("expires_in says 18000s"),
        "{}",
        lying.detail
    );
    assert_eq!(token_lifetime(300, None, None).status, Status::Warn);
}

#[test]
fn a_nested_update_compares_only_what_was_sent() {
    let sent = json!({"access_token_ttl": 600});
    let sent = sent.as_object().unwrap();
    let before = json!({"access_token_ttl": 300, "refresh_token_ttl": 3600});
    let replaced = nested_update(
        "token_expiration",
        sent,
        &before,
        &json!({"access_token_ttl": 600}),
    );
    assert_eq!(replaced.status, Status::Ok);
    // Sub-fields filled in with defaults are not a merge.
    let filled = json!({"access_token_ttl": 600, "refresh_token_ttl": 0, "max_refresh_rotate": 0});
    assert_eq!(
        nested_update("token_expiration", sent, &before, &filled).status,
        Status::Ok
    );
    let merged = json!({"access_token_ttl": 600, "refresh_token_ttl": 3600});
    let check = nested_update("token_expiration", sent, &before, &merged);
    assert_eq!(check.status, Status::Warn);
    assert!(
        check.detail.contains("refresh_token_ttl still 3600"),
        "{}",
        check.detail
    );
    let ignored = nested_update("token_expiration", sent, &before, &before);
    assert!(
        ignored
            .detail
            .contains("access_token_ttl sent 600, reads 300"),
        "{}",
        ignored.detail
    );
}

/// The "**Required permissions**" of `method path` in a kind's upstream document, without
/// the app-scoped forms.
fn documented(kind: AnyKind, method: &str, path: &str) -> Vec<String> {
    let file = kind.spec().upstream.document;
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/upstream/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // JSON or YAML (folded descriptions read as one line).
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    // Upstream names path parameters its own way (`{appId}`, `{resourceId}`).
    let shape = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    let (_, op) = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(p, _)| shape(p) == shape(path))
        .unwrap_or_else(|| panic!("{kind}: no {path} upstream"));
    let description = op[method]["description"].as_str().unwrap_or_default();
    let (_, after) = description
        .split_once("Required permissions")
        .unwrap_or_else(|| panic!("{kind}: {method} {path} documents no permissions"));
    after
        .lines()
        .next()
        .unwrap()
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|p| !p.starts_with('['))
        .map(str::to_owned)
        .collect()
}

#[test]
fn kind_permissions_are_upstreams() {
    for kind in AnyKind::ALL {
        let spec = kind.spec();
        let p = &spec.permissions;
        let as_strings = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            as_strings(p.read),
            documented(kind, "get", spec.api.collection),
            "{kind}: read"
        );
        assert!(p.read.contains(&spec.read_permission), "{kind}");
        let writes = [
            (spec.api.create, "post", spec.api.collection, p.create),
            (true, "put", spec.api.item, p.edit),
            (spec.api.delete, "delete", spec.api.item, p.delete),
        ];
        for (exists, method, path, ours) in writes {
            if exists {
                assert_eq!(
                    as_strings(ours),
                    documented(kind, method, path),
                    "{kind}: {method}"
                );
            } else {
                assert!(ours.is_empty(), "{kind}: {method} is not an operation");
            }
        }
    }
}

#[test]
fn a_token_without_a_kinds_permissions_is_told_what_to_grant() {
    let apps_only = [
        "apps:list",
        "apps:read",
        "apps:create",
        "apps:edit",
        "apps:delete",
    ];
    let check = kind_permissions(&apps_only);
    assert_eq!(check.status, Status::Warn);
    assert!(
        check.detail.contains(
            "Role read (`roles:read`, or `organizations:read`, `organizations:list`, `roles:list`), create (`roles:create`, or `organizations:create`), edit (`roles:edit`, or `organizations:edit`), delete (`roles:delete`, or `organizations:delete`)"
        ),
        "{}",
        check.detail
    );
    // Resources accept the apps permissions for writes, not for the list.
    assert!(
        check
            .detail
            .contains("Resource read (`resources:list`, or `resources:read`);"),
        "{}",
        check.detail
    );
    // Service providers and login preferences need nothing more than apps:*.
    assert!(
        !check.detail.contains("ServiceProvider") && !check.detail.contains("LoginPreferences")
    );
    let all = [
        "apps:read",
        "apps:edit",
        "apps:create",
        "apps:delete",
        "resources:read",
        "roles:read",
        "roles:create",
        "roles:edit",
        "roles:delete",
    ];
    assert_eq!(kind_permissions(&all).status, Status::Ok);
    // The check is part of what a token's claims tell.
    let claims = json!({"roles": ["Admin"], "ts_permissions": apps_only})
        .as_object()
        .unwrap()
        .clone();
    assert!(token(Some(&claims), None, 0)
        .iter()
        .any(|c| c.name == "kind permissions" && c.status == Status::Warn));
}

#[test]
fn a_kinds_read_is_judged_by_status_and_shape() {
    let what = "GET /v1/resources";
    let good = json!({"result": [{"resource_id": "r", "tenant_id": "t", "name": "P", "uri": "u",
        "access_token_ttl": 1, "refresh_token_ttl": 0, "max_refresh_rotate": 0,
        "created_at": "c", "updated_at": "u"}]});
    let ok = kind_read(ObjKind::Resource, what, 200, "", &good);
    assert_eq!(ok.status, Status::Ok, "{}", ok.detail);
    assert!(ok.detail.contains("1 item(s)"));
    let mut sparse = good;
    sparse["result"][0].as_object_mut().unwrap().remove("uri");
    let odd = kind_read(ObjKind::Resource, what, 200, "", &sparse);
    assert_eq!(odd.status, Status::Warn);
    assert!(odd.detail.contains("`uri` missing"), "{}", odd.detail);
    let refused = kind_read(
        ObjKind::Role,
        "GET /v1/applications/a/roles",
        403,
        "no",
        &Value::Null,
    );
    assert_eq!(
        refused.status,
        Status::Warn,
        "a kind the manifests may not use"
    );
    assert!(
        refused.detail.contains("`roles:read`"),
        "{}",
        refused.detail
    );
    assert!(refused.fix.as_deref().unwrap().contains("`roles:list`"));
    let unserved = kind_read(
        ObjKind::ServiceProvider,
        "GET /v1/serviceprovider/saml2",
        404,
        "",
        &Value::Null,
    );
    assert!(
        unserved
            .detail
            .contains("does not serve SAML service providers"),
        "{}",
        unserved.detail
    );
    // A singleton: its one object, or none.
    let lp = json!({"result": {"auth_methods": {"email": {}}}});
    let one = kind_read(
        ObjKind::LoginPreferences,
        "GET /loginPreferences/a",
        200,
        "",
        &lp,
    );
    assert_eq!(
        (one.status, one.detail.contains("1 item(s)")),
        (Status::Ok, true)
    );
    let bare = kind_read(
        ObjKind::LoginPreferences,
        "GET /loginPreferences/a",
        200,
        "",
        &json!({"auth_methods": {}}),
    );
    assert_eq!(bare.status, Status::Warn);
}

/// Applications' and clients' permissions come from their descriptions: any one documented
/// permission of an operation suffices, and a gap names what to grant.
#[test]
fn app_permissions_follow_the_descriptions() {
    let check = |granted: &[&str]| {
        let claims = json!({"roles": ["Admin"], "ts_permissions": granted, "iat": 1000});
        token(claims.as_object(), Some(3600), 1000)
            .into_iter()
            .find(|c| c.name == "permissions")
            .unwrap()
    };
    // `apps:read` lists and reads applications and reads clients: enough for plan.
    let reader = check(&["apps:read"]);
    assert_eq!(reader.status, Status::Warn);
    assert_eq!(
        reader.detail,
        "the token lacks apps:create, apps:edit, apps:delete"
    );
    assert!(reader.fix.as_deref().unwrap().contains("enough for plan"));
    // `apps:list` lists applications but reads no client.
    let lister = check(&["apps:list", "apps:create", "apps:edit", "apps:delete"]);
    assert_eq!(lister.detail, "the token lacks apps:read");
    assert!(lister
        .fix
        .as_deref()
        .unwrap()
        .contains("plan needs the reads"));
    let all = check(&["apps:read", "apps:create", "apps:edit", "apps:delete"]);
    assert_eq!(all.status, Status::Ok, "{}", all.detail);
}
