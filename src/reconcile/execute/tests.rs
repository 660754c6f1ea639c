//! Unit tests of execution's pure parts.
use super::*;
use crate::model::kinds::ObjKind;
use crate::state::object::ObjectAddress;

fn change(kind: ObjKind, key: &str, action: Action, phase: Phase) -> Change {
    let change = Change::new(
        action,
        ObjectAddress::new(kind, Some("shop"), key).into(),
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

/// A journal entry the previous release wrote (its address a bare application or client
/// `Address`) reads back as the same object under the same journal key, and is written again
/// in the same form: a crash across an upgrade still resolves its create.
#[test]
fn an_intent_journaled_by_the_previous_release_reads_back_unchanged() {
    use crate::state::entry::Ownership;
    for address in [Address::app("shop"), Address::client("shop", "web")] {
        let old = serde_json::json!({
            "address": address,
            "idempotency_key": "tenantsync-00",
            "app_id": "app-1",
            "name": "web",
            "record": {"ownership": "created", "last_applied": {}, "protect": false},
            "started_at": "2026-12-01T00:00:00Z",
        });
        let intent: CreateIntent = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(intent.address, AnyAddress::App(address.clone()));
        assert_eq!(intent.address.key(), address.key());
        assert_eq!(intent.record.ownership, Ownership::Created);
        assert_eq!(
            serde_json::to_value(&intent).unwrap()["address"],
            old["address"]
        );
    }
}
