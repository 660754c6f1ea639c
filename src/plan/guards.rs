//! Whether a deletion the manifests ask for is carried out: the guards every kind's deletions
//! pass, in one place (an empty manifest set, `tenantsync/protect`, `--prune`), and what an
//! application's deletion would take with it upstream. Pure.

use super::types::PlanOptions;
use crate::manifest::DesiredState;
use crate::state::entry::StateSnapshot;

/// Why an object that left the manifests is kept rather than deleted, or `None`: it is deleted.
/// The same for every kind: a manifest set without a single document deletes nothing (a bad
/// checkout looks the same), a protected object is never deleted, and nothing is deleted
/// without `--prune`.
pub(super) fn kept_because(
    desired: &DesiredState,
    protect: bool,
    options: &PlanOptions,
) -> Option<&'static str> {
    if desired.apps.is_empty() && desired.objects.is_empty() {
        Some("the manifest set is empty; tenantsync never deletes because nothing was found (a bad checkout looks the same)")
    } else if protect {
        Some("protected by the tenantsync/protect annotation")
    } else if !options.prune {
        Some("no longer in the manifests; run with --prune to delete it")
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
        .map(|(a, e)| format!("{}/{}", a.kind, e.name))
        .collect();
    (!protected.is_empty()).then(|| {
        format!(
            "its {} {} protected by the tenantsync/protect annotation, and upstream deletes an application's objects with it; remove the annotation to delete them with it",
            protected.join(", "),
            if protected.len() == 1 { "is" } else { "are" }
        )
    })
}
