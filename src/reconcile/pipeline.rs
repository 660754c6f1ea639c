//! The one way through a reconcile, shared by `plan`, `apply`, the daemon, the tests and the
//! benches: bind the state to its target, finish interrupted creates, observe, plan (the pure
//! planner decides), and for a run that writes, carry the plan out and record it in the history.

use std::collections::{BTreeMap, BTreeSet};

use super::bind::{self, BindError};
use super::execute::{
    self, ApplyReport, ExecuteError, ExecuteOptions, IntentResolution, ObjectResult, Outcome,
};
use super::gather;
use super::history::HistoryRecord;
use crate::drift::{self, DriftUpdate};
use crate::manifest::DesiredState;
use crate::model::kinds::AnyKind;
use crate::plan::{self, Plan, PlanContext, PlanError, PlanOptions, Refresh};
use crate::state::address::Address;
use crate::state::entry::StateSnapshot;
use crate::state::store::{StateError, StateStore};
use crate::targets::{Target, TargetError};

/// Why a reconcile stopped before or while carrying out its plan.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The state belongs to another target, or the target's tenant could not be read.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The live tenant could not be read.
    #[error("reading the live tenant from {target}: {source}")]
    Observe {
        /// The target.
        target: String,
        /// What failed.
        source: TargetError,
    },
    /// The planner refused (ambiguous adoption, protocol change, mass delete).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An interrupted create matches several live objects: a human must choose.
    #[error("{address}: an interrupted create may have reached the target and several objects match ({ids}); choose with `tenantsync import {address} <id>`")]
    Ambiguous {
        /// The object.
        address: String,
        /// The candidates.
        ids: String,
    },
    /// The state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The plan touches live objects another scope of the shared state manages.
    #[error("refused: {}; one scope manages each live object (remove it from these manifests, or manage it from that scope)", .objects.join("; "))]
    Foreign {
        /// `ADDRESS is managed by the state scope `SCOPE`` for each.
        objects: Vec<String>,
    },
    /// The plan could not be carried out as a whole.
    #[error(transparent)]
    Execute(ExecuteError),
}

/// Refuses a plan that touches live objects another scope of a shared state manages, naming
/// each object and its scope. `claimed_elsewhere` answers, of some live ids, those another
/// scope manages (a state nobody shares: none).
pub fn refuse_foreign_objects(
    plan: &Plan,
    claimed_elsewhere: impl FnOnce(&[String]) -> Result<BTreeMap<String, String>, StateError>,
) -> Result<(), ReconcileError> {
    // The live object a change touches: a client's id, an application's, a described kind's
    // own (a login preferences object has none: it is its application's, claimed with it).
    let live_id = |c: &plan::Change| match c.app_address() {
        Some(_) => c.id.clone().or_else(|| c.app_id.clone()),
        None => c.id.clone(),
    };
    let ids: Vec<String> = plan.changes.iter().filter_map(live_id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let claimed = claimed_elsewhere(&ids)?;
    let objects: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| {
            let scope = claimed.get(&live_id(c)?)?;
            Some(format!(
                "{} is managed by the state scope `{scope}`",
                c.address
            ))
        })
        .collect();
    if objects.is_empty() {
        Ok(())
    } else {
        Err(ReconcileError::Foreign { objects })
    }
}

impl From<ExecuteError> for ReconcileError {
    fn from(e: ExecuteError) -> Self {
        match e {
            ExecuteError::State(s) => ReconcileError::State(s),
            other => ReconcileError::Execute(other),
        }
    }
}

/// Observes what `desired` and `state` need and makes the plan: read-only against both.
pub async fn plan_once(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    options: &PlanOptions,
    concurrency: usize,
) -> Result<Plan, ReconcileError> {
    plan_once_refreshing(target, desired, state, options, concurrency, Refresh::All).await
}

/// [`plan_once`] reading what `refresh` says: everything, or (`Refresh::Changed`) only the
/// objects the pure selection [`plan::changed_read_set`] names; the others are not planned and
/// the plan counts them as not refreshed.
pub async fn plan_once_refreshing(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    options: &PlanOptions,
    concurrency: usize,
    refresh: Refresh,
) -> Result<Plan, ReconcileError> {
    let reads = Reads {
        refresh,
        ..Reads::default()
    };
    plan_once_reading(target, desired, state, options, concurrency, &reads).await
}

