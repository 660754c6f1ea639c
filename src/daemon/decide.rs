//! The daemon's decisions, as pure functions of what a round saw: whether a round runs at all,
//! whether it may delete (and, watching directories, which deletions have been seen long enough),
//! what comes after it (wait for a change, or retry after a backoff), and what of a repeated
//! failure is logged. The loop in `daemon/mod.rs` only gathers the inputs and carries the
//! answers out.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::source::Trigger;
use super::sweep::Slice;
use crate::plan::{Action, Plan, Refresh, SkippedDelete};
use crate::reconcile::pipeline::Reads;

/// First retry delay after an error.
pub const BACKOFF_START: Duration = Duration::from_secs(2);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The next delay after `current` (2 s doubling to 5 min).
pub fn next_backoff(current: Option<Duration>) -> Duration {
    match current {
        None => BACKOFF_START,
        Some(d) => (d * 2).min(BACKOFF_MAX),
    }
}

/// Whether a git poll found nothing to do: the branch head is the commit last loaded. Any other
/// trigger runs a round (level-triggered: it re-observes); a pending retry comes as its own
/// trigger when its backoff ends, so a poll never cuts a backoff short.
pub fn nothing_new(trigger: Trigger, fetched_head: &str, last_loaded: Option<&str>) -> bool {
    trigger == Trigger::GitCommit && last_loaded == Some(fetched_head)
}

/// Whether a trigger waits for the pending retry instead of running a round: a sweep tick
/// while backing off after errors (the retry re-observes anyway). Changes (files, a new
/// commit) and the retry itself always run.
pub fn waits_for_retry(trigger: Trigger, backing_off: bool) -> bool {
    backing_off && trigger == Trigger::Sweep
}

/// What a round reads from the target. Everything at start, after a leadership change or a
/// watcher overflow, and after a round that failed as a whole (`full_due`: it could not observe
/// or plan, so what the daemon knows of the tenant is not to be trusted). A manifest change
/// (file, commit, hook, a deletion's second look) and a retry read only the objects whose
/// manifests differ from what was last applied (an object whose write failed still differs, so
/// its retry reads and plans it again, without re-reading the tenant); a sweep tick reads those
/// and its slice. Every write is planned on a read of its object in the same round.
pub fn reads_for(trigger: Trigger, full_due: bool, slice: Option<Slice>) -> Reads {
    let full = full_due || matches!(trigger, Trigger::Start | Trigger::Elected | Trigger::Rescan);
    if full {
        return Reads::all();
    }
    let (also, parentless) = slice.map_or_else(Default::default, |s| (s.app_ids, s.pass_begins));
    Reads {
        refresh: Refresh::Changed,
        also,
        parentless,
    }
}

/// What a round does about the triggers that queued up before it began (file events, a
/// hook, a rescan): they are answered by the round when it reads at least what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorb {
    /// Run the round as this trigger; the queued ones are answered by it.
    Run(Trigger),
    /// Skip this round and run this trigger next (settling first as it does): a sweep tick
    /// does not re-read the manifests, so it must not swallow a queued manifest change.
    Instead(Trigger),
}

/// How much a round started by `trigger` reads: 0 the tenant slice only (a sweep tick), 1
/// the manifests and what changed, 2 the manifests and the tenant as well as what changed
/// (a manifest event), 3 everything.
fn reach(trigger: Trigger) -> u8 {
    match trigger {
        Trigger::Sweep => 0,
        Trigger::Retry | Trigger::PruneRecheck => 1,
        Trigger::FileChange | Trigger::GitCommit | Trigger::Hook => 2,
        Trigger::Start | Trigger::Elected | Trigger::Rescan => 3,
    }
}

/// Folds the triggers `queued` before a round into the round started by `current`: a sweep
/// tick gives way to any of them (it would not re-read the manifests, and the sweep, still
/// due, runs right after); any round widens to a full read for a queued rescan.
pub fn absorb(current: Trigger, queued: &[Trigger]) -> Absorb {
    let Some(widest) = queued.iter().copied().max_by_key(|t| reach(*t)) else {
        return Absorb::Run(current);
    };
    if current == Trigger::Sweep && reach(widest) > 0 {
        return Absorb::Instead(widest);
    }
    if reach(widest) == 3 && reach(current) < 3 {
        return Absorb::Run(widest);
    }
    Absorb::Run(current)
}

