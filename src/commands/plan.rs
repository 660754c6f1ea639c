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
use crate::model::kinds::AnyKind;
use crate::plan::{render, Plan, Refresh};
use crate::policy::{self, Finding, Policy};
use crate::reconcile::bind;
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
        std::sync::Arc::make_mut(&mut state).entries.clear();
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
    Ok(if args.detailed_exitcode && plan.differs() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `plan --env a,b` / `plan --all-envs`: every environment planned concurrently, one report (an
/// object × environment matrix, then each plan), one exit code: 1 when any environment could
/// not be planned, else 2 with `--detailed-exitcode` when any has changes.
pub async fn run_environments(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let chosen = super::environments::several(global, args.all_envs)?;
    if args.out.is_some() {
        anyhow::bail!("--out saves one environment's plan: plan with --env NAME");
    }
    let planned = futures::future::join_all(chosen.iter().map(|g| {
        plan_read_only(
            g,
            &args.manifests.paths,
            &args.reconcile,
            args.format,
            args.refresh.into(),
        )
    }))
    .await;
    let mut plans: Vec<(String, Option<Plan>, Option<RequestSummary>)> = Vec::new();
    for (g, result) in chosen.iter().zip(planned) {
        let name = g.envs[0].clone();
        // One environment that cannot be planned (its credentials unset, its state locked)
        // is an `error` column, never the end of the others' report.
        match result {
            Ok(Some((_, plan, requests))) => {
                let requests = requests.labelled(&name);
                plans.push((name, Some(plan), Some(requests)));
            }
            Ok(None) => plans.push((name, None, None)),
            Err(e) => {
                eprintln!("{name}: error: {e:#}");
                plans.push((name, None, None));
            }
        }
    }
    let failed = plans.iter().any(|(_, p, _)| p.is_none());
    let changed = plans
        .iter()
        .any(|(_, p, _)| p.as_ref().is_some_and(Plan::differs));
    match args.format {
        OutputFormat::Json => {
            let mut environments = serde_json::Map::new();
            for (name, plan, requests) in &plans {
                let value = match (plan, requests) {
                    (Some(plan), Some(requests)) => serde_json::to_value(PlanDocument {
                        plan,
                        api: PlanApi::new(
                            plan,
                            requests.usage().tally().reads(),
                            requests.usage().configured_rate(),
                        ),
                    })?,
                    _ => {
                        serde_json::json!({"error": "could not be planned; see the messages on stderr"})
                    }
                };
                environments.insert(name.clone(), value);
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "format_version": 1,
                    "environments": environments,
                }))?
            );
        }
        OutputFormat::Markdown => {
            let matrix = crate::plan::matrix::Matrix::of(
                plans.iter().map(|(n, p, _)| (n.as_str(), p.as_ref())),
            );
            out!("{}", matrix.markdown());
            for (name, plan, _) in &plans {
                if let Some(plan) = plan {
                    out!(
                        "\n<details><summary><b>{name}</b>: {}</summary>\n\n{}\n</details>\n",
                        render::summary_line(plan),
                        render::markdown(plan)
                    );
                }
            }
        }
        OutputFormat::Text => {
            let matrix = crate::plan::matrix::Matrix::of(
                plans.iter().map(|(n, p, _)| (n.as_str(), p.as_ref())),
            );
            out!("{}", matrix.text());
            let style = render::Style {
                color: color_stdout(global),
            };
            for (name, plan, _) in &plans {
                if let Some(plan) = plan {
                    out!("\n== {name} ==\n{}", render::text(plan, style));
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else if args.detailed_exitcode && changed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The policy findings (default policy, the manifests' own ignores) of the objects the plan
/// creates, updates or adopts: a client's own, and every client of a changed application.
fn findings_of_changed(desired: &DesiredState, plan: &Plan) -> Vec<Finding> {
    if !plan.has_changes() {
        return Vec::new();
    }
    policy::lint(desired, &Policy::default())
        .into_iter()
        .filter(|f| {
            // An object of a described kind is named `Resource/payouts-api` in both.
            plan.changes.iter().any(|c| match c.kind() {
                AnyKind::Client => c.address.to_string() == f.object,
                AnyKind::Application => f
                    .object
                    .strip_prefix("Client/")
                    .and_then(|rest| rest.split_once('/'))
                    .is_some_and(|(app, _)| c.address.application() == Some(app)),
                AnyKind::Described(_) => c.name == f.object,
            })
        })
        .collect()
}
