//! The plan engine (pure): desired state (manifests) + reconciler state + observed live objects →
//! an ordered list of creates, updates, adoptions and deletions with field-level detail.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan. Gathering the inputs and
//! carrying the plan out live in `crate::reconcile`.

mod apps;
mod bodies;
mod check;
mod created;
mod departures;
pub mod diff;
pub mod fields;
mod fingerprint;
mod guards;
mod identify;
pub mod in_use;
mod matched;
pub mod matrix;
mod members;
mod objects;
mod observed;
mod records;
mod references;
mod refresh;
pub mod render;
#[cfg(test)]
mod testing;
mod types;
mod unique;
mod view;
mod wire;
pub use wire::FORMAT_WITH_OBJECTS_APART;

use apps::Applications;
pub use bodies::{restore_secrets, RestoreError};
pub use check::{AppRef, ObjectId, Op, PlanDefect};
pub use fingerprint::{desired_fingerprint, fingerprint_live, fingerprint_matches};
pub use guards::departing_app_collections;
pub use objects::entry_of;
use objects::Described;
pub use observed::{
    apps_needing_clients, managed_fields, trim_live, LiveApp, LiveObject, LiveObjects, Observed,
};
pub use records::{applied, recorded};
use references::name_removed_references;
pub use references::{gone_apps, known_app_ids, resolve_references, REF_PREFIX};
pub use refresh::{changed_read_set, ReadSet, Refresh};
pub use types::*;
pub use view::{
    partial_view_reasons, refuse_partial_view, token_reason, CredentialView, ADMIN_ROLE,
};

use std::collections::BTreeMap;

use crate::manifest::{DesiredState, Facts};
use crate::state::address::Address;
use crate::state::entry::{StateEntry, StateSnapshot};
use matched::PlanPart;

/// Makes the plan that brings the target to the desired state.
pub fn plan(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    plan_refreshed(desired, state, observed, None, options, context)
}

/// [`plan`] of what `read` read (`None`: everything, as [`plan`]): an object the state maps in
/// an application `read` left unread is neither planned nor taken as gone, and the plan counts
/// it as not refreshed (`plan --refresh changed`). With `options.hold_mass_delete`, deletions
/// past `--max-deletes`, or taking objects tenantsync does not manage with an application
/// (without `--allow-cascade`), are held (planned as without `--prune`, each saying why, and a
/// warning) and every other change is planned, from the same reads.
pub fn plan_refreshed(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    let planned = plan_as_asked(desired, state, observed, read, options, context);
    let reason = match planned {
        Err(e @ (PlanError::MassDelete { .. } | PlanError::UnmanagedCascade { .. }))
            if options.hold_mass_delete =>
        {
            e
        }
        other => return other,
    };
    let without_deletes = PlanOptions {
        prune: false,
        ..options.clone()
    };
    let mut plan = plan_as_asked(desired, state, observed, read, &without_deletes, context)?;
    // What would have gone with --prune says why it stays: one row per object the manifests
    // dropped (`/status` and the page show them). The count of the deletions includes what
    // each takes with it, so the warning says how many rows that is when they differ.
    let listed = plan
        .skipped_deletes
        .iter()
        .filter(|s| s.reason.contains("--prune"))
        .count();
    let held = match reason {
        PlanError::MassDelete { count, max } => {
            let rows = match count.saturating_sub(listed) {
                0 => String::new(),
                taken => format!(
                    " ({listed} dropped from the manifests, {taken} taken with them)"
                ),
            };
            format!(
                "{count} {HELD_DELETIONS}{rows}: more than --max-deletes {max}; review them, then raise --max-deletes or pass --allow-mass-delete (every other change is applied)"
            )
        }
        PlanError::UnmanagedCascade { clients } => format!(
            "{HELD_DELETIONS}: deleting an application would take objects tenantsync never created or adopted with it ({}); move them, manage them in the manifests, or pass --allow-cascade (every other change is applied)",
            clients.join("; ")
        ),
        other => return Err(other),
    };
    for skipped in &mut plan.skipped_deletes {
        if skipped.reason.contains("--prune") {
            skipped.reason = format!("held: {held}");
        }
    }
    plan.warnings.push(held);
    Ok(plan)
}

/// What the warning of a plan that held its deletions says (see [`held_deletions`]).
const HELD_DELETIONS: &str = "deletions held";

/// The warning of a plan that held its deletions past `--max-deletes`
/// (`PlanOptions::hold_mass_delete`), if it did.
pub fn held_deletions(plan: &Plan) -> Option<&str> {
    plan.warnings
        .iter()
        .map(String::as_str)
        .find(|w| w.contains(HELD_DELETIONS))
}