/// How long a hook waits before its reconcile: the debounce, or longer when the last
/// hook-triggered reconcile began less than `floor` ago (`since_last`), so hooks trigger at most
/// one reconcile per `floor` (those arriving meanwhile coalesce into it).
pub fn hook_delay(since_last: Option<Duration>, debounce: Duration, floor: Duration) -> Duration {
    let wait = since_last.map_or(Duration::ZERO, |s| floor.saturating_sub(s));
    wait.max(debounce)
}

/// Whether a round may delete at all: only from a manifest set that loaded completely (the last
/// good set stands in for a broken one, and must not prune what the broken files still name).
pub fn may_prune(loaded_cleanly: bool) -> bool {
    loaded_cleanly
}

/// How long, watching directories, the manifests must stay unchanged, with the same deletions
/// planned, before those deletions are carried out: a file that goes missing for a moment (a
/// checkout, an rsync, a tool that deletes and rewrites) must not delete an object and recreate
/// it with new credentials. 2 s is 20 debounce windows; every file event in between causes a
/// read, and any change starts the wait over.
pub const PRUNE_QUIET: Duration = Duration::from_secs(2);

/// Watch mode's pending deletions: the set a read planned, the manifest set it planned them from
/// (a fingerprint), and when. The deletions are confirmed once a read at least [`PRUNE_QUIET`]
/// later finds the same manifests; any read with other manifests or other deletions, or a round
/// that could not plan, starts over.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneGate {
    held: Option<Held>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    deletes: BTreeSet<String>,
    manifests: String,
    since: Instant,
}

impl PruneGate {
    /// The deletions a round reading `manifests` at `now` may carry out: those planned from the
    /// same manifests at least `quiet` before, with no other reading in between.
    pub fn confirmed(&self, manifests: &str, now: Instant, quiet: Duration) -> BTreeSet<String> {
        match &self.held {
            Some(h)
                if h.manifests == manifests && now.saturating_duration_since(h.since) >= quiet =>
            {
                h.deletes.clone()
            }
            _ => BTreeSet::new(),
        }
    }

    /// Records the deletions (carried out or held) a read of `manifests` at `now` planned;
    /// `None`: the round made no plan (the target could not be read, the manifests were
    /// broken), so nothing is known to have stayed the same.
    pub fn observe(&mut self, planned: Option<&BTreeSet<String>>, manifests: &str, now: Instant) {
        self.held = match planned {
            None => None,
            Some(p) if p.is_empty() => None,
            Some(p) => match self.held.take() {
                Some(h) if h.manifests == manifests && &h.deletes == p => Some(h),
                _ => Some(Held {
                    deletes: p.clone(),
                    manifests: manifests.to_owned(),
                    since: now,
                }),
            },
        };
    }

    /// When the held deletions are due for a second read, after a round that read at `read`
    /// (`None`: nothing is waiting, or it was already due then).
    pub fn next_due(&self, read: Instant, quiet: Duration) -> Option<Instant> {
        self.held
            .as_ref()
            .map(|h| h.since + quiet)
            .filter(|due| *due > read)
    }
}

/// Takes out of `plan` every deletion not in `confirmed`, reporting it as a skipped deletion
/// held for the quiet period, and recounts the summary. Returns every deletion the plan had
/// (the set the next read is compared with).
pub fn hold_unconfirmed_deletes(plan: &mut Plan, confirmed: &BTreeSet<String>) -> BTreeSet<String> {
    let planned: BTreeSet<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.name.clone())
        .collect();
    let (held, kept) = std::mem::take(&mut plan.changes)
        .into_iter()
        .partition::<Vec<_>, _>(|c| c.action == Action::Delete && !confirmed.contains(&c.name));
    plan.changes = kept;
    for change in held {
        plan.skipped_deletes.push(SkippedDelete {
            name: change.name,
            reason: format!(
                "held: deleted only once every read for {}s has found it gone from the manifests (watch mode)",
                PRUNE_QUIET.as_secs()
            ),
        });
    }
    plan.summary.delete = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .count();
    plan.summary.skipped_delete = plan.skipped_deletes.len();
    planned
}

