use serde_json::json;

use super::*;
use crate::manifest::interpolate::PlaceholderEnvironment;
use crate::manifest::{load, Ref, SourceFile};
use crate::state::address::Address;
use crate::state::entry::Ownership;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn live(kind: ObjKind, app: Option<(&str, &str)>, v: Value) -> LiveKindObject {
    LiveKindObject {
        kind,
        app: app.map(|(k, id)| (k.to_owned(), id.to_owned())),
        object: obj(v),
        applied: None,
    }
}

const SHOP: Option<(&str, &str)> = Some(("shop", "A1"));

/// A small tenant: two resources (one unnamed), a service provider, two roles of `shop`, a
/// role of an application not exported, shop's login preferences with a Google secret, and
/// empty login preferences of another app.
fn tenant() -> Vec<LiveKindObject> {
    vec![
        live(
            ObjKind::Resource,
            None,
            json!({"resource_id": "R1", "tenant_id": "T", "name": "Payouts API", "description": "",
                "uri": "https://api.example.com/payouts", "access_token_ttl": 300, "refresh_token_ttl": 0,
                "max_refresh_rotate": 0, "created_at": "2026-01-01", "updated_at": "2026-01-02"}),
        ),
        live(
            ObjKind::Resource,
            None,
            json!({"resource_id": "R2", "name": "", "uri": "https://api.example.com/reports",
                "access_token_ttl": 600, "refresh_token_ttl": 0, "max_refresh_rotate": 0}),
        ),
        live(
            ObjKind::ServiceProvider,
            None,
            json!({"service_provider_id": "S1", "tenant_id": "T", "name": "Wiki",
                "entity_id": "https://wiki.example.com/saml", "assertion_consumer_service_URL": "https://wiki.example.com/acs",
                "saml_url": "https://idp/saml", "issuer": "idp", "pub_cert": "MII…"}),
        ),
        live(
            ObjKind::Role,
            SHOP,
            json!({"role_id": "X1", "app_id": "A1", "role_name": "courier", "display_name": "Courier",
                "permissions": ["orders:read"]}),
        ),
        live(
            ObjKind::Role,
            SHOP,
            json!({"role_id": "X2", "app_id": "A1", "role_name": "admin", "permissions": []}),
        ),
        live(
            ObjKind::Role,
            None, // its application is not exported
            json!({"role_id": "X3", "role_name": "orphan"}),
        ),
        live(
            ObjKind::LoginPreferences,
            SHOP,
            json!({"google": {"clientId": "g-id", "clientSecret": "hunter2-google"},
                "facebook": {"clientId": "f-id"},
                "sms": {"expiresIn": 10, "maxFailures": 3}, "pin_authenticator": {"enabled": true}}),
        ),
        live(ObjKind::LoginPreferences, Some(("food", "A2")), json!({})),
    ]
}

fn export(
    live: &[LiveKindObject],
    managed: &Managed,
) -> (
    Vec<KindDocument>,
    ExportedNames,
    Vec<SecretReference>,
    Vec<LeftOut>,
) {
    let (docs, names, secrets, left_out, _) = export_all(live, managed);
    (docs, names, secrets, left_out)
}

type Exported = (
    Vec<KindDocument>,
    ExportedNames,
    Vec<SecretReference>,
    Vec<LeftOut>,
    Vec<Unreturned>,
);

fn export_all(live: &[LiveKindObject], managed: &Managed) -> Exported {
    let mut secrets = Vec::new();
    let mut left_out = Vec::new();
    let mut unreturned = Vec::new();
    let (docs, names) = export_objects(
        live,
        managed,
        &mut OutOfBand {
            secrets: &mut secrets,
            left_out: &mut left_out,
            unreturned: &mut unreturned,
        },
    );
    (docs, names, secrets, left_out, unreturned)
}

