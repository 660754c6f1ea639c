//! `tenantsync plan` (alias `diff`): what apply would do, read-only against target and state.

use std::process::ExitCode;

use anyhow::Context as _;

use super::common::{
    color_stdout, open_target, plan_now_refreshing, read_state, refuse_foreign_objects,
    RequestSummary,
};
use super::validate::{load_manifests, report_errors};
use crate::cli::{GlobalArgs, OutputFormat, PlanArgs, ReconcileArgs};
use crate::manifest::DesiredState;
use crate::plan::{render, Plan, Refresh};
use crate::policy::{self, Finding, Policy};
use crate::reconcile::bind;
use crate::state::entry::Kind;
use crate::targets::usage::PlanApi;

/// Loads the manifests and plans them against the state and the target, read-only against
/// both (`plan`, `drift`). `None`: the problem was reported; the command exits 1. The summary of
/// the requests made is printed when the caller drops it (or here, on the way out with `None`).
pub(super) async fn plan_read_only(
    global: &GlobalArgs,
    paths: &[std::path::PathBuf],
    reconcile: &ReconcileArgs,
    format: OutputFormat,
    refresh: Refresh,
) -> anyhow::Result<Option<(DesiredState, Plan, RequestSummary)>> {
    let desired = match load_manifests(global, paths) {
        Ok(d) => d,
        Err(errors) => {
            report_errors(&errors, format);
            return Ok(None);
        }
    };
    let mut state = read_state(global)?;
    let target = open_target(global, false, reconcile.rate)?;
    let requests = RequestSummary::of(&*target);
    let (_, rebound) = match bind::check(&state, &*target, reconcile.rebind_target).await {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(None);
        }
    };
    if rebound {
        // What apply --rebind-target would do: adopt by name, as if nothing were recorded.
        state.entries.clear();
    }
    // A plan that names objects another state scope manages is refused like one that fails.
    let planned = plan_now_refreshing(&*target, &desired, &state, reconcile, refresh)
        .await
        .map_err(anyhow::Error::from)
        .and_then(|plan| refuse_foreign_objects(global, &plan).map(|()| plan));
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(None);
        }
    };
    let (reads, writes) = target.request_counts();
    tracing::info!(reads, writes, target = %target.describe(), "plan made");
    Ok(Some((desired, plan, requests)))
}

/// The plan as JSON (`--format json`, `--out`): the plan's own fields and its `api` section. A
/// reader of plan files ignores `api` (apply recomputes nothing from it), so plans written
/// before it existed load as before and the format version stays.
#[derive(serde::Serialize)]
struct PlanDocument<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    api: PlanApi,
}

/// Runs `plan`.
pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let paths = &args.manifests.paths;
    let Some((desired, plan, requests)) = plan_read_only(
        global,
        paths,
        &args.reconcile,
        args.format,
        args.refresh.into(),
    )
    .await?
    else {
        return Ok(ExitCode::from(1));
    };
    let findings = findings_of_changed(&desired, &plan);
    let usage = requests.usage();
    let document = PlanDocument {
        plan: &plan,
        api: PlanApi::new(&plan, usage.tally().reads(), usage.configured_rate()),
    };
    match args.format {
        OutputFormat::Text => {
            let style = render::Style {
                color: color_stdout(global),
            };
            out!("{}", render::text(&plan, style));
            if !findings.is_empty() {
                out!(
                    "\nPolicy findings for the objects this plan changes (tenantsync lint):\n{}",
                    policy::render::text(&findings)
                );
            }
        }
        OutputFormat::Markdown => {
            out!("{}", render::markdown(&plan));
            if !findings.is_empty() {
                out!("\n{}", policy::render::markdown(&findings));
            }
        }
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&document)?),
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&document)?)
            .with_context(|| format!("writing the plan to {}", out.display()))?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The policy findings (default policy, the manifests' own ignores) of the objects the plan
/// creates, updates or adopts: a client's own, and every client of a changed application.
fn findings_of_changed(desired: &DesiredState, plan: &Plan) -> Vec<Finding> {
    policy::lint(desired, &Policy::default())
        .into_iter()
        .filter(|f| {
            // An object of a described kind is named `Resource/payouts-api` in both.
            plan.objects.iter().any(|o| o.name == f.object)
                || plan.changes.iter().any(|c| match c.address.kind {
                    Kind::Client => c.address.to_string() == f.object,
                    Kind::Application => f
                        .object
                        .strip_prefix("Client/")
                        .and_then(|rest| rest.split_once('/'))
                        .is_some_and(|(app, _)| app == c.address.app),
                })
        })
        .collect()
}
