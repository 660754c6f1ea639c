//! Unit tests of the described kinds' hidden fields (a secret member, or a value read from the
//! environment): records with and without member names, what plans show, what is sent.
use super::*;

#[test]
fn a_hidden_record_from_before_member_names_were_kept_is_read_as_it_was() {
    use crate::state::entry::{MEMBERS_KEY, SENSITIVE_KEY};
    let (apps, mut s, mut live) = first_apply();
    // The previous release recorded the hidden `google` method as its hash alone.
    let address = s
        .object_entries()
        .find(|(a, _)| a.kind == ObjKind::LoginPreferences.into())
        .map(|(a, _)| a.clone())
        .unwrap();
    let mut entry = s.entry(&address).unwrap().clone();
    let google = entry.last_applied.get_mut("google").unwrap();
    assert!(google.get(MEMBERS_KEY).is_some(), "{google}");
    google.as_object_mut().unwrap().remove(MEMBERS_KEY);
    let google_hash = google[SENSITIVE_KEY].clone();
    assert!(google_hash.is_string());
    s.insert(entry);
    // Someone adds a member by hand.
    for lp in live
        .objects
        .get_mut(&ObjKind::LoginPreferences.into())
        .unwrap()
    {
        lp.object["google"]["redirectUris"] = json!(["https://hand.example.com"]);
    }
    // Nothing changed in the manifest: no update, and the hand-set member asks nothing. The
    // record is written again with the names, with no request upstream.
    let d = desired(TREE, "s1");
    let PlanPart {
        changes,
        state_updates,
        ..
    } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(state_updates.len(), 1, "{state_updates:#?}");
    assert_eq!(state_updates[0].address, address);
    let upgraded = &state_updates[0].record.last_applied["google"];
    assert_eq!(upgraded[MEMBERS_KEY], json!(["clientId", "clientSecret"]));
    assert_eq!(upgraded[SENSITIVE_KEY], google_hash);
    // The method changed in the manifest: with no names to tell a member it managed from one
    // set by hand, the live member is kept (never dropped on a guess).
    let edited = desired(&TREE.replace("clientId: g-id", "clientId: g-id-2"), "s1");
    let PlanPart { changes, .. } = plan_objects(&edited, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let field = &changes[0].fields[0];
    let parts = field.object.as_ref().unwrap();
    assert!(parts.dropped.is_empty(), "{field:#?}");
    assert_eq!(parts.carried_over.len(), 1, "{field:#?}");
    assert_eq!(
        changes[0].body.as_ref().unwrap().to_send()["google"]["redirectUris"],
        json!(["https://hand.example.com"])
    );
    // The record it writes has the names.
    let record = &changes[0].record.as_ref().unwrap().last_applied["google"];
    assert_eq!(record[MEMBERS_KEY], json!(["clientId", "clientSecret"]));
}

#[test]
fn a_method_recorded_hidden_never_shows_its_old_live_values() {
    let (apps, s, live) = first_apply();
    // `google` was recorded hidden (its secret from the environment); now written in clear,
    // without a secret.
    let plain = TREE.replace(
        r#"google: {clientId: g-id, clientSecret: "${env:G_SECRET}"}"#,
        "google: {clientId: g-id-2}",
    );
    let d = desired(&plain, "s1");
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let google = changes[0]
        .fields
        .iter()
        .find(|f| f.field == "google")
        .unwrap();
    assert_eq!(google.before, Some(json!("(sensitive)")), "{google:#?}");
    let parts = google.object.as_ref().unwrap();
    assert!(parts
        .changed
        .iter()
        .all(|m| m.before == Some(json!("(sensitive)"))));
    let shown = serde_json::to_string(&(
        &changes[0].fields,
        changes[0].body.as_ref().map(|b| &b.shown),
    ))
    .unwrap();
    assert!(!shown.contains("\"g-id\""), "{shown}");
}

#[test]
fn an_ignored_member_written_hidden_is_still_sent_and_an_ignored_secret_is_refused() {
    let (apps, s, live) = first_apply();
    let ignoring = |member: &str, client_id: &str| {
        TREE.replace(
            "  application: shop\n  google: {clientId: g-id,",
            &format!(
                "  application: shop\n  ignore_fields: [google.{member}]\n  google: {{clientId: {client_id},"
            ),
        )
    };
    assert_ne!(ignoring("clientId", "g-id"), TREE);
    // Ignoring a member read from the environment cannot leave it alone: a saved plan cannot
    // hold it, and upstream replaces the method whole. It is sent as written.
    let d = desired(&ignoring("clientId", "\"${env:G_SECRET}\""), "s1");
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let sent = &changes[0].body.as_ref().unwrap().to_send()["google"];
    assert_eq!(sent["clientId"], json!("s1"), "{sent}");
    // A secret member cannot be ignored at all: refused where it is written.
    let mut env = FakeEnvironment::default();
    env.vars.insert("G_SECRET".into(), "s1".into());
    env.allow.push("G_SECRET".into());
    let text = ignoring("clientSecret", "g-id");
    let refused = load(
        &[SourceFile {
            path: "/m/a.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("google.clientSecret") && refused.contains("cannot be ignored"),
        "{refused}"
    );
}

#[test]
fn a_method_whose_members_are_only_reordered_plans_nothing() {
    let (apps, s, live) = first_apply();
    let reordered = TREE.replace(
        r#"google: {clientId: g-id, clientSecret: "${env:G_SECRET}"}"#,
        r#"google: {clientSecret: "${env:G_SECRET}", clientId: g-id}"#,
    );
    assert_ne!(reordered, TREE);
    let d = desired(&reordered, "s1");
    // Its hash covers the order it was written in; the order changes nothing upstream, so no
    // write, and no "secret changed".
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert!(changes.is_empty(), "{changes:#?}");
    // Nor does `--refresh changed` read its collection for it.
    let reads = crate::plan::refresh::changed_read_set(&d, &s);
    assert!(reads.collections.is_empty(), "{reads:?}");
    // A secret that changed with the order is still a change.
    let d = desired(&reordered, "s2");
    let PlanPart { changes, .. } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
}

#[test]
fn a_method_moved_into_ignore_fields_is_kept_live_never_erased() {
    let (apps, s, live) = first_apply();
    // `google` leaves the document for `ignore_fields`, and another method is added.
    let ignored = TREE.replace(
        r#"google: {clientId: g-id, clientSecret: "${env:G_SECRET}"}"#,
        "ignore_fields: [google]\n  totp: {period: 60}",
    );
    let d = desired(&ignored, "s1");
    let PlanPart {
        changes, warnings, ..
    } = plan_objects(&d, &s, &live, &apps, &prune()).unwrap();
    // A whole replacement cannot send it back (upstream never shows its secret): the update
    // waits, saying why, rather than erase it.
    assert!(
        changes
            .iter()
            .all(|c| obj(c).kind != ObjKind::LoginPreferences.into()),
        "{changes:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("google") && w.contains("not updated")),
        "{warnings:?}"
    );
}
