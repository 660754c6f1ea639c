//! What becomes of a state entry whose manifest object left, one rule for every kind: its live
//! object deleted (or released, for a kind upstream cannot delete), or only the entry removed
//! when the object is already gone; the notes saying which, and what a saved plan checks
//! before it deletes. Whether it goes at all is `guards.rs`'s; what an application takes
//! with it is the applications' side's (`apps.rs`). Pure.

use serde_json::{Map, Value};

use super::fingerprint::fingerprint_live;
use super::types::{Action, Change};
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry};

/// What is known of the live object of an entry that left the manifests.
#[derive(Debug, Clone, Copy)]
pub(super) enum Presence<'a> {
    /// Listed: here it is.
    Listed(&'a Map<String, Value>),
    /// Its collection was not read (an application's clients not fetched): whether it is
    /// still there is not known, so it is deleted without a check of what it holds.
    Unread,
    /// Its collection was read and it is not there.
    Gone,
    /// Its application leaves too, and upstream deletes it with it.
    WithItsApplication,
}

/// The change that takes a departed object out, its kind's description saying how (and what
/// a saved plan checks first: [`fingerprint_live`] of the fields last applied).
pub(super) fn departure(
    address: Address,
    name: String,
    entry: &StateEntry,
    presence: Presence<'_>,
) -> Change {
    let spec = address.kind.spec();
    let releases = !spec.api.delete;
    let state_only = releases || matches!(presence, Presence::Gone | Presence::WithItsApplication);
    let mut notes = Vec::new();
    if releases {
        notes.push(format!(
            "upstream cannot delete {}; tenantsync stops managing them and leaves them as they are",
            spec.plural
        ));
    } else if let Presence::WithItsApplication = presence {
        notes.push("deleted with its application; only the state entry is removed".to_owned());
    } else if state_only {
        notes
            .push("already deleted outside tenantsync; only the state entry is removed".to_owned());
    } else if entry.ownership == Ownership::Adopted {
        notes.push("was adopted (not created) by tenantsync".to_owned());
    }
    let (fingerprint_fields, live_fingerprint) = match presence {
        // With no field applied (an import), the fingerprint still checks it exists.
        Presence::Listed(live) if !state_only => {
            let fields: Vec<String> = entry.last_applied.keys().cloned().collect();
            let print = fingerprint_live(address.kind, live, &fields);
            (fields, Some(print))
        }
        _ => (Vec::new(), None),
    };
    Change {
        id: entry.id.clone(),
        app_id: entry.app_id.clone(),
        pending: true,
        notes,
        state_only,
        live_fingerprint,
        fingerprint_fields,
        ..Change::new(Action::Delete, address, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::{AnyKind, ObjKind};
    use serde_json::json;

    fn entry(address: Address, ownership: Ownership) -> StateEntry {
        StateEntry {
            address,
            name: "payouts".into(),
            app_id: None,
            id: Some("r1".into()),
            ownership,
            last_applied: json!({"uri": "https://api", "description": "old"})
                .as_object()
                .unwrap()
                .clone(),
            protect: false,
            applied_at: String::new(),
        }
    }

    fn resource() -> Address {
        Address::new(ObjKind::Resource, None, "https://api")
    }

    fn live() -> Map<String, Value> {
        let live = json!({"resource_id": "r1", "uri": "https://api", "description": "new"});
        live.as_object().unwrap().clone()
    }

    /// The departure of the resource `e` maps, listed live.
    fn listed_resource_leaves(e: &StateEntry) -> Change {
        departure(
            resource(),
            "Resource/payouts".into(),
            e,
            Presence::Listed(&live()),
        )
    }

    #[test]
    fn a_listed_object_is_deleted_with_a_fingerprint_of_what_was_applied() {
        let e = entry(resource(), Ownership::Adopted);
        let change = listed_resource_leaves(&e);
        assert!(!change.state_only);
        assert_eq!(change.action, Action::Delete);
        assert_eq!(change.id.as_deref(), Some("r1"));
        assert_eq!(change.fingerprint_fields, ["uri", "description"]);
        let kind = AnyKind::Described(ObjKind::Resource);
        let fields = change.fingerprint_fields.clone();
        assert_eq!(
            change.live_fingerprint,
            Some(fingerprint_live(kind, &live(), &fields))
        );
        // Of what was applied: the live description, changed since, is part of it.
        let mut before = live();
        before.insert("description".into(), json!("old"));
        assert_ne!(
            change.live_fingerprint,
            Some(fingerprint_live(kind, &before, &fields))
        );
        assert_eq!(change.notes, ["was adopted (not created) by tenantsync"]);
    }

    /// An imported object (nothing applied yet): a saved plan still checks it exists.
    #[test]
    fn an_imported_object_is_deleted_only_if_it_still_exists() {
        let mut e = entry(resource(), Ownership::Adopted);
        e.last_applied.clear();
        let change = listed_resource_leaves(&e);
        assert!(change.fingerprint_fields.is_empty());
        let kind = AnyKind::Described(ObjKind::Resource);
        assert_eq!(
            change.live_fingerprint,
            Some(fingerprint_live(kind, &live(), &[]))
        );
    }

    #[test]
    fn a_gone_object_only_loses_its_entry_whatever_its_kind() {
        let address = resource();
        let e = entry(address.clone(), Ownership::Created);
        let app = Address::app("shop");
        let app_entry = entry(app.clone(), Ownership::Created);
        for (address, e) in [(address, &e), (app, &app_entry)] {
            let change = departure(address, "x".into(), e, Presence::Gone);
            assert!(change.state_only);
            assert!(change.live_fingerprint.is_none() && change.fingerprint_fields.is_empty());
            assert_eq!(
                change.notes,
                ["already deleted outside tenantsync; only the state entry is removed"]
            );
        }
    }

    #[test]
    fn an_object_leaving_with_its_application_or_undeletable_is_only_forgotten() {
        let address = resource();
        let e = entry(address.clone(), Ownership::Created);
        let change = departure(address, "x".into(), &e, Presence::WithItsApplication);
        assert!(change.state_only);
        assert_eq!(
            change.notes,
            ["deleted with its application; only the state entry is removed"]
        );

        let prefs = Address::new(ObjKind::LoginPreferences, Some("shop"), "");
        let e = entry(prefs.clone(), Ownership::Adopted);
        let live = json!({"auth_methods": []});
        let change = departure(
            prefs,
            "x".into(),
            &e,
            Presence::Listed(live.as_object().unwrap()),
        );
        assert!(
            change.state_only,
            "upstream cannot delete login preferences"
        );
        assert!(change.notes[0].contains("upstream cannot delete login preferences"));
        assert!(change.live_fingerprint.is_none());
    }

    #[test]
    fn an_unread_object_is_deleted_without_a_fingerprint() {
        let address = resource();
        let e = entry(address.clone(), Ownership::Created);
        let change = departure(address, "x".into(), &e, Presence::Unread);
        assert!(!change.state_only);
        assert!(change.live_fingerprint.is_none());
        assert!(change.notes.is_empty());
    }
}
