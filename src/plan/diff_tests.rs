//! Unit tests of `plan::diff`: one object's field-level diff against the live object and the
//! last-applied record.

use super::*;
use crate::model::kinds::ObjKind;
use crate::model::{AuthenticationProtocol, FieldPath};
use crate::state::entry::{salted_hash, MEMBERS_KEY, SENSITIVE_KEY};
use serde_json::json;

const OIDC: ObjectKind = ObjectKind::Client(AuthenticationProtocol::Oidc);

/// `spec` as the state records it of an application, applied with `rules` (salt `s`).
fn recorded_app(spec: &Map<String, Value>, rules: &FieldRules) -> Map<String, Value> {
    super::super::records::applied(Subject::catalogue(ObjectKind::App), spec, rules, None, b"s")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Diffs JSON values of one object kind under `rules`, with the salt `s`.
fn diff_with(
    kind: ObjectKind,
    desired: Value,
    last: Option<Value>,
    live: Value,
    rules: &FieldRules,
) -> ObjectDiff {
    let last = last.map(obj);
    diff_fields(
        Subject::catalogue(kind),
        &obj(desired),
        last.as_ref(),
        &obj(live),
        rules,
        b"s",
    )
}

fn run(desired: Value, last: Option<Value>, live: Value) -> ObjectDiff {
    diff_with(OIDC, desired, last, live, &FieldRules::default())
}

#[test]
fn identical_and_server_defaults_are_no_change() {
    let d = run(
        json!({"name": "Web", "redirect_uris": ["b", "a"]}),
        None,
        json!({"name": "Web", "redirect_uris": ["a", "b"], "client_type": "web", "client_secret": "x"}),
    );
    assert!(!d.needs_write());
    assert!(d.fields.is_empty());
}

#[test]
fn nested_change_sends_whole_object_with_carried_and_dropped_parts() {
    let d = run(
        json!({"token_expiration": {"access_token_ttl": 60}}),
        Some(json!({"token_expiration": {"access_token_ttl": 3600, "max_refresh_rotate": 5}})),
        json!({"token_expiration": {"access_token_ttl": 3600, "refresh_token_ttl": 100, "max_refresh_rotate": 5}}),
    );
    assert_eq!(
        d.body,
        obj(json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 100}}))
    );
    let parts = d.fields[0].object.as_ref().unwrap();
    assert_eq!(parts.changed[0].name, "access_token_ttl");
    assert_eq!(parts.carried_over[0].name, "refresh_token_ttl");
    assert_eq!(parts.dropped[0].name, "max_refresh_rotate");
    assert!(!d.fields[0].drift);
}

#[test]
fn removed_fields_reset_or_release() {
    let d = run(
        json!({"name": "Web"}),
        Some(json!({"name": "Web", "client_type": "native", "description": "old"})),
        json!({"name": "Web", "client_type": "native", "description": "old"}),
    );
    assert_eq!(d.body, obj(json!({"client_type": "web"})));
    let ops: Vec<_> = d.fields.iter().map(|f| (f.field.as_str(), f.op)).collect();
    assert_eq!(
        ops,
        vec![
            ("client_type", FieldOp::Reset),
            ("description", FieldOp::Release)
        ]
    );
}

#[test]
fn custom_domain_compares_in_its_input_form() {
    let live = json!({"custom_domain": {"domain": "login.shop.example", "status": "pending", "updated_at": "t"}});
    let app = |desired: Value| {
        diff_with(
            ObjectKind::App,
            desired,
            None,
            live.clone(),
            &FieldRules::default(),
        )
    };
    let d = app(json!({"custom_domain": "login.shop.example"}));
    assert!(!d.needs_write(), "{:?}", d.fields);
    let moved = json!({"custom_domain": "new.shop.example"});
    assert_eq!(app(moved.clone()).body, obj(moved));
}

