//! `tenantsync apply` (and `apply --plan FILE`): finish any interrupted creates, plan (or load and
//! check a saved plan), confirm, execute, report, and append the run to the history.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::common::{
    color_stdout, deliver_and_report, delivery_sinks, open_state, open_target, plan_now_refreshing,
    refuse_foreign_objects, RequestSummary,
};
use super::validate::{load_manifests, report_errors};
use crate::cli::{ApplyArgs, GlobalArgs, OutputFormat};
use crate::manifest::Redactions;
use crate::plan::{self, render, Plan};
use crate::reconcile::execute::{ExecuteOptions, IntentResolution, ObjectResult, Outcome};
use crate::reconcile::pipeline::{self, HistoryNote};
use crate::state::store::StateStore;
use crate::targets::Target;

fn confirm() -> anyhow::Result<bool> {
    out!("Apply these changes to the target? Only `yes` is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// The git revision of the manifests (`+dirty` with uncommitted changes to them, or to the
/// chosen environment's project file or overlay, which make what is applied as much as the
/// manifests do), if they are in git.
pub fn manifests_revision(paths: &[std::path::PathBuf], global: &GlobalArgs) -> Option<String> {
    let first = paths.first()?;
    let dir = if first.is_dir() {
        first.as_path()
    } else {
        first.parent().unwrap_or(Path::new("."))
    };
    let head = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !head.status.success() {
        return None;
    }
    let mut revision = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let environment = global.environment.as_ref();
    let also = environment
        .map(|env| std::iter::once(global.project.as_path()).chain(env.overlay.as_deref()))
        .into_iter()
        .flatten();
    if std::iter::once(dir).chain(also).any(uncommitted) {
        revision.push_str("+dirty");
    }
    Some(revision)
}

/// Whether `path` (a directory, or a file) has changes git has not committed, or is not in
/// git at all: `git status` run where it is.
fn uncommitted(path: &Path) -> bool {
    let (dir, spec) = if path.is_dir() {
        (path, std::ffi::OsStr::new("."))
    } else {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => (parent, name),
            _ => return false,
        }
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--"])
        .arg(spec)
        .output()
        .is_ok_and(|status| !status.status.success() || !status.stdout.is_empty())
}

/// Tells what became of a create an interrupted run left.
fn tell_resolution(resolution: &IntentResolution) {
    match resolution {
        IntentResolution::Recorded(a) => {
            eprintln!("{a}: an interrupted create had reached the target; recorded it");
        }
        IntentResolution::Dropped(a) => {
            eprintln!("{a}: an interrupted create never reached the target; dropped (created by the plan if the manifests still ask for it)");
        }
        IntentResolution::Ambiguous(..) => {}
    }
}

/// Reads a saved plan: refuses another format version and a plan that breaks the invariants
/// execution relies on. Touches nothing but the file.
fn read_plan_file(path: &Path) -> anyhow::Result<Plan> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the plan {}", path.display()))?;
    /// Only the version, read first: an older plan may not parse as the current format.
    #[derive(serde::Deserialize)]
    struct Header {
        format_version: Option<u32>,
    }
    let header: Header = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a tenantsync plan", path.display()))?;
    match header.format_version {
        // Format 3 listed the described kinds' changes apart, format 4 an application's
        // cascade of clients only, format 5 had no `release` phase, format 6 no moved entry,
        // format 7 fingerprinted a secret's holder otherwise; all read as the current one.
        Some(
            plan::FORMAT_VERSION
            | plan::FORMAT_WITH_HOLDERS_UNSEEN
            | plan::FORMAT_WITHOUT_MOVES
            | plan::FORMAT_WITHOUT_RELEASE
            | plan::FORMAT_CASCADE_OF_CLIENTS
            | plan::FORMAT_WITH_OBJECTS_APART,
        ) => {}
        Some(v) if v < plan::FORMAT_VERSION => bail!(
            "{} was saved by an older tenantsync (plan format {v}); this tenantsync applies formats {} to {} only. Run `tenantsync plan --out` again and review the new plan",
            path.display(),
            plan::FORMAT_WITH_OBJECTS_APART,
            plan::FORMAT_VERSION
        ),
        Some(v) => bail!(
            "{} was saved by a newer tenantsync (plan format {v}); this tenantsync applies format {}. Upgrade tenantsync, or plan again with this one",
            path.display(),
            plan::FORMAT_VERSION
        ),
        None => bail!("{} is not a tenantsync plan (no format_version)", path.display()),
    }
    let plan: Plan = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a tenantsync plan", path.display()))?;
    if let Err(defects) = plan.check() {
        let list: Vec<String> = defects.iter().map(ToString::to_string).collect();
        bail!(
            "refused: {} is inconsistent (was it edited by hand?): {}; run plan again",
            path.display(),
            list.join("; ")
        );
    }
    Ok(plan)
}

/// Refuses a saved plan made for another state, target or manifest set, and restores the
/// secret values it does not hold.
fn bind_saved_plan(
    mut plan: Plan,
    state: &StateStore,
    target: &dyn Target,
    args: &ApplyArgs,
    global: &GlobalArgs,
) -> anyhow::Result<(Plan, Redactions)> {
    let state_dir = &global.state_dir;
    let snapshot = state.snapshot()?;
    let fresh_state = snapshot.entries.is_empty();
    if plan.state_lineage.is_empty() && !fresh_state {
        bail!(
            "refused: the plan was made before any state existed, but {} now holds applied objects (was this plan applied already?); run plan again",
            state_dir.display()
        );
    }
    if !plan.state_lineage.is_empty() && plan.state_lineage != snapshot.lineage {
        bail!("refused: the plan was made for another state directory (lineage {}), not this one; run plan again with this --state-dir", plan.state_lineage);
    }
    if crate::targets::http::display_url(&plan.target) != target.describe() {
        bail!(
            "refused: the plan was made for target {}, not {}",
            crate::targets::http::display_url(&plan.target),
            target.describe()
        );
    }
    let desired =
        load_manifests(global, &args.manifests.paths).map_err(|e| anyhow::anyhow!("{e}"))?;
    let salt = if plan.state_lineage.is_empty() {
        Vec::new()
    } else {
        snapshot.salt.clone()
    };
    if plan::desired_fingerprint(&desired, &salt) != plan.manifests_fingerprint {
        bail!("refused: the manifests changed since the plan was made; run plan again");
    }
    plan::restore_secrets(&mut plan, &desired, &snapshot.salt)
        .map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    Ok((plan, desired.redactions))
}

/// Runs `apply`.
pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    // A saved plan that cannot be applied is refused before the state is opened or created.
    let saved = match args
        .plan
        .as_deref()
        .map(|path| read_plan_file(path).map(|plan| (plan, path)))
        .transpose()
    {
        Ok(saved) => saved,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    // Manifests that do not load are refused before anything is opened or sent (not even a
    // token request).
    let mut loaded = None;
    if saved.is_none() {
        match load_manifests(global, &args.manifests.paths) {
            Ok(d) => loaded = Some(d),
            Err(errors) => {
                report_errors(&errors, args.format);
                return Ok(ExitCode::from(1));
            }
        }
    }
    let sinks = delivery_sinks(&args.delivery)?;
    let state = open_state(global)?;
    let target = open_target(global, true, args.reconcile.rate)?;
    let _requests = RequestSummary::of(&*target);
    let prepared = pipeline::prepare_writes(
        &*target,
        &state,
        args.reconcile.rebind_target,
        loaded.as_ref(),
        &tell_resolution,
    )
    .await;
    if let Err(e) = prepared {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }

    let mut desired_now = None;
    let (plan, mode, redactions) = match saved {
        Some((saved, path)) => match bind_saved_plan(saved, &state, &*target, args, global) {
            Ok((p, r)) => (p, format!("apply --plan {}", path.display()), r),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(1));
            }
        },
        None => {
            let desired = loaded.take().expect("loaded above without a saved plan");
            let snapshot = state.snapshot()?;
            match plan_now_refreshing(
                &*target,
                &desired,
                &snapshot,
                &args.reconcile,
                args.refresh.into(),
            )
            .await
            {
                Ok(p) => {
                    let redactions = desired.redactions.clone();
                    desired_now = Some(desired);
                    (p, "apply".to_owned(), redactions)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    };

    if let Err(e) = refuse_foreign_objects(global, &plan) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    let text = args.format == OutputFormat::Text;
    if text {
        out!(
            "{}",
            render::text(
                &plan,
                render::Style {
                    color: color_stdout(global)
                }
            )
        );
    }
    if plan.has_changes() && !args.yes && std::io::stdin().is_terminal() && !confirm()? {
        outln!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }

    // A second round (below) adds its changes to the count.
    let total = AtomicUsize::new(plan.changes.len());
    let done = AtomicUsize::new(0);
    let live_line = text && std::io::stdout().is_terminal();
    let bar = progress_bar(live_line, plan.changes.len());
    let progress = |r: &ObjectResult| {
        if !text {
            return;
        }
        let r = &r.redacted(&redactions);
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        let total = total.load(Ordering::SeqCst);
        let verb = format!("{:?}", r.action).to_lowercase();
        let what = match &r.outcome {
            Outcome::Ok => format!("{verb} {}: done", r.name),
            Outcome::Failed { message } => format!("{verb} {}: FAILED: {message}", r.name),
            Outcome::Skipped { message } => format!("{verb} {}: {message}", r.name),
        };
        if !live_line {
            println!("[{n}/{total}] {what}");
            return;
        }
        let line = format!("[{n}/{total}] {what}");
        if r.outcome == Outcome::Ok {
            bar.set_message(line);
        } else {
            bar.println(line);
        }
    };
    let options = ExecuteOptions {
        concurrency: args.reconcile.concurrency,
        verify_live: args.plan.is_some(),
        stop: Vec::new(),
        gate: Default::default(),
    };
    let note = HistoryNote {
        mode,
        revision: manifests_revision(&args.manifests.paths, global),
        redactions: redactions.clone(),
    };
    let mut report = pipeline::apply_plan(
        &plan,
        &*target,
        &state,
        options.clone(),
        &progress,
        note.clone(),
    )
    .await?
    .report;
    // A reference that had to wait for an object created after its holder (a default client
    // naming a role of its own new application) is written by a second round.
    if let (true, 0, Some(desired)) = (plan.deferred, report.failed(), &desired_now) {
        let snapshot = state.snapshot()?;
        match plan_now_refreshing(
            &*target,
            desired,
            &snapshot,
            &args.reconcile,
            args.refresh.into(),
        )
        .await
        {
            Ok(second) if second.has_changes() => {
                if text {
                    outln!("Second round: references to objects created above.");
                    out!(
                        "{}",
                        render::text(
                            &second,
                            render::Style {
                                color: color_stdout(global)
                            }
                        )
                    );
                }
                total.fetch_add(second.changes.len(), Ordering::SeqCst);
                bar.inc_length(second.changes.len() as u64);
                let more =
                    pipeline::apply_plan(&second, &*target, &state, options, &progress, note)
                        .await?
                        .report;
                report.objects.extend(more.objects);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    for r in &mut report.objects {
        *r = r.redacted(&redactions);
    }
    if !bar.is_hidden() {
        bar.finish();
        outln!();
    }
    let summary = args.format != OutputFormat::Json;
    if summary {
        outln!(
            "Apply complete: {} succeeded, {} failed, {} unchanged.",
            report.succeeded(),
            report.failed(),
            plan.summary.unchanged
        );
    }
    let delivery = deliver_and_report(&*target, &state, &sinks, summary).await;
    let (reads, writes) = target.request_counts();
    tracing::info!(reads, writes, "apply finished");
    if args.format == OutputFormat::Json {
        let mut out = serde_json::json!({"format_version": 1, "plan": plan, "report": report});
        if let Some(d) = delivery {
            out["credentials"] = serde_json::json!({
                "delivered": d.delivered, "withdrawn": d.withdrawn, "failures": d.failures,
            });
        }
        outln!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The live progress line of a text apply on a terminal (`[n/total] verb object: done`, redrawn
/// at most 20 times a second, so thousands of objects do not flood the terminal; failures and
/// skips stay on screen above it); hidden otherwise.
fn progress_bar(live: bool, total: usize) -> ProgressBar {
    if !live || total == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
    bar.set_style(ProgressStyle::with_template("{wide_msg}").expect("a valid template"));
    bar
}
