//! What a round reports: `/status`, the metrics, the drift log lines and notifications, the
//! sweep's coverage; and how a failed round is summarised for the log. Called by the loop
//! (`daemon::run`) once per round; nothing here decides what the loop does next.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::decide::{self, RoundOutcome};
use super::notify::{self, Notifier};
use super::source::Trigger;
use super::status::{self, OpenDrift, Shared, Status};
use super::sweep;
use crate::drift::DriftUpdate;
use crate::plan::Plan;
use crate::reconcile::execute::Outcome;
use crate::reconcile::now_rfc3339;
use crate::reconcile::pipeline::{Applied, ReconcileError};

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A failed reconcile as the log summarises it: a refusal names its objects.
pub(super) fn reconcile_failure(e: &ReconcileError) -> decide::Failure {
    match e {
        ReconcileError::Foreign { objects } => decide::Failure {
            headline: "refused; one scope manages each live object (remove it from these manifests, or manage it from that scope)".to_owned(),
            items: objects.clone(),
        },
        other => decide::Failure {
            headline: "reconcile failed".to_owned(),
            items: vec![format!("{other:#}")],
        },
    }
}

pub(super) fn record_nothing_in_force(
    shared: &Shared,
    trigger: Trigger,
    errors: Option<Vec<String>>,
) -> RoundOutcome {
    let mut s = shared.status.lock().expect("not poisoned");
    s.last_result = Some("error".into());
    s.errors = errors.unwrap_or_default();
    s.last_reconcile = Some(now_rfc3339());
    shared.metrics.reconciled("error", trigger.as_str());
    RoundOutcome::NothingInForce
}

/// Records a follower's round: the manifests it loaded (it is ready to take over when they are
/// valid); the leader reconciles.
pub(super) fn record_standby(
    shared: &Shared,
    trigger: Trigger,
    errors: Option<Vec<String>>,
) -> RoundOutcome {
    let mut s = shared.status.lock().expect("not poisoned");
    s.ready = errors.is_none();
    s.errors = errors.unwrap_or_default();
    s.last_trigger = Some(trigger.as_str().to_owned());
    RoundOutcome::Standby
}

/// What the state holds after a round: the objects under management and the open drift
/// episodes (all of them, read or not by the round).
pub(super) struct Seen {
    pub(super) managed: usize,
    pub(super) open_drift: Vec<crate::drift::DriftRecord>,
    /// How plans name each managed object ([`StateEntry::shown`]), by address: drift lines
    /// name objects as the round's "applied" lines do.
    ///
    /// [`StateEntry::shown`]: crate::state::entry::StateEntry::shown
    pub(super) names: std::collections::HashMap<crate::state::address::Address, String>,
}

impl Seen {
    /// How plans name the object at `address` (its address, for one no longer managed).
    fn shown(&self, address: &crate::state::address::Address) -> String {
        self.names
            .get(address)
            .cloned()
            .unwrap_or_else(|| address.to_string())
    }
}

/// Reports the sweep in `/status` and the metrics: its period (stretched or not) and how long
/// ago the least recently read managed application was read.
pub(super) fn record_sweep(
    shared: &Shared,
    sweep: &sweep::Sweep,
    managed: &[String],
    interval: Duration,
) {
    let schedule = sweep.schedule(managed.len());
    let coverage = sweep.coverage(managed, Instant::now()).as_secs_f64();
    shared.metrics.sweep_coverage.set(coverage);
    shared
        .metrics
        .sweep_period
        .set(schedule.period.as_secs_f64());
    shared.status.lock().expect("not poisoned").sweep = Some(status::SweepStatus {
        interval_seconds: interval.as_secs_f64(),
        period_seconds: schedule.period.as_secs_f64(),
        stretched: schedule.stretched,
        coverage_seconds: coverage,
        applications: managed.len(),
    });
}