#[test]
fn drift_and_pending_are_told_apart() {
    let flags = |d: &ObjectDiff| (d.fields[0].drift, d.fields[0].pending);
    let last = Some(json!({"description": "a"}));
    // Changed live, manifest as applied: drift only.
    let d = run(
        json!({"description": "a"}),
        last.clone(),
        json!({"description": "b"}),
    );
    assert_eq!(flags(&d), (true, false));
    // Changed in the manifest, live as applied: pending only.
    let d = run(
        json!({"description": "c"}),
        last.clone(),
        json!({"description": "a"}),
    );
    assert_eq!(flags(&d), (false, true));
    // Changed on both sides: both.
    let d = run(
        json!({"description": "c"}),
        last,
        json!({"description": "b"}),
    );
    assert_eq!(flags(&d), (true, true));
    // Never applied (adoption): pending, never drift.
    let d = run(
        json!({"description": "c"}),
        None,
        json!({"description": "b"}),
    );
    assert_eq!(flags(&d), (false, true));
    // Inside an object: a sub-field last applied moved live.
    let d = run(
        json!({"token_expiration": {"access_token_ttl": 60}}),
        Some(json!({"token_expiration": {"access_token_ttl": 60}})),
        json!({"token_expiration": {"access_token_ttl": 90}}),
    );
    assert_eq!(flags(&d), (true, false));
    // A set-like list compares without order: reordered live is no drift (and no change).
    let d = run(
        json!({"redirect_uris": ["https://a/cb", "https://b/cb"], "description": "x"}),
        Some(json!({"redirect_uris": ["https://a/cb", "https://b/cb"], "description": "y"})),
        json!({"redirect_uris": ["https://b/cb", "https://a/cb"], "description": "y"}),
    );
    assert_eq!(d.fields.len(), 1);
    assert_eq!(flags(&d), (false, true));
}

