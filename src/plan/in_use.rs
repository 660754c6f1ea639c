//! Deletions upstream refuses while something names the object (`KindSpec::in_use`: a
//! resource a client lists, a service provider an application lists): each live application
//! and client the plan read that still names it, and that no change of the plan detaches or
//! deletes first, is noted on the deletion, by name, so the plan says before the apply what
//! upstream will answer (409), and the apply's failure repeats it (upstream's documented answer
//! names nobody). Only what the plan read is known (the daemon and `--refresh changed` read
//! what changed). Pure.

use serde_json::{Map, Value};

use super::observed::LiveApp;
use super::types::{Action, Change};
use crate::model::kinds::{self, AnyKind, CLIENT};
use crate::shown::escape_controls;

/// How a note naming what still names a deletion's object begins (the executor repeats such a
/// note when upstream answers "in use").
pub const STILL_NAMED: &str = "still named by ";

/// What follows the referrers in such a note.
const NOT_DETACHED: &str = ", which no change of this plan detaches; ";

/// The referrers a note of [`note_referrers`] names, if `note` is one.
pub fn referrers_in(note: &str) -> Option<&str> {
    note.strip_prefix(STILL_NAMED)?
        .rsplit_once(NOT_DETACHED)
        .map(|(who, _)| who)
}

/// Whether `object`'s reference `field` holds `id`.
fn names(object: &Map<String, Value>, field: &str, id: &str) -> bool {
    match object.get(field) {
        Some(Value::Array(items)) => items.iter().any(|v| v == id),
        Some(Value::String(one)) => one == id,
        _ => false,
    }
}

/// Whether a change of `changes` deletes the object of kind `kind` with live id `id` (of
/// application `app_id`), or sends its reference `field` without `target`, before upstream
/// is asked to delete `target`.
fn let_go(
    changes: &[Change],
    kind: AnyKind,
    app_id: &str,
    id: &str,
    field: &str,
    target: &str,
) -> bool {
    changes.iter().any(|c| {
        let app_deleted = c.kind() == AnyKind::Application
            && c.action == Action::Delete
            && c.app_id.as_deref() == Some(app_id);
        let own = c.kind() == kind
            && match kind {
                AnyKind::Application => c.app_id.as_deref() == Some(id),
                _ => c.id.as_deref() == Some(id),
            };
        let detached = own
            && matches!(c.action, Action::Update | Action::Adopt)
            && c.body.as_ref().is_some_and(|b| {
                let sent = b.to_send();
                sent.contains_key(field) && !names(sent, field, target)
            });
        app_deleted || (own && c.action == Action::Delete) || detached
    })
}

/// Whether a reference field's value (as a change shows it live or sends it) names `id`: the
/// id itself, a list holding it, or `{id: …}`.
fn holds(value: &Value, id: &str) -> bool {
    match value {
        Value::String(one) => one == id,
        Value::Array(items) => items.iter().any(|v| holds(v, id)),
        Value::Object(object) => object.get("id").is_some_and(|v| v == id),
        _ => false,
    }
}

/// For each deletion of `changes` (by index), the changes that take a reference to its
/// object out before it runs: updates of a holder whose reference field named it and will
/// not. The executor deletes the object only when every one of them succeeded; otherwise the
/// reference would be left naming a deleted object (upstream refuses only some such
/// deletions: `KindSpec::in_use`).
pub fn detaching(changes: &[Change]) -> std::collections::BTreeMap<usize, Vec<usize>> {
    let mut out = std::collections::BTreeMap::new();
    for (d, deletion) in changes.iter().enumerate() {
        let AnyKind::Described(kind) = deletion.kind() else {
            continue;
        };
        let (Action::Delete, false, Some(target)) =
            (deletion.action, deletion.state_only, deletion.id.as_deref())
        else {
            continue;
        };
        let by: Vec<usize> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.action, Action::Update | Action::Adopt))
            .filter(|(_, c)| {
                kinds::REFERENCES
                    .iter()
                    .filter(|r| r.target == kind && r.holder == c.kind())
                    .any(|r| {
                        c.fields.iter().any(|f| {
                            f.field == r.field
                                && f.before.as_ref().is_some_and(|b| holds(b, target))
                                && !f.after.as_ref().is_some_and(|a| holds(a, target))
                        })
                    })
            })
            .map(|(i, _)| i)
            .collect();
        if !by.is_empty() {
            out.insert(d, by);
        }
    }
    out
}