/// The application document `app_doc` (`shop`) and the exported `docs` (but those of other
/// applications) as one manifest file, loaded as manifests are.
fn load_with_shop(app_doc: &Value, docs: &[KindDocument]) -> crate::manifest::DesiredState {
    let mut text = render(app_doc, "").unwrap();
    for d in docs {
        if d.kind.spec().parent.is_some() && d.app.as_ref().is_some_and(|(k, _)| k != "shop") {
            continue;
        }
        text.push_str("---\n");
        text.push_str(&render(&d.document(), &d.comment()).unwrap());
    }
    load(
        &[SourceFile {
            path: "/m/shop.yaml".into(),
            bytes: text.into_bytes(),
        }],
        &PlaceholderEnvironment,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn doc<'a>(docs: &'a [KindDocument], name: &str) -> &'a KindDocument {
    docs.iter()
        .find(|d| d.named.name == name)
        .unwrap_or_else(|| panic!("no document {name}: {docs:?}"))
}

#[test]
fn every_kind_is_exported_without_generated_fields_and_ids_only_in_comments() {
    let (docs, _, secrets, left_out) = export(&tenant(), &Managed::default());
    let names: Vec<(ObjKind, &str)> = docs
        .iter()
        .map(|d| (d.kind, d.named.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (ObjKind::Resource, "payouts-api"),
            // No display name: named after its natural key.
            (ObjKind::Resource, "https-api-example-com-reports"),
            (ObjKind::ServiceProvider, "wiki"),
            (ObjKind::Role, "shop-courier"),
            (ObjKind::Role, "shop-admin"),
            (ObjKind::LoginPreferences, "shop-login-preferences"),
        ],
        "the orphan role and the empty login preferences are left out"
    );
    assert_eq!(
        Value::Object(doc(&docs, "payouts-api").spec.clone()),
        json!({"name": "Payouts API", "access_token_ttl": 300, "max_refresh_rotate": 0,
            "refresh_token_ttl": 0, "uri": "https://api.example.com/payouts"})
    );
    assert_eq!(
        Value::Object(doc(&docs, "wiki").spec.clone()),
        json!({"name": "Wiki", "assertion_consumer_service_URL": "https://wiki.example.com/acs",
            "entity_id": "https://wiki.example.com/saml"})
    );
    // `permissions: []` is the reset value: said by leaving it out.
    assert_eq!(
        Value::Object(doc(&docs, "shop-admin").spec.clone()),
        json!({"application": "shop", "role_name": "admin"})
    );
    let courier = doc(&docs, "shop-courier");
    assert_eq!(courier.spec.keys().next().unwrap(), "application");
    assert_eq!(courier.id.as_deref(), Some("X1"));
    assert!(
        courier.comment().contains("role_id X1"),
        "{}",
        courier.comment()
    );
    for d in &docs {
        let text = Value::Object(d.spec.clone()).to_string();
        for id in ["R1", "R2", "S1", "X1", "X2", "A1", "\"T\""] {
            assert!(
                !text.contains(id),
                "{id} in the spec of {}: {text}",
                d.named.name
            );
        }
    }
    // `pin_authenticator` is read-only: not exported, and not a warning either.
    let lp = doc(&docs, "shop-login-preferences");
    assert!(!lp.spec.contains_key("pin_authenticator"));
    assert!(left_out.is_empty(), "{left_out:?}");
    assert!(lp.comment().contains("app_id A1"), "{}", lp.comment());
    assert_eq!(secrets.len(), 1, "{secrets:?}");
}