/// A failure as the log shows it: what failed, and the objects (or error lines) concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub headline: String,
    /// The objects or lines, in order.
    pub items: Vec<String>,
}

/// How many of a failure's items its log line names.
pub const SHOWN_ITEMS: usize = 5;
/// How often a failure that keeps repeating is mentioned again (a short line).
pub const STILL_FAILING_EVERY: Duration = Duration::from_secs(300);

impl Failure {
    /// `HEADLINE: a; b; c; d; e; and N more`.
    pub fn summary(&self) -> String {
        let shown: Vec<&str> = self
            .items
            .iter()
            .take(SHOWN_ITEMS)
            .map(String::as_str)
            .collect();
        let mut text = self.headline.clone();
        if !shown.is_empty() {
            text.push_str(": ");
            text.push_str(&shown.join("; "));
        }
        if self.items.len() > SHOWN_ITEMS {
            text.push_str(&format!("; and {} more", self.items.len() - SHOWN_ITEMS));
        }
        text
    }
}

/// What to log of a round's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A failure not seen in the round before: its summary, once (WARN).
    New(String),
    /// The same failure again, mentioned at most every [`STILL_FAILING_EVERY`] (INFO).
    StillFailing {
        /// Rounds that failed this way in a row.
        times: u64,
        /// When the first of them was seen (RFC 3339).
        since: String,
    },
    /// The failure ended after this many rounds (INFO).
    Recovered {
        /// Rounds that failed this way in a row.
        times: u64,
    },
}

/// One kind of failure over consecutive rounds: logged when it begins (or changes), then only as
/// a short reminder now and then, and once when it ends.
#[derive(Debug, Default)]
pub struct FailureLog {
    current: Option<Repeat>,
}

#[derive(Debug)]
struct Repeat {
    failure: Failure,
    since: String,
    times: u64,
    last_logged: Instant,
}

impl FailureLog {
    /// Records a round's failure (`None`: it did not fail this way) at `now` (`wall`: the same
    /// time as RFC 3339); what to log, if anything.
    pub fn observe(
        &mut self,
        failure: Option<Failure>,
        now: Instant,
        wall: &str,
    ) -> Option<LogLine> {
        match (failure, &mut self.current) {
            (None, current) => current
                .take()
                .map(|r| LogLine::Recovered { times: r.times }),
            (Some(f), Some(r)) if r.failure == f => {
                r.times += 1;
                if now.saturating_duration_since(r.last_logged) >= STILL_FAILING_EVERY {
                    r.last_logged = now;
                    Some(LogLine::StillFailing {
                        times: r.times,
                        since: r.since.clone(),
                    })
                } else {
                    None
                }
            }
            (Some(f), current) => {
                let line = LogLine::New(f.summary());
                *current = Some(Repeat {
                    failure: f,
                    since: wall.to_owned(),
                    times: 1,
                    last_logged: now,
                });
                Some(line)
            }
        }
    }
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundOutcome {
    /// No manifest set has ever loaded: nothing to reconcile.
    NothingInForce,
    /// The reconcile stopped as a whole (target unreachable, state binding, planner refusal).
    Failed,
    /// A follower loaded the manifests and left the reconcile to the leader.
    Standby,
    /// The plan was carried out; `failed_objects` of its objects failed.
    Reconciled {
        /// Objects whose change failed.
        failed_objects: usize,
    },
}

/// What the loop does after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAction {
    /// Wait for the next trigger (a change, the resync interval, a hook).
    AwaitChange,
    /// Reconcile again after this delay, unless a trigger comes first (hooks wait it out).
    RetryAfter(Duration),
}

impl NextAction {
    /// The backoff in force after this action.
    pub fn backoff(self) -> Option<Duration> {
        match self {
            NextAction::AwaitChange => None,
            NextAction::RetryAfter(d) => Some(d),
        }
    }
}