/// Notes on each deletion of `changes` that upstream refuses while named (`KindSpec::in_use`)
/// the live applications and clients of `live` that still name its object when it runs.
pub(super) fn note_referrers(changes: &mut [Change], live: &[LiveApp]) {
    let mut notes = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let AnyKind::Described(kind) = change.kind() else {
            continue;
        };
        let (Action::Delete, false, Some(target), Some(in_use)) = (
            change.action,
            change.state_only,
            change.id.as_deref(),
            kind.spec().in_use,
        ) else {
            continue;
        };
        let mut referrers = Vec::new();
        // The live objects found naming it, by kind and id.
        let mut named_by: Vec<(AnyKind, &str)> = Vec::new();
        for reference in kinds::REFERENCES.iter().filter(|r| r.target == kind) {
            for app in live {
                let app_name = || {
                    escape_controls(
                        app.app
                            .get("app_name")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    )
                };
                let app_id = app.id();
                match reference.holder {
                    AnyKind::Application => {
                        if names(app.app, reference.field, target)
                            && !let_go(
                                changes,
                                AnyKind::Application,
                                app_id,
                                app_id,
                                reference.field,
                                target,
                            )
                        {
                            named_by.push((AnyKind::Application, app_id));
                            referrers.push(format!(
                                "application `{}` ({})",
                                app_name(),
                                escape_controls(app_id)
                            ));
                        }
                    }
                    AnyKind::Client => {
                        for client in app.clients.iter().flatten() {
                            let client_id = CLIENT.id_str(client);
                            if names(client, reference.field, target)
                                && !let_go(
                                    changes,
                                    AnyKind::Client,
                                    app_id,
                                    client_id,
                                    reference.field,
                                    target,
                                )
                            {
                                named_by.push((AnyKind::Client, client_id));
                                let name = escape_controls(
                                    client
                                        .get("name")
                                        .and_then(Value::as_str)
                                        .unwrap_or_default(),
                                );
                                referrers.push(format!(
                                    "client `{name}` ({}) of application `{}`",
                                    escape_controls(client_id),
                                    app_name()
                                ));
                            }
                        }
                    }
                    AnyKind::Described(_) => {}
                }
            }
            // A change of this plan that sends the reference (an `{id: …}` added to a
            // manifest as the object's document leaves it) names it by the time it is deleted.
            for c in changes.iter().filter(|c| {
                c.kind() == reference.holder
                    && matches!(c.action, Action::Create | Action::Update | Action::Adopt)
                    && c.body
                        .as_ref()
                        .is_some_and(|b| names(b.to_send(), reference.field, target))
            }) {
                let own = match c.kind() {
                    AnyKind::Application => c.app_id.as_deref(),
                    _ => c.id.as_deref(),
                };
                if !own.is_some_and(|id| named_by.contains(&(c.kind(), id))) {
                    let verb = match c.action {
                        Action::Create => "create",
                        Action::Adopt => "adoption",
                        _ => "update",
                    };
                    referrers.push(format!(
                        "{} (this plan's {verb} sends it)",
                        escape_controls(&c.name)
                    ));
                }
            }
        }
        if !referrers.is_empty() {
            notes.push((
                i,
                format!(
                    "{STILL_NAMED}{}{NOT_DETACHED}upstream is expected to refuse the deletion ({in_use}). Remove the reference there first (or manage the object that holds it)",
                    referrers.join(", ")
                ),
            ));
        }
    }
    for (i, note) in notes {
        changes[i].notes.push(note);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::kinds::ObjKind;
    use crate::plan::types::Body;
    use crate::state::address::Address;

    use crate::plan::testing::map;

    fn resource_delete(id: &str) -> Change {
        let address = Address::new(ObjKind::Resource, None, "https://api/p");
        let mut c = Change::new(Action::Delete, address, "Resource/payouts".into());
        c.id = Some(id.into());
        c
    }

    fn client_update(app_id: &str, id: &str, body: Value) -> Change {
        let mut c = Change::new(
            Action::Update,
            Address::client("shop", "Web"),
            "Client/shop/Web".into(),
        );
        c.app_id = Some(app_id.into());
        c.id = Some(id.into());
        c.body = Some(Body {
            shown: map(body),
            secret: None,
        });
        c
    }

    fn shop() -> crate::plan::Observed {
        let mut observed = crate::plan::Observed::default();
        observed.push_app(
            map(json!({"app_id": "A1", "app_name": "Shop"})),
            Some(vec![
                map(json!({"client_id": "C1", "name": "Web", "resources": ["R1"]})),
                map(json!({"client_id": "C2", "name": "Batch", "resources": ["R1", "R2"]})),
            ]),
            false,
        );
        observed
    }

    /// A client that keeps naming the resource is named on its deletion; one whose update
    /// drops the reference is not, nor one that names another resource.
    #[test]
    fn a_deletion_names_the_clients_that_keep_its_object() {
        let mut changes = vec![
            client_update("A1", "C1", json!({"resources": []})),
            resource_delete("R1"),
        ];
        note_referrers(&mut changes, &shop().apps());
        assert_eq!(changes[1].notes.len(), 1, "{:?}", changes[1].notes);
        let note = &changes[1].notes[0];
        assert!(
            note.starts_with("still named by client `Batch` (C2) of application `Shop`, which"),
            "{note}"
        );
        assert!(note.contains("409 ResourceInUse"), "{note}");
        assert!(!note.contains("`Web`"), "{note}");
    }

    /// Deleting the application (its clients go with it) or the client lets the object go.
    #[test]
    fn a_deleted_holder_or_its_application_names_nothing() {
        let mut app_delete = Change::new(
            Action::Delete,
            Address::app("shop"),
            "Application/shop".into(),
        );
        app_delete.app_id = Some("A1".into());
        let mut changes = vec![app_delete, resource_delete("R1")];
        note_referrers(&mut changes, &shop().apps());
        assert!(changes[1].notes.is_empty(), "{:?}", changes[1].notes);
        // A client update that does not send `resources` keeps the reference.
        let mut changes = vec![
            client_update("A1", "C1", json!({"name": "Web"})),
            resource_delete("R1"),
        ];
        note_referrers(&mut changes, &shop().apps());
        let note = &changes[1].notes[0];
        assert!(note.contains("client `Web` (C1)"), "{note}");
        assert!(note.contains("client `Batch` (C2)"), "{note}");
        // The executor finds the referrers again, whatever the names hold.
        assert_eq!(
            referrers_in(note),
            Some("client `Web` (C1) of application `Shop`, client `Batch` (C2) of application `Shop`")
        );
    }
}