/// What a round reads from the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Everything, or only what the manifests changed.
    pub refresh: Refresh,
    /// With `Refresh::Changed`: applications (by id) read besides, and planned like the changed
    /// ones (the daemon's sweep slice).
    pub also: BTreeSet<String>,
    /// With `Refresh::Changed`: the parentless kinds' collections (resources, service
    /// providers) read besides (a sweep pass begins).
    pub parentless: bool,
}

impl Reads {
    /// Every managed object.
    pub fn all() -> Self {
        Self::default()
    }
}

/// [`plan_once_refreshing`], reading also the applications `reads.also` names.
pub async fn plan_once_reading(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    options: &PlanOptions,
    concurrency: usize,
    reads: &Reads,
) -> Result<Plan, ReconcileError> {
    // What changed is judged with references as the ids the state knows (a new object's as a
    // placeholder: its referrers changed).
    let read = (reads.refresh == Refresh::Changed).then(|| {
        let (resolved, _, _) = plan::resolve_references(
            desired,
            state,
            &Default::default(),
            // Nothing read yet: no application is known to be gone.
            &plan::known_app_ids(desired, state, &Default::default(), &BTreeSet::new()),
        );
        plan::changed_read_set(&resolved, state).with_slice(&reads.also, reads.parentless, state)
    });
    // What the applications this plan may delete take with them upstream.
    let cascades = plan::departing_app_collections(desired, state, options);
    let read = read.map(|mut read| {
        for (kind, app_id) in &cascades {
            read.list(AnyKind::Described(*kind), app_id.as_deref());
        }
        read
    });
    let mut read = read;
    let observed = match &mut read {
        None => gather::observe(target, desired, state, &cascades, concurrency).await,
        Some(read) => {
            gather::observe_read_set(target, desired, state, read, &cascades, concurrency).await
        }
    }
    .map_err(|source| ReconcileError::Observe {
        target: target.describe(),
        source,
    })?;
    let context = PlanContext {
        target: target.describe(),
        manifests_fingerprint: plan::desired_fingerprint(desired, &state.salt),
    };
    let mut plan =
        plan::plan_refreshed(desired, state, &observed, read.as_ref(), options, &context)?;
    // An application left unread on purpose is not one the credential cannot see: the view
    // check looks at the mapped applications that were read.
    // (A read set that covers every mapped application leaves `state` as it is: no copy.)
    let read_part = read
        .as_ref()
        .filter(|r| r.not_refreshed(state) > 0)
        .map(|r| r.read_part(state));
    let state = read_part.as_ref().unwrap_or(state);
    if !options.assume_full_view {
        let view = target
            .credential_view()
            .await
            .map_err(|source| ReconcileError::Observe {
                target: target.describe(),
                source,
            })?;
        match plan::refuse_partial_view(&plan, &view, state, &observed, false) {
            Ok(()) => {}
            // The daemon holds those creates (with what goes into the applications they
            // create) and applies every other change, as it does deletions past
            // --max-deletes: one application deleted by hand must not stop every edit.
            Err(PlanError::PartialView { reasons, .. }) if options.hold_mass_delete => {
                let held =
                    plan.hold(|c| c.action == plan::Action::Create && c.app_address().is_some());
                let names: Vec<&str> = held.iter().map(|c| c.name.as_str()).collect();
                let warning = format!(
                    "{} {HELD_CREATES} ({}): the credential may not see the whole tenant: {}; every other change is applied (use a management application's credentials, or --assume-full-view)",
                    held.len(),
                    names.join(", "),
                    reasons.join("; ")
                );
                tracing::warn!("{warning}");
                plan.warnings.push(warning);
            }
            Err(e) => return Err(e.into()),
        }
        // No creates: nothing to refuse, but a plan made with a narrow token says so.
        if let Some(reason) = plan::token_reason(&view) {
            plan.warnings.push(format!(
                "the credential may not see the whole tenant: {reason}; a plan that creates objects will be refused (use a management application's credentials, or --assume-full-view)"
            ));
        }
    }
    Ok(plan)
}

/// What the warning of a daemon's plan that held its creates (the credential may not see the
/// whole tenant) says.
pub const HELD_CREATES: &str = "creates held";

