//! Unit tests of a described kind's object the live tenant holds, planned by the rule every
//! kind shares (`plan::matched`): unchanged when its diff needs no write (its record written
//! again with no request upstream), and pending or drift field by field, as an application's.
use super::*;

#[test]
fn a_new_protect_alone_is_recorded_without_a_change_as_an_applications_is() {
    let (apps, s, live) = first_apply();
    let protected = TREE.replace(
        "metadata: {name: clerk}",
        "metadata: {name: clerk, annotations: {tenantsync/protect: \"true\"}}",
    );
    let d = desired(&protected, "s1");
    let PlanPart {
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

/// Pending is what the manifest asks for that is not live yet, field by field: a manifest
/// change someone already made by hand is not pending, though the object is written back for
/// another field's drift.
#[test]
fn a_change_already_live_is_not_pending_when_only_drift_is_written_back() {
    let (apps, s, mut live) = first_apply();
    let resource = &mut live.objects.get_mut(&ObjKind::Resource).unwrap()[0].object;
    resource.insert("access_token_ttl".into(), json!(600));
    resource.insert("refresh_token_ttl".into(), json!(50));
    let moved = desired(
        &TREE.replace("access_token_ttl: 300", "access_token_ttl: 600"),
        "s1",
    );
    let PlanPart { changes, .. } = plan_objects(&moved, &s, &live, &apps, &prune()).expect("plans");
    let [change] = &changes[..] else {
        panic!("the resource alone: {changes:#?}");
    };
    assert_eq!(change.action, Action::Update);
    assert!(change.drift && !change.pending, "{change:#?}");
    let body = change.body.as_ref().expect("a write");
    assert_eq!(body.get("refresh_token_ttl"), Some(&json!(0)), "{body:?}");
    assert!(!body.contains_key("access_token_ttl"), "{body:?}");
}