/// Reports one observation's drift: one log event per episode that began or ended, the open
/// episodes with their age in `/status`, and the drift metrics.
fn record_drift(shared: &Shared, status: &mut Status, drift: &DriftUpdate, seen: &Seen) {
    let open = &seen.open_drift;
    for r in &drift.opened {
        let object = seen.shown(&r.object);
        tracing::warn!(%object, key = %r.object, fields = ?r.fields, "drift detected: changed outside tenantsync");
    }
    for r in &drift.resolved {
        let how = r.resolution.map_or("resolved", |h| h.as_str());
        let object = seen.shown(&r.object);
        tracing::info!(%object, key = %r.object, resolution = how, first_seen = %r.first_seen, "drift ended");
    }
    let now = now_rfc3339();
    // Every open episode, not only those this round read (a sweep reads a slice).
    status.drift = open
        .iter()
        .map(|r| OpenDrift {
            object: r.object.to_string(),
            fields: r.fields.clone(),
            first_seen: r.first_seen.clone(),
            last_seen: r.last_seen.clone(),
            age_seconds: crate::drift::seconds_between(&r.first_seen, &now),
        })
        .collect();
    let metrics = &shared.metrics;
    metrics.drift_detected.inc_by(drift.opened.len() as u64);
    metrics.drift_objects.set(status.drift.len() as i64);
    metrics.drift_oldest_seconds.set(
        status
            .drift
            .iter()
            .map(|d| d.age_seconds)
            .max()
            .map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)),
    );
}

/// Records a round's result in `/status` and the metrics; returns how it ended, and its
/// failure for the log (summarised there).
pub(super) fn record_round(
    shared: &Shared,
    notify: Option<&Notifier>,
    seen: &Seen,
    trigger: Trigger,
    revision: Option<String>,
    load_errors: Option<Vec<String>>,
    result: Result<(Plan, Applied), ReconcileError>,
) -> (RoundOutcome, Option<decide::Failure>) {
    shared
        .metrics
        .managed
        .set(i64::try_from(seen.managed).unwrap_or(i64::MAX));
    let mut status = shared.status.lock().expect("not poisoned");
    status.last_reconcile = Some(now_rfc3339());
    status.last_trigger = Some(trigger.as_str().to_owned());
    status.objects_managed = seen.managed;
    let loaded_cleanly = load_errors.is_none();
    status.errors = load_errors.unwrap_or_default();
    let (plan, Applied { report, drift }) = match result {
        Ok(done) => done,
        Err(e) => {
            status.last_result = Some("error".to_owned());
            status.errors.push(format!("{e:#}"));
            shared.metrics.reconciled("error", trigger.as_str());
            return (RoundOutcome::Failed, Some(reconcile_failure(&e)));
        }
    };
    let corrected = plan
        .changes
        .iter()
        .zip(&report.objects)
        .filter(|(c, r)| c.drift && r.outcome == Outcome::Ok)
        .count();
    shared.metrics.drift_corrected.inc_by(corrected as u64);
    record_drift(shared, &mut status, &drift, seen);
    if let Some(notifier) = notify {
        for (event, record) in notify::events(&drift, notifier.after) {
            notifier.notify(notify::body(event, &record, &status.target));
        }
    }
    let failed = report.failed();
    let ok = failed == 0 && loaded_cleanly;
    status.last_plan = Some(plan.summary);
    status.skipped_deletes = plan
        .skipped_deletes
        .iter()
        .map(|k| format!("{}: {}", k.name, k.reason))
        .collect();
    let failed_objects: Vec<String> = report
        .objects
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed { message } => Some(format!("{}: {message}", o.name)),
            _ => None,
        })
        .collect();
    status.errors.extend(failed_objects.iter().cloned());
    if failed == 0 {
        status.ready = true;
        status.last_success = Some(now_rfc3339());
        if loaded_cleanly {
            if let Some(r) = &revision {
                shared.metrics.revision_in_force(r);
            }
            status.revision = revision;
        }
        shared.metrics.last_success.set(unix_now());
    }
    let result = if ok { "success" } else { "error" };
    status.last_result = Some(result.to_owned());
    shared.metrics.reconciled(result, trigger.as_str());
    // What was planned, then what became of it: a round cut short (shutdown) or whose
    // dependencies failed says so, rather than counting planned creates as done.
    tracing::info!(
        create = plan.summary.create,
        update = plan.summary.update,
        delete = plan.summary.delete,
        adopt = plan.summary.adopt,
        done = report.succeeded(),
        failed,
        skipped = report.skipped(),
        drift = corrected,
        drift_held = plan.held_for_drift.len(),
        "reconciled"
    );
    let failure = (!failed_objects.is_empty()).then(|| decide::Failure {
        headline: format!("{failed} change(s) failed"),
        items: failed_objects,
    });
    (
        RoundOutcome::Reconciled {
            failed_objects: failed,
        },
        failure,
    )
}
