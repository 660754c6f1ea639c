//! Unit tests of the plan's invariants (`Plan::check`) and `Change::op`.
use super::fixtures::{change, plan};
use super::*;
use crate::state::address::Address;

#[test]
fn a_well_formed_plan_passes() {
    let p = plan(vec![
        change(Action::Create, Address::app("food"), None),
        change(Action::Create, Address::client("food", "iOS"), None),
        change(Action::Update, Address::app("shop"), Some("a1")),
    ]);
    assert_eq!(p.check(), Ok(()));
    assert!(matches!(
        p.changes[1].op(),
        Ok(Op::Create {
            kind: AnyKind::Client,
            app: Some(AppRef::CreatedInThisPlan("food")),
            journaled: true,
            ..
        })
    ));
}

#[test]
fn every_defect_is_reported() {
    let mut update_without_id = change(Action::Update, Address::app("shop"), None);
    update_without_id.phase = Phase::DeleteApps;
    let orphan = change(Action::Create, Address::client("gone", "iOS"), None);
    let delete_client = change(Action::Delete, Address::client("x", "c"), Some("a1"));
    let mut p = plan(vec![
        update_without_id,
        orphan,
        delete_client.clone(),
        delete_client,
    ]);
    p.summary.create = 5;
    let defects = p.check().unwrap_err();
    let has = |f: &dyn Fn(&PlanDefect) -> bool| defects.iter().any(f);
    assert!(has(&|d| matches!(
        d,
        PlanDefect::WrongPhase {
            expected: Phase::UpdateApps,
            ..
        }
    )));
    assert!(has(&|d| matches!(
        d,
        PlanDefect::MissingId {
            action: Action::Update,
            ..
        }
    )));
    assert!(has(&|d| matches!(d, PlanDefect::OutOfOrder { .. })));
    assert!(has(
        &|d| matches!(d, PlanDefect::OrphanClient { app, .. } if app == "gone")
    ));
    // A client deletion needs the client's id, not only the app's.
    assert!(has(&|d| matches!(
        d,
        PlanDefect::MissingId {
            action: Action::Delete,
            ..
        }
    )));
    assert!(has(&|d| matches!(d, PlanDefect::Duplicate { .. })));
    assert!(has(&|d| matches!(
        d,
        PlanDefect::SummaryMismatch {
            action: Action::Create,
            summary: 5,
            actual: 1
        }
    )));
}

#[test]
fn every_kinds_change_is_one_op_naming_its_object_and_application() {
    use crate::model::kinds::ObjKind;
    let object = |kind: ObjKind, action: Action, app_id: Option<&str>, id: Option<&str>| {
        let mut c = Change::new(
            action,
            Address::new(kind, kind.spec().parent.map(|_| "shop"), "k"),
            format!("{kind}/k"),
        );
        c.app_id = app_id.map(str::to_owned);
        c.id = id.map(str::to_owned);
        c.body = (action != Action::Delete).then(|| Body::planned(Map::new(), Map::new()));
        c.record = (action != Action::Delete).then(|| Record {
            name: Some("k".into()),
            ..fixtures::record()
        });
        c
    };
    // A role created in an application the same plan creates.
    let role = object(ObjKind::Role, Action::Create, None, None);
    assert!(matches!(
        role.op(),
        Ok(Op::Create {
            kind: AnyKind::Described(ObjKind::Role),
            app: Some(AppRef::CreatedInThisPlan("shop")),
            journaled: false,
            ..
        })
    ));
    // A new application's login preferences (they always exist, with no id of their own).
    let prefs = object(ObjKind::LoginPreferences, Action::Adopt, None, None);
    let Ok(Op::Update { object: prefs, .. }) = prefs.op() else {
        panic!("{:?}", prefs.op());
    };
    assert_eq!(prefs.app, Some(AppRef::CreatedInThisPlan("shop")));
    assert_eq!(prefs.id, None);
    // A role group updated by id, in a live application; without its id it is refused.
    let group = object(ObjKind::RoleGroup, Action::Update, Some("a1"), Some("g1"));
    let Ok(Op::Update { object: group, .. }) = group.op() else {
        panic!("{:?}", group.op());
    };
    assert_eq!(
        (group.kind, group.app, group.id),
        (
            AnyKind::Described(ObjKind::RoleGroup),
            Some(AppRef::Live("a1")),
            Some("g1")
        )
    );
    let no_id = object(ObjKind::RoleGroup, Action::Update, Some("a1"), None);
    assert!(matches!(no_id.op(), Err(PlanDefect::MissingId { .. })));
    // A resource forgotten only (already gone) needs no id; one deleted does.
    let mut forgotten = object(ObjKind::Resource, Action::Delete, None, None);
    forgotten.state_only = true;
    assert!(matches!(
        forgotten.op(),
        Ok(Op::Delete {
            already_gone: true,
            ..
        })
    ));
    forgotten.state_only = false;
    assert!(matches!(forgotten.op(), Err(PlanDefect::MissingId { .. })));
    // A described kind's record names its document.
    let mut unnamed = object(ObjKind::Resource, Action::Create, None, None);
    unnamed.record = Some(fixtures::record());
    assert!(matches!(
        unnamed.op(),
        Err(PlanDefect::MissingRecord { .. })
    ));
    // An application is written by its own id, which the plan keeps as `app_id`.
    let app = change(Action::Update, Address::app("shop"), Some("a1"));
    let Ok(Op::Update { object: app, .. }) = app.op() else {
        panic!("{:?}", app.op());
    };
    assert_eq!((app.app, app.id), (None, Some("a1")));
}

