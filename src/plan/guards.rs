//! Whether a deletion the manifests ask for is carried out: the guards every kind's deletions
//! pass, in one place (an empty manifest set, `tenantsync/protect`, `--prune`). Pure.

use super::types::PlanOptions;
use crate::manifest::DesiredState;

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
