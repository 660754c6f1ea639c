//! Whether a deletion the manifests ask for is carried out: the guards every kind's deletions
//! pass, in one place (an empty manifest set, `tenantsync/protect`, `--prune`), and what an
//! application's deletion would take with it upstream. Pure.

use std::collections::BTreeSet;

use super::observed::LiveObjects;
use super::types::{Cascaded, PlanOptions};
use crate::manifest::DesiredState;
use crate::model::kinds::{AnyKind, ObjKind};
use crate::state::entry::StateSnapshot;

/// Why an object that left the manifests is kept when the plan may not delete (no `--prune`).
pub(super) const NOT_PRUNED: &str = "no longer in the manifests; run with --prune to delete it";

/// Why an object that left the manifests is kept rather than deleted, or `None`: it is deleted.
/// The same for every kind: a manifest set without a single document deletes nothing (a bad
/// checkout looks the same), a protected object is never deleted, and nothing is deleted
/// without `--prune`.
pub(super) fn kept_because(
    desired: &DesiredState,
    protect: bool,
    options: &PlanOptions,
) -> Option<&'static str> {
    if desired.objects.is_empty() {
        Some("the manifest set is empty; tenantsync never deletes because nothing was found (a bad checkout looks the same)")
    } else if protect {
        Some("protected by the tenantsync/protect annotation")
    } else if !options.prune {
        Some(NOT_PRUNED)
    } else {
        None
    }
}

/// Why an application that left the manifests is kept though it could be deleted: an object of
/// it that the state protects (a role, role group or login preferences) stays, and upstream
/// deletes an application's objects with it.
pub(super) fn app_kept_for_its_objects(
    desired: &DesiredState,
    state: &StateSnapshot,
    app: &str,
) -> Option<String> {
    let protected: Vec<String> = state
        .object_entries()
        .filter(|(a, e)| {
            a.app.as_deref() == Some(app) && e.protect && !desired.objects.contains_key(*a)
        })
        .map(|(_, e)| e.shown())
        .collect();
    (!protected.is_empty()).then(|| {
        format!(
            "its {} {} protected by the tenantsync/protect annotation, and upstream deletes an application's objects with it; remove the annotation to delete them with it",
            protected.join(", "),
            if protected.len() == 1 { "is" } else { "are" }
        )
    })
}

/// The kinds upstream deletes with their application whose objects tenantsync may not manage:
/// an application's roles and role groups (its login preferences are its settings, one object
/// that always exists).
fn deleted_with_their_application() -> impl Iterator<Item = ObjKind> {
    ObjKind::ALL.into_iter().filter(|k| {
        let spec = k.spec();
        spec.parent.is_some() && spec.api.delete && spec.api.id_field.is_some()
    })
}

/// The collections a plan reads to know what an application it may delete takes with it
/// upstream: the roles and role groups of each application that left the manifests, only when
/// the plan may delete (`--prune`, and a manifest set that is not empty).
pub fn departing_app_collections(
    desired: &DesiredState,
    state: &StateSnapshot,
    options: &PlanOptions,
) -> BTreeSet<(ObjKind, Option<String>)> {
    if kept_because(desired, false, options).is_some() {
        return BTreeSet::new();
    }
    state
        .app_entries()
        .filter(|(a, _)| a.kind == AnyKind::Application && desired.object(a).is_none())
        .filter_map(|(_, e)| e.app_id.clone())
        .flat_map(|app_id| deleted_with_their_application().map(move |k| (k, Some(app_id.clone()))))
        .collect()
}

/// The kinds deleted with application `app_id` whose collection of it the credential may not
/// read (no `roles:read`): what they hold cannot be told.
pub(super) fn unread_app_collections(app_id: &str, live: &LiveObjects) -> Vec<&'static str> {
    deleted_with_their_application()
        .filter(|k| {
            live.refused
                .contains(&((*k).into(), Some(app_id.to_owned())))
        })
        .map(|k| k.spec().plural)
        .collect()
}

/// The live objects of application `app_id` that upstream deletes with it (its roles and role
/// groups, of the collections read) and the state does not map (made by hand): deleting the
/// application needs `--allow-cascade` for them, as for its hand-made clients. Those the state
/// maps are not among them: each is deleted by its own change, before the application.
pub(super) fn app_objects_cascade(
    app_id: &str,
    state: &StateSnapshot,
    live: &LiveObjects,
) -> Vec<Cascaded> {
    let mapped: BTreeSet<&str> = state
        .object_entries()
        .filter(|(_, e)| e.app_id.as_deref() == Some(app_id))
        .filter_map(|(_, e)| e.id.as_deref())
        .collect();
    let mapped = &mapped;
    deleted_with_their_application()
        .flat_map(|kind| {
            let spec = kind.spec();
            live.of(kind, Some(app_id)).filter_map(move |o| {
                let id = spec
                    .id_of(&o.object)
                    .filter(|id| !mapped.contains(id.as_str()))?;
                Some(Cascaded {
                    kind: AnyKind::Described(kind),
                    name: spec.key_str(&o.object).to_owned(),
                    managed: false,
                    id,
                })
            })
        })
        .collect()
}