/// Before a run that writes: binds the state to the target (`rebind` forgets another target's
/// ids) and finishes the creates an interrupted run left, reporting each one through `told`.
pub async fn prepare_writes(
    target: &dyn Target,
    state: &StateStore,
    rebind: bool,
    desired: Option<&DesiredState>,
    told: &(dyn Fn(&IntentResolution) + Sync),
) -> Result<(), ReconcileError> {
    bind::bind(state, target, rebind).await?;
    // Without manifests (a saved plan), every unfinished create is still asked for.
    let wanted = |address: &Address| desired.is_none_or(|d| d.object(address).is_some());
    for resolution in execute::resolve_intents(target, state, &wanted).await? {
        told(&resolution);
        if let IntentResolution::Ambiguous(address, ids) = resolution {
            return Err(ReconcileError::Ambiguous {
                address: address.to_string(),
                ids,
            });
        }
    }
    Ok(())
}

/// How a carried-out plan is recorded in the history.
#[derive(Debug, Clone, Default)]
pub struct HistoryNote {
    /// `apply`, `apply --plan FILE`, `sync`.
    pub mode: String,
    /// The manifests' revision (git commit), if known.
    pub revision: Option<String>,
    /// The values read by interpolation: a target's answer recorded in the history may quote
    /// one sent, and none is ever stored ([`apply_once_adjusted`] fills it from the manifests).
    pub redactions: crate::manifest::Redactions,
}

/// What carrying out a plan did: per object, and to the drift episodes it observed.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Per-object results.
    pub report: ApplyReport,
    /// Drift episodes the plan's observation opened, continued or ended.
    pub drift: DriftUpdate,
}

/// Carries `plan` out, records the drift it observed (what it wrote back ends as healed) and
/// records the run in the history when it changed anything, or is the first at its revision.
pub async fn apply_plan(
    plan: &Plan,
    target: &dyn Target,
    state: &StateStore,
    options: ExecuteOptions,
    progress: &(dyn Fn(&ObjectResult) + Sync),
    note: HistoryNote,
) -> Result<Applied, ReconcileError> {
    let report = execute::execute(plan, target, state, options, progress).await?;
    // What it wrote back ends as healed (the report lists results in the plan's order).
    let healed: BTreeSet<Address> = plan
        .changes
        .iter()
        .zip(&report.objects)
        .filter(|(c, r)| c.drift && r.outcome == Outcome::Ok)
        .map(|(c, _)| c.address.clone())
        .collect();
    let mut open = state.drift_open()?;
    if plan.not_refreshed.is_some() {
        // A plan that read only some objects (`--refresh changed`, a sweep slice) says nothing
        // of the others' open drift episodes: only those of the objects it read or plans
        // advance (one read in sync again ends its episode).
        let planned: BTreeSet<Address> = plan
            .changes
            .iter()
            .chain(&plan.held_for_drift)
            .map(|c| c.address.clone())
            .collect();
        let refreshed = plan.refreshed.clone().unwrap_or_default();
        let read = |address: &Address| -> Result<bool, ReconcileError> {
            if planned.contains(address) {
                return Ok(true);
            }
            // An application's or client's is read with its application.
            let entry = match address.is_app() {
                true => state.get(Address::app(address.app_name()))?,
                false => state.get(address)?,
            };
            Ok(entry.is_some_and(|entry| refreshed.reads(&entry)))
        };
        let mut kept = BTreeMap::new();
        for (address, record) in open {
            if read(&address)? {
                kept.insert(address, record);
            }
        }
        open = kept;
    }
    let drift = drift::advance(
        &open,
        &drift::observed(plan),
        &healed,
        &super::now_rfc3339(),
    );
    state.drift_record(&drift)?;
    // A run that changed nothing is recorded too when it is the first at its revision: it says
    // the environment runs that commit (what `promote` reads), e.g. after a commit that does
    // not touch this environment's objects.
    let new_revision = || -> Result<bool, StateError> {
        let Some(revision) = note.revision.as_deref() else {
            return Ok(false);
        };
        // The newest apply's (a promotion recorded since names the commit it moved to).
        let recent: Vec<HistoryRecord> = state.history(8)?;
        Ok(report.failed() == 0
            && recent
                .iter()
                .find(|r| !r.mode.starts_with("promote"))
                .is_none_or(|r| r.manifests_revision.as_deref() != Some(revision)))
    };
    if plan.has_changes() || report.state_updates > 0 || new_revision()? {
        let mut recorded = report.clone();
        for r in &mut recorded.objects {
            *r = r.redacted(&note.redactions);
        }
        state.history_append(&HistoryRecord::now(
            target.describe(),
            note.revision,
            note.mode,
            plan.summary,
            recorded,
        ))?;
    } else if !drift.is_empty() {
        // The history append flushes; without one, the drift records need their own flush.
        // (Not every round: a no-change resync must not flush the state for nothing.)
        state.flush()?;
    }
    // A successful apply ends the backup an in-place upgrade of the state kept (state::schema).
    (report.failed() == 0)
        .then(|| state.drop_upgrade_backup())
        .transpose()?;
    Ok(Applied { report, drift })
}