#[test]
fn secrets_are_never_exported_in_clear() {
    let (docs, _, secrets, _, unreturned) = export_all(&tenant(), &Managed::default());
    let lp = doc(&docs, "shop-login-preferences");
    let google = &secrets
        .iter()
        .find(|s| s.variable.ends_with("_GOOGLE_CLIENTSECRET"))
        .unwrap_or_else(|| panic!("{secrets:?}"))
        .variable;
    assert!(google.starts_with("SECRET_"));
    assert_eq!(
        lp.spec["google"],
        json!({"clientId": "g-id", "clientSecret": format!("${{env:{google}}}")})
    );
    let yaml = render(&lp.document(), &lp.comment()).unwrap();
    assert!(!yaml.contains("hunter2"), "{yaml}");
    // A secret upstream does not return and tenantsync never applied: unknown, so left out and
    // told (the object is replaced whole on update).
    assert_eq!(lp.spec["facebook"], json!({"clientId": "f-id"}));
    assert_eq!(
        unreturned,
        vec![Unreturned {
            object: "LoginPreferences/shop".into(),
            field: "facebook.clientSecret".into(),
            left_out: None,
        }]
    );
    // Other objects have no secret sub-fields: nothing is added to them.
    assert_eq!(lp.spec["sms"], json!({"expiresIn": 10, "maxFailures": 3}));
}

#[test]
fn a_secret_the_state_applied_is_named_by_a_variable_though_upstream_hides_it() {
    let mut live = tenant();
    let lp = live
        .iter_mut()
        .find(|o| o.kind == ObjKind::LoginPreferences && o.object.contains_key("facebook"))
        .unwrap();
    lp.applied = Some(obj(
        json!({"facebook": {"clientId": "f-id", "clientSecret": {"$sensitive": "ab12"}}}),
    ));
    let (docs, _, secrets, _, unreturned) = export_all(&live, &Managed::default());
    let facebook = &secrets
        .iter()
        .find(|s| s.variable.ends_with("_FACEBOOK_CLIENTSECRET"))
        .unwrap_or_else(|| panic!("{secrets:?}"))
        .variable;
    assert_eq!(
        doc(&docs, "shop-login-preferences").spec["facebook"],
        json!({"clientId": "f-id", "clientSecret": format!("${{env:{facebook}}}")})
    );
    assert!(unreturned.is_empty(), "{unreturned:?}");
    // A field hashed whole (it held an interpolated value when applied) counts too.
    let lp = live
        .iter_mut()
        .find(|o| o.kind == ObjKind::LoginPreferences && o.object.contains_key("facebook"))
        .unwrap();
    lp.applied = Some(obj(json!({"facebook": {"$sensitive": "cd34"}})));
    let (docs, _, _, _, unreturned) = export_all(&live, &Managed::default());
    assert!(doc(&docs, "shop-login-preferences").spec["facebook"]
        .get("clientSecret")
        .is_some());
    assert!(unreturned.is_empty(), "{unreturned:?}");
}

