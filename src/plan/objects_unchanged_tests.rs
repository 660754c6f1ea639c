//! Unit tests of what a plan does with a described kind's object whose diff needs no write:
//! unchanged, its record written again with no request upstream, as an application's is.
use super::*;

#[test]
fn a_new_protect_alone_is_recorded_without_a_change_as_an_applications_is() {
    let (apps, s, live) = first_apply();
    let protected = TREE.replace(
        "metadata: {name: clerk}",
        "metadata: {name: clerk, annotations: {tenantsync/protect: \"true\"}}",
    );
    let d = desired(&protected, "s1");
    let ObjectPlan {
        changes,
        unchanged,
        state_updates,
        ..
    } = plan_objects(&d, &s, &live, &apps, &prune()).expect("plans");
    assert!(changes.is_empty(), "no write, so no change: {changes:#?}");
    assert_eq!(unchanged, 4);
    let [update] = &state_updates[..] else {
        panic!("one record written again: {state_updates:#?}");
    };
    assert_eq!(update.address.kind(), AnyKind::Described(ObjKind::Role));
    assert!(update.record.protect);
    // Once recorded, nothing is left to do.
    let mut s = s;
    let entry = s.object_entry(update.address.as_object().unwrap()).unwrap();
    s.insert(StateEntry {
        protect: true,
        ..entry.clone()
    });
    let again = plan_objects(&d, &s, &live, &apps, &prune()).expect("plans");
    assert!(again.changes.is_empty() && again.state_updates.is_empty());
}