/// The next action after a round that ended with `outcome`, given the backoff before it: any
/// failure backs off (doubling), a clean round waits for the next change.
pub fn next_action(outcome: RoundOutcome, backoff: Option<Duration>) -> NextAction {
    match outcome {
        RoundOutcome::Reconciled { failed_objects: 0 } | RoundOutcome::Standby => {
            NextAction::AwaitChange
        }
        RoundOutcome::NothingInForce | RoundOutcome::Failed | RoundOutcome::Reconciled { .. } => {
            NextAction::RetryAfter(next_backoff(backoff))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::state::address::Address;

    #[test]
    fn queued_triggers_are_never_swallowed_by_a_sweep_tick() {
        use Trigger::*;
        assert_eq!(absorb(Sweep, &[]), Absorb::Run(Sweep));
        assert_eq!(absorb(Sweep, &[Sweep]), Absorb::Run(Sweep));
        // The bug this prevents: a file event drained by a sweep tick was never read.
        assert_eq!(absorb(Sweep, &[FileChange]), Absorb::Instead(FileChange));
        assert!(matches!(
            absorb(Sweep, &[Hook, FileChange]),
            Absorb::Instead(Hook | FileChange)
        ));
        assert_eq!(
            absorb(Sweep, &[FileChange, Rescan]),
            Absorb::Instead(Rescan)
        );
        // A manifest round answers queued file events; a rescan widens it to a full read.
        assert_eq!(
            absorb(FileChange, &[FileChange, Hook]),
            Absorb::Run(FileChange)
        );
        assert_eq!(absorb(FileChange, &[Rescan]), Absorb::Run(Rescan));
        assert_eq!(absorb(Retry, &[FileChange]), Absorb::Run(Retry));
        assert_eq!(absorb(Start, &[Rescan]), Absorb::Run(Start));
        assert!(reads_for(Rescan, false, None).refresh == Refresh::All);
    }

    use super::*;

    #[test]
    fn changes_read_what_changed_and_anything_untrusted_reads_everything() {
        let slice = Slice {
            app_ids: ["a1".to_owned()].into(),
            pass_begins: true,
            next_in: Duration::from_secs(1),
            stretch_notice: None,
        };
        for t in [
            Trigger::FileChange,
            Trigger::GitCommit,
            Trigger::Hook,
            Trigger::PruneRecheck,
            Trigger::Retry,
        ] {
            assert_eq!(reads_for(t, false, None).refresh, Refresh::Changed, "{t:?}");
        }
        let sweep = reads_for(Trigger::Sweep, false, Some(slice.clone()));
        assert_eq!(
            (sweep.refresh, sweep.also, sweep.parentless),
            (Refresh::Changed, slice.app_ids.clone(), true)
        );
        for t in [Trigger::Start, Trigger::Elected, Trigger::Rescan] {
            assert_eq!(reads_for(t, false, None), Reads::all(), "{t:?}");
        }
        assert_eq!(reads_for(Trigger::Sweep, true, Some(slice)), Reads::all());
    }

    #[test]
    fn backoff_doubles_from_two_seconds_to_five_minutes() {
        let mut d = None;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let n = next_backoff(d);
            seen.push(n.as_secs());
            d = Some(n);
        }
        assert_eq!(seen, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn failures_back_off_and_a_clean_round_resets() {
        let four = Some(Duration::from_secs(4));
        for outcome in [
            RoundOutcome::NothingInForce,
            RoundOutcome::Failed,
            RoundOutcome::Reconciled { failed_objects: 3 },
        ] {
            assert_eq!(
                next_action(outcome, four),
                NextAction::RetryAfter(Duration::from_secs(8)),
                "{outcome:?}"
            );
        }
        let clean = next_action(RoundOutcome::Reconciled { failed_objects: 0 }, four);
        assert_eq!(clean, NextAction::AwaitChange);
        assert_eq!(clean.backoff(), None);
        // A follower never backs off: it waits for a change or for the leadership.
        assert_eq!(
            next_action(RoundOutcome::Standby, four),
            NextAction::AwaitChange
        );
    }

    #[test]
    fn only_an_unchanged_git_poll_is_skipped() {
        assert!(nothing_new(Trigger::GitCommit, "abc", Some("abc")));
        assert!(!nothing_new(Trigger::GitCommit, "abd", Some("abc")));
        assert!(!nothing_new(Trigger::GitCommit, "abc", None));
        // A pending retry runs on the same commit (the target may be back): as a retry.
        assert!(!nothing_new(Trigger::Retry, "abc", Some("abc")));
        // The resync re-observes the target for drift even when git did not move.
        assert!(!nothing_new(Trigger::Sweep, "abc", Some("abc")));
    }

    #[test]
    fn while_backing_off_only_changes_and_the_retry_run() {
        assert!(waits_for_retry(Trigger::Sweep, true));
        assert!(!waits_for_retry(Trigger::Sweep, false));
        for t in [
            Trigger::Retry,
            Trigger::FileChange,
            Trigger::GitCommit,
            Trigger::Hook,
        ] {
            assert!(!waits_for_retry(t, true), "{t:?}");
        }
    }

    #[test]
    fn hooks_reconcile_at_most_once_per_floor() {
        let (d, floor) = (Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(hook_delay(None, d, floor), d);
        assert_eq!(
            hook_delay(Some(Duration::from_secs(1)), d, floor),
            Duration::from_secs(4)
        );
        assert_eq!(hook_delay(Some(Duration::from_secs(60)), d, floor), d);
    }

    #[test]
    fn deletions_need_a_clean_load() {
        assert!(may_prune(true));
        assert!(!may_prune(false));
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn deletions_wait_for_the_same_manifests_and_deletions_over_the_quiet_period() {
        let q = PRUNE_QUIET;
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut gate = PruneGate::default();
        assert!(gate.confirmed("A", t0, q).is_empty());
        // A file goes missing: the read at 100 ms (manifests B) plans deleting `shop`.
        gate.observe(Some(&set(&["shop"])), "B", ms(100));
        assert!(gate.confirmed("B", ms(100), q).is_empty());
        assert_eq!(gate.next_due(ms(100), q), Some(ms(100) + q));
        // It comes back 400 ms later: that read plans no deletion; nothing is held.
        assert!(gate.confirmed("A", ms(500), q).is_empty());
        gate.observe(Some(&set(&[])), "A", ms(500));
        assert_eq!(gate.next_due(ms(500), q), None);
        assert!(gate.confirmed("B", ms(100) + q * 2, q).is_empty());

        // Gone for good, but another file keeps changing (C, D): each change starts over.
        gate.observe(Some(&set(&["shop"])), "C", ms(1000));
        gate.observe(Some(&set(&["shop"])), "D", ms(1500));
        assert!(gate.confirmed("D", ms(3000), q).is_empty());
        assert_eq!(gate.confirmed("D", ms(3500), q), set(&["shop"]));
        // The same manifests, but the reading found other deletions: not confirmed.
        gate.observe(Some(&set(&["shop", "blog"])), "D", ms(3600));
        assert!(gate.confirmed("D", ms(4000), q).is_empty());
        assert_eq!(gate.next_due(ms(3600), q), Some(ms(3600) + q));
        // A second read of the same: still held from 3.6 s.
        gate.observe(Some(&set(&["shop", "blog"])), "D", ms(4000));
        assert_eq!(gate.confirmed("D", ms(5600), q), set(&["blog", "shop"]));
        assert_eq!(gate.next_due(ms(5600), q), None);
        // A round that could not plan forgets everything.
        gate.observe(None, "D", ms(5600));
        assert!(gate.confirmed("D", ms(9000), q).is_empty());
    }

    fn delete(name: &str) -> crate::plan::Change {
        let address = Address::app(name);
        crate::plan::Change {
            app_id: Some(format!("id-{name}")),
            ..crate::plan::Change::new(Action::Delete, address.clone(), address.to_string())
        }
    }

    /// A plan of `deletes` alone, counted.
    fn deleting(deletes: Vec<crate::plan::Change>) -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION,
            summary: crate::plan::Summary {
                delete: deletes.len(),
                ..Default::default()
            },
            changes: deletes,
            skipped_deletes: Vec::new(),
            state_updates: Vec::new(),
            held_for_drift: Vec::new(),
            warnings: Vec::new(),
            target: String::new(),
            state_lineage: String::new(),
            manifests_fingerprint: String::new(),
            not_refreshed: None,
            refreshed: None,
            references: Default::default(),
            deferred: false,
        }
    }

    #[test]
    fn unconfirmed_deletions_are_held_and_reported() {
        let mut plan = deleting(vec![delete("blog"), delete("shop")]);
        let planned = hold_unconfirmed_deletes(&mut plan, &set(&["Application/shop"]));
        assert_eq!(planned, set(&["Application/blog", "Application/shop"]));
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].name, "Application/shop");
        assert_eq!((plan.summary.delete, plan.summary.skipped_delete), (1, 1));
        assert_eq!(plan.skipped_deletes[0].name, "Application/blog");
        assert!(plan.skipped_deletes[0].reason.starts_with("held:"));
        plan.check().unwrap();
    }

    #[test]
    fn a_described_kind_s_deletion_is_held_like_an_application_s_and_the_plan_stays_whole() {
        use crate::model::kinds::ObjKind;
        let address = Address::new(ObjKind::Resource, None, "https://api.example.com/old");
        let resource = crate::plan::Change {
            id: Some("r1".into()),
            ..crate::plan::Change::new(Action::Delete, address, "Resource/old-api".into())
        };
        let mut plan = deleting(vec![delete("blog"), resource.clone()]);
        let planned = hold_unconfirmed_deletes(&mut plan, &set(&[]));
        assert_eq!(planned, set(&["Application/blog", "Resource/old-api"]));
        assert!(plan.changes.is_empty());
        assert_eq!((plan.summary.delete, plan.summary.skipped_delete), (0, 2));
        plan.check().unwrap();
        // Confirmed by the quiet period: deleted, and the summary counts it.
        let mut plan = deleting(vec![delete("blog"), resource]);
        hold_unconfirmed_deletes(&mut plan, &set(&["Resource/old-api"]));
        assert_eq!(plan.changes[0].name, "Resource/old-api");
        assert_eq!(plan.summary.delete, 1);
        plan.check().unwrap();
    }

    #[test]
    fn a_summary_names_five_and_counts_the_rest() {
        let f = Failure {
            headline: "refused".into(),
            items: (1..=12).map(|i| format!("o{i}")).collect(),
        };
        assert_eq!(f.summary(), "refused: o1; o2; o3; o4; o5; and 7 more");
        let one = Failure {
            headline: "reconcile failed".into(),
            items: vec!["connection refused".into()],
        };
        assert_eq!(one.summary(), "reconcile failed: connection refused");
    }

    #[test]
    fn a_repeated_failure_is_logged_once_then_reminded_rarely() {
        let t0 = Instant::now();
        let f = Failure {
            headline: "refused".into(),
            items: vec!["a".into(), "b".into()],
        };
        let mut log = FailureLog::default();
        assert_eq!(
            log.observe(Some(f.clone()), t0, "T0"),
            Some(LogLine::New("refused: a; b".into()))
        );
        // Retries at 2, 4, 8 … s: quiet.
        for s in [2, 6, 14, 30, 62, 126, 254] {
            assert_eq!(
                log.observe(Some(f.clone()), t0 + Duration::from_secs(s), "x"),
                None
            );
        }
        assert_eq!(
            log.observe(Some(f), t0 + STILL_FAILING_EVERY, "x"),
            Some(LogLine::StillFailing {
                times: 9,
                since: "T0".into()
            })
        );
        // A different failure is new; then recovery is logged once.
        let g = Failure {
            headline: "refused".into(),
            items: vec!["a".into()],
        };
        let later = t0 + STILL_FAILING_EVERY * 2;
        assert_eq!(
            log.observe(Some(g), later, "T1"),
            Some(LogLine::New("refused: a".into()))
        );
        assert_eq!(
            log.observe(None, later, "T2"),
            Some(LogLine::Recovered { times: 1 })
        );
        assert_eq!(log.observe(None, later, "T3"), None);
    }
}
