//! One reconcile round of the daemon: the write run it asks for (plan options, the write gate,
//! the history note), the watch-mode quiet period applied to its deletions, and deletions past
//! `--max-deletes` held while every other change is applied.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{decide, leader, Config, OnDrift};
use crate::manifest::DesiredState;
use crate::plan::{self, Plan, PlanOptions};
use crate::reconcile::execute::{ExecuteOptions, Outcome};
use crate::reconcile::pipeline::{self, Applied, HistoryNote, Reads, ReconcileError, WriteRun};
use crate::targets::Target;

/// What one round reconciles.
pub(super) struct Round<'a> {
    /// The manifests in force.
    pub desired: &'a DesiredState,
    /// Their revision (the git commit), for the history.
    pub revision: Option<&'a str>,
    /// Whether it may delete (`--prune`, and not a partial manifest set).
    pub may_prune: bool,
    /// In watch mode with --prune, the deletions the quiet period has confirmed (any other
    /// planned deletion is held back).
    pub confirmed: Option<&'a BTreeSet<String>>,
    /// What it reads of the tenant.
    pub reads: Reads,
}

/// Runs one reconcile round; the second value is every deletion the plan had, when a plan was
/// made and `round.confirmed` holds the others back.
pub(super) async fn reconcile_once(
    target: &dyn Target,
    term: &leader::Term,
    config: &Config,
    stop: &Arc<AtomicBool>,
    round: Round<'_>,
) -> (
    Result<(Plan, Applied), ReconcileError>,
    Option<BTreeSet<String>>,
) {
    let Round {
        desired,
        revision,
        may_prune,
        confirmed,
        reads,
    } = round;
    // More deletions than --max-deletes wait for a human, as in `apply`; but a daemon refusing
    // the whole round would also hold back every other change behind them. The planner holds
    // them instead (from the same reads) and says so in the plan's warnings and each deletion.
    let run = WriteRun {
        plan_options: PlanOptions {
            prune: config.plan_options.prune && may_prune,
            hold_mass_delete: true,
            ..config.plan_options.clone()
        },
        execute: ExecuteOptions {
            concurrency: config.concurrency,
            verify_live: false,
            stop: vec![stop.clone()],
            gate: term.gate.clone(),
        },
        rebind: config.rebind_target,
        note: HistoryNote {
            mode: "sync".to_owned(),
            revision: revision.map(str::to_owned),
            ..HistoryNote::default()
        },
        hold_drift: config.on_drift != OnDrift::Heal,
        reads,
    };
    let planned = std::sync::Mutex::new(None);
    let adjust = |plan: &mut Plan| {
        if let Some(confirmed) = confirmed {
            let all = decide::hold_unconfirmed_deletes(plan, confirmed);
            *planned.lock().expect("not poisoned") = Some(all);
        }
    };
    // Failures are logged once per round, summarised (`decide::FailureLog`).
    let progress = |r: &crate::reconcile::execute::ObjectResult| match &r.outcome {
        Outcome::Ok => tracing::info!(object = %r.name, action = ?r.action, "applied"),
        Outcome::Failed { message } => {
            tracing::debug!(object = %r.name, action = ?r.action, error = %message, "failed");
        }
        Outcome::Skipped { message } => {
            tracing::info!(object = %r.name, action = ?r.action, reason = %message, "skipped");
        }
    };
    let result =
        pipeline::apply_once_adjusted(target, &term.state, desired, run, &adjust, &progress).await;
    if let Some(held) = result
        .as_ref()
        .ok()
        .and_then(|(p, _)| plan::held_deletions(p))
    {
        tracing::warn!("{held}");
    }
    (result, planned.into_inner().expect("not poisoned"))
}