/// [`plan_refreshed`], refusing deletions past `--max-deletes`.
fn plan_as_asked(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    // References by name become ids (or placeholders for objects this plan creates) before
    // the applications and clients are compared with the live ones.
    let app_ids = known_app_ids(desired, state, observed, &gone_apps(state, observed, read));
    let (resolved, references, deferred) =
        resolve_references(desired, state, &observed.objects, &app_ids);
    let apps = observed.apps();
    let PlanPart {
        mut changes,
        unchanged,
        skipped: skipped_deletes,
        warnings,
        state_updates,
        waiting,
    } = plan_every_kind(&resolved, state, observed, (&apps, &app_ids), read, options)?;
    // A unique value passed between applications is given up before it is taken (every kind's
    // changes known: an application's deletion waits for its roles' and role groups').
    // A live holder left out of the manifests but kept says why where its value is taken.
    let kept: BTreeMap<&str, &str> = skipped_deletes
        .iter()
        .filter_map(|s| {
            // Applications and clients only: another kind's is named by its document.
            let entry = state.entry(&Address::parse(&s.name).filter(Address::is_app)?)?;
            Some((entry.server_id(), s.reason.as_str()))
        })
        .collect();
    unique::order_releases(&mut changes, &apps, &kept);
    // A deletion upstream refuses while the object is named says who still names it.
    in_use::note_referrers(&mut changes, &apps);
    changes.sort_by_key(|c| c.phase);
    // Every live object that goes counts, of every kind, the clients, roles and role groups an
    // application takes with it included; an entry whose object is gone already deletes nothing.
    let live_deletes: usize = changes
        .iter()
        .filter(|c| c.action == Action::Delete && !c.state_only)
        .map(|c| 1 + c.cascade.len())
        .sum::<usize>();
    if live_deletes > options.max_deletes && !options.allow_mass_delete {
        return Err(PlanError::MassDelete {
            count: live_deletes,
            max: options.max_deletes,
        });
    }
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let summary = Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        adopt: count(Action::Adopt),
        unchanged,
        skipped_delete: skipped_deletes.len(),
        waiting,
    };
    let deferred_any = !deferred.is_empty();
    // Warnings name objects and values: what the environment gave is never shown.
    let unknown_ids = references::unknown_ids(desired, &observed.objects, &app_ids);
    let warnings = (warnings.iter().chain(&deferred).chain(&unknown_ids))
        .map(|w| desired.redactions.redact(w))
        .collect();
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        summary,
        changes,
        skipped_deletes,
        state_updates,
        held_for_drift: Vec::new(),
        warnings,
        target: context.target.clone(),
        state_lineage: state.lineage.clone(),
        manifests_fingerprint: context.manifests_fingerprint.clone(),
        not_refreshed: read.map(|r| r.not_refreshed(state)),
        refreshed: read.cloned(),
        // Only what the plan shows needs a name.
        references,
        deferred: deferred_any,
    };
    name_removed_references(&mut plan, desired, state);
    Ok(plan)
}

/// [`plan_refreshed`] of every manifest object and every state entry, of every kind, in one
/// walk (references already resolved): each manifest object in address order (applications,
/// then their clients, then the described kinds'), planned by its kind's side of the plan;
/// then each state entry that left the manifests; then what deleting an application takes
/// with it. Changes in execution order: by phase (see `Phase`), then by address for a stable
/// rendering.
fn plan_every_kind(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    (apps, app_ids): (&[LiveApp<'_>], &BTreeMap<String, String>),
    read: Option<&ReadSet>,
    options: &PlanOptions,
) -> Result<PlanPart, PlanError> {
    let mut part = PlanPart::default();
    let mut applications = Applications::new(desired, state, observed, apps, read, options);
    let mut described = Described::new(desired, state, &observed.objects, app_ids, options);
    for (address, object) in desired.each() {
        match &object.facts {
            Facts::Application { .. } => applications.plan_app(&mut part, object)?,
            Facts::Client(facts) => applications.plan_client(&mut part, object, facts)?,
            Facts::Described => described.plan(&mut part, address, object)?,
        }
    }
    for (address, entry) in departed(state, desired) {
        match address.is_app() {
            true => applications.departure(&mut part, address, entry),
            false => described.departure(&mut part, address, entry),
        }
    }
    applications.finish(&mut part)?;
    part.changes
        .sort_by(|x, y| (x.phase, &x.address).cmp(&(y.phase, &y.address)));
    Ok(part)
}

/// The state's entries whose object the manifests no longer hold, in address order: one walk
/// over both, each ordered by address, rather than a lookup of every entry among thousands of
/// objects.
fn departed<'a>(
    state: &'a StateSnapshot,
    desired: &'a DesiredState,
) -> impl Iterator<Item = (&'a Address, &'a StateEntry)> {
    let mut held = desired.objects.keys().peekable();
    state.entries.iter().filter(move |(address, _)| {
        while held.next_if(|h| *h < *address).is_some() {}
        held.peek() != Some(address)
    })
}