/// A secret deeper down (`push.apn.key`, `push.fcm.key`): live, its holder shows the rest. One
/// tenantsync never applied leaves its holder out (a write without the key would erase it);
/// one the state says it applied is named by a variable, the holder's other members kept.
#[test]
fn a_push_key_is_named_by_a_variable_or_its_holder_left_out() {
    let push = || {
        live(
            ObjKind::LoginPreferences,
            SHOP,
            json!({"push": {"apn": {"keyId": "K1", "teamId": "T1", "bundle": "com.shop"},
                "fcm": {}}}),
        )
    };
    let (docs, _, secrets, _, unreturned) = export_all(&[push()], &Managed::default());
    let lp = doc(&docs, "shop-login-preferences");
    assert_eq!(lp.spec["push"], json!({}), "{:?}", lp.spec);
    assert!(secrets.is_empty(), "{secrets:?}");
    let left: Vec<(&str, Option<&str>)> = unreturned
        .iter()
        .map(|u| (u.field.as_str(), u.left_out.as_deref()))
        .collect();
    assert_eq!(
        left,
        [
            ("push.apn.key", Some("push.apn")),
            ("push.fcm.key", Some("push.fcm"))
        ]
    );
    // Applied by tenantsync (the field hashed, with the names of its members): both keys
    // become variables; with only `apn` named, `fcm` stays out.
    let mut applied = push();
    applied.applied = Some(obj(
        json!({"push": {"$sensitive": "ab", "$members": ["apn", "fcm"]}}),
    ));
    let (docs, _, secrets, _, unreturned) = export_all(&[applied], &Managed::default());
    assert!(unreturned.is_empty(), "{unreturned:?}");
    let variables: Vec<&str> = secrets.iter().map(|s| s.variable.as_str()).collect();
    assert_eq!(
        variables,
        [
            "SECRET_LOGINPREFERENCES_SHOP_PUSH_APN_KEY",
            "SECRET_LOGINPREFERENCES_SHOP_PUSH_FCM_KEY"
        ]
    );
    assert_eq!(
        doc(&docs, "shop-login-preferences").spec["push"],
        json!({"apn": {"keyId": "K1", "teamId": "T1", "bundle": "com.shop",
                "key": "${env:SECRET_LOGINPREFERENCES_SHOP_PUSH_APN_KEY}"},
            "fcm": {"key": "${env:SECRET_LOGINPREFERENCES_SHOP_PUSH_FCM_KEY}"}})
    );
    let mut apn_only = push();
    apn_only.applied = Some(obj(
        json!({"push": {"$sensitive": "ab", "$members": ["apn"]}}),
    ));
    let (docs, _, _, _, unreturned) = export_all(&[apn_only], &Managed::default());
    assert!(doc(&docs, "shop-login-preferences").spec["push"]
        .get("fcm")
        .is_none());
    assert_eq!(unreturned.len(), 1, "{unreturned:?}");
}

/// Every kind leaves out what its manifest refuses by the one rule applications and clients
/// follow too: a field this version does not know, a value the schema refuses, down to one
/// member of an object field where its rows say; each listed in `ignore_fields` (so the live value is left alone)
/// unless it reads as a misspelling of a known field. The documents then load as manifests.
#[test]
fn unknown_fields_and_refused_values_are_left_out() {
    let live = [
        live(
            ObjKind::Resource,
            None,
            json!({"resource_id": "R1", "name": "Pay", "uri": "https://p", "access_token_ttl": 60,
                "description": 7, "refresh_token_ttl": 0, "max_refresh_rotate": 0, "audience_v2": "x",
                "urii": "y"}),
        ),
        live(
            ObjKind::LoginPreferences,
            SHOP,
            json!({"google": {"clientId": "g-id", "one_tap": true, "clientSecret": "s"},
                "passkeys": {"enabled": true}, "sms": "on"}),
        ),
    ];
    let (docs, _, _, left_out) = export(&live, &Managed::default());
    let resource = &doc(&docs, "pay").spec;
    for gone in ["audience_v2", "description", "urii"] {
        assert!(!resource.contains_key(gone), "{gone}: {resource:?}");
    }
    assert_eq!(
        resource["ignore_fields"],
        json!(["audience_v2", "description"])
    );
    let methods = &doc(&docs, "shop-login-preferences").spec;
    assert!(!methods.contains_key("passkeys") && !methods.contains_key("sms"));
    assert_eq!(methods["ignore_fields"], json!(["passkeys", "sms"]));
    // A method's members are catalogued only where upstream documents a fact about them (a
    // default, a secret): one without a row is written as it is.
    assert_eq!(methods["google"]["one_tap"], json!(true));
    let mut seen: Vec<(&str, &str, bool)> = left_out
        .iter()
        .map(|l| (l.object.as_str(), l.field.as_str(), l.ignored))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("LoginPreferences/shop", "passkeys", true),
            ("LoginPreferences/shop", "sms", true),
            ("Resource/Pay", "audience_v2", true),
            ("Resource/Pay", "description", true),
            ("Resource/Pay", "urii", false),
        ]
    );
    // What export wrote validates: the manifest accepts each listed name.
    let app_doc = json!({"apiVersion": "tenantsync/v1", "kind": "Application",
        "metadata": {"name": "shop"}, "spec": {"app_name": "Shop",
        "clients": [{"name": "Web", "redirect_uris": ["https://shop.example/cb"]}]}});
    let desired = load_with_shop(&app_doc, &docs);
    assert_eq!(desired.described().count(), 2);
}

