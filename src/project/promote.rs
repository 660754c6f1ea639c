//! Promotion gates: may environment B move to the commit environment A runs? Pure: the command
//! gathers the facts (A's applies, its open drift and plan, the checkout, lint, B's plan), this
//! names each gate and says whether it holds, and why.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

/// One apply of the source environment, newest first, as its history recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// When it finished.
    pub time: OffsetDateTime,
    /// The manifests' git revision (`+dirty` with uncommitted changes), if in git.
    pub revision: Option<String>,
    /// Whether every write succeeded.
    pub succeeded: bool,
}

/// What the gates are decided on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The source environment.
    pub from: &'a str,
    /// The target environment.
    pub to: &'a str,
    /// The promotion order (empty: any order).
    pub order: &'a [String],
    /// The source's applies, newest first.
    pub applies: &'a [Applied],
    /// Whether `applies` goes back to the source's first apply (false: the state has trimmed
    /// older records, so a run of successes reaching the oldest one began earlier still).
    pub applies_complete: bool,
    /// The source's open drift episodes.
    pub open_drift: usize,
    /// The changes the source's plan has now (drift or manifests ahead of it); `None`: it
    /// could not be planned.
    pub source_changes: Option<usize>,
    /// The checkout's revision (`+dirty` with uncommitted changes), if in git.
    pub checkout: Option<&'a str>,
    /// Lint findings at or above the failing severity, for the target's manifests.
    pub lint_failures: usize,
    /// The deletions the target's plan has; `None`: it could not be planned.
    pub target_deletes: Option<usize>,
    /// `--allow-delete`.
    pub allow_delete: bool,
    /// How long the source must have been converged.
    pub soak: Duration,
    /// Now.
    pub now: OffsetDateTime,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Gate {
    /// Its name (`applied`, `drift`, `soak`, …).
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// Why.
    pub detail: String,
}

