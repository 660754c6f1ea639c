//! The sync daemon: a level-triggered loop. Triggers (file events, git commits, sweep ticks,
//! hooks, retries) carry no data and coalesce; a manifest change re-reads the manifests and the
//! objects they change, a sweep tick a slice of the tenant (`sweep`), anything untrusted the
//! whole tenant (`decide::reads_for`), so lost or duplicate events do no harm. One reconcile at a time;
//! errors back off 2 s doubling to 5 min and are logged once while they repeat; invalid
//! manifests keep the last good set in force; watching directories, deletions wait for a quiet
//! period (`decide::PRUNE_QUIET`).

pub mod decide;
pub mod environment;
pub mod leader;
pub mod notify;
pub mod propose;
mod record;
mod round;
pub mod source;
pub mod status;
pub mod sweep;
pub mod ui;
pub mod watch;

use crate::reconcile::deliver::{deliver, Sink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tracing::Instrument as _;

use crate::manifest::{self, files, DesiredState, ProcessEnvironment, ReadAllowance};
use crate::plan::PlanOptions;
use crate::reconcile::now_rfc3339;
use crate::state::store::StateError;
use crate::targets::Target;
use decide::NextAction;
pub use decide::{next_backoff, BACKOFF_MAX, BACKOFF_START};
pub use leader::{Election, Leadership, Role, StateAccess};
use notify::Notifier;
use record::{record_nothing_in_force, record_round, record_standby, record_sweep, Seen};
use round::{reconcile_once, Round};
use source::{GitSource, Trigger};
use status::Shared;

/// The daemon's clock: tokio's, so a test that pauses tokio's time controls every decision the
/// loop makes (the sweep's schedule, the quiet period, backoffs), and a seed replays exactly.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How long file events are gathered before a reconcile (editors write in several steps).
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Where manifests come from.
pub enum Source {
    /// Watched directories or files.
    Directories(Vec<PathBuf>),
    /// A git branch, polled.
    Git(GitSource),
}

/// How the daemon runs.
pub struct Config {
    /// The manifest source.
    pub source: Source,
    /// The drift sweep's period: every managed application is re-read at least once per this
    /// period (stretched when `read_budget` cannot cover it).
    pub interval: Duration,
    /// Requests/s the sweep may spend on average (`None`: unlimited).
    pub read_budget: Option<f64>,
    /// Git poll period.
    pub poll: Duration,
    /// Plan options (prune, delete guard).
    pub plan_options: PlanOptions,
    /// Writes in flight.
    pub concurrency: usize,
    /// Use the state against another target than the one it recorded (forget its ids).
    pub rebind_target: bool,
    /// What `${file:…}` and `${env:…}` may read besides the manifests' own directories, and
    /// the values `${var:…}` reads.
    pub reads: ReadAllowance,
    /// The chosen environment's overlay directory (`sync --env NAME`), applied to every set
    /// read, when `environment` is none.
    pub overlay: Option<PathBuf>,
    /// The chosen environment (`sync --env NAME`): each round takes its values and overlay
    /// from the project file of the set it reads (in place of `reads.values` and `overlay`).
    pub environment: Option<environment::EnvironmentSource>,
    /// Where the managed clients' credentials are delivered after each reconcile.
    pub sinks: Vec<Sink>,
    /// What a reconcile does with drifted objects.
    pub on_drift: OnDrift,
    /// Where drift events are posted (`--notify-url`), and when.
    pub notify: Option<Notifier>,
}

/// What the daemon does with an object changed outside tenantsync (`--on-drift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnDrift {
    /// Write the manifest's values back (self-heal).
    #[default]
    Heal,
    /// Report it (log, `/status`, metrics, notifications) and never write the object.
    Report,
    /// Like `report`, and commit the live values to a branch `tenantsync/drift/<object>` of the
    /// git source for review.
    Propose,
}