#[test]
fn references_are_written_by_name_and_unknown_ids_stay_ids() {
    let (_, names, _, _) = export(&tenant(), &Managed::default());
    let mut app = obj(json!({"app_name": "Shop", "service_providers": ["S1", "S9"]}));
    let unmanaged = write_references(AnyKind::Application, &mut app, Some("shop"), &names);
    assert_eq!(app["service_providers"], json!(["wiki", {"id": "S9"}]));
    assert_eq!(
        unmanaged,
        vec![Unmanaged {
            field: "service_providers",
            target: ObjKind::ServiceProvider,
            id: "S9".into()
        }]
    );
    // Roles are named within the client's own application only.
    let mut client =
        obj(json!({"name": "Web", "resources": ["R2", "R1"], "role_ids": ["X1", "X3"]}));
    write_references(AnyKind::Client, &mut client, Some("shop"), &names);
    assert_eq!(
        client["resources"],
        json!(["https-api-example-com-reports", "payouts-api"])
    );
    assert_eq!(client["role_ids"], json!(["shop-courier", {"id": "X3"}]));
    let mut other = obj(json!({"name": "Web", "role_ids": ["X1"]}));
    write_references(AnyKind::Client, &mut other, Some("food"), &names);
    assert_eq!(other["role_ids"], json!([{"id": "X1"}]));
    // A live id is data: written escaped like any live string.
    let mut odd = obj(json!({"resources": ["${env:HOME}"]}));
    write_references(AnyKind::Client, &mut odd, None, &names);
    assert_eq!(odd["resources"], json!([{"id": "$${env:HOME}"}]));
}

#[test]
fn role_ids_come_from_the_last_applied_state_as_upstream_never_returns_them() {
    let last = obj(json!({"name": "Web", "role_ids": ["X1"], "resources": ["R1"]}));
    let found = write_only_references(Object::OidcClient, &last);
    // `resources` is returned live: only the write-only field is taken from the state.
    assert_eq!(Value::Object(found), json!({"role_ids": ["X1"]}));
    let hashed = obj(json!({"role_ids": {"sensitive_sha256": "…"}}));
    assert!(write_only_references(Object::OidcClient, &hashed).is_empty());
    assert!(write_only_references(Object::App, &last).is_empty());
}

#[test]
fn unmanaged_ids_are_marked_by_a_comment_and_the_yaml_reads_back_the_same() {
    let document = json!({"apiVersion": "tenantsync/v1", "kind": "Application",
        "metadata": {"name": "shop"},
        "spec": {"app_name": "Shop", "service_providers": ["wiki", {"id": "S9"}],
            "clients": [{"name": "Web", "resources": [{"id": "007"}, "payouts-api"],
                "redirect_uris": ["https://x/cb"], "extra": [{"id": "not-a-reference"}]}]}});
    let yaml = render(&document, "# header\n").unwrap();
    assert!(yaml.starts_with("# header\n"));
    let marked: Vec<&str> = yaml
        .lines()
        .filter(|l| l.contains("# not managed"))
        .collect();
    assert_eq!(marked.len(), 2, "{yaml}");
    assert!(
        marked[0].contains("S9") && marked[0].contains("ServiceProvider"),
        "{yaml}"
    );
    assert!(
        marked[1].contains("007") && marked[1].contains("Resource"),
        "{yaml}"
    );
    let back: Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(back, document);
}

fn entry(address: &str, name: &str, app_id: Option<&str>, id: Option<&str>) -> StateEntry {
    StateEntry {
        address: Address::parse(address).unwrap(),
        name: name.to_owned(),
        id: id.map(str::to_owned),
        app_id: app_id.map(str::to_owned),
        ownership: Ownership::Created,
        last_applied: Map::new(),
        protect: false,
        applied_at: String::new(),
    }
}

