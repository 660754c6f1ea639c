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
    assert_eq!(update.address.kind, AnyKind::Described(ObjKind::Role));
    assert!(update.record.protect);
    // Once recorded, nothing is left to do.
    let mut s = s;
    let entry = s.entry(update.address.as_object().unwrap()).unwrap();
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
    let resource = &mut live.objects.get_mut(&ObjKind::Resource.into()).unwrap()[0].object;
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
    let body = change.body.as_ref().map(|b| &b.shown).expect("a write");
    assert_eq!(body.get("refresh_token_ttl"), Some(&json!(0)), "{body:?}");
    assert!(!body.contains_key("access_token_ttl"), "{body:?}");
}

/// Login preferences always exist: managed ones an answer leaves out were only not listed, never
/// deleted. They are written again, with no drift and their ownership kept.
#[test]
fn unlisted_login_preferences_with_an_entry_are_not_drift() {
    let (apps, s, mut live) = first_apply();
    live.objects.remove(&ObjKind::LoginPreferences.into());
    let d = desired(TREE, "s1");
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).expect("plans");
    let [change] = &changes[..] else {
        panic!("the login preferences alone: {changes:#?}");
    };
    assert_eq!(obj(change).kind, ObjKind::LoginPreferences.into());
    assert_eq!(change.action, Action::Adopt);
    assert!(!change.drift && !change.pending, "{change:#?}");
    assert!(
        !change.notes.iter().any(|n| n.contains("deleted")),
        "{:?}",
        change.notes
    );
    let recorded = change.record.as_ref().unwrap().ownership;
    let entry = s.entry(obj(change)).unwrap();
    assert_eq!(recorded, entry.ownership);
}

/// A resource deleted outside tenantsync and made again by hand (another id, same uri) is found
/// by its key: drift. What the manifest asks for is compared with the deleted one's record, so
/// an unchanged manifest is not pending, though every field the new one lacks is written.
#[test]
fn a_resource_found_again_by_key_is_pending_only_where_the_manifest_moved() {
    let (apps, s, mut live) = first_apply();
    let resource = &mut live.objects.get_mut(&ObjKind::Resource.into()).unwrap()[0].object;
    resource.insert("resource_id".into(), json!("made-by-hand"));
    resource.insert("access_token_ttl".into(), json!(50));
    let adopted = |text: &str| {
        let d = desired(text, "s1");
        let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).expect("plans");
        let [change] = &changes[..] else {
            panic!("the resource alone: {changes:#?}");
        };
        assert_eq!(change.action, Action::Adopt);
        assert!(change.drift, "{change:#?}");
        assert_eq!(change.id.as_deref(), Some("made-by-hand"));
        change.clone()
    };
    let same = adopted(TREE);
    assert!(!same.pending, "{same:#?}");
    assert!(same.fields.iter().all(|f| !f.pending), "{:#?}", same.fields);
    let moved = adopted(&TREE.replace("access_token_ttl: 300", "access_token_ttl: 600"));
    assert!(moved.pending, "{moved:#?}");
    let pending: Vec<&str> = moved
        .fields
        .iter()
        .filter(|f| f.pending)
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(pending, ["access_token_ttl"]);
    // Moved to what the hand-made one holds already: nothing asked for is missing.
    let already = adopted(&TREE.replace("access_token_ttl: 300", "access_token_ttl: 50"));
    assert!(!already.pending, "{already:#?}");
}
