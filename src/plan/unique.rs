//! Values upstream keeps unique in a tenant (the catalogue's `Unique` facts: an application's
//! subdomain and custom domain, the Authentication Hub role) passed between applications in one
//! plan. A change that gives a value up (an update that sends another, or the application's
//! deletion, with the deletions of its roles and role groups, which run before it in any phase)
//! runs in [`Phase::Release`], before any change takes the value, when it can run that early:
//! it takes no value another live application holds (a swap or a chain needs two applies). A
//! value that no change gives up first is noted on the change that takes it, which upstream is
//! expected to refuse (409). Only the live applications the plan read are known (the daemon
//! reads those that changed). Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::observed::LiveApp;
use super::types::{Action, Change, Phase};
use crate::model::catalogue::{unique_values, Object, UniqueValue};
use crate::model::kinds::AnyKind;
use crate::shown::escape_controls;

/// Whether `change` (an application's) gives `value` up: it deletes the live application, or
/// its body sends the field that holds the value, without it.
fn gives_up(change: &Change, value: &UniqueValue) -> bool {
    match change.action {
        Action::Delete => !change.state_only,
        Action::Update | Action::Adopt => change.body.as_ref().is_some_and(|body| {
            let sent = body.to_send();
            sent.contains_key(value.path[0]) && !unique_values(Object::App, sent).contains(value)
        }),
        Action::Create => false,
    }
}

/// What `change` (an application's) takes: each value its body sends that another live
/// application holds, with that holder.
fn takes<'l>(
    change: &Change,
    holders: &BTreeMap<UniqueValue, Vec<&'l LiveApp<'l>>>,
) -> Vec<(UniqueValue, &'l LiveApp<'l>)> {
    let Some(body) = change
        .body
        .as_ref()
        .filter(|_| change.action != Action::Delete)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for value in unique_values(Object::App, body.to_send()) {
        for holder in holders.get(&value).into_iter().flatten() {
            if change.app_id.as_deref() != Some(holder.id()) {
                out.push((value.clone(), *holder));
            }
        }
    }
    out
}