fn gate(name: &str, ok: bool, detail: String) -> Gate {
    Gate {
        name: name.to_owned(),
        ok,
        detail,
    }
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// Whether two revisions name one commit: a daemon following git records the full commit id,
/// `apply` its first 12 hex digits, so one may be the other's prefix. Neither may be dirty.
pub fn same_commit(a: &str, b: &str) -> bool {
    let clean = |r: &str| !r.is_empty() && !r.ends_with("+dirty");
    let (shorter, longer) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    clean(a) && clean(b) && (a == b || (shorter.len() >= 7 && longer.starts_with(shorter)))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

/// The commit to promote (the one the source last applied successfully, when clean) and every
/// gate, in order: order, applied, checkout, drift, soak, lint, deletions.
pub fn gates(f: &Facts<'_>) -> (Option<String>, Vec<Gate>) {
    let mut out = Vec::new();
    let rank = |e: &str| f.order.iter().position(|o| o == e);
    out.push(match (f.order.is_empty(), rank(f.from), rank(f.to)) {
        (true, _, _) => gate("order", true, "no promotion order is set".into()),
        (false, Some(a), Some(b)) if b == a + 1 => gate(
            "order",
            true,
            format!("{} comes right after {}", f.to, f.from),
        ),
        _ => gate(
            "order",
            false,
            format!(
                "the promotion order is {}: {} does not come right after {}",
                f.order.join(" → "),
                f.to,
                f.from
            ),
        ),
    });
    let newest = f.applies.first();
    let commit = newest
        .filter(|a| a.succeeded)
        .and_then(|a| a.revision.clone())
        .filter(|r| !r.ends_with("+dirty"));
    out.push(match (newest, &commit) {
        (None, _) => gate(
            "applied",
            false,
            format!("{} has never been applied", f.from),
        ),
        (Some(a), None) if !a.succeeded => gate(
            "applied",
            false,
            format!("{}'s last apply failed; fix it and apply again", f.from),
        ),
        (Some(a), None) => gate(
            "applied",
            false,
            match &a.revision {
                Some(r) => format!(
                    "{}'s last apply was of uncommitted manifests ({}); commit them and apply",
                    f.from,
                    short(r)
                ),
                None => format!("{}'s last apply was not of a git checkout", f.from),
            },
        ),
        (Some(_), Some(c)) => gate(
            "applied",
            true,
            format!("{} last applied {} successfully", f.from, short(c)),
        ),
    });
    out.push(match (&commit, f.checkout) {
        (Some(c), Some(head)) if same_commit(head, c) => {
            gate("checkout", true, format!("the checkout is at {}", short(c)))
        }
        (Some(_), Some(head)) if head.ends_with("+dirty") => gate(
            "checkout",
            false,
            "the checkout has uncommitted changes (manifests, project file or overlay): commit them, or check out the commit to promote".into(),
        ),
        (Some(c), Some(head)) => gate(
            "checkout",
            false,
            format!(
                "the checkout is at {}, not at {} which {} runs; check that commit out",
                short(head),
                short(c),
                f.from
            ),
        ),
        (_, None) => gate("checkout", false, "the manifests are not in git".into()),
        (None, Some(_)) => gate("checkout", false, "no commit to promote".into()),
    });
    out.push(match (f.open_drift, f.source_changes) {
        (0, Some(0)) => gate(
            "drift",
            true,
            format!("{} has no open drift and plans no change", f.from),
        ),
        (0, None) => gate(
            "drift",
            false,
            format!("{} could not be planned", f.from),
        ),
        (0, Some(n)) => gate(
            "drift",
            false,
            format!(
                "{}'s plan has {n} change(s): it is not converged on its manifests (drift, or an apply still to run)",
                f.from
            ),
        ),
        (n, _) => gate(
            "drift",
            false,
            format!("{} has {n} open drift episode(s); heal them first", f.from),
        ),
    });
    // Converged since the oldest success of the unbroken run of successes at this commit.
    let run = commit.as_ref().map(|c| {
        f.applies
            .iter()
            .take_while(|a| a.succeeded && a.revision.as_deref().is_some_and(|r| same_commit(r, c)))
            .count()
    });
    let since = run.filter(|n| *n > 0).map(|n| f.applies[n - 1].time);
    // The run reaches the oldest record kept: it may have begun before it.
    let at_least = run == Some(f.applies.len()) && !f.applies_complete;
    out.push(match since {
        Some(t) => {
            let held = Duration::try_from(f.now - t).unwrap_or_default();
            gate(
                "soak",
                held >= f.soak,
                format!(
                    "{} has run it for {}{} (soak: {})",
                    f.from,
                    if at_least { "at least " } else { "" },
                    human(held),
                    human(f.soak)
                ),
            )
        }
        None => gate("soak", false, "no commit to measure the soak from".into()),
    });
    out.push(gate(
        "lint",
        f.lint_failures == 0,
        match f.lint_failures {
            0 => format!("{}'s manifests pass lint", f.to),
            n => format!(
                "{n} lint finding(s) at or above `high` in {}'s manifests",
                f.to
            ),
        },
    ));
    out.push(match f.target_deletes {
        None => gate("deletions", false, format!("{} could not be planned", f.to)),
        Some(0) => gate(
            "deletions",
            true,
            format!("{}'s plan deletes nothing", f.to),
        ),
        Some(n) if f.allow_delete => gate(
            "deletions",
            true,
            format!(
                "{}'s plan deletes {n} object(s), allowed by --allow-delete",
                f.to
            ),
        ),
        Some(n) => gate(
            "deletions",
            false,
            format!(
                "{}'s plan deletes {n} object(s); promote with --allow-delete if that is meant",
                f.to
            ),
        ),
    });
    (commit, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: i64, revision: &str, succeeded: bool, now: OffsetDateTime) -> Applied {
        Applied {
            time: now - time::Duration::minutes(minutes_ago),
            revision: Some(revision.into()),
            succeeded,
        }
    }

    #[test]
    fn a_commit_is_one_commit_however_much_of_its_id_is_written() {
        let full = "fe6dfbddddcc0123456789abcdef0123456789ab";
        assert!(same_commit(full, "fe6dfbddddcc"));
        assert!(same_commit("fe6dfbddddcc", full));
        assert!(same_commit("c2", "c2"));
        assert!(!same_commit(full, "fe6dfbddddcd"));
        assert!(!same_commit(full, "fe6df"), "too short to be a prefix");
        assert!(!same_commit("fe6dfbddddcc+dirty", full));
        // A daemon's full id against the checkout's short one: the checkout gate holds.
        let now = OffsetDateTime::now_utc();
        let applies = vec![at(60, full, true, now)];
        let facts = Facts {
            from: "staging",
            to: "prod",
            order: &[],
            applies: &applies,
            applies_complete: true,
            open_drift: 0,
            source_changes: Some(0),
            checkout: Some("fe6dfbddddcc"),
            lint_failures: 0,
            target_deletes: Some(0),
            allow_delete: false,
            soak: Duration::from_secs(60),
            now,
        };
        let (_, all) = gates(&facts);
        assert!(all.iter().all(|g| g.ok), "{all:?}");
    }

    #[test]
    fn each_gate_names_what_holds_it_back() {
        let now = OffsetDateTime::now_utc();
        let order = vec!["dev".to_owned(), "prod".to_owned()];
        let applies = vec![
            at(5, "c2", true, now),
            at(20, "c2", true, now),
            at(60, "c1", true, now),
        ];
        let facts = Facts {
            from: "dev",
            to: "prod",
            order: &order,
            applies: &applies,
            applies_complete: true,
            open_drift: 0,
            source_changes: Some(0),
            checkout: Some("c2"),
            lint_failures: 0,
            target_deletes: Some(0),
            allow_delete: false,
            soak: Duration::from_secs(30 * 60),
            now,
        };
        let (commit, all) = gates(&facts);
        assert_eq!(commit.as_deref(), Some("c2"));
        let failed: Vec<&str> = all
            .iter()
            .filter(|g| !g.ok)
            .map(|g| g.name.as_str())
            .collect();
        // Converged on c2 for 20 minutes of 30.
        assert_eq!(failed, ["soak"]);
        assert!(all[4].detail.contains("20m (soak: 30m)"), "{:?}", all[4]);

        let soaked = Facts {
            soak: Duration::from_secs(10 * 60),
            ..facts.clone()
        };
        assert!(gates(&soaked).1.iter().all(|g| g.ok));

        // Older records trimmed: a run reaching the oldest one kept is a lower bound.
        let recent = vec![at(5, "c2", true, now), at(20, "c2", true, now)];
        let trimmed = Facts {
            applies: &recent,
            applies_complete: false,
            ..facts.clone()
        };
        let soak = &gates(&trimmed).1[4];
        assert!(
            !soak.ok && soak.detail.contains("at least 20m (soak: 30m)"),
            "{soak:?}"
        );
        let broken = Facts {
            applies_complete: false,
            ..facts.clone()
        };
        assert!(!gates(&broken).1[4].detail.contains("at least"));

        let drifting = Facts {
            open_drift: 2,
            target_deletes: Some(1),
            checkout: Some("c3"),
            to: "dev",
            from: "prod",
            ..soaked.clone()
        };
        let failed: Vec<String> = gates(&drifting)
            .1
            .into_iter()
            .filter(|g| !g.ok)
            .map(|g| g.name)
            .collect();
        assert_eq!(failed, ["order", "checkout", "drift", "deletions"]);
        let dirty = vec![at(1, "c2+dirty", true, now)];
        let (none, all) = gates(&Facts {
            applies: &dirty,
            ..soaked
        });
        assert!(none.is_none());
        assert!(all[1].detail.contains("uncommitted"), "{:?}", all[1]);
    }
}
