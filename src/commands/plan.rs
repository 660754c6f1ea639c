//! `tenantsync plan` (alias `diff`): what apply would do, read-only against target and state.

use std::process::ExitCode;

use anyhow::Context as _;

use super::common::{color_stdout, open_target, plan_now, read_state};
use super::validate::{load_manifests, report_errors};
use crate::cli::{GlobalArgs, OutputFormat, PlanArgs};
use crate::plan::render;
use crate::reconcile::bind;

/// Runs `plan`.
pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let desired = match load_manifests(global, &args.manifests.paths) {
        Ok(d) => d,
        Err(errors) => {
            report_errors(&errors, args.format);
            return Ok(ExitCode::from(1));
        }
    };
    let mut state = read_state(global)?;
    let target = open_target(global, false, args.reconcile.rate)?;
    let (_, rebound) = match bind::check(&state, &*target, args.reconcile.rebind_target).await {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if rebound {
        // What apply --rebind-target would do: adopt by name, as if nothing were recorded.
        state.entries.clear();
    }
    let plan = match plan_now(&*target, &desired, &state, &args.reconcile).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let (reads, writes) = target.request_counts();
    tracing::info!(reads, writes, target = %target.describe(), "plan made");
    match args.format {
        OutputFormat::Text => print!(
            "{}",
            render::text(
                &plan,
                render::Style {
                    color: color_stdout(global)
                }
            )
        ),
        OutputFormat::Markdown => print!("{}", render::markdown(&plan)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("writing the plan to {}", out.display()))?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