/// Shortest time between two reconciles triggered by `POST /hooks/sync`: hooks arriving sooner
/// wait, and any number of them coalesce into one reconcile.
pub const HOOK_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// Logs what a [`decide::FailureLog`] decided: a new failure once at WARN, a repeated one as a
/// short reminder, the end of one.
fn log_failure(what: &str, line: Option<decide::LogLine>) {
    match line {
        None => {}
        Some(decide::LogLine::New(summary)) => {
            tracing::warn!(error = %summary, "{what}");
        }
        Some(decide::LogLine::StillFailing { times, since }) => {
            tracing::info!("{what}: still failing ({times} times since {since})");
        }
        Some(decide::LogLine::Recovered { times }) => {
            tracing::info!("{what}: recovered after {times} failed rounds");
        }
    }
}

/// Runs the loop until `shutdown` resolves: the write in flight finishes, the state is flushed.
/// On a shared state only the elected leader reconciles; a follower loads its manifests and
/// waits for the leadership.
pub async fn run(
    config: Config,
    target: Box<dyn Target>,
    state: StateAccess,
    shared: Arc<Shared>,
    mut triggers: mpsc::UnboundedReceiver<Trigger>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StateError> {
    let stop = Arc::new(AtomicBool::new(false));
    let woken = Arc::new(Notify::new());
    {
        let (stop, woken) = (stop.clone(), woken.clone());
        // Shutdown also kills a git command in progress (a stalled fetch must not outlive it).
        let git_stop = match &config.source {
            Source::Git(git) => Some(git.stop_handle()),
            Source::Directories(_) => None,
        };
        // And a slow target's retries and reads not begun: only the writes in flight finish.
        let target_stop = target.stop_handle();
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::SeqCst);
            for handle in git_stop.iter().chain(&target_stop) {
                handle.store(true, Ordering::SeqCst);
            }
            woken.notify_one();
        });
    }
    let mut sweep = sweep::Sweep::new(config.interval, config.read_budget, now());
    let mut sweep_at = tokio::time::Instant::now() + sweep.schedule(0).tick;
    // The managed applications (ids, sorted) the sweep goes through, as of the last round.
    let mut managed_apps: Vec<String> = Vec::new();
    // A round that failed as a whole (it could not observe or plan) leaves what the daemon knows
    // of the tenant untrusted: the next one reads everything. (An object whose write failed is
    // read again by the next targeted round: it still differs from what was last applied.)
    let mut full_due = true;
    // What the last load said, for the sweep's rounds (they do not re-read the manifests).
    let mut last_load: Option<(Option<Vec<String>>, Option<String>, String)> = None;
    // What was parsed of each manifest file: a change re-parses the files it touched only.
    let mut parsed = manifest::LoadCache::default();
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + config.poll, config.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let is_git = matches!(config.source, Source::Git(_));
    // Watching directories, a deletion waits for the quiet period (decide::PRUNE_QUIET).
    let gated = config.plan_options.prune && !is_git;
    let mut leadership = Leadership::start(state, shared.clone(), stop.clone());
    let mut proposer = propose::Proposer::default();
    let mut next: Option<Trigger> = Some(Trigger::Start);
    let mut backoff: Option<Duration> = None;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut recheck_at: Option<tokio::time::Instant> = None;
    let mut last_hook_round: Option<Instant> = None;
    let mut gate = decide::PruneGate::default();
    let (mut manifest_failures, mut round_failures, mut delivery_failures) = (
        decide::FailureLog::default(),
        decide::FailureLog::default(),
        decide::FailureLog::default(),
    );
    let mut last_good: Option<DesiredState> = None;
    let mut commit: Option<String> = None;
    // For git: the commit last read (valid or not); a poll finding it again does nothing.
    let mut last_read: Option<String> = None;

    loop {
        let trigger = match next.take() {
            Some(t) => t,
            None => {
                // Idle until the next trigger: what the last round read is dropped, and glibc
                // would otherwise keep its pages resident (a full read of 8,000 objects is
                // some 30 MB).
                crate::memory::release_freed();
                let at = |deadline: Option<tokio::time::Instant>| async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                // In this order, so triggers due at one instant are always taken alike (a
                // simulated seed replays exactly): shutdown first, changes before ticks.
                tokio::select! {
                    biased;
                    _ = woken.notified() => break,
                    Some(t) = triggers.recv() => t,
                    // Hooks coalesce, and wait out a backoff like any other trigger.
                    _ = shared.hook.notified(), if backoff.is_none() => Trigger::Hook,
                    // A tick due while backing off waits for the retry (which reads
                    // everything anyway): armed now, an elapsed deadline would spin the loop.
                    () = tokio::time::sleep_until(sweep_at), if backoff.is_none() => Trigger::Sweep,
                    _ = poll.tick(), if is_git => Trigger::GitCommit,
                    () = at(retry_at) => Trigger::Retry,
                    () = at(recheck_at) => Trigger::PruneRecheck,
                    () = leadership.changed() => Trigger::Elected,
                }
            }
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match trigger {
            Trigger::Retry => retry_at = None,
            Trigger::PruneRecheck => recheck_at = None,
            _ => {}
        }
        if decide::waits_for_retry(trigger, backoff.is_some()) {
            continue;
        }
        let settle = match trigger {
            Trigger::FileChange | Trigger::Rescan => DEBOUNCE,
            Trigger::Hook => decide::hook_delay(
                last_hook_round.map(|t| now().saturating_duration_since(t)),
                DEBOUNCE,
                HOOK_MIN_INTERVAL,
            ),
            _ => Duration::ZERO,
        };
        if !settle.is_zero() {
            tokio::select! {
                biased;
                _ = woken.notified() => break,
                () = tokio::time::sleep(settle) => {}
            }
        }
        if trigger == Trigger::Hook {
            last_hook_round = Some(now());
        }
        // What queued up meanwhile is answered by this round, or runs instead of a sweep tick.
        let mut queued = Vec::new();
        if futures::FutureExt::now_or_never(shared.hook.notified()).is_some() {
            queued.push(Trigger::Hook);
        }
        while let Ok(t) = triggers.try_recv() {
            queued.push(t);
        }
        let trigger = match decide::absorb(trigger, &queued) {
            decide::Absorb::Run(t) => t,
            decide::Absorb::Instead(t) => {
                next = Some(t);
                continue;
            }
        };

        let read_at = now();
        // A sweep tick reads its slice of the managed applications (none due: no round).
        let slice = if trigger == Trigger::Sweep {
            let slice = sweep.tick(&managed_apps, now());
            sweep_at = tokio::time::Instant::now() + slice.next_in;
            if let Some(notice) = &slice.stretch_notice {
                tracing::warn!("{notice}");
            }
            if slice.app_ids.is_empty() && !slice.pass_begins && !full_due {
                continue;
            }
            Some(slice)
        } else {
            None
        };
        let reads = decide::reads_for(trigger, full_due, slice);
        let loaded = match (&last_load, trigger) {
            // The sweep re-reads the tenant, not the manifests: file events and polls do that.
            (Some((errors, revision, _)), Trigger::Sweep) if last_good.is_some() => Loaded {
                desired: None,
                errors: errors.clone(),
                revision: revision.clone(),
                head: None,
                read_commit: None,
            },
            _ => {
                let Some(loaded) = load_round(
                    &config,
                    &shared,
                    &mut parsed,
                    trigger,
                    commit.as_deref(),
                    last_read.as_deref(),
                )
                .await
                else {
                    continue;
                };
                loaded
            }
        };
        if loaded.read_commit.is_some() {
            last_read.clone_from(&loaded.read_commit);
        }
        log_failure(
            "manifests could not be read; the last good set stays in force",
            manifest_failures.observe(
                loaded.errors.clone().map(|items| decide::Failure {
                    headline: format!("{} problem(s)", items.len()),
                    items,
                }),
                now(),
                &now_rfc3339(),
            ),
        );
        shared
            .metrics
            .manifest_errors
            .set(loaded.errors.as_ref().map_or(0, |e| e.len() as i64));
        let may_prune = decide::may_prune(loaded.errors.is_none());
        // What this round read, for the watch-mode quiet period (empty: nothing loaded).
        let manifests_read = match (&loaded.desired, gated, &last_load) {
            (Some(d), true, _) => crate::plan::desired_fingerprint(d, b"quiet period"),
            (None, true, Some((_, _, read))) if trigger == Trigger::Sweep => read.clone(),
            _ => String::new(),
        };
        if trigger != Trigger::Sweep {
            last_load = Some((
                loaded.errors.clone(),
                loaded.revision.clone(),
                manifests_read.clone(),
            ));
        }
        if let Some(d) = loaded.desired {
            last_good = Some(d);
            if loaded.head.is_some() {
                commit = loaded.head;
            }
        }
        let term = leadership.current();
        let mut planned_deletes = None;
        let (outcome, failure) = match (last_good.as_ref(), term) {
            (None, _) => (
                record_nothing_in_force(&shared, trigger, loaded.errors),
                None,
            ),
            (Some(_), None) => (record_standby(&shared, trigger, loaded.errors), None),
            (Some(in_force), Some(term)) => {
                let state = &term.state;
                let started = now();
                let span = tracing::info_span!(
                    "reconcile",
                    trigger = trigger.as_str(),
                    revision = loaded.revision.as_deref().unwrap_or("-")
                );
                let confirmed =
                    gated.then(|| gate.confirmed(&manifests_read, read_at, decide::PRUNE_QUIET));
                let round = Round {
                    desired: in_force,
                    revision: loaded.revision.as_deref(),
                    may_prune,
                    confirmed: confirmed.as_ref(),
                    reads: reads.clone(),
                };
                let (result, planned) = reconcile_once(&*target, &term, &config, &stop, round)
                    .instrument(span)
                    .await;
                if let (Some(planned), Some(confirmed)) = (&planned, &confirmed) {
                    let held: Vec<&String> = planned.difference(confirmed).collect();
                    if !held.is_empty() {
                        tracing::info!(
                            objects = ?held,
                            "deletions held until every read for {}s finds them gone from the manifests",
                            decide::PRUNE_QUIET.as_secs()
                        );
                    }
                }
                planned_deletes = planned;
                shared
                    .metrics
                    .duration
                    .observe(started.elapsed().as_secs_f64());
                // What propose needs of the round, before the round is recorded.
                let to_propose = match (&result, &config.source, commit.as_deref()) {
                    (Ok((plan, applied)), Source::Git(git), Some(head))
                        if config.on_drift == OnDrift::Propose =>
                    {
                        Some((git, head, propose::held_fields(plan), applied.drift.clone()))
                    }
                    _ => None,
                };
                let open_drift: Vec<crate::drift::DriftRecord> = state
                    .drift_open()
                    .map(|m| m.into_values().collect())
                    .unwrap_or_default();
                let snapshot = state.snapshot();
                let managed = snapshot.as_ref().map_or(0, |s| s.entries.len());
                let names = snapshot.as_ref().map_or_else(
                    |_| Default::default(),
                    |s| {
                        s.entries
                            .values()
                            .map(|e| (e.address.clone(), e.shown()))
                            .collect()
                    },
                );
                if let Ok(snapshot) = &snapshot {
                    managed_apps = sweep::managed_apps(snapshot);
                    sweep.retain(&managed_apps);
                    sweep.set_cost(sweep::requests_per_app(snapshot));
                    sweep
                        .set_parentless(snapshot.object_entries().any(|(_, e)| e.app_id.is_none()));
                }
                let clean = matches!(&result, Ok((_, applied)) if applied.report.failed() == 0);
                if clean {
                    match reads.refresh {
                        crate::plan::Refresh::All => sweep.read(&managed_apps, read_at),
                        crate::plan::Refresh::Changed => sweep.read(&reads.also, read_at),
                    }
                }
                full_due = result.is_err();
                record_sweep(&shared, &sweep, &managed_apps, config.interval);
                if let Ok(snapshot) = snapshot {
                    let round = result
                        .as_ref()
                        .ok()
                        .map(|(plan, applied)| (plan, &applied.report, &applied.drift));
                    shared
                        .ui
                        .observe(state, snapshot, in_force, round, open_drift.clone());
                }
                let recorded = record_round(
                    &shared,
                    config.notify.as_ref(),
                    &Seen {
                        managed,
                        open_drift,
                        names,
                    },
                    trigger,
                    loaded.revision,
                    loaded.errors,
                    result,
                );
                if let Some((git, head, held, drift)) = to_propose {
                    let proposed = tokio::task::block_in_place(|| {
                        proposer.round(git, head, in_force, &held, &drift)
                    });
                    if let Some(notifier) = &config.notify {
                        let target = shared.status.lock().expect("not poisoned").target.clone();
                        for record in &proposed.new {
                            notifier.notify(notify::body(
                                notify::DriftEvent::Proposed,
                                record,
                                &target,
                            ));
                        }
                    }
                }
                let delivered = deliver(&*target, state, &config.sinks).await;
                log_failure(
                    "credentials were not delivered; retried next round",
                    delivery_failures.observe(
                        delivered.err().map(|e| decide::Failure {
                            headline: "delivery failed".to_owned(),
                            items: vec![e.to_string()],
                        }),
                        now(),
                        &now_rfc3339(),
                    ),
                );
                recorded
            }
        };
        log_failure(
            "reconcile failed; backing off",
            round_failures.observe(failure, now(), &now_rfc3339()),
        );
        if gated {
            gate.observe(planned_deletes.as_ref(), &manifests_read, read_at);
            recheck_at = gate
                .next_due(read_at, decide::PRUNE_QUIET)
                .map(tokio::time::Instant::from_std);
        }
        let next = decide::next_action(outcome, backoff);
        backoff = next.backoff();
        retry_at = backoff.map(|d| tokio::time::Instant::now() + d);
        shared.status.lock().expect("not poisoned").retry_in_seconds =
            backoff.map(|d| d.as_secs_f64());
        if let NextAction::RetryAfter(d) = next {
            tracing::debug!(retry_in = ?d, "backing off");
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    if let Some(term) = leadership.current() {
        term.state.flush()?;
    }
    tracing::info!("sync stopped; state flushed");
    Ok(())
}

/// Loads a manifest set, keeping where each value is written only when proposals need it.
fn load(
    parsed: &mut manifest::LoadCache,
    sources: Vec<manifest::SourceFile>,
    env: &ProcessEnvironment,
    overlay: Option<&Path>,
    config: &Config,
) -> Result<DesiredState, manifest::ManifestErrors> {
    let sources = match overlay {
        Some(dir) => {
            manifest::overlay::apply(sources, &files::read_sources(&[dir.to_path_buf()])?)?
        }
        None => sources,
    };
    parsed.load(&sources, env, config.on_drift == OnDrift::Propose)
}

/// The environment a round reads its manifests with: the chosen one's, from the project file
/// under `root` (a commit's checkout) or where it is, else the command line's.
fn round_environment(
    config: &Config,
    root: Option<&Path>,
) -> Result<environment::RoundEnvironment, String> {
    match &config.environment {
        Some(source) => source.read(root, &config.reads),
        None => Ok(environment::RoundEnvironment {
            reads: config.reads.clone(),
            overlay: config.overlay.clone(),
        }),
    }
}

/// What a round read from its source.
struct Loaded {
    /// The manifest set, when it loaded.
    desired: Option<DesiredState>,
    /// Why it did not load.
    errors: Option<Vec<String>>,
    /// The revision reconciled (a git commit, or `directory`).
    revision: Option<String>,
    /// For git: the commit whose set loaded.
    head: Option<String>,
    /// For git: the commit whose snapshot was read, whether its manifests loaded or not.
    read_commit: Option<String>,
}

impl Loaded {
    fn failed(errors: Vec<String>, revision: Option<String>) -> Self {
        Loaded {
            desired: None,
            errors: Some(errors),
            revision,
            head: None,
            read_commit: None,
        }
    }
}

/// Reads the manifests for one round: fetches and snapshots the git branch, or reads the
/// directories. `None`: a git poll that found nothing new since `last_read` (no round);
/// `in_force` is the commit whose set is in force.
async fn load_round(
    config: &Config,
    shared: &Shared,
    parsed: &mut manifest::LoadCache,
    trigger: Trigger,
    in_force: Option<&str>,
    last_read: Option<&str>,
) -> Option<Loaded> {
    match &config.source {
        Source::Git(git) => {
            let fetched = tokio::task::block_in_place(|| git.fetch());
            {
                let mut status = shared.status.lock().expect("not poisoned");
                status.failed_fetches = match &fetched {
                    Ok(_) => 0,
                    Err(_) => status.failed_fetches.saturating_add(1),
                };
            }
            let previous = in_force.map(str::to_owned);
            let head = match fetched {
                Ok(head) => head,
                Err(e) => return Some(Loaded::failed(vec![e.to_string()], previous)),
            };
            if decide::nothing_new(trigger, &head, last_read) {
                return None;
            }
            let dir = match tokio::task::block_in_place(|| git.snapshot(&head)) {
                Ok(dir) => dir,
                Err(e) => return Some(Loaded::failed(vec![e.to_string()], previous)),
            };
            let round = match round_environment(config, Some(&git.snapshot_root(&head))) {
                Ok(round) => round,
                Err(e) => {
                    return Some(Loaded {
                        read_commit: Some(head.clone()),
                        ..Loaded::failed(vec![e], Some(head))
                    })
                }
            };
            let roots: Vec<_> = std::iter::once(dir.clone())
                .chain(round.overlay.clone())
                .collect();
            let env = ProcessEnvironment::for_manifests(&roots, &round.reads);
            let overlay = round.overlay.as_deref();
            Some(
                match files::read_sources(&[dir])
                    .and_then(|s| load(parsed, s, &env, overlay, config))
                {
                    Ok(d) => Loaded {
                        desired: Some(d),
                        errors: None,
                        revision: Some(head.clone()),
                        head: Some(head.clone()),
                        read_commit: Some(head),
                    },
                    Err(e) => {
                        // Named by their path in the repository, not in the snapshot.
                        let errors =
                            e.0.into_iter()
                                .map(|mut error| {
                                    if let Some(path) = git.repo_path(&head, &error.file) {
                                        error.file = PathBuf::from(path);
                                    }
                                    error.to_string()
                                })
                                .collect();
                        Loaded {
                            read_commit: Some(head.clone()),
                            ..Loaded::failed(errors, Some(head))
                        }
                    }
                },
            )
        }
        Source::Directories(paths) => {
            let revision = Some("directory".to_owned());
            let round = match round_environment(config, None) {
                Ok(round) => round,
                Err(e) => return Some(Loaded::failed(vec![e], revision)),
            };
            let roots: Vec<_> = paths.iter().cloned().chain(round.overlay.clone()).collect();
            let env = ProcessEnvironment::for_manifests(&roots, &round.reads);
            let overlay = round.overlay.as_deref();
            // A tree being written (a checkout, rsync, cp -r) can miss files for a moment: its
            // deletions wait for the quiet period (decide::PruneGate), the rest applies now.
            Some(
                match files::read_sources(paths)
                    .and_then(|s| load(parsed, s, &env, overlay, config))
                {
                    Ok(desired) => Loaded {
                        desired: Some(desired),
                        errors: None,
                        revision,
                        head: None,
                        read_commit: None,
                    },
                    Err(e) => {
                        Loaded::failed(e.0.iter().map(ToString::to_string).collect(), revision)
                    }
                },
            )
        }
    }
}