/// Moves each application change of `changes` (every kind's) that gives up a value another
/// change takes into [`Phase::Release`] where it can run that early, noting why; notes on a
/// taking change each live holder (of `live`) that keeps the value until after it, and why
/// where the holder left the manifests but is kept (`kept`: by live id, the plan's reason).
pub(super) fn order_releases(
    changes: &mut [Change],
    live: &[LiveApp],
    kept: &BTreeMap<&str, &str>,
) {
    let mut holders: BTreeMap<UniqueValue, Vec<&LiveApp>> = BTreeMap::new();
    for app in live {
        for value in unique_values(Object::App, app.app) {
            holders.entry(value).or_default().push(app);
        }
    }
    if holders.is_empty() {
        return;
    }
    let apps = |c: &&Change| c.kind() == AnyKind::Application;
    let early = |c: &Change| takes(c, &holders).is_empty();
    let mut releases = Vec::new();
    let mut notes = Vec::new();
    for (i, taker) in changes.iter().enumerate().filter(|(_, c)| apps(c)) {
        for (value, holder) in takes(taker, &holders) {
            let field = value.path.join(".");
            let release = changes.iter().position(|r| {
                apps(&r) && r.app_id.as_deref() == Some(holder.id()) && gives_up(r, &value)
            });
            let name = escape_controls(
                holder
                    .app
                    .get("app_name")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default(),
            );
            let id = escape_controls(holder.id());
            match release {
                Some(r) if early(&changes[r]) => releases.push((
                    r,
                    format!("runs first: it gives up `{field}`, which {} takes", taker.name),
                )),
                Some(_) => notes.push((
                    i,
                    format!(
                        "`{field}`: the live application `{name}` ({id}) gives up the same value in this plan, but not before this change (that change takes a value another application holds: a swap or a chain); one application of a tenant holds it, so upstream is expected to refuse this (409). Apply in two steps: give it up first"
                    ),
                )),
                None => {
                    let why = match kept.get(holder.id()) {
                        Some(reason) => format!(" (it left the manifests but is kept: {reason})"),
                        None => String::new(),
                    };
                    notes.push((
                        i,
                        format!(
                            "`{field}`: the live application `{name}` ({id}) holds the same value, and no change of this plan gives it up{why}; one application of a tenant holds it, so upstream is expected to refuse this (409). Give it up there first, or set another here"
                        ),
                    ));
                }
            }
        }
    }
    // A deletion takes the deletions of the application's roles and role groups with it (they
    // run before it within a phase).
    let deleted: BTreeSet<String> = releases
        .iter()
        .filter(|(r, _)| changes[*r].action == Action::Delete)
        .filter_map(|(r, _)| changes[*r].app_id.clone())
        .collect();
    for c in changes.iter_mut() {
        let own = c.action == Action::Delete
            && !apps(&&*c)
            && c.app_id.as_ref().is_some_and(|id| deleted.contains(id));
        if own && Phase::may_release(c.action, c.kind()) {
            c.phase = Phase::Release;
        }
    }
    for (r, note) in releases {
        changes[r].phase = Phase::Release;
        if !changes[r].notes.contains(&note) {
            changes[r].notes.push(note);
        }
    }
    for (i, note) in notes {
        changes[i].notes.push(note);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::plan::types::Body;
    use crate::state::address::Address;

    use crate::plan::testing::map;

    fn live(id: &str, fields: Value) -> serde_json::Map<String, Value> {
        let mut app = map(fields);
        app.insert("app_id".into(), json!(id));
        app
    }

    /// The applications `apps`, without their clients.
    fn views(apps: &[serde_json::Map<String, Value>]) -> Vec<LiveApp<'_>> {
        apps.iter()
            .map(|app| LiveApp {
                app,
                clients: None,
                unlisted: false,
            })
            .collect()
    }

    /// A create of application `key` sending `body`.
    fn create(key: &str, body: Value) -> Change {
        change(Action::Create, key, None, Some(body))
    }

    fn change(action: Action, key: &str, app_id: Option<&str>, body: Option<Value>) -> Change {
        let mut c = Change::new(action, Address::app(key), key.to_owned());
        c.app_id = app_id.map(str::to_owned);
        c.body = body.map(|b| Body {
            shown: map(b),
            secret: None,
        });
        c
    }

    /// A subdomain moving from one application to a new one: the update that gives it up runs
    /// in `release`, before the create that takes it; so does the deletion of an application
    /// whose custom domain another takes. The Hub role, kept by an application no change
    /// touches, is noted on the change that takes it.
    #[test]
    fn a_value_is_given_up_before_it_is_taken() {
        let live_apps = [
            live("A1", json!({"app_name": "Shop", "subdomain": "shop"})),
            live(
                "A2",
                json!({"app_name": "Old", "custom_domain": {"domain": "login.example"}}),
            ),
            live(
                "A3",
                json!({"app_name": "Hub\u{1b}", "authenticator_preferences": {"is_centralized": true}}),
            ),
        ];
        let mut changes = vec![
            change(
                Action::Update,
                "shop",
                Some("A1"),
                Some(json!({"subdomain": "shop-old"})),
            ),
            change(Action::Delete, "old", Some("A2"), None),
            create(
                "store",
                json!({"app_name": "Store", "subdomain": "SHOP", "custom_domain": "Login.example",
                    "authenticator_preferences": {"is_centralized": true, "login_uri": "https://h"}}),
            ),
            // Sends its own subdomain again: nothing moves.
            change(
                Action::Update,
                "self",
                Some("A1"),
                Some(json!({"subdomain": "shop"})),
            ),
        ];
        order_releases(&mut changes, &views(&live_apps), &BTreeMap::new());
        let phases: Vec<Phase> = changes.iter().map(|c| c.phase).collect();
        assert_eq!(
            phases,
            [
                Phase::Release,
                Phase::Release,
                Phase::CreateApps,
                Phase::UpdateApps
            ]
        );
        assert_eq!(
            changes[0].notes,
            ["runs first: it gives up `subdomain`, which store takes"]
        );
        assert_eq!(
            changes[1].notes,
            ["runs first: it gives up `custom_domain`, which store takes"]
        );
        assert_eq!(changes[2].notes.len(), 1, "{:?}", changes[2].notes);
        let note = &changes[2].notes[0];
        assert!(
            note.starts_with(
                "`authenticator_preferences.is_centralized`: the live application `Hub\\e` (A3)"
            ),
            "{note}"
        );
        assert!(note.contains("409"));
        assert!(changes[3].notes.is_empty());
    }

    /// An update that leaves the field out keeps the value live: it gives nothing up, and the
    /// taker is told.
    #[test]
    fn a_holder_that_does_not_send_the_field_keeps_it() {
        let live_apps = [live("A1", json!({"app_name": "Shop", "subdomain": "shop"}))];
        let mut changes = vec![
            change(
                Action::Update,
                "shop",
                Some("A1"),
                Some(json!({"app_description": "x"})),
            ),
            create("store", json!({"subdomain": "shop"})),
        ];
        order_releases(&mut changes, &views(&live_apps), &BTreeMap::new());
        assert_eq!(changes[0].phase, Phase::UpdateApps);
        assert!(changes[1].notes[0].starts_with("`subdomain`: the live application `Shop` (A1)"));
    }

    /// A holder that left the manifests but is kept (no `--prune`) gives nothing up; the note
    /// on the taker says why it stays.
    #[test]
    fn a_kept_holder_says_why_it_keeps_the_value() {
        let live_apps = [
            live("A1", json!({"app_name": "Shop", "subdomain": "shop"})),
            live("A2", json!({"app_name": "Other", "subdomain": "other"})),
        ];
        let reason = "no longer in the manifests; run with --prune to delete it";
        let kept = BTreeMap::from([("A1", reason)]);
        let mut changes = vec![
            create("store", json!({"subdomain": "shop"})),
            create("more", json!({"subdomain": "other"})),
        ];
        order_releases(&mut changes, &views(&live_apps), &kept);
        assert!(
            changes[0].notes[0].contains(&format!("(it left the manifests but is kept: {reason})")),
            "{:?}",
            changes[0].notes
        );
        assert!(
            !changes[1].notes[0].contains("kept"),
            "{:?}",
            changes[1].notes
        );
    }

    /// A deletion that gives a value up runs early with the deletions of the application's
    /// own objects (its roles), which run before it within the phase.
    #[test]
    fn a_deletion_runs_early_with_its_roles() {
        use crate::model::kinds::ObjKind;
        let live_apps = [live("A2", json!({"app_name": "Old", "subdomain": "old"}))];
        let role = Address::new(ObjKind::Role, Some("old"), "clerk");
        let mut role_delete = Change::new(Action::Delete, role, "Role/old/clerk".into());
        role_delete.app_id = Some("A2".into());
        let mut changes = vec![
            change(Action::Delete, "old", Some("A2"), None),
            role_delete,
            create("store", json!({"subdomain": "old"})),
        ];
        order_releases(&mut changes, &views(&live_apps), &BTreeMap::new());
        assert_eq!(changes[0].phase, Phase::Release);
        assert_eq!(changes[1].phase, Phase::Release);
        assert!(changes[2].notes.is_empty(), "{:?}", changes[2].notes);
    }

    /// A swap (each application takes the other's subdomain) and a chain (one takes what the
    /// other gives up while giving up what a third takes) cannot be ordered: neither moves, and
    /// each taker is told to apply in two steps.
    #[test]
    fn swaps_and_chains_are_not_reordered() {
        let live_apps = [
            live("A", json!({"app_name": "a", "subdomain": "sa"})),
            live("B", json!({"app_name": "b", "subdomain": "sb"})),
        ];
        let mut changes = vec![
            change(
                Action::Update,
                "a",
                Some("A"),
                Some(json!({"subdomain": "sb"})),
            ),
            change(
                Action::Update,
                "b",
                Some("B"),
                Some(json!({"subdomain": "sa"})),
            ),
        ];
        order_releases(&mut changes, &views(&live_apps), &BTreeMap::new());
        for c in &changes {
            assert_eq!(c.phase, Phase::UpdateApps);
            assert!(c.notes[0].contains("a swap or a chain"), "{:?}", c.notes);
        }
    }
}
