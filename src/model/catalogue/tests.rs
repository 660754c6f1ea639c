//! The catalogue checked against upstream's OpenAPI document and the wire types.
use super::*;
use std::collections::BTreeSet;

const UPSTREAM: &str = include_str!("../../../tests/fixtures/upstream/apps.openapi.2026.yml");

fn upstream() -> Value {
    let doc: serde_yaml::Value = serde_yaml::from_str(UPSTREAM).expect("upstream YAML");
    serde_json::to_value(doc).expect("as JSON")
}

/// Properties of a schema (following `allOf` references for nested objects).
fn properties(schemas: &Value, name: &str) -> Map<String, Value> {
    schemas[name]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("upstream has no schema {name}"))
}

fn required(schemas: &Value, name: &str) -> BTreeSet<String> {
    schemas[name]["required"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn names(fields: impl Iterator<Item = &'static Field>) -> BTreeSet<String> {
    fields.map(|f| f.name.to_owned()).collect()
}

/// (catalogue object, upstream response schema, upstream input schemas): the top-level objects
/// as the application's and client's descriptions name them, then the nested ones.
fn mapping() -> Vec<(Object, &'static str, Vec<&'static str>)> {
    let top = [
        &crate::model::kinds::APPLICATION,
        &crate::model::kinds::CLIENT,
    ]
    .into_iter()
    .flat_map(|spec| spec.catalogue.iter().zip(spec.upstream.schemas))
    .map(|(object, s)| {
        let inputs = s.create.into_iter().chain([s.update]).collect();
        (*object, s.response, inputs)
    });
    let nested = NESTED
        .iter()
        .map(|(object, response, inputs)| (*object, *response, inputs.to_vec()));
    top.chain(nested).collect()
}

/// The nested objects: (catalogue object, upstream schema, upstream input schemas).
const NESTED: &[(Object, &str, &[&str])] = &[
    (
        Object::DeviceAuthorization,
        "ApiDeviceAuthConfiguration",
        &[],
    ),
    (Object::CibaAuthorization, "ApiCibaAuthConfiguration", &[]),
    (
        Object::TokenExpiration,
        "ApiTokenExpirationConfiguration",
        &[],
    ),
    (
        Object::AuthenticationConfiguration,
        "ApiClientAuthenticationConfiguration",
        &[],
    ),
    (Object::TlsClientAuth, "TlsClientAuth", &[]),
    (
        Object::IdTokenEncryption,
        "ApiIdTokenEncryptionConfiguration",
        &[],
    ),
    (
        Object::AuthenticatorPreferences,
        "ApiAuthenticatorAppPreferences",
        &[],
    ),
    (Object::CustomDomain, "ApiCustomDomainOutput", &[]),
    (
        Object::ExternalCommunication,
        "ApiExternalCommunication",
        &[],
    ),
    (
        Object::RefreshTokenInvalidationTriggers,
        "ApiRefreshTokenInvalidationTriggerConfiguration",
        &[],
    ),
];

#[test]
fn response_facts_match_upstream() {
    let doc = upstream();
    let schemas = &doc["components"]["schemas"];
    for (object, response, inputs) in mapping() {
        let fields = object.fields();
        let returned: BTreeSet<String> = properties(schemas, response).keys().cloned().collect();
        let ours_returned = names(fields.iter().filter(|f| f.returned()));
        // `ca` is a 2025-revision member upstream dropped from the 2026 document.
        let extra: BTreeSet<_> = ours_returned.difference(&returned).collect();
        assert!(
            extra.is_empty() || (extra.len() == 1 && extra.contains(&"ca".to_owned())),
            "{object:?}: returned here, not a property of upstream's {response}: {extra:?}"
        );
        let missing: BTreeSet<_> = returned.difference(&ours_returned).collect();
        assert!(
            missing.is_empty(),
            "{object:?}: upstream's {response} has {missing:?}, the catalogue does not return them"
        );
        let ours_required = names(fields.iter().filter(|f| f.presence == Presence::Required));
        assert_eq!(
            ours_required,
            required(schemas, response),
            "{object:?}: fields required in upstream's {response}"
        );
        let mut accepted = BTreeSet::new();
        for input in &inputs {
            accepted.extend(properties(schemas, input).keys().cloned());
        }
        if !inputs.is_empty() {
            let write_only: BTreeSet<String> = accepted.difference(&returned).cloned().collect();
            let ours = names(fields.iter().filter(|f| !f.returned()));
            assert_eq!(
                ours, write_only,
                "{object:?}: accepted in requests, never returned"
            );
            let sent = names(fields.iter().filter(|f| f.flow != Flow::ReadOnly));
            assert_eq!(sent, accepted, "{object:?}: fields accepted in requests");
            let create = required(schemas, inputs[0]);
            let ours_create = names(fields.iter().filter(|f| f.required_on_create));
            assert_eq!(ours_create, create, "{object:?}: required on create");
        } else {
            // A nested object's one schema is its requests' too: what it requires, a request
            // that sends the object must set.
            let sent_required: BTreeSet<String> = required(schemas, response)
                .into_iter()
                .filter(|n| object.field(n).is_some_and(|f| f.flow != Flow::ReadOnly))
                .collect();
            let ours_create = names(fields.iter().filter(|f| f.required_on_create));
            assert_eq!(
                ours_create, sent_required,
                "{object:?}: members a request must set"
            );
        }
    }
}

/// The `default` of each property of `schema`.
fn defaults_of(schemas: &Value, schema: &str) -> Map<String, Value> {
    properties(schemas, schema)
        .into_iter()
        .filter_map(|(k, v)| v.get("default").map(|d| (k, d.clone())))
        .collect()
}

#[test]
fn request_and_response_defaults_match_upstream_exactly() {
    let doc = upstream();
    let schemas = &doc["components"]["schemas"];
    for (object, response, inputs) in mapping() {
        // Request defaults: the create/update schemas'; a nested object's schema is the same in
        // requests and responses, so its own defaults are both (read-only members have none).
        let mut request: Map<String, Value> = Map::new();
        for input in &inputs {
            request.extend(defaults_of(schemas, input));
        }
        let own = defaults_of(schemas, response);
        if inputs.is_empty() {
            request = own.clone();
        }
        for field in object.fields() {
            let expected_request = match field.flow {
                Flow::ReadOnly => None,
                _ => request.get(field.name).cloned(),
            };
            assert_eq!(
                field.request_default_value(),
                expected_request,
                "{object:?}.{}: request default",
                field.name
            );
            assert_eq!(
                field.response_default_value(),
                own.get(field.name).cloned(),
                "{object:?}.{}: response default (what an absent field means)",
                field.name
            );
        }
    }
}

#[test]
fn response_only_values_are_those_the_response_default_names_outside_its_enum() {
    let doc = upstream();
    let schemas = &doc["components"]["schemas"];
    for (object, response, _) in mapping() {
        let props = properties(schemas, response);
        for field in object.fields() {
            let property = props.get(field.name);
            let allowed: BTreeSet<&str> = property
                .and_then(|p| p["items"]["enum"].as_array())
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let outside: BTreeSet<&str> = property
                .and_then(|p| p["default"].as_array())
                .filter(|_| !allowed.is_empty())
                .map(|d| {
                    d.iter()
                        .filter_map(Value::as_str)
                        .filter(|v| !allowed.contains(v))
                        .collect()
                })
                .unwrap_or_default();
            let ours: BTreeSet<&str> = field.response_only.iter().copied().collect();
            assert_eq!(
                ours, outside,
                "{object:?}.{}: response-only values",
                field.name
            );
        }
    }
    // A live `[code, id_token, none]` reads as the request default a create stores.
    let f = Object::OidcClient.field("response_types");
    assert_eq!(
        request_form(f, &serde_json::json!(["code", "id_token", "none"])),
        f.unwrap().request_default_value().unwrap()
    );
}

#[test]
fn names_match_the_wire_types() {
    use crate::model as m;
    use crate::model::schema::BodySchema;
    let sent = |o: Object| names(o.fields().iter().filter(|f| f.flow != Flow::ReadOnly));
    let all = |o: Object| names(o.fields().iter());
    fn props_of<T: schemars::JsonSchema>() -> BTreeSet<String> {
        BodySchema::of::<T>().as_value()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }
    let pairs = [
        (props_of::<m::AppInput>(), sent(Object::App)),
        (props_of::<m::OidcClientInput>(), sent(Object::OidcClient)),
        (props_of::<m::SamlClientInput>(), sent(Object::SamlClient)),
        (
            props_of::<m::TokenExpiration>(),
            all(Object::TokenExpiration),
        ),
        (
            props_of::<m::AuthenticationConfiguration>(),
            all(Object::AuthenticationConfiguration),
        ),
        (
            props_of::<m::DeviceAuthorization>(),
            all(Object::DeviceAuthorization),
        ),
        (
            props_of::<m::RefreshTokenInvalidationTriggers>(),
            all(Object::RefreshTokenInvalidationTriggers),
        ),
    ];
    for (declared, listed) in pairs {
        assert_eq!(declared, listed);
    }
    // Every field is listed once.
    for object in Object::ALL {
        let listed = object.fields().len();
        assert_eq!(all(*object).len(), listed, "{object:?} lists a field twice");
    }
}

#[test]
fn neutral_values_fit_and_lists_are_lists() {
    for object in Object::ALL {
        for field in object.fields() {
            if field.neutral.is_some() {
                assert_eq!(
                    field.presence,
                    Presence::Required,
                    "{object:?}.{}",
                    field.name
                );
                assert!(
                    field.request_default.is_none() && field.response_default.is_none(),
                    "{object:?}.{}",
                    field.name
                );
            }
            if field.set_like {
                if let Some(v) = field.unset_response_value().or(field.reset_value()) {
                    assert!(v.is_array(), "{object:?}.{}", field.name);
                }
            }
            if let (Some(nested), Some(Value::Object(members))) =
                (field.nested, field.neutral.map(Lit::to_value))
            {
                let mut shaped = members.clone();
                shape_response(nested, &mut shaped);
                assert!(
                    response_problems(nested, &shaped, false).is_empty(),
                    "{object:?}.{}: neutral value lacks required members",
                    field.name
                );
            }
        }
    }
}

#[test]
fn shaping_fills_required_and_drops_write_only() {
    let mut client = serde_json::json!({
        "client_id": "c", "app_id": "a", "tenant_id": "t", "client_secret": "s",
        "created_at": "x", "updated_at": "x", "authentication_protocol": "oidc",
        "name": "Web", "redirect_uris": [], "role_ids": ["r"], "is_third_party": true,
        "token_expiration": {"access_token_ttl": 60}
    })
    .as_object()
    .unwrap()
    .clone();
    assert!(!response_problems(Object::OidcClient, &client, false).is_empty());
    shape_response(Object::OidcClient, &mut client);
    assert_eq!(
        response_problems(Object::OidcClient, &client, false),
        Vec::<String>::new()
    );
    assert!(!client.contains_key("role_ids") && !client.contains_key("is_third_party"));
    assert_eq!(client["client_type"], "web");
    assert_eq!(client["device_authorization"]["enabled"], false);
    assert_eq!(
        client["token_expiration"],
        serde_json::json!({"access_token_ttl": 60})
    );
    let mut triggers = serde_json::json!({"refresh_token_invalidation_trigger_configuration": {"invalidateOnMemberSuspension": false}})
        .as_object()
        .unwrap()
        .clone();
    shape_response(Object::App, &mut triggers);
    assert_eq!(
        triggers["refresh_token_invalidation_trigger_configuration"],
        serde_json::json!({"invalidateOnMemberSuspension": false, "invalidateOnMemberPasswordReset": true, "invalidateOnMemberRoleUpdate": true})
    );
}

#[test]
fn request_form_of_custom_domain() {
    let f = Object::App.field("custom_domain");
    let live = serde_json::json!({"domain": "d.example", "status": "pending"});
    assert_eq!(request_form(f, &live), serde_json::json!("d.example"));
    assert_eq!(
        request_form(Object::App.field("login_uri"), &serde_json::json!("x")),
        serde_json::json!("x")
    );
}

/// A described kind's object is shaped by the same rule: a member never returned (a social
/// login's `clientSecret`) and a field read from another (`role_ids`, shown as `roles`) left
/// out, documented member defaults filled in.
#[test]
fn shaping_a_described_kind_drops_what_it_never_returns() {
    use crate::model::kinds::ObjKind;
    let rows = |kind: ObjKind| kind.spec().table();
    let mut prefs = serde_json::json!({
        "google": {"clientId": "g", "clientSecret": "s3cret"},
        "totp": {"period": 60}
    })
    .as_object()
    .cloned()
    .unwrap();
    shape_response(rows(ObjKind::LoginPreferences), &mut prefs);
    assert_eq!(prefs["google"], serde_json::json!({"clientId": "g"}));
    assert_eq!(prefs["totp"]["period"], 60);
    assert_eq!(prefs["totp"]["digits"], 6);
    let mut group = serde_json::json!({"group_id": "g1", "name": "Ops", "role_ids": ["r1"]})
        .as_object()
        .cloned()
        .unwrap();
    shape_response(rows(ObjKind::RoleGroup), &mut group);
    assert!(!group.contains_key("role_ids"), "{group:?}");
    assert_eq!(group["name"], "Ops");
}

/// What an application claims in its tenant, by the `Unique` facts: its subdomain and custom
/// domain without regard to case (a live `custom_domain` by its `domain`), the Authentication
/// Hub role only while `is_centralized` is true; never its name.
#[test]
fn an_application_holds_its_domains_and_the_hub_role_uniquely() {
    let object = |v: Value| v.as_object().cloned().unwrap();
    let shown = |values: Vec<UniqueValue>| -> Vec<String> {
        values.iter().map(ToString::to_string).collect()
    };
    let written = object(serde_json::json!({
        "app_name": "Shop", "subdomain": "Shop", "custom_domain": "Login.Shop.example",
        "authenticator_preferences": {"is_centralized": true, "login_uri": "https://x"}
    }));
    let found = unique_values(Object::App, &written);
    assert_eq!(
        shown(found.clone()),
        [
            "`authenticator_preferences.is_centralized: true`",
            "`subdomain: shop`",
            "`custom_domain: login.shop.example`",
        ]
    );
    assert_eq!(found[1].id(), "subdomain\0shop");
    let live = object(serde_json::json!({
        "custom_domain": {"domain": "login.shop.example", "status": "pending"},
        "authenticator_preferences": {"is_centralized": false, "login_uri": "https://x"}
    }));
    assert_eq!(
        shown(unique_values(Object::App, &live)),
        ["`custom_domain: login.shop.example`"]
    );
    assert!(unique_values(
        Object::OidcClient,
        &object(serde_json::json!({"name": "Web"}))
    )
    .is_empty());
}