#[test]
fn unseen_sets_compare_with_last_applied_without_order() {
    // `role_ids` is never returned: reordered in the manifest, it is the same set.
    let d = run(
        json!({"role_ids": ["role-c", "role-a"]}),
        Some(json!({"role_ids": ["role-a", "role-c"]})),
        json!({}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    let d = run(
        json!({"role_ids": ["role-c", "role-b"]}),
        Some(json!({"role_ids": ["role-a", "role-c"]})),
        json!({}),
    );
    assert_eq!(d.body, obj(json!({"role_ids": ["role-c", "role-b"]})));
    let saml = ObjectKind::Client(AuthenticationProtocol::Saml);
    let d = diff_with(
        saml,
        json!({"supported_prompts": ["none", "login"]}),
        Some(json!({"supported_prompts": ["login", "none"]})),
        json!({}),
        &FieldRules::default(),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    // A set the live object shows: reordered in the manifest, neither pending nor written.
    let d = run(
        json!({"redirect_uris": ["https://b/cb", "https://a/cb"]}),
        Some(json!({"redirect_uris": ["https://a/cb", "https://b/cb"]})),
        json!({"redirect_uris": ["https://a/cb", "https://b/cb"]}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
}

#[test]
fn absent_fields_without_a_response_default_are_unseen() {
    // Upstream's response schema documents no default for `token_endpoint_auth_method`: an
    // answer without it says nothing, so the manifest is compared with the last applied.
    let d = run(
        json!({"token_endpoint_auth_method": "none"}),
        Some(json!({"token_endpoint_auth_method": "none"})),
        json!({"name": "Web"}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    let d = diff_with(
        ObjectKind::App,
        json!({"signing_key_enabled": true}),
        Some(json!({"signing_key_enabled": true})),
        json!({"app_name": "Shop"}),
        &FieldRules::default(),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    // A live `none` response type is upstream's response default, not drift.
    let d = run(
        json!({"response_types": ["code", "id_token"]}),
        Some(json!({"response_types": ["code", "id_token"]})),
        json!({"response_types": ["code", "id_token", "none"]}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    let d = run(
        json!({"response_types": ["id_token", "code"]}),
        None,
        json!({}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
}

#[test]
fn members_left_out_without_a_response_default_are_unseen() {
    // `token_expiration` is returned, but none of its members need be.
    let last = Some(json!({"token_expiration": {"access_token_ttl": 600}}));
    let d = run(
        json!({"token_expiration": {"access_token_ttl": 600}}),
        last.clone(),
        json!({"token_expiration": {}}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    // Changed in the manifest: sent, not taken for drift.
    let d = run(
        json!({"token_expiration": {"access_token_ttl": 60}}),
        last,
        json!({"token_expiration": {}}),
    );
    assert_eq!(
        d.body,
        obj(json!({"token_expiration": {"access_token_ttl": 60}}))
    );
    assert!(!d.fields[0].drift && d.fields[0].pending);
    // A member with a response default reads as it: `enabled: true` left out is `false`.
    let d = run(
        json!({"ciba_authorization": {"enabled": true}}),
        Some(json!({"ciba_authorization": {"enabled": true}})),
        json!({"ciba_authorization": {}}),
    );
    assert!(d.needs_write() && d.fields[0].drift, "{:?}", d.fields);
}

#[test]
fn ignored_fields_and_subfields_are_left_alone() {
    let rules =
        FieldRules::from_dotted(&["description", "token_expiration.refresh_token_ttl"], &[]);
    let d = diff_with(
        OIDC,
        json!({"description": "mine", "token_expiration": {"access_token_ttl": 1, "refresh_token_ttl": 2}}),
        None,
        json!({"description": "theirs", "token_expiration": {"access_token_ttl": 1, "refresh_token_ttl": 9}}),
        &rules,
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    let d = run(
        json!({"description": "mine"}),
        None,
        json!({"description": "theirs"}),
    );
    assert!(
        d.needs_write(),
        "without the rule the same difference is written"
    );
}

#[test]
fn a_value_recorded_hidden_is_not_shown_once_the_manifest_writes_it_in_clear() {
    // Last applied from the environment (recorded as a hash); the manifest now writes it.
    let last = json!({"description": {SENSITIVE_KEY: salted_hash(b"s", &json!("from-env"))}});
    let d = run(
        json!({"description": "Plain"}),
        Some(last),
        json!({"description": "from-env"}),
    );
    assert!(d.needs_write());
    let change = &d.fields[0];
    assert_eq!(change.before, Some(json!("(sensitive)")), "{change:?}");
    assert_eq!(change.after, Some(json!("Plain")));
    assert!(!serde_json::to_string(&d.fields)
        .unwrap()
        .contains("from-env"));
}

#[test]
fn secrets_compare_by_hash_and_never_show() {
    let rules = FieldRules::from_dotted(&[], &["client_secret"]);
    let last = json!({"client_secret": {"$sensitive": salted_hash(b"s", &json!("hunter2"))}});
    let secret = |value: &str| {
        diff_with(
            OIDC,
            json!({ "client_secret": value }),
            Some(last.clone()),
            json!({}),
            &rules,
        )
    };
    assert!(!secret("hunter2").needs_write());
    let d = secret("new-value");
    assert!(d.needs_write());
    let text = serde_json::to_string(&d.fields).unwrap();
    assert!(!text.contains("new-value") && text.contains("(sensitive)"));
}

#[test]
fn interpolated_values_compare_live_but_never_show() {
    let mut rules = FieldRules::default();
    rules.masked.insert(FieldPath::parse("login_uri").unwrap());
    rules
        .masked
        .insert(FieldPath::parse("token_expiration.access_token_ttl").unwrap());
    let want = json!({"login_uri": "https://canary.example/l", "token_expiration": {"access_token_ttl": 60}});
    // As the state records it after an apply: hashed.
    let last = recorded_app(&obj(want.clone()), &rules);
    assert!(!serde_json::to_string(&last).unwrap().contains("canary"));
    let last = Some(Value::Object(last));
    let app = |live: Value| diff_with(ObjectKind::App, want.clone(), last.clone(), live, &rules);
    // Unchanged live: nothing to do.
    let d = app(
        json!({"login_uri": "https://canary.example/l", "token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}}),
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
    // Changed live: planned as drift, healed with the manifest's value, shown hidden.
    let d = app(
        json!({"login_uri": "https://evil.example/l", "token_expiration": {"access_token_ttl": 90}}),
    );
    assert_eq!(d.body["login_uri"], json!("https://canary.example/l"));
    assert_eq!(d.body["token_expiration"], json!({"access_token_ttl": 60}));
    assert!(
        d.fields
            .iter()
            .all(|f| f.sensitive && f.drift && !f.pending),
        "{:?}",
        d.fields
    );
    let text = serde_json::to_string(&d.fields).unwrap();
    assert!(
        !text.contains("canary") && !text.contains("evil") && !text.contains("90"),
        "{text}"
    );
    // A live sub-field nobody manages is carried over, and shown: it is not the manifest's.
    let d = app(
        json!({"login_uri": "https://canary.example/l", "token_expiration": {"access_token_ttl": 90, "refresh_token_ttl": 5}}),
    );
    assert_eq!(
        d.body["token_expiration"],
        json!({"access_token_ttl": 60, "refresh_token_ttl": 5})
    );
    let parts = d.fields[0].object.as_ref().unwrap();
    assert_eq!(parts.carried_over[0].after, Some(json!(5)));
    assert_eq!(parts.changed[0].after, Some(json!("(sensitive)")));
    // Changed in the manifest: pending.
    let d = diff_with(
        ObjectKind::App,
        json!({"login_uri": "https://canary2.example/l"}),
        last.clone(),
        json!({"login_uri": "https://canary.example/l"}),
        &rules,
    );
    assert!(d.fields[0].pending && !d.fields[0].drift, "{:?}", d.fields);
}

fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (0u64..10_000).prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn diff_of_an_object_with_itself_is_empty(
        fields in proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..8),
        app in proptest::bool::ANY,
    ) {
        let x: Map<String, Value> = fields.into_iter().collect();
        let kind = if app { ObjectKind::App } else { OIDC };
        let none = FieldRules::default();
        let d = diff_fields(Subject::catalogue(kind), &x, Some(&x), &x, &none, b"s");
        proptest::prop_assert!(d.fields.is_empty() && d.body.is_empty(), "{:?}", d);
        let first = diff_fields(Subject::catalogue(kind), &x, None, &x, &none, b"s");
        proptest::prop_assert!(first.fields.is_empty());
    }
}

/// Rules reading `token_expiration.access_token_ttl` from the environment.
fn ttl_from_env() -> FieldRules {
    let mut rules = FieldRules::default();
    rules
        .masked
        .insert(FieldPath::parse("token_expiration.access_token_ttl").unwrap());
    rules
}

fn names(subs: &[SubField]) -> Vec<&str> {
    subs.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn a_member_removed_from_a_field_recorded_hidden_is_dropped_and_one_set_by_hand_kept() {
    let rules = ttl_from_env();
    let was = json!({"token_expiration": {"access_token_ttl": 4242, "refresh_token_ttl": 777}});
    let last = recorded_app(&obj(was), &rules);
    // The record holds the hash and the names of the members it managed, never their values.
    assert_eq!(
        last["token_expiration"][MEMBERS_KEY],
        json!(["access_token_ttl", "refresh_token_ttl"])
    );
    assert!(!serde_json::to_string(&last).unwrap().contains("4242"));
    let live = json!({"token_expiration":
        {"access_token_ttl": 4242, "refresh_token_ttl": 777, "max_refresh_rotate": 3}});
    // refresh_token_ttl leaves the manifest: dropped; max_refresh_rotate was set by hand: kept.
    let d = diff_with(
        ObjectKind::App,
        json!({"token_expiration": {"access_token_ttl": 4242}}),
        Some(Value::Object(last)),
        live,
        &rules,
    );
    assert_eq!(
        d.body["token_expiration"],
        json!({"access_token_ttl": 4242, "max_refresh_rotate": 3})
    );
    let change = &d.fields[0];
    let parts = change.object.as_ref().unwrap();
    assert_eq!(names(&parts.dropped), ["refresh_token_ttl"]);
    assert_eq!(names(&parts.carried_over), ["max_refresh_rotate"]);
    assert!(change.pending && change.sensitive, "{change:?}");
    // The live values it managed may be what the environment gave: never shown.
    let text = serde_json::to_string(&d.fields).unwrap();
    assert!(!text.contains("4242") && !text.contains("777"), "{text}");
}

#[test]
fn a_field_recorded_hidden_before_member_names_were_kept_is_read_as_it_was() {
    let rules = ttl_from_env();
    let want = json!({"token_expiration": {"access_token_ttl": 60}});
    // The record of an earlier release: the hash alone.
    let old = json!({"token_expiration":
        {SENSITIVE_KEY: salted_hash(b"s", &want["token_expiration"])}});
    let live = json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}});
    let app = |desired: &Value| {
        diff_with(
            ObjectKind::App,
            desired.clone(),
            Some(old.clone()),
            live.clone(),
            &rules,
        )
    };
    // Left as it was: the live member is kept, nothing to write.
    assert!(!app(&want).needs_write(), "{:?}", app(&want).fields);
    // Changed: with no names to tell a member it managed from one set by hand, the live
    // member is still kept (never dropped on a guess); the record written now has the names.
    let d = app(&json!({"token_expiration": {"access_token_ttl": 90}}));
    assert_eq!(
        d.body["token_expiration"],
        json!({"access_token_ttl": 90, "refresh_token_ttl": 5})
    );
    let parts = d.fields[0].object.as_ref().unwrap();
    assert!(parts.dropped.is_empty(), "{parts:?}");
    assert_eq!(names(&parts.carried_over), ["refresh_token_ttl"]);
}

#[test]
fn a_member_left_out_of_a_field_recorded_hidden_is_unchanged_while_the_manifest_is() {
    let rules = ttl_from_env();
    let want = json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}});
    let last = recorded_app(&obj(want.clone()), &rules);
    // An answer that leaves out refresh_token_ttl (no documented default) converges.
    let d = diff_with(
        ObjectKind::App,
        want,
        Some(Value::Object(last)),
        json!({"token_expiration": {"access_token_ttl": 60}}),
        &rules,
    );
    assert!(!d.needs_write(), "{:?}", d.fields);
}

#[test]
fn an_object_field_hidden_in_part_shows_its_other_members() {
    let rules = ttl_from_env();
    let want = json!({"token_expiration": {"access_token_ttl": 4242, "refresh_token_ttl": 5}});
    let d = diff_with(
        ObjectKind::App,
        want,
        None,
        json!({"token_expiration": {"access_token_ttl": 1111, "refresh_token_ttl": 6}}),
        &rules,
    );
    let change = &d.fields[0];
    assert_eq!(
        change.after,
        Some(json!({"access_token_ttl": "(sensitive)", "refresh_token_ttl": 5}))
    );
    assert!(change.sensitive && change.before == Some(json!("(sensitive)")));
    let text = serde_json::to_string(&d.fields).unwrap();
    assert!(!text.contains("4242") && !text.contains("1111"), "{text}");
    // What is sent holds the value itself.
    assert_eq!(d.body["token_expiration"]["access_token_ttl"], json!(4242));
}

#[test]
fn a_whole_replacement_sends_every_field_and_drops_one_the_manifest_left() {
    let subject = Subject {
        replace_whole: true,
        ..Subject::catalogue(ObjectKind::App)
    };
    let last = obj(json!({"app_name": "Shop", "app_description": "old"}));
    let d = diff_fields(
        subject,
        &obj(json!({"app_name": "Shop"})),
        Some(&last),
        &obj(
            json!({"app_name": "Shop", "app_description": "old", "login_uri": "https://hand", "app_id": "a1"}),
        ),
        &FieldRules::default(),
        b"s",
    );
    assert!(d.body.is_empty() && d.drops && d.needs_write(), "{d:?}");
    // A live field nobody manages is sent back as it is; one requests do not write is not.
    assert_eq!(
        d.whole,
        obj(json!({"app_name": "Shop", "login_uri": "https://hand"}))
    );
    assert_eq!(d.carried, ["login_uri"]);
    assert!(d.blocked.is_empty());
    assert_eq!(
        (
            d.fields[0].field.as_str(),
            d.fields[0].op,
            &d.fields[0].after
        ),
        ("app_description", FieldOp::Change, &None)
    );
}

#[test]
fn a_field_recorded_hidden_whose_members_are_only_reordered_is_unchanged() {
    let rules = ttl_from_env();
    let was = json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}});
    let last = recorded_app(&obj(was), &rules);
    let reordered = json!({"token_expiration": {"refresh_token_ttl": 5, "access_token_ttl": 60}});
    let app = |live: Value| {
        diff_with(
            ObjectKind::App,
            reordered.clone(),
            Some(Value::Object(last.clone())),
            live,
            &rules,
        )
    };
    let d = app(json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}}));
    assert!(!d.needs_write(), "{:?}", d.fields);
    // Changed live: drift, not a pending change of the manifest.
    let d = app(json!({"token_expiration": {"access_token_ttl": 61, "refresh_token_ttl": 5}}));
    let change = &d.fields[0];
    assert!(change.drift && !change.pending, "{change:?}");
}

#[test]
fn a_value_recorded_hidden_and_then_removed_is_reset_without_false_drift() {
    let last =
        json!({"name": "Web", "client_type": {SENSITIVE_KEY: salted_hash(b"s", &json!("native"))}});
    let removed = |live: &str| {
        run(
            json!({"name": "Web"}),
            Some(last.clone()),
            json!({"name": "Web", "client_type": live}),
        )
    };
    // Live as last applied (from the environment): a reset, no drift, the old value hidden.
    let d = removed("native");
    let change = &d.fields[0];
    assert_eq!(
        (change.op, change.drift),
        (FieldOp::Reset, false),
        "{change:?}"
    );
    assert_eq!(change.before, Some(json!("(sensitive)")));
    // Changed outside tenantsync since: drift.
    assert!(removed("spa").fields[0].drift);
}

#[test]
fn an_edited_field_recorded_hidden_is_no_drift_when_the_answer_leaves_a_member_out() {
    let rules = ttl_from_env();
    let was = json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 5}});
    let last = recorded_app(&obj(was), &rules);
    // The manifest moves access_token_ttl; the answer leaves refresh_token_ttl out.
    let d = diff_with(
        ObjectKind::App,
        json!({"token_expiration": {"access_token_ttl": 90, "refresh_token_ttl": 5}}),
        Some(Value::Object(last)),
        json!({"token_expiration": {"access_token_ttl": 60}}),
        &rules,
    );
    let change = &d.fields[0];
    assert!(change.pending && !change.drift, "{change:?}");
}

#[test]
fn a_member_holding_a_secret_shows_what_is_beside_it_and_nothing_hidden() {
    let push = ObjKind::LoginPreferences.spec().field("push").unwrap();
    let apn = json!({"key": "pem-1", "keyId": "K1", "teamId": "T1", "bundle": "b"});
    let value = json!({ "apn": apn, "fcm": {"key": {"private_key": "pem-2"}} });
    // The key id read from the environment, the keys secret by their place.
    let rules = FieldRules::from_dotted(&[], &["push.apn.keyId"]);
    assert_eq!(
        shown(push, &rules, "push", &value),
        json!({"apn": {"key": "(sensitive)", "keyId": "(sensitive)", "teamId": "T1", "bundle": "b"},
               "fcm": {"key": "(sensitive)"}})
    );
    // Read whole from the environment: hidden whole.
    let rules = FieldRules::from_dotted(&[], &["push.apn"]);
    assert_eq!(
        shown(push, &rules, "push", &value)["apn"],
        json!("(sensitive)")
    );
    // In a diff, a key id changed by hand reads as such; the key never shows.
    let mut parts = ObjectParts::default();
    parts.changed.push(SubField {
        name: "apn".into(),
        before: Some(json!({"keyId": "K9", "teamId": "T1", "bundle": "b"})),
        after: push.member_shown("apn", &apn),
    });
    let shown_as = |hidden| {
        let parts = shown_parts(parts.clone(), push, &FieldRules::default(), "push", hidden);
        serde_json::to_string(&parts).unwrap()
    };
    let text = shown_as(false);
    assert!(
        text.contains("K9") && text.contains("K1") && !text.contains("pem-1"),
        "{text}"
    );
    // The field recorded hidden: a live value unlike the one sent may have been read from the
    // environment, so it is hidden; the members alike still show which one changed.
    let text = shown_as(true);
    assert!(
        text.contains(r#""before":{"keyId":"(sensitive)","teamId":"T1","bundle":"b"}"#)
            && !text.contains("K9"),
        "{text}"
    );
}
