//! Values upstream keeps unique in a tenant (the catalogue's `Unique` facts: an application's
//! subdomain and custom domain, the Authentication Hub role) passed between applications in one
//! plan. The change that gives a value up (an update that sends another, or the application's
//! deletion) runs in [`Phase::Release`], before any change takes the value; a value that a live
//! application holds and no change of the plan gives up is noted on the change that takes it,
//! which upstream will refuse (409). Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::observed::LiveApp;
use super::types::{Action, Change, Phase};
use crate::model::catalogue::{unique_values, Object, UniqueValue};
use crate::model::kinds::AnyKind;
use crate::shown::escape_controls;

/// Whether `change` (an application's) gives `value` up early: it deletes the live application
/// (unless other deletions of the plan remove objects of it, roles or role groups, which must
/// run first: `busy`), or its body sends the field that holds the value, without it.
fn gives_up(change: &Change, value: &UniqueValue, busy: &BTreeSet<&str>) -> bool {
    match change.action {
        Action::Delete => {
            !change.state_only
                && change
                    .app_id
                    .as_deref()
                    .is_some_and(|id| !busy.contains(id))
        }
        Action::Update | Action::Adopt => change.body.as_ref().is_some_and(|body| {
            let sent = body.to_send();
            sent.contains_key(value.path[0]) && !unique_values(Object::App, sent).contains(value)
        }),
        Action::Create => false,
    }
}

/// Moves each application change that gives up a value another change of `changes` takes into
/// [`Phase::Release`], noting why, and notes on a taking change each live holder (of `live`)
/// that keeps the value.
pub(super) fn order_releases(changes: &mut [Change], live: &[LiveApp]) {
    let mut holders: BTreeMap<UniqueValue, Vec<&LiveApp>> = BTreeMap::new();
    for app in live {
        for value in unique_values(Object::App, &app.app) {
            holders.entry(value).or_default().push(app);
        }
    }
    if holders.is_empty() {
        return;
    }
    // Applications whose own objects this plan deletes: their deletion waits for those.
    let busy: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.action == Action::Delete && c.kind() != AnyKind::Application)
        .filter_map(|c| c.app_id.as_deref())
        .collect();
    let mut releases = Vec::new();
    let mut notes = Vec::new();
    let apps = |c: &&Change| c.kind() == AnyKind::Application;
    for (i, taker) in changes.iter().enumerate().filter(|(_, c)| apps(c)) {
        let Some(body) = taker
            .body
            .as_ref()
            .filter(|_| taker.action != Action::Delete)
        else {
            continue;
        };
        for value in unique_values(Object::App, body.to_send()) {
            let others = holders.get(&value).into_iter().flatten();
            for holder in others.filter(|h| taker.app_id.as_deref() != Some(h.id())) {
                let release = changes.iter().position(|r| {
                    apps(&r)
                        && r.app_id.as_deref() == Some(holder.id())
                        && gives_up(r, &value, &busy)
                });
                match release {
                    Some(r) => releases.push((
                        r,
                        format!(
                            "runs first: it gives up `{}`, which {} takes",
                            value.path.join("."),
                            taker.name
                        ),
                    )),
                    None => notes.push((
                        i,
                        format!(
                            "`{}`: the live application `{}` ({}) holds the same value, and no change of this plan gives it up first; one application of a tenant holds it, so upstream is expected to refuse this (409). Give it up there first (a deletion that also deletes its roles or role groups runs after this), or set another here",
                            value.path.join("."),
                            escape_controls(
                                holder.app.get("app_name").and_then(|v| v.as_str()).unwrap_or_default()
                            ),
                            escape_controls(holder.id()),
                        ),
                    )),
                }
            }
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
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::plan::types::Body;
    use crate::state::entry::Address;
    use crate::state::object::AnyAddress;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    fn live(id: &str, fields: Value) -> LiveApp {
        let mut app = map(fields);
        app.insert("app_id".into(), json!(id));
        LiveApp {
            app,
            clients: None,
            unlisted: false,
        }
    }

    fn change(action: Action, key: &str, app_id: Option<&str>, body: Option<Value>) -> Change {
        let mut c = Change::new(action, AnyAddress::App(Address::app(key)), key.to_owned());
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
            change(
                Action::Create,
                "store",
                None,
                Some(
                    json!({"app_name": "Store", "subdomain": "SHOP", "custom_domain": "Login.example",
                    "authenticator_preferences": {"is_centralized": true, "login_uri": "https://h"}}),
                ),
            ),
            // Sends its own subdomain again: nothing moves.
            change(
                Action::Update,
                "self",
                Some("A1"),
                Some(json!({"subdomain": "shop"})),
            ),
        ];
        order_releases(&mut changes, &live_apps);
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
            change(
                Action::Create,
                "store",
                None,
                Some(json!({"subdomain": "shop"})),
            ),
        ];
        order_releases(&mut changes, &live_apps);
        assert_eq!(changes[0].phase, Phase::UpdateApps);
        assert!(changes[1].notes[0].starts_with("`subdomain`: the live application `Shop` (A1)"));
    }

    /// A deletion that waits for deletions of the application's own objects (its roles) is
    /// not moved ahead of them: the taker is told instead.
    #[test]
    fn a_deletion_waiting_for_its_roles_is_not_moved() {
        use crate::model::kinds::ObjKind;
        use crate::state::object::ObjectAddress;
        let live_apps = [live("A2", json!({"app_name": "Old", "subdomain": "old"}))];
        let role = AnyAddress::Object(ObjectAddress::new(ObjKind::Role, Some("old"), "clerk"));
        let mut role_delete = Change::new(Action::Delete, role, "Role/old/clerk".into());
        role_delete.app_id = Some("A2".into());
        let mut changes = vec![
            change(Action::Delete, "old", Some("A2"), None),
            role_delete,
            change(
                Action::Create,
                "store",
                None,
                Some(json!({"subdomain": "old"})),
            ),
        ];
        order_releases(&mut changes, &live_apps);
        assert_eq!(changes[0].phase, Phase::DeleteApps);
        assert!(
            changes[2].notes[0].contains("runs after this"),
            "{:?}",
            changes[2].notes
        );
    }
}