/// How a reconcile that writes without asking runs.
#[derive(Debug, Clone)]
pub struct WriteRun {
    /// Plan options (prune, delete guard).
    pub plan_options: PlanOptions,
    /// Execution options (concurrency, stop flag).
    pub execute: ExecuteOptions,
    /// Use the state against another target than it recorded.
    pub rebind: bool,
    /// How the run is recorded in the history.
    pub note: HistoryNote,
    /// Hold back the changes of drifted objects: report them, do not write them
    /// (`sync --on-drift report`).
    pub hold_drift: bool,
    /// What each round reads from the target.
    pub reads: Reads,
}

/// A whole reconcile for a run that writes without asking (the daemon, tests): prepare, plan
/// from the state as it then is, carry out, record.
pub async fn apply_once(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    run: WriteRun,
    progress: &(dyn Fn(&ObjectResult) + Sync),
) -> Result<(Plan, Applied), ReconcileError> {
    apply_once_adjusted(target, state, desired, run, &|_| {}, progress).await
}

/// One round's plan for [`apply_once_adjusted`]: planned on the current state, drifted objects
/// held if asked, adjusted by the caller, and refused if it would touch another scope's objects.
async fn plan_round(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    run: &WriteRun,
    adjust: &(dyn Fn(&mut Plan) + Sync),
) -> Result<Plan, ReconcileError> {
    let snapshot = state.snapshot()?;
    let mut plan = plan_once_reading(
        target,
        desired,
        &snapshot,
        &run.plan_options,
        run.execute.concurrency,
        &run.reads,
    )
    .await?;
    if run.hold_drift {
        plan.hold_drifted();
    }
    adjust(&mut plan);
    refuse_foreign_objects(&plan, |ids| state.claimed_elsewhere(ids))?;
    Ok(plan)
}

/// [`apply_once`], with `adjust` given the plan before it is checked and carried out (the
/// daemon holds back there the deletions its watch-mode quiet period has not confirmed).
pub async fn apply_once_adjusted(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    run: WriteRun,
    adjust: &(dyn Fn(&mut Plan) + Sync),
    progress: &(dyn Fn(&ObjectResult) + Sync),
) -> Result<(Plan, Applied), ReconcileError> {
    prepare_writes(target, state, run.rebind, Some(desired), &|resolution| {
        match resolution {
            IntentResolution::Recorded(a) => {
                tracing::info!(object = %a, "an interrupted create had reached the target; recorded it");
            }
            IntentResolution::Dropped(a) => {
                tracing::info!(object = %a, "an interrupted create never reached the target; dropped");
            }
            IntentResolution::Ambiguous(..) => {}
        }
    })
    .await?;
    let plan = plan_round(target, state, desired, &run, adjust).await?;
    // What a target answers may quote a value sent: redacted before anyone shows it.
    let redactions = &desired.redactions;
    let redacting = |r: &ObjectResult| progress(&r.redacted(redactions));
    let note = HistoryNote {
        redactions: redactions.clone(),
        ..run.note.clone()
    };
    let mut applied = apply_plan(
        &plan,
        target,
        state,
        run.execute.clone(),
        &redacting,
        note.clone(),
    )
    .await?;
    // References deferred until objects created in this round exist: a second round.
    if plan.deferred && applied.report.failed() == 0 {
        let second = plan_round(target, state, desired, &run, adjust).await?;
        let more = apply_plan(&second, target, state, run.execute, &redacting, note).await?;
        applied.report.objects.extend(more.report.objects);
    }
    for r in &mut applied.report.objects {
        *r = r.redacted(redactions);
    }
    Ok((plan, applied))
}
