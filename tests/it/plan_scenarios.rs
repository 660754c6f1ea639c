//! Plan scenarios on the pure planner with fixed inputs, each rendered as text, JSON and markdown
//! and compared with reviewed snapshots (insta; `cargo insta review` after an intended change).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};
use tenantsync::manifest::{self, DesiredState, ProcessEnvironment, SourceFile};
use tenantsync::model::kinds::AnyKind;
use tenantsync::model::FieldRules;
use tenantsync::plan::{
    self, render, LiveObject, Observed, Plan, PlanContext, PlanError, PlanOptions,
};
use tenantsync::state::address::Address;
use tenantsync::state::entry::{Ownership, StateEntry, StateSnapshot};

fn desired(yaml: &str) -> DesiredState {
    let source = SourceFile {
        path: PathBuf::from("manifests/app.yaml"),
        bytes: yaml.as_bytes().to_vec(),
    };
    manifest::load(&[source], &ProcessEnvironment::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn state(entries: Vec<StateEntry>) -> StateSnapshot {
    StateSnapshot {
        entries: entries
            .into_iter()
            .map(|e| (e.address.clone(), e))
            .collect(),
        salt: b"fixed-test-salt".to_vec(),
        lineage: "lineage-1".into(),
        binding: None,
    }
}

fn entry(address: Address, app_id: &str, client_id: Option<&str>, last: Value) -> StateEntry {
    StateEntry {
        address,
        name: String::new(),
        app_id: Some(app_id.into()),
        id: client_id.map(Into::into),
        ownership: Ownership::Created,
        last_applied: obj(last),
        protect: false,
        applied_at: "2026-11-01T00:00:00Z".into(),
    }
}

/// A live application and its clients, as a test writes them.
struct LiveApp {
    app: Map<String, Value>,
    clients: Option<Vec<Map<String, Value>>>,
}

fn live_app(app: Value, clients: Vec<Value>) -> LiveApp {
    LiveApp {
        app: obj(app),
        clients: Some(clients.into_iter().map(obj).collect()),
    }
}

/// What a gather reads of a tenant holding `apps` (and their clients).
fn observed(apps: Vec<LiveApp>) -> Observed {
    let mut observed = Observed::default();
    for app in apps {
        observed.push_app(app.app, app.clients, false);
    }
    observed
}

/// `observed` with the clients of application `app_id` read as `clients`.
fn with_clients(observed: &mut Observed, app_id: &str, clients: Vec<Map<String, Value>>) {
    let live = &mut observed.objects;
    let of_app = |o: &LiveObject| o.app_id.as_deref() == Some(app_id);
    let all = live.objects.entry(AnyKind::Client).or_default();
    all.retain(|o| !of_app(o));
    all.extend(
        clients
            .into_iter()
            .map(|object| LiveObject::listed(Some(app_id.to_owned()), object)),
    );
    live.read.insert((AnyKind::Client, Some(app_id.to_owned())));
}

fn context() -> PlanContext {
    PlanContext {
        target: "http://127.0.0.1:8080/cis".into(),
        manifests_fingerprint: "f1".into(),
    }
}

fn make(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    options: &PlanOptions,
) -> Plan {
    plan::plan(desired, state, observed, options, &context()).unwrap_or_else(|e| panic!("{e}"))
}

fn snapshot_all(name: &str, plan: &Plan) {
    plan.check()
        .unwrap_or_else(|defects| panic!("{name}: the planner broke an invariant: {defects:?}"));
    let text = render::text(plan, render::Style { color: false });
    let markdown = render::markdown(plan);
    let json = serde_json::to_string_pretty(plan).unwrap();
    for rendered in [&text, &markdown, &json] {
        assert!(
            !rendered.contains("CANARY"),
            "{name}: a secret reached the rendering"
        );
    }
    insta::assert_snapshot!(format!("{name}_text"), text);
    insta::assert_snapshot!(format!("{name}_markdown"), markdown);
    insta::assert_snapshot!(format!("{name}_json"), json);
}

const SHOP: &str = r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  app_description: Online shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      token_expiration: {access_token_ttl: 60}
"#;

fn shop_live(description: &str, token_expiration: Value) -> LiveApp {
    live_app(
        json!({"app_id": "app1", "app_name": "Shop", "app_description": description, "client_id": "c1",
               "client_secret": "CANARY-app-mirror-secret", "allow_public_signup": false}),
        vec![
            json!({"app_id": "app1", "client_id": "c1", "client_secret": "CANARY-client-secret", "name": "Web",
                    "redirect_uris": ["https://shop.example.com/cb"], "client_type": "web",
                    "authentication_protocol": "oidc", "token_expiration": token_expiration}),
        ],
    )
}

#[test]
fn first_plan_on_an_empty_tenant() {
    let d = desired(
        r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: SSO
      authentication_protocol: saml
      sp_entity_id: urn:shop:sso
      default: true
    - name: Backend
"#,
    );
    let p = make(
        &d,
        &state(vec![]),
        &Observed::default(),
        &PlanOptions::default(),
    );
    assert_eq!((p.summary.create, p.changes.len()), (3, 3));
    snapshot_all("first_plan", &p);
}

#[test]
fn nested_change_sends_the_whole_object() {
    let d = desired(SHOP);
    let s = state(vec![
        entry(
            Address::app("shop"),
            "app1",
            None,
            json!({"app_name": "Shop", "app_description": "Online shop"}),
        ),
        entry(
            Address::client("shop", "Web"),
            "app1",
            Some("c1"),
            json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"], "token_expiration": {"access_token_ttl": 3600, "max_refresh_rotate": 600}}),
        ),
    ]);
    let live = shop_live(
        "Online shop",
        json!({"access_token_ttl": 3600, "refresh_token_ttl": 1209600, "max_refresh_rotate": 600}),
    );
    let p = make(&d, &s, &observed(vec![live]), &PlanOptions::default());
    assert_eq!(p.summary.update, 1);
    assert_eq!(
        p.changes[0].body.as_ref().unwrap().shown["token_expiration"],
        json!({"access_token_ttl": 60, "refresh_token_ttl": 1209600})
    );
    snapshot_all("nested_change", &p);
}

#[test]
fn removed_fields_reset_or_are_released() {
    let d = desired(SHOP);
    let s = state(vec![
        entry(
            Address::app("shop"),
            "app1",
            None,
            json!({"app_name": "Shop", "app_description": "Online shop", "login_uri": "https://shop.example.com/login", "allow_public_signup": true}),
        ),
        entry(
            Address::client("shop", "Web"),
            "app1",
            Some("c1"),
            json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"], "token_expiration": {"access_token_ttl": 60}}),
        ),
    ]);
    let mut live = shop_live("Online shop", json!({"access_token_ttl": 60}));
    live.app
        .insert("login_uri".into(), json!("https://shop.example.com/login"));
    live.app.insert("allow_public_signup".into(), json!(true));
    let p = make(&d, &s, &observed(vec![live]), &PlanOptions::default());
    assert_eq!(
        &p.changes[0].body.as_ref().unwrap().shown,
        &obj(json!({"allow_public_signup": false}))
    );
    snapshot_all("removed_field", &p);
}

#[test]
fn drift_is_labelled() {
    let d = desired(SHOP);
    let s = state(vec![
        entry(
            Address::app("shop"),
            "app1",
            None,
            json!({"app_name": "Shop", "app_description": "Online shop"}),
        ),
        entry(
            Address::client("shop", "Web"),
            "app1",
            Some("c1"),
            json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"], "token_expiration": {"access_token_ttl": 60}}),
        ),
    ]);
    let live = shop_live("Changed in the portal", json!({"access_token_ttl": 60}));
    let p = make(&d, &s, &observed(vec![live]), &PlanOptions::default());
    assert!(p.changes[0].drift && p.changes[0].fields[0].drift);
    snapshot_all("drift", &p);
}

#[test]
fn adopting_an_app_created_outside_tenantsync() {
    let d = desired(SHOP);
    let live = shop_live("Online shop", json!({"access_token_ttl": 3600}));
    let p = make(
        &d,
        &state(vec![]),
        &observed(vec![live]),
        &PlanOptions::default(),
    );
    assert_eq!(p.summary.adopt, 2);
    snapshot_all("adoption", &p);
    // Two live apps with the name: refused, asking for import.
    let twins = observed(vec![shop_live("a", json!({})), {
        let mut other = shop_live("b", json!({}));
        other.app.insert("app_id".into(), json!("app2"));
        other
    }]);
    let err = plan::plan(
        &d,
        &state(vec![]),
        &twins,
        &PlanOptions::default(),
        &context(),
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::AmbiguousAdoption { .. }));
    insta::assert_snapshot!("adoption_ambiguous_error", err.to_string());
}

fn prune_inputs() -> (DesiredState, StateSnapshot, Observed) {
    prune_inputs_with(&[])
}

/// [`prune_inputs`], `old-app` having these clients (managed) too.
fn prune_inputs_with(old_clients: &[&str]) -> (DesiredState, StateSnapshot, Observed) {
    let d = desired(SHOP);
    let mut entries = vec![
        entry(
            Address::app("shop"),
            "app1",
            None,
            json!({"app_name": "Shop", "app_description": "Online shop"}),
        ),
        entry(
            Address::client("shop", "Web"),
            "app1",
            Some("c1"),
            json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"], "token_expiration": {"access_token_ttl": 60}}),
        ),
        entry(
            Address::client("shop", "Legacy"),
            "app1",
            Some("c2"),
            json!({"name": "Legacy"}),
        ),
        entry(
            Address::app("old-app"),
            "app9",
            None,
            json!({"app_name": "Old"}),
        ),
    ];
    let mut protected = entry(
        Address::app("vip"),
        "app8",
        None,
        json!({"app_name": "VIP"}),
    );
    protected.protect = true;
    entries.push(protected);
    let mut old = Vec::new();
    for name in old_clients {
        let id = format!("old-{name}");
        entries.push(entry(
            Address::client("old-app", name),
            "app9",
            Some(&id),
            json!({"name": name}),
        ));
        old.push(json!({"client_id": id, "name": name, "authentication_protocol": "oidc"}));
    }
    let mut shop = shop_live("Online shop", json!({"access_token_ttl": 60}));
    shop.clients.as_mut().unwrap().push(obj(
        json!({"client_id": "c2", "name": "Legacy", "authentication_protocol": "oidc"}),
    ));
    let observed = observed(vec![
        shop,
        live_app(json!({"app_id": "app9", "app_name": "Old"}), old),
        live_app(json!({"app_id": "app8", "app_name": "VIP"}), vec![]),
    ]);
    (d, state(entries), observed)
}

#[test]
fn prune_without_and_with_the_flag() {
    let (d, s, o) = prune_inputs();
    let kept = make(&d, &s, &o, &PlanOptions::default());
    assert_eq!((kept.summary.delete, kept.summary.skipped_delete), (0, 3));
    snapshot_all("prune_without_flag", &kept);
    let pruned = make(
        &d,
        &s,
        &o,
        &PlanOptions {
            prune: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(
        (pruned.summary.delete, pruned.summary.skipped_delete),
        (2, 1)
    );
    snapshot_all("prune_with_flag", &pruned);
}

/// Deleting an application takes its roles and role groups with it upstream: a hand-made role
/// needs --allow-cascade and counts against --max-deletes; collections the credential may not
/// read are said so on the deletion.
#[test]
fn an_applications_hand_made_role_is_a_cascade_and_unreadable_roles_are_said() {
    use tenantsync::model::kinds::ObjKind;
    let (d, s, mut o) = prune_inputs();
    let pruning = PlanOptions {
        prune: true,
        ..PlanOptions::default()
    };
    o.objects
        .read
        .insert((ObjKind::Role.into(), Some("app9".to_owned())));
    o.objects
        .objects
        .entry(ObjKind::Role.into())
        .or_default()
        .push(LiveObject::listed(
            Some("app9".to_owned()),
            json!({"role_id": "r-7", "role_name": "auditor"})
                .as_object()
                .unwrap()
                .clone(),
        ));
    let err = plan::plan(&d, &s, &o, &pruning, &context()).unwrap_err();
    assert!(
        err.to_string()
            .contains("Application/old-app: Role `auditor` (r-7)"),
        "{err}"
    );
    // The daemon holds the deletions instead, and applies every other change.
    let held = plan::plan_refreshed(
        &d,
        &s,
        &o,
        None,
        &PlanOptions {
            hold_mass_delete: true,
            ..pruning
        },
        &context(),
    )
    .unwrap();
    assert_eq!(held.summary.delete, 0);
    let warning = plan::held_deletions(&held).unwrap();
    assert!(
        warning.contains("Role `auditor` (r-7)") && warning.contains("--allow-cascade"),
        "{warning}"
    );
    let err = plan::plan(
        &d,
        &s,
        &o,
        &PlanOptions {
            allow_cascade: true,
            max_deletes: 2,
            ..pruning
        },
        &context(),
    )
    .unwrap_err();
    assert_eq!(err, PlanError::MassDelete { count: 3, max: 2 });
    o.objects
        .refused
        .insert((ObjKind::RoleGroup.into(), Some("app9".to_owned())));
    let plan = make(
        &d,
        &s,
        &o,
        &PlanOptions {
            allow_cascade: true,
            ..pruning
        },
    );
    let app = plan
        .changes
        .iter()
        .find(|c| c.name == "Application/old-app")
        .unwrap();
    let notes = app.notes.join("\n");
    assert!(notes.contains("Role `auditor` (r-7)"), "{notes}");
    assert!(
        notes.contains("its role groups could not be read"),
        "{notes}"
    );
}

#[test]
fn mass_delete_is_refused_and_an_empty_set_deletes_nothing() {
    let (d, s, o) = prune_inputs();
    let err = plan::plan(
        &d,
        &s,
        &o,
        &PlanOptions {
            prune: true,
            max_deletes: 1,
            allow_mass_delete: false,
            ..PlanOptions::default()
        },
        &context(),
    )
    .unwrap_err();
    assert_eq!(err, PlanError::MassDelete { count: 2, max: 1 });
    insta::assert_snapshot!("mass_delete_error", err.to_string());
    let allowed = make(
        &d,
        &s,
        &o,
        &PlanOptions {
            prune: true,
            max_deletes: 1,
            allow_mass_delete: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(allowed.summary.delete, 2);
    let empty = make(
        &DesiredState::default(),
        &s,
        &o,
        &PlanOptions {
            prune: true,
            max_deletes: 100,
            allow_mass_delete: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(empty.summary.delete, 0);
    assert!(empty
        .skipped_deletes
        .iter()
        .all(|k| k.reason.contains("manifest set is empty")));
}

#[test]
fn max_deletes_counts_every_live_object_of_every_kind_that_goes() {
    use tenantsync::model::kinds::ObjKind;
    let (d, mut s, mut o) = prune_inputs();
    // `old-app` takes a client of its own with it, and a resource left the manifests.
    with_clients(
        &mut o,
        "app9",
        vec![obj(
            json!({"client_id": "c9", "name": "Old web", "authentication_protocol": "oidc"}),
        )],
    );
    let uri = "https://api.example.com/old";
    s.insert(StateEntry {
        address: Address::new(ObjKind::Resource, None, uri),
        name: "old-api".into(),
        app_id: None,
        id: Some("r1".into()),
        ownership: Ownership::Created,
        last_applied: obj(json!({"uri": uri})),
        protect: false,
        applied_at: String::new(),
    });
    o.objects.read.insert((ObjKind::Resource.into(), None));
    o.objects.objects.insert(
        ObjKind::Resource.into(),
        vec![LiveObject::listed(
            None,
            obj(json!({"resource_id": "r1", "uri": uri, "name": "Old API"})),
        )],
    );
    let options = |max_deletes| PlanOptions {
        prune: true,
        max_deletes,
        allow_cascade: true,
        ..PlanOptions::default()
    };
    // The client `Legacy`, `old-app` and its client, the resource: four live objects.
    let err = plan::plan(&d, &s, &o, &options(3), &context()).unwrap_err();
    assert_eq!(err, PlanError::MassDelete { count: 4, max: 3 });
    let plan = make(&d, &s, &o, &options(4));
    assert_eq!(plan.summary.delete, 3);
    // An entry whose resource is gone already deletes nothing live.
    o.objects.objects.remove(&ObjKind::Resource.into());
    let plan = make(&d, &s, &o, &options(3));
    assert_eq!(plan.summary.delete, 3);
}

#[test]
fn held_mass_deletes_leave_every_other_change_and_say_why() {
    let holding = PlanOptions {
        prune: true,
        max_deletes: 1,
        hold_mass_delete: true,
        ..PlanOptions::default()
    };
    let (d, s, o) = prune_inputs();
    let held = make(&d, &s, &o, &holding);
    let kept = make(&d, &s, &o, &PlanOptions::default());
    // The plan without --prune, from the same reads: the same changes, no deletion.
    assert_eq!(held.summary.delete, 0);
    assert_eq!(held.changes, kept.changes);
    assert_eq!(
        plan::held_deletions(&held),
        Some("2 deletions held: more than --max-deletes 1; review them, then raise --max-deletes or pass --allow-mass-delete (every other change is applied)")
    );
    assert!(plan::held_deletions(&kept).is_none());
    let why: Vec<_> = held
        .skipped_deletes
        .iter()
        .map(|k| k.reason.as_str())
        .collect();
    // The two that would go say they are held; the protected one keeps its own reason.
    let held_why = why
        .iter()
        .filter(|w| w.starts_with("held: 2 deletions held"));
    assert_eq!(held_why.count(), 2, "{why:?}");
    assert!(
        why.contains(&"protected by the tenantsync/protect annotation"),
        "{why:?}"
    );
    // An application takes its clients with it: the count says how many of the deletions
    // are the rows listed (the objects the manifests dropped).
    let (d, s, o) = prune_inputs_with(&["Web", "Admin"]);
    let held = make(&d, &s, &o, &holding);
    assert_eq!(
        plan::held_deletions(&held),
        Some("4 deletions held (2 dropped from the manifests, 2 taken with them): more than --max-deletes 1; review them, then raise --max-deletes or pass --allow-mass-delete (every other change is applied)")
    );
    let rows = held
        .skipped_deletes
        .iter()
        .filter(|k| k.reason.starts_with("held: 4 deletions held"));
    assert_eq!(rows.count(), 2, "{:?}", held.skipped_deletes);
}

/// `SHOP` with its client `Web` as `edit` leaves it.
fn shop_with_web(edit: impl FnOnce(&mut manifest::DesiredObject)) -> DesiredState {
    let mut d = desired(SHOP);
    edit(d.object_mut(&Address::client("shop", "Web")).unwrap());
    d
}

/// `SHOP` as applied, with `web` as its client's record.
fn shop_applied(web: Value) -> StateSnapshot {
    state(vec![
        entry(
            Address::app("shop"),
            "app1",
            None,
            json!({"app_name": "Shop", "app_description": "Online shop"}),
        ),
        entry(Address::client("shop", "Web"), "app1", Some("c1"), web),
    ])
}

/// The plan of `d` against `s` and `SHOP` live with `token_expiration`.
fn plan_shop(d: &DesiredState, s: &StateSnapshot, token_expiration: Value) -> Plan {
    let live = shop_live("Online shop", token_expiration);
    let observed = observed(vec![live]);
    make(d, s, &observed, &PlanOptions::default())
}

#[test]
fn secrets_show_only_as_sensitive() {
    let d = shop_with_web(|web| {
        web.spec
            .insert("client_secret".into(), json!("CANARY-desired-secret"));
        web.rules = FieldRules::from_dotted(&[], &["client_secret"]);
    });
    let rules = &d.client("shop", "Web").unwrap().0.rules;
    let last = plan::applied(
        plan::diff::Subject::catalogue(plan::fields::ObjectKind::Client(
            tenantsync::model::AuthenticationProtocol::Oidc,
        )),
        &obj(
            json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"], "token_expiration": {"access_token_ttl": 60}, "client_secret": "CANARY-old-secret"}),
        ),
        rules,
        None,
        b"fixed-test-salt",
    );
    let s = shop_applied(Value::Object(last));
    let p = plan_shop(&d, &s, json!({"access_token_ttl": 60}));
    assert_eq!(
        p.summary.update, 1,
        "a rotated secret is still shown as a change"
    );
    assert!(p.changes[0].fields[0].sensitive);
    snapshot_all("secrets", &p);
    let _ = BTreeMap::<(), ()>::new();
}

#[test]
fn a_hidden_record_from_before_member_names_were_kept_gains_them_without_a_write() {
    use tenantsync::model::FieldPath;
    use tenantsync::state::entry::{salted_hash, MEMBERS_KEY, SENSITIVE_KEY};
    // `access_token_ttl` was read from the environment: the field is hidden.
    let d = shop_with_web(|web| {
        web.rules
            .masked
            .insert(FieldPath::parse("token_expiration.access_token_ttl").unwrap());
    });
    // The previous release recorded it as its hash alone.
    let hash = salted_hash(b"fixed-test-salt", &json!({"access_token_ttl": 60}));
    let s = shop_applied(
        json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"],
        "token_expiration": {SENSITIVE_KEY: hash}}),
    );
    let p = plan_shop(
        &d,
        &s,
        json!({"access_token_ttl": 60, "refresh_token_ttl": 5}),
    );
    // Nothing to send; the record is written again with the names.
    assert!(!p.has_changes(), "{:?}", p.changes);
    assert_eq!(p.state_updates.len(), 1, "{:?}", p.state_updates);
    let record = &p.state_updates[0].record.last_applied["token_expiration"];
    assert_eq!(record[MEMBERS_KEY], json!(["access_token_ttl"]));
    // Said as such: no value, only the field and why.
    assert_eq!(
        p.state_updates[0].reasons,
        ["`token_expiration` recorded in this release's form"]
    );
}

#[test]
fn a_field_the_manifest_ignores_is_not_recorded_and_an_older_record_of_it_is_dropped_without_a_write(
) {
    use tenantsync::model::FieldPath;
    // `app_description` is in the manifest, and in `ignore_fields`: tenantsync leaves it alone.
    let mut d = shop_with_web(|_| {});
    d.object_mut(&Address::app("shop"))
        .unwrap()
        .rules
        .ignored
        .insert(FieldPath::parse("app_description").unwrap());
    // The previous release recorded it as applied anyway; upstream holds another value.
    let s = shop_applied(
        json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"],
        "token_expiration": {"access_token_ttl": 60}}),
    );
    let live = shop_live("Edited in the portal", json!({"access_token_ttl": 60}));
    let observed = observed(vec![live]);
    let p = make(&d, &s, &observed, &PlanOptions::default());
    // Nothing to send, no drift; the application's record is written again without it, as
    // every kind records an object (what the manifest sets and does not ignore).
    assert!(!p.has_changes(), "{:?}", p.changes);
    assert_eq!(p.state_updates.len(), 1, "{:?}", p.state_updates);
    let record = &p.state_updates[0].record.last_applied;
    assert_eq!(record.get("app_name"), Some(&json!("Shop")));
    assert!(!record.contains_key("app_description"), "{record:?}");
    // The text plan says so, though nothing changes upstream.
    let text = render::text(&p, render::Style { color: false });
    assert!(text.starts_with("No changes"), "{text}");
    assert!(
        text.contains(
            "  Application/shop: its state record is written again (nothing is sent upstream): `app_description` no longer managed (left live as it is)\n"
        ),
        "{text}"
    );
    // So does the markdown plan (a pull-request comment).
    let markdown = render::markdown(&p);
    assert!(
        markdown.contains(
            "- `Application/shop`: `app_description` no longer managed (left live as it is)\n"
        ),
        "{markdown}"
    );
}

/// An application deleted outside tenantsync is created again, as drift; pending only where the
/// manifest moved since its last apply. A client the manifest adds in the same edit is new:
/// pending, not drift.
#[test]
fn an_application_deleted_by_hand_is_created_again_as_drift_and_a_new_client_as_pending() {
    let web = json!({"name": "Web", "redirect_uris": ["https://shop.example.com/cb"],
        "token_expiration": {"access_token_ttl": 60}});
    let s = shop_applied(web);
    let with_admin =
        format!("{SHOP}    - name: Admin\n      redirect_uris: [https://shop.example.com/admin]\n");
    let gone = Observed::default();
    let plan_of = |yaml: &str| make(&desired(yaml), &s, &gone, &PlanOptions::default());
    let p = plan_of(&with_admin);
    let [app, admin] = &p.changes[..] else {
        panic!("the application (with Web) and Admin: {:#?}", p.changes);
    };
    assert_eq!(
        (app.name.as_str(), app.drift, app.pending),
        ("Application/shop", true, false)
    );
    assert_eq!(
        app.notes[0],
        "the live application was deleted outside tenantsync; it is created again"
    );
    assert_eq!(
        (admin.name.as_str(), admin.drift, admin.pending),
        ("Client/shop/Admin", false, true)
    );
    assert!(admin.notes.is_empty(), "{:?}", admin.notes);
    // Nothing of it is pending field by field either; every field it sends is listed.
    let pending = |fields: &[plan::diff::FieldChange]| -> Vec<String> {
        fields
            .iter()
            .filter(|f| f.pending)
            .map(|f| f.field.clone())
            .collect()
    };
    let default_fields = |c: &plan::Change| c.default_client.clone().unwrap().fields;
    assert!(app.fields.iter().any(|f| f.field == "app_name"));
    assert!(pending(&app.fields).is_empty() && pending(&default_fields(app)).is_empty());
    // The manifest also moved the application, or its default client: pending too, on the
    // field it moved.
    for (moved, on_app, on_default) in [
        (
            with_admin.replace("Online shop", "Shop online"),
            vec!["app_description"],
            vec![],
        ),
        (
            with_admin.replace("access_token_ttl: 60", "access_token_ttl: 90"),
            vec![],
            vec!["token_expiration"],
        ),
    ] {
        let p = plan_of(&moved);
        let app = &p.changes[0];
        assert!(app.drift && app.pending, "{app:#?}");
        assert_eq!(pending(&app.fields), on_app);
        assert_eq!(pending(&default_fields(app)), on_default);
    }
    // An application the state forgot (`state forget`) is new, and so are its clients, though
    // their entries were left behind: none of them is drift.
    let admin = json!({"name": "Admin", "redirect_uris": ["https://shop.example.com/admin"]});
    let forgot = state(vec![entry(
        Address::client("shop", "Admin"),
        "app1",
        Some("c2"),
        admin,
    )]);
    let p = make(
        &desired(&with_admin),
        &forgot,
        &gone,
        &PlanOptions::default(),
    );
    assert_eq!(p.changes.len(), 2, "{:#?}", p.changes);
    for change in &p.changes {
        assert!(!change.drift && change.pending, "{change:#?}");
        assert!(
            !change.notes.iter().any(|n| n.contains("deleted")),
            "{change:#?}"
        );
    }
}
