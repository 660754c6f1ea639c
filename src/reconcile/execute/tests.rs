//! Unit tests of execution's pure parts.
use super::*;
use crate::model::kinds::ObjKind;
use crate::state::address::Address;

fn change(kind: ObjKind, key: &str, action: Action, phase: Phase) -> Change {
    let change = Change::new(
        action,
        Address::new(kind, Some("shop"), key),
        format!("{kind}/{key}"),
    );
    assert_eq!(change.phase, phase);
    change
}

#[test]
fn a_phase_runs_kind_by_kind_named_kinds_first_and_deleted_last() {
    let changes = [
        change(
            ObjKind::RoleGroup,
            "staff",
            Action::Create,
            Phase::AppObjects,
        ),
        change(
            ObjKind::LoginPreferences,
            "",
            Action::Update,
            Phase::AppObjects,
        ),
        change(ObjKind::Role, "clerk", Action::Create, Phase::AppObjects),
        change(ObjKind::Role, "lead", Action::Update, Phase::AppObjects),
        change(
            ObjKind::Role,
            "old",
            Action::Delete,
            Phase::DeleteAppObjects,
        ),
        change(
            ObjKind::RoleGroup,
            "gone",
            Action::Delete,
            Phase::DeleteAppObjects,
        ),
    ];
    let names = |phase| -> Vec<Vec<&str>> {
        waves(&changes, phase)
            .into_iter()
            .map(|wave| wave.into_iter().map(|(_, c)| c.name.as_str()).collect())
            .collect()
    };
    assert_eq!(
        names(Phase::AppObjects),
        [
            vec!["Role/clerk", "Role/lead"],
            vec!["RoleGroup/staff"],
            vec!["LoginPreferences/"],
        ]
    );
    assert_eq!(
        names(Phase::DeleteAppObjects),
        [vec!["RoleGroup/gone"], vec!["Role/old"]]
    );
    assert!(names(Phase::CreateObjects).is_empty());
    // Indexes are the changes' places in the plan (results are reported in plan order).
    let first = &waves(&changes, Phase::AppObjects)[0];
    assert_eq!(first.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3]);
}

/// Journal entries the previous release wrote (an application's create with its default
/// client, a client's with its body and the id it replaces), their address a bare `Address`,
/// read back as the same objects under the same journal keys, and are written again exactly as
/// they were: a crash across an upgrade still resolves its create.
#[test]
fn intents_journaled_by_the_previous_release_read_back_unchanged() {
    let record = serde_json::json!({"ownership": "created", "last_applied": {"name": "web"}, "protect": false});
    let app = serde_json::json!({
        "address": Address::app("shop"),
        "idempotency_key": "tenantsync-00",
        "name": "Shop",
        "body": {"app_name": "Shop", "client_display_name": "web"},
        "record": {"ownership": "created", "last_applied": {"app_name": "Shop"}, "protect": true},
        "default_client": {"address": Address::client("shop", "web"), "record": record},
        "started_at": "2026-12-01T00:00:00Z",
    });
    let client = serde_json::json!({
        "address": Address::client("shop", "admin"),
        "idempotency_key": "tenantsync-01",
        "app_id": "app-1",
        "name": "admin",
        "body": {"name": "admin", "redirect_uris": []},
        "record": record,
        "started_at": "2026-12-01T00:00:00Z",
        "replaces": "client-0",
    });
    for (old, address) in [
        (app, Address::app("shop")),
        (client, Address::client("shop", "admin")),
    ] {
        let intent: CreateIntent = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(intent.address, address.clone());
        assert_eq!(intent.address.key(), address.key());
        assert_eq!(serde_json::to_value(&intent).unwrap(), old);
    }
}
