//! The daemon's decisions, as pure functions of what a round saw: whether a round runs at all,
//! whether it may delete, and what comes after it (wait for a change, or retry after a backoff).
//! The loop in `daemon/mod.rs` only gathers the inputs and carries the answers out.

use std::time::Duration;

use super::source::Trigger;

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

/// Whether a git poll found nothing to do: the branch head is the commit already in force and no
/// retry is pending. Any other trigger always runs a round (level-triggered: it re-observes).
pub fn nothing_new(
    trigger: Trigger,
    fetched_head: &str,
    in_force: Option<&str>,
    backing_off: bool,
) -> bool {
    trigger == Trigger::GitCommit && in_force == Some(fetched_head) && !backing_off
}

/// Whether a round may delete: only from a manifest set that loaded completely (the last good set
/// stands in for a broken one, and must not prune what the broken files still name) and from a
/// tree that did not change while it was read.
pub fn may_prune(loaded_cleanly: bool, tree_settled: bool) -> bool {
    loaded_cleanly && tree_settled
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
    use super::*;

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
        assert!(nothing_new(Trigger::GitCommit, "abc", Some("abc"), false));
        assert!(!nothing_new(Trigger::GitCommit, "abd", Some("abc"), false));
        assert!(!nothing_new(Trigger::GitCommit, "abc", None, false));
        // A pending retry runs even on the same commit (the target may be back).
        assert!(!nothing_new(Trigger::GitCommit, "abc", Some("abc"), true));
        // The resync re-observes the target for drift even when git did not move.
        assert!(!nothing_new(Trigger::Interval, "abc", Some("abc"), false));
    }

    #[test]
    fn deletions_need_a_clean_load_of_a_settled_tree() {
        assert!(may_prune(true, true));
        assert!(!may_prune(false, true));
        assert!(!may_prune(true, false));
    }
}
