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
