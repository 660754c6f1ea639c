//! `tenantsync promote A B`: move environment B to the commit environment A runs, through
//! named gates (project::promote decides them). On success it prints B's plan and, with
//! `--push`, moves B's git ref by a fast-forward push (or pushes `tenantsync/promote/B` when B
//! is protected). Every promotion, and every refusal, is recorded in B's history.

use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};

use super::apply::manifests_revision;
use super::common::{color_stdout, open_state, stored_state};
use super::environments::{choose, load_project};
use super::plan::plan_read_only;
use super::validate::load_manifests;
use crate::cli::{GlobalArgs, OutputFormat, PromoteArgs};
use crate::plan::{render, Refresh};
use crate::policy::{self, Policy, Severity};
use crate::project::promote::{gates, Applied, Facts, Gate};
use crate::reconcile::execute::ApplyReport;
use crate::reconcile::history::HistoryRecord;
use crate::state::store::HISTORY_KEPT;

/// Runs `promote`.
pub async fn run(global: &GlobalArgs, args: &PromoteArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(global)?;
    let from = choose(global, &project, &args.from)?;
    let to = choose(global, &project, &args.to)?;
    let paths = &args.manifests.paths;

    // The source: its applies (newest first), open drift, and whether it is converged now.
    let (applies, applies_complete, open_drift) = match stored_state(&from)? {
        Some(state) => {
            // Every record the state keeps: the soak is measured over the whole run of
            // successes at one commit, however many rounds a daemon applied in it.
            let records: Vec<HistoryRecord> = state.history(HISTORY_KEPT)?;
            let complete = records.len() < HISTORY_KEPT;
            let applies: Vec<Applied> = records
                .iter()
                .filter(|r| !r.mode.starts_with("promote"))
                .filter_map(|r| {
                    let time = time::OffsetDateTime::parse(
                        &r.time,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()?;
                    Some(Applied {
                        time,
                        revision: r.manifests_revision.clone(),
                        succeeded: r.result == "succeeded",
                    })
                })
                .collect();
            (applies, complete, state.drift_open()?.len())
        }
        None => (Vec::new(), true, 0),
    };
    let source_plan = plan_read_only(
        &from,
        paths,
        &args.reconcile,
        OutputFormat::Text,
        Refresh::All,
    )
    .await?;
    let source_changes = source_plan.as_ref().map(|(_, plan, _)| plan.changes.len());
    drop(source_plan);

    // The target: lint of its manifests, and its plan.
    let lint_failures = match load_manifests(&to, paths) {
        Ok(desired) => policy::lint(&desired, &Policy::default())
            .iter()
            .filter(|f| f.severity >= Severity::High)
            .count(),
        Err(errors) => {
            eprintln!("{errors}");
            usize::MAX
        }
    };
    let target_plan = plan_read_only(
        &to,
        paths,
        &args.reconcile,
        OutputFormat::Text,
        Refresh::All,
    )
    .await?;
    let checkout = manifests_revision(paths, &to);
    let facts = Facts {
        from: &args.from,
        to: &args.to,
        order: &project.promotion.order,
        applies: &applies,
        applies_complete,
        open_drift,
        source_changes,
        checkout: checkout.as_deref(),
        lint_failures,
        target_deletes: target_plan.as_ref().map(|(_, p, _)| p.summary.delete),
        allow_delete: args.allow_delete,
        soak: project.promotion.soak,
        now: time::OffsetDateTime::now_utc(),
    };
    let (commit, mut verdict) = gates(&facts);
    let mut promoted = verdict.iter().all(|g| g.ok);
    outln!(
        "Promoting {} → {}{}:",
        args.from,
        args.to,
        commit
            .as_deref()
            .map(|c| format!(" at {c}"))
            .unwrap_or_default()
    );
    for g in &verdict {
        outln!(
            "  {:<4} {:<10} {}",
            if g.ok { "ok" } else { "FAIL" },
            g.name,
            crate::shown::escape_controls(&g.detail)
        );
    }
    let mut pushed = None;
    if promoted {
        if let Some((_, plan, _)) = &target_plan {
            let style = render::Style {
                color: color_stdout(global),
            };
            out!("\n{}'s plan:\n{}", args.to, render::text(plan, style));
        }
        if args.push {
            let commit = commit.as_deref().expect("the applied gate holds");
            match push(&to, args, commit) {
                Ok(branch) => pushed = Some(branch),
                Err(e) => {
                    outln!("  FAIL push       {e:#}");
                    verdict.push(Gate {
                        name: "push".into(),
                        ok: false,
                        detail: format!("{e:#}"),
                    });
                    promoted = false;
                }
            }
        }
    }
    // A push that happened stands even if the record cannot be written (a local state held
    // by B's daemon, say): say so rather than fail.
    if let Err(e) = record(
        &to,
        args,
        commit,
        &verdict,
        promoted,
        target_plan.as_ref().map(|(_, p, _)| p.summary),
    ) {
        eprintln!(
            "warning: the promotion was not recorded in {}'s history: {e:#}",
            args.to
        );
    }
    match (promoted, pushed) {
        (false, _) => {
            let failed: Vec<&str> = verdict
                .iter()
                .filter(|g| !g.ok)
                .map(|g| g.name.as_str())
                .collect();
            eprintln!("promotion refused: {}", failed.join(", "));
            Ok(ExitCode::from(1))
        }
        (true, Some(branch)) => {
            outln!("pushed {} to {}", branch, args.remote);
            Ok(ExitCode::SUCCESS)
        }
        (true, None) => {
            outln!("all gates hold; push with --push to move {}'s ref", args.to);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Pushes `commit` to the target's ref (a fast-forward: a plain push refuses anything else), or
/// to `tenantsync/promote/<to>` when the target is protected. Returns the branch pushed.
fn push(to: &GlobalArgs, args: &PromoteArgs, commit: &str) -> anyhow::Result<String> {
    let env = to.environment.as_ref().expect("chosen");
    let branch = if env.protected {
        format!("tenantsync/promote/{}", env.name)
    } else {
        let Some(git_ref) = &env.git_ref else {
            bail!(
                "environment `{}` names no `ref` to move; add one in the project file",
                env.name
            );
        };
        git_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(git_ref)
            .to_owned()
    };
    let dir = args
        .manifests
        .paths
        .first()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent().map(ToOwned::to_owned).unwrap_or_default()
            }
        })
        .unwrap_or_default();
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(if dir.as_os_str().is_empty() {
        ".".into()
    } else {
        dir
    });
    cmd.arg("push");
    if env.protected {
        // The review branch is tenantsync's own: it is replaced by each promotion.
        cmd.arg("--force");
    }
    let out = cmd
        .arg(&args.remote)
        .arg(format!("{commit}:refs/heads/{branch}"))
        .output()
        .context("running git push")?;
    if !out.status.success() {
        bail!(
            "git push to {} {branch} failed (a ref that moved elsewhere is never overwritten): {}",
            args.remote,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(branch)
}

/// Records the promotion (or its refusal) in the target's history.
fn record(
    to: &GlobalArgs,
    args: &PromoteArgs,
    commit: Option<String>,
    verdict: &[Gate],
    promoted: bool,
    summary: Option<crate::plan::Summary>,
) -> anyhow::Result<()> {
    let state = open_state(to)?;
    let mut record = HistoryRecord::now(
        to.target.clone(),
        commit,
        format!("promote from {}", args.from),
        summary.unwrap_or_default(),
        ApplyReport::default(),
    );
    record.result = if promoted { "promoted" } else { "refused" }.to_owned();
    record.gates = Some(verdict.to_vec());
    state.history_append(&record)?;
    state.flush()?;
    Ok(())
}