#[test]
fn objects_the_state_maps_keep_their_names_and_references_follow() {
    let state = [
        entry(
            "Resource/https://api.example.com/payouts",
            "payments",
            None,
            Some("R1"),
        ),
        entry("LoginPreferences/shop", "shop-login", Some("A1"), None),
    ];
    let managed = Managed::of(&state);
    let (docs, names, _, _) = export(&tenant(), &managed);
    assert!(doc(&docs, "payments").named.managed);
    assert!(doc(&docs, "shop-login").named.managed);
    assert!(!doc(&docs, "wiki").named.managed);
    let mut client = obj(json!({"resources": ["R1"]}));
    write_references(AnyKind::Client, &mut client, Some("shop"), &names);
    assert_eq!(client["resources"], json!(["payments"]));
}

/// The exported documents, with an application that references them, load as manifests:
/// every reference resolves to the exported document, and `{id}` stays an id.
#[test]
fn an_export_loads_with_its_references_resolved() {
    let (docs, names, _, _) = export(&tenant(), &Managed::default());
    let mut app = obj(json!({"app_name": "Shop", "service_providers": ["S1"],
        "clients": [{"name": "Web", "redirect_uris": ["https://shop.example/cb"]}]}));
    write_references(AnyKind::Application, &mut app, Some("shop"), &names);
    let mut client = obj(
        json!({"name": "Web", "redirect_uris": ["https://shop.example/cb"],
        "resources": ["R1", "R7"], "role_ids": ["X1"]}),
    );
    write_references(AnyKind::Client, &mut client, Some("shop"), &names);
    app.insert("clients".into(), json!([client]));
    let app_doc = json!({"apiVersion": "tenantsync/v1", "kind": "Application",
        "metadata": {"name": "shop"}, "spec": app});
    let desired = load_with_shop(&app_doc, &docs);
    assert_eq!(desired.described().count(), docs.len());
    let shop = desired.app("shop").unwrap();
    assert!(matches!(
        &shop.refs["service_providers"][..],
        [Ref::Managed { name, .. }] if name == "wiki"
    ));
    let web = desired.client("shop", "Web").unwrap().0;
    assert!(
        matches!(&web.refs["resources"][..], [Ref::Managed { name, .. }, Ref::Id(id)] if name == "payouts-api" && id == "R7"),
        "{:?}",
        web.refs
    );
    assert!(matches!(
        &web.refs["role_ids"][..],
        [Ref::Managed { address, .. }] if address.key == "courier"
    ));
}

#[test]
fn a_role_group_keeps_its_required_roles_even_when_it_has_none() {
    let mut objects = tenant();
    // As `Target::list_objects` gives them: `role_ids` read back from `roles`.
    for (name, roles) in [("Counter", json!(["X1"])), ("Empty", json!([]))] {
        objects.push(live(
            ObjKind::RoleGroup,
            SHOP,
            json!({"group_id": format!("G-{name}"), "name": name, "roles": [], "role_ids": roles}),
        ));
    }
    let (docs, _, _, left_out) = export(&objects, &Managed::default());
    let spec_of = |name: &str| {
        docs.iter()
            .find(|d| d.kind == ObjKind::RoleGroup && d.spec["name"] == name)
            .unwrap_or_else(|| panic!("no group {name}: {docs:?}"))
            .spec
            .clone()
    };
    assert_eq!(spec_of("Counter")["role_ids"], json!(["shop-courier"]));
    assert_eq!(
        spec_of("Empty")["role_ids"],
        json!([]),
        "required: written empty"
    );
    assert!(!spec_of("Counter").contains_key("roles"), "generated");
    assert!(
        !left_out.iter().any(|l| l.field == "role_ids"),
        "{left_out:?}"
    );
}