#[test]
fn phases_run_in_dependency_order() {
    let mut sorted = Phase::ALL;
    sorted.sort();
    assert_eq!(sorted, Phase::ALL);
    assert!(
        Phase::of(Action::Create, AnyKind::Application)
            < Phase::of(Action::Create, AnyKind::Client)
    );
    assert!(
        Phase::of(Action::Delete, AnyKind::Client)
            < Phase::of(Action::Delete, AnyKind::Application)
    );
    assert!(Phase::ALL.iter().filter(|p| p.creates()).count() == 2);
}

/// An entry moves only by an update, within its kind and application, from an address no
/// other change of the plan writes.
#[test]
fn a_move_is_checked() {
    use crate::model::kinds::ObjKind;
    let role = |key: &str| Address::new(ObjKind::Role, Some("shop"), key);
    let moving = |from: Address, action: Action| Change {
        id: Some("r1".into()),
        app_id: Some("a1".into()),
        record: Some(Record {
            name: Some("clerk".into()),
            ..fixtures::record()
        }),
        moved_from: Some(from),
        ..Change::new(action, role("cashier"), "Role/clerk".into())
    };
    assert_eq!(
        plan(vec![moving(role("clerk"), Action::Update)]).check(),
        Ok(())
    );
    let why = |changes: Vec<Change>| -> Vec<&'static str> {
        plan(changes)
            .check()
            .unwrap_err()
            .into_iter()
            .filter_map(|d| match d {
                PlanDefect::BadMove { why, .. } => Some(why),
                _ => None,
            })
            .collect()
    };
    let other_app = Address::new(ObjKind::Role, Some("food"), "clerk");
    assert_eq!(
        why(vec![moving(other_app, Action::Update)]),
        ["an entry moves within its kind and application only"]
    );
    let mut adopt = moving(role("clerk"), Action::Adopt);
    adopt.body = None;
    assert_eq!(why(vec![adopt]), ["only an update moves one"]);
    let mut delete = change(Action::Delete, Address::app("x"), Some("a9"));
    delete.address = role("clerk");
    delete.phase = Phase::of(Action::Delete, AnyKind::Described(ObjKind::Role));
    assert_eq!(
        why(vec![moving(role("clerk"), Action::Update), delete]),
        ["another change of the plan writes that object"]
    );
    let mut twice = moving(role("clerk"), Action::Update);
    twice.address = role("boss");
    assert_eq!(
        why(vec![moving(role("clerk"), Action::Update), twice]),
        ["another change of the plan moves that entry"]
    );
    // A state update's move is held to the same rules.
    let mut p = plan(Vec::new());
    p.state_updates.push(crate::plan::StateUpdate {
        address: role("cashier"),
        record: fixtures::record(),
        reasons: Vec::new(),
        moved_from: Some(Address::new(ObjKind::Resource, None, "https://a")),
    });
    assert!(matches!(
        p.check().unwrap_err().as_slice(),
        [PlanDefect::BadMove {
            why: "an entry moves within its kind and application only",
            ..
        }]
    ));
}
