//! Unit tests of the described kinds' planning and reference resolution.
use super::*;
use crate::manifest::interpolate::tests::FakeEnvironment;
use crate::manifest::{load, SourceFile};
use crate::model::kinds::ObjKind;
use crate::plan::identify::ADOPTION_NOTE;
use crate::plan::{resolve_references, LiveObject, Phase};
use crate::state::address::Address;
use serde_json::json;

/// A described kind's change's address.
fn obj(c: &Change) -> &Address {
    c.object_address().expect("a described kind's change")
}

const TREE: &str = r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  service_providers: [wiki, {id: sp-other}]
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: Backend
      resources: [payouts]
      role_ids: [clerk]
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts}
spec: {name: Payouts, uri: https://api.example.com/payouts, access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
---
apiVersion: tenantsync/v1
kind: ServiceProvider
metadata: {name: wiki}
spec: {name: Wiki, entity_id: https://wiki.example.com, assertion_consumer_service_URL: https://wiki.example.com/acs}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec: {application: shop, role_name: clerk, permissions: [orders:read]}
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec:
  application: shop
  google: {clientId: g-id, clientSecret: "${env:G_SECRET}"}
"#;

fn desired(text: &str, secret: &str) -> DesiredState {
    let mut env = FakeEnvironment::default();
    env.vars.insert("G_SECRET".into(), secret.into());
    env.allow.push("G_SECRET".into());
    load(
        &[SourceFile {
            path: "/m/a.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn state() -> StateSnapshot {
    StateSnapshot {
        salt: b"salt".to_vec(),
        ..StateSnapshot::default()
    }
}

fn prune() -> PlanOptions {
    PlanOptions {
        prune: true,
        ..PlanOptions::default()
    }
}

/// The state and live objects after `changes` were carried out by a faithful server:
/// ids `<kind>-<n>`, secrets stored but never returned.
fn applied(
    changes: &[Change],
    mut state: StateSnapshot,
    app_id: &str,
) -> (StateSnapshot, LiveObjects) {
    let mut live = LiveObjects::default();
    for (n, c) in changes.iter().enumerate() {
        let spec = obj(c).kind.spec();
        let id = spec.api.id_field.map(|_| format!("{}-{n}", obj(c).kind));
        let app = obj(c).app.as_ref().map(|_| app_id.to_owned());
        let mut object = c.body.as_ref().unwrap().to_send().clone();
        for f in spec.fields {
            if let Some(v) = object.get_mut(f.name) {
                f.remove_secrets(v);
            }
        }
        if let (Some(field), Some(id)) = (spec.api.id_field, &id) {
            object.insert(field.into(), json!(id));
        }
        live.objects
            .entry(obj(c).kind)
            .or_default()
            .push(LiveObject::listed(app.clone(), object));
        let record = c.record.as_ref().expect("a create records");
        state.insert(entry_of(&c.address, record, id, app, String::new()));
    }
    for kind in ObjKind::ALL {
        let app = kind.spec().parent.map(|_| app_id.to_owned());
        live.read.insert((kind.into(), app));
    }
    (state, live)
}

/// `TREE` planned against an empty tenant and carried out: the application's id by its
/// key, the state and the live objects after.
fn first_apply() -> (BTreeMap<String, String>, StateSnapshot, LiveObjects) {
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    let d = desired(TREE, "s1");
    let PlanPart { changes, .. } =
        plan_objects(&d, &state(), &all_read(&apps), &apps, &prune()).expect("plans");
    let (s, live) = applied(&changes, state(), "app-1");
    (apps, s, live)
}

/// Nothing live, every collection read: the parentless kinds', and each kind's of every
/// application in `apps`.
fn all_read(apps: &BTreeMap<String, String>) -> LiveObjects {
    let mut live = LiveObjects::default();
    for kind in ObjKind::ALL {
        match kind.spec().parent {
            None => {
                live.read.insert((kind.into(), None));
            }
            Some(_) => live
                .read
                .extend(apps.values().map(|id| (kind.into(), Some(id.clone())))),
        }
    }
    live
}

#[test]
fn references_resolve_to_ids_placeholders_or_as_written() {
    let d = desired(TREE, "s1");
    let mut s = state();
    s.insert(StateEntry {
        address: Address::new(ObjKind::ServiceProvider, None, "https://wiki.example.com"),
        name: "wiki".into(),
        id: Some("sp-1".into()),
        app_id: None,
        ownership: Ownership::Created,
        last_applied: Map::new(),
        protect: false,
        applied_at: String::new(),
    });
    let (resolved, names, deferred) =
        resolve_references(&d, &s, &LiveObjects::default(), &BTreeMap::new());
    let app = resolved.app("shop").unwrap();
    assert_eq!(app.spec["service_providers"], json!(["sp-1", "sp-other"]));
    assert_eq!(names["sp-1"], "ServiceProvider/wiki");
    let backend = &resolved.client("shop", "Backend").unwrap().0.spec;
    assert_eq!(
        backend["resources"],
        json!(["tenantsync-ref:Resource/https://api.example.com/payouts"])
    );
    // Backend is not the default client: its role is created before it.
    assert_eq!(
        backend["role_ids"],
        json!(["tenantsync-ref:Role/shop/clerk"])
    );
    assert!(deferred.is_empty(), "{deferred:?}");
}

#[test]
fn an_object_naming_objects_gets_their_ids_or_placeholders() {
    let text = format!(
        "{TREE}---
apiVersion: tenantsync/v1
kind: Role
metadata: {{name: lead}}
spec: {{application: shop, role_name: lead}}
---
apiVersion: tenantsync/v1
kind: RoleGroup
metadata: {{name: staff}}
spec: {{application: shop, name: Staff, role_ids: [clerk, lead, {{id: role-other}}]}}
"
    );
    let d = desired(&text, "s1");
    let mut s = state();
    let clerk = Address::new(ObjKind::Role, Some("shop"), "clerk");
    s.insert(StateEntry {
        address: clerk,
        name: "clerk".into(),
        id: Some("role-1".into()),
        app_id: Some("app-1".into()),
        ownership: Ownership::Created,
        last_applied: Map::new(),
        protect: false,
        applied_at: String::new(),
    });
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    let (resolved, names, _) = resolve_references(&d, &s, &LiveObjects::default(), &apps);
    let staff = Address::new(ObjKind::RoleGroup, Some("shop"), "Staff");
    assert_eq!(
        resolved.objects[&staff].spec["role_ids"],
        json!(["role-1", "tenantsync-ref:Role/shop/lead", "role-other"])
    );
    assert_eq!(names["role-1"], "Role/clerk");
    assert_eq!(names["tenantsync-ref:Role/shop/lead"], "Role/lead");
    // The plan sends them (execution fills the placeholder once the role exists).
    let PlanPart { changes, .. } =
        plan_objects(&resolved, &s, &all_read(&apps), &apps, &prune()).expect("plans");
    let group = changes.iter().find(|c| obj(c) == &staff).unwrap();
    assert_eq!(
        group.body.as_ref().unwrap().shown["role_ids"],
        json!(["role-1", "tenantsync-ref:Role/shop/lead", "role-other"])
    );
    assert_eq!(group.phase, Phase::AppObjects);

    // The role the state maps was deleted outside tenantsync (its collection was read, and
    // does not list it): it is created anew, and the group names the new one.
    let mut live = LiveObjects::default();
    live.read
        .insert((ObjKind::Role.into(), Some("app-1".into())));
    let (resolved, _, _) = resolve_references(&d, &s, &live, &apps);
    assert_eq!(
        resolved.objects[&staff].spec["role_ids"][0],
        json!("tenantsync-ref:Role/shop/clerk")
    );
}

#[test]
fn a_new_apps_default_client_naming_its_own_role_waits_for_a_second_round() {
    let text = TREE.replace(
        "    - name: Web\n      redirect_uris: [https://shop.example.com/cb]\n",
        "",
    );
    let d = desired(&text, "s1");
    let (resolved, _, deferred) =
        resolve_references(&d, &state(), &LiveObjects::default(), &BTreeMap::new());
    assert!(!resolved
        .client("shop", "Backend")
        .unwrap()
        .0
        .spec
        .contains_key("role_ids"));
    assert_eq!(deferred.len(), 1, "{deferred:?}");
}

#[test]
fn apply_then_plan_is_empty_and_secrets_are_compared_by_hash() {
    let d = desired(TREE, "s1");
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    let PlanPart { changes, .. } =
        plan_objects(&d, &state(), &all_read(&apps), &apps, &prune()).expect("plans");
    assert_eq!(changes.len(), 4);
    let phases: Vec<Phase> = changes.iter().map(|c| c.phase).collect();
    assert_eq!(
        phases,
        vec![
            Phase::CreateObjects,
            Phase::CreateObjects,
            Phase::AppObjects,
            Phase::AppObjects
        ]
    );
    let lp = changes
        .iter()
        .find(|c| obj(c).kind == ObjKind::LoginPreferences.into())
        .unwrap();
    assert_eq!(lp.action, Action::Adopt, "login preferences always exist");
    let shown = serde_json::to_string(&lp.body.as_ref().map(|b| &b.shown)).unwrap();
    assert!(
        !shown.contains("s1") && shown.contains("(sensitive)"),
        "{shown}"
    );
    let recorded = serde_json::to_string(&lp.record).unwrap();
    assert!(!recorded.contains("s1"), "{recorded}");

    let (s, live) = applied(&changes, state(), "app-1");
    let PlanPart {
        changes: again,
        unchanged,
        ..
    } = plan_objects(&d, &s, &live, &apps, &prune()).expect("plans");
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(unchanged, 4);

    // A new secret: the live object cannot show it, the hash tells; the whole object goes.
    let rotated = desired(TREE, "s2");
    let PlanPart { changes: again, .. } =
        plan_objects(&rotated, &s, &live, &apps, &prune()).expect("plans");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(obj(&again[0]).kind, ObjKind::LoginPreferences.into());
    assert!(
        !again[0].drift,
        "a rotated secret is not drift: {:#?}",
        again[0]
    );
    assert_eq!(
        again[0].body.as_ref().unwrap().to_send()["google"]["clientSecret"],
        "s2"
    );

    // Renaming a document (same natural key) writes nothing.
    let renamed = desired(
        &TREE
            .replace("metadata: {name: payouts}", "metadata: {name: payouts-v2}")
            .replace("resources: [payouts]", "resources: [payouts-v2]"),
        "s1",
    );
    let PlanPart { changes: again, .. } =
        plan_objects(&renamed, &s, &live, &apps, &prune()).expect("plans");
    assert!(again.is_empty(), "{again:#?}");

    // Drift: a live field changed outside tenantsync is planned back, marked drift.
    let mut drifted = live;
    drifted.objects.get_mut(&ObjKind::Resource.into()).unwrap()[0]
        .object
        .insert("access_token_ttl".into(), json!(9000));
    let PlanPart { changes: again, .. } =
        plan_objects(&d, &s, &drifted, &apps, &prune()).expect("plans");
    assert_eq!(again.len(), 1);
    assert!(again[0].drift);
    assert_eq!(
        again[0].body.as_ref().unwrap().shown["access_token_ttl"],
        300
    );

    // The manifest changes the drifted field too: still drift (report mode must hold it), as
    // for an application's field.
    let moved = desired(
        &TREE.replace("access_token_ttl: 300", "access_token_ttl: 600"),
        "s1",
    );
    let PlanPart { changes: again, .. } =
        plan_objects(&moved, &s, &drifted, &apps, &prune()).expect("plans");
    assert_eq!(again.len(), 1);
    assert!(again[0].drift && again[0].pending, "{:#?}", again[0]);
    assert!(again[0].fields[0].drift);
    assert_eq!(
        again[0].body.as_ref().unwrap().shown["access_token_ttl"],
        600
    );
    // Changed by hand to what the manifest now says: nothing to write, no drift to report.
    let mut agreed = drifted.clone();
    agreed.objects.get_mut(&ObjKind::Resource.into()).unwrap()[0]
        .object
        .insert("access_token_ttl".into(), json!(600));
    let PlanPart { changes: again, .. } =
        plan_objects(&moved, &s, &agreed, &apps, &prune()).expect("plans");
    assert!(
        again.iter().all(|c| !c.drift && c.body.is_none()),
        "{again:#?}"
    );
}

/// A whole replacement's saved-plan check covers every field it sends back, the unmanaged
/// ones it carries over included; a field it drops is shown without its secrets.
#[test]
fn a_whole_replacement_is_checked_on_every_field_it_sends_and_shows_no_secret() {
    let (apps, s, mut live) = first_apply();
    let prefs = &mut live
        .objects
        .get_mut(&ObjKind::LoginPreferences.into())
        .unwrap()[0]
        .object;
    // Upstream answers a secret after all (its schema documents `clientSecret`).
    prefs["google"]["clientSecret"] = json!("live-secret");
    let without_google = desired(
        &TREE.replace(
            "  google: {clientId: g-id, clientSecret: \"${env:G_SECRET}\"}\n",
            "  totp: {}\n",
        ),
        "s1",
    );
    let PlanPart { changes: again, .. } =
        plan_objects(&without_google, &s, &live, &apps, &prune()).expect("plans");
    let lp = again
        .iter()
        .find(|c| obj(c).kind == ObjKind::LoginPreferences.into())
        .unwrap_or_else(|| panic!("{again:#?}"));
    let spec = ObjKind::LoginPreferences.spec();
    let every: Vec<String> = spec.writable().map(|f| f.name.to_owned()).collect();
    assert_eq!(lp.fingerprint_fields, every);
    let shown = serde_json::to_string(&lp.fields).unwrap();
    assert!(
        shown.contains("google") && !shown.contains("live-secret"),
        "{shown}"
    );
}

#[test]
fn removed_objects_are_deleted_last_or_released_and_kept_without_prune() {
    let (apps, s, live) = first_apply();
    let only_app = desired(
        TREE.split("---")
            .next()
            .unwrap()
            .replace("service_providers: [wiki, {id: sp-other}]", "")
            .replace("      resources: [payouts]\n      role_ids: [clerk]\n", "")
            .as_str(),
        "s1",
    );
    let PlanPart {
        changes: gone,
        skipped,
        ..
    } = plan_objects(&only_app, &s, &live, &apps, &PlanOptions::default()).expect("plans");
    assert!(gone.is_empty());
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    let PlanPart { changes: gone, .. } =
        plan_objects(&only_app, &s, &live, &apps, &prune()).expect("plans");
    let by_kind = |k: ObjKind| gone.iter().find(|c| obj(c).kind == k.into()).unwrap();
    assert_eq!(by_kind(ObjKind::Resource).phase, Phase::DeleteObjects);
    assert_eq!(by_kind(ObjKind::Role).phase, Phase::DeleteAppObjects);
    let lp = by_kind(ObjKind::LoginPreferences);
    assert!(
        lp.state_only,
        "login preferences cannot be deleted, only released"
    );
    assert!(!by_kind(ObjKind::Resource).state_only);
}

#[test]
fn an_object_is_adopted_by_its_natural_key() {
    let d = desired(TREE, "s1");
    let mut live = all_read(&BTreeMap::new());
    live.objects.insert(
        ObjKind::Resource.into(),
        vec![LiveObject::listed(None, json!({"resource_id": "r-9", "name": "Payouts", "uri": "https://api.example.com/payouts",
                "access_token_ttl": 300.0, "refresh_token_ttl": 0, "max_refresh_rotate": 0})
            .as_object()
            .unwrap()
            .clone())],
    );
    let PlanPart { changes, .. } =
        plan_objects(&d, &state(), &live, &BTreeMap::new(), &prune()).expect("plans");
    let resource = changes
        .iter()
        .find(|c| obj(c).kind == ObjKind::Resource.into())
        .unwrap();
    assert_eq!(resource.action, Action::Adopt);
    assert_eq!(resource.id.as_deref(), Some("r-9"));
    assert_eq!(
        resource.notes,
        [ADOPTION_NOTE],
        "says it adopts, as for apps"
    );
    assert!(
        resource.fields.is_empty(),
        "300.0 is 300: {:?}",
        resource.fields
    );
    let (resolved, _, _) = resolve_references(&d, &state(), &live, &BTreeMap::new());
    assert_eq!(
        resolved.client("shop", "Backend").unwrap().0.spec["resources"],
        json!(["r-9"])
    );
}

#[test]
fn a_whole_replacement_keeps_unmanaged_methods_and_refuses_to_erase_a_secret() {
    let d = desired(TREE, "s1");
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    let lp = |methods: Value| {
        let mut live = all_read(&apps);
        live.objects.insert(
            ObjKind::LoginPreferences.into(),
            vec![LiveObject::listed(
                Some("app-1".into()),
                methods.as_object().unwrap().clone(),
            )],
        );
        plan_objects(&d, &state(), &live, &apps, &prune()).expect("plans")
    };
    // Set up in the portal, never in the manifest, or a method this version does not know
    // (upstream added it since): sent back as it is, never erased by the replacement.
    let methods = [
        ("sms", json!({"expiresIn": 5, "maxFailures": 3})),
        ("passkeys", json!({"enabled": true})),
    ];
    for (method, value) in methods {
        let plan = lp(json!({ method: value.clone() }));
        let change = plan
            .changes
            .iter()
            .find(|c| obj(c).kind == ObjKind::LoginPreferences.into())
            .unwrap();
        assert_eq!(change.body.as_ref().unwrap().to_send()[method], value);
        let note = format!("`{method}` is carried over");
        let notes = &change.notes;
        assert!(notes.iter().any(|n| n.contains(&note)), "{notes:?}");
    }
    // A live social login the manifest does not set holds a secret nobody can send back.
    let plan = lp(json!({"facebook": {"clientId": "fb"}}));
    assert!(
        !plan
            .changes
            .iter()
            .any(|c| obj(c).kind == ObjKind::LoginPreferences.into()),
        "{:?}",
        plan.changes
    );
    assert!(plan.warnings[0].contains("facebook"), "{:?}", plan.warnings);
}

#[test]
fn an_object_whose_collection_was_not_read_is_neither_created_nor_adopted() {
    let d = desired(TREE, "s1");
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    // The application's collections could not be read (it is gone); the resources were.
    let mut live = LiveObjects::default();
    live.read.insert((ObjKind::Resource.into(), None));
    let PlanPart {
        changes, warnings, ..
    } = plan_objects(&d, &state(), &live, &apps, &prune()).expect("plans");
    assert!(changes.iter().all(|c| obj(c).app.is_none()), "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| obj(c).kind == ObjKind::Resource.into() && c.action == Action::Create),
        "{changes:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Role/shop/clerk: not planned")),
        "{warnings:?}"
    );
}

#[test]
fn a_field_an_answer_leaves_out_is_compared_with_the_last_applied_value() {
    let (apps, s, mut live) = first_apply();
    let d = desired(TREE, "s1");
    // Upstream's response schema does not require a role's `permissions`: an answer without
    // them (or with null) says nothing of the live value. Nor does one without its required
    // `role_name` (mapped by id): read as an application's field is, unseen, not overwritten.
    for answer in [json!(null), json!("absent")] {
        for role in live.objects.get_mut(&ObjKind::Role.into()).unwrap() {
            role.object.insert("permissions".into(), answer.clone());
            if answer.is_string() {
                role.object.remove("permissions");
                role.object.remove("role_name");
            }
        }
        let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
        assert!(changes.is_empty(), "{answer}: {changes:#?}");
    }
    // Changed in the manifest, it is written (shown as not answered).
    let edited = desired(
        &TREE.replace("permissions: [orders:read]", "permissions: [orders:write]"),
        "s1",
    );
    let PlanPart { changes, .. } = plan_objects(&edited, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let field = &changes[0].fields[0];
    assert_eq!((field.field.as_str(), field.unseen), ("permissions", true));
    // Removed from the manifest: reset, since the answer may hide a value.
    let removed = desired(&TREE.replace(", permissions: [orders:read]", ""), "s1");
    let PlanPart { changes, .. } = plan_objects(&removed, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(
        changes[0].body.as_ref().unwrap().to_send()["permissions"],
        json!([])
    );
}

#[test]
fn a_role_found_again_by_its_key_writes_the_fields_its_answer_leaves_out() {
    let (apps, s, mut live) = first_apply();
    // Deleted and made again by hand: a new id, and an answer without `permissions`.
    for role in live.objects.get_mut(&ObjKind::Role.into()).unwrap() {
        role.object.remove("permissions");
        role.object.insert("role_id".into(), json!("remade"));
    }
    let d = desired(TREE, "s1");
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].action, Action::Adopt);
    assert_eq!(
        changes[0].body.as_ref().unwrap().to_send()["permissions"],
        json!(["orders:read"]),
        "{changes:#?}"
    );
}

#[test]
fn objects_of_an_application_with_no_live_id_leave_only_their_state_entries() {
    let (_, s, _) = first_apply();
    // `shop` is created again by this plan (deleted outside tenantsync), and its role left
    // the manifests: the role went with the application.
    let without_role = TREE
        .replace(
            "kind: Role\nmetadata: {name: clerk}\nspec: {application: shop, role_name: clerk, permissions: [orders:read]}",
            "kind: Role\nmetadata: {name: boss}\nspec: {application: shop, role_name: boss}",
        )
        .replace("role_ids: [clerk]", "role_ids: [boss]");
    let d = desired(&without_role, "s1");
    let none = BTreeMap::new();
    let PlanPart { changes, .. } = plan_objects(&d, &s, &all_read(&none), &none, &prune()).unwrap();
    let clerk = changes
        .iter()
        .find(|c| c.name == "Role/clerk")
        .unwrap_or_else(|| panic!("{changes:#?}"));
    assert_eq!(clerk.action, Action::Delete);
    assert!(clerk.state_only, "{clerk:#?}");
    assert!(changes
        .iter()
        .any(|c| c.name == "Role/boss" && c.action == Action::Create));
}

#[test]
fn objects_in_a_collection_answering_404_of_a_found_application_are_reported() {
    let (apps, s, mut live) = first_apply();
    live.read
        .remove(&(ObjKind::Role.into(), Some("app-1".to_owned())));
    live.objects.remove(&ObjKind::Role.into());
    live.missing_parents.insert("app-1".to_owned());
    let d = desired(TREE, "s1");
    let PlanPart {
        changes, warnings, ..
    } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert!(changes.is_empty(), "{changes:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Role/shop/clerk: not planned") && w.contains("404")),
        "{warnings:?}"
    );
}

#[path = "objects_hidden_tests.rs"]
mod hidden;

#[path = "objects_unchanged_tests.rs"]
mod unchanged;

#[test]
fn a_field_the_manifest_ignores_is_sent_on_create_and_left_alone_after() {
    // `description` is set, and listed in `ignore_fields`: written when the resource is
    // created (as an application's is), never compared or written again.
    let tree = TREE.replace(
        "spec: {name: Payouts,",
        "spec: {ignore_fields: [description], description: first, name: Payouts,",
    );
    let apps = BTreeMap::from([("shop".to_owned(), "app-1".to_owned())]);
    let d = desired(&tree, "s1");
    let PlanPart { changes, .. } =
        plan_objects(&d, &state(), &all_read(&apps), &apps, &prune()).unwrap();
    let resource = changes
        .iter()
        .find(|c| obj(c).kind == ObjKind::Resource.into())
        .unwrap();
    assert_eq!(
        resource.body.as_ref().unwrap().shown["description"],
        "first"
    );
    assert!(resource.fields.iter().any(|f| f.field == "description"));
    let record = &resource.record.as_ref().unwrap().last_applied;
    assert!(!record.contains_key("description"), "{record:?}");
    // Applied; then someone edits it in the portal, and the manifest changes it too: nothing.
    let (s, mut live) = applied(&changes, state(), "app-1");
    for r in live.objects.get_mut(&ObjKind::Resource.into()).unwrap() {
        r.object.insert("description".into(), json!("by hand"));
    }
    let edited = desired(
        &tree.replace("description: first", "description: second"),
        "s1",
    );
    let PlanPart { changes, .. } = plan_objects(&edited, &s, &live, &apps, &prune()).unwrap();
    assert!(changes.is_empty(), "{changes:#?}");

    // A method holding a secret is not sent, ignored: upstream never shows the secret, so
    // every later replacement, which must keep the method live, would wait for it.
    let tree = TREE.replace(
        "  application: shop\n  google:",
        "  application: shop\n  ignore_fields: [google]\n  sms: {expiresIn: 10, maxFailures: 3}\n  google:",
    );
    assert_ne!(tree, TREE);
    let d = desired(&tree, "s1");
    let PlanPart { changes, .. } =
        plan_objects(&d, &state(), &all_read(&apps), &apps, &prune()).unwrap();
    let login = changes
        .iter()
        .find(|c| obj(c).kind == ObjKind::LoginPreferences.into())
        .unwrap();
    let body = login.body.as_ref().unwrap().to_send();
    assert!(!body.contains_key("google"), "{body:?}");
    assert_eq!(body["sms"], json!({"expiresIn": 10, "maxFailures": 3}));
}
