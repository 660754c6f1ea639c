//! `tenantsync apply`: finish any interrupted creates, plan, confirm, execute, report.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;

use super::common::{color_stdout, open_target, plan_options};
use super::validate::{load_manifests, report_errors};
use crate::cli::{ApplyArgs, GlobalArgs, OutputFormat};
use crate::plan::{self, render, PlanContext};
use crate::reconcile::execute::{self, ExecuteOptions, IntentResolution, Outcome};
use crate::reconcile::gather;
use crate::state::store::StateStore;

fn confirm() -> anyhow::Result<bool> {
    print!("Apply these changes to the target? Only `yes` is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Runs `apply`.
pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let desired = match load_manifests(&args.paths) {
        Ok(d) => d,
        Err(errors) => {
            report_errors(&errors, args.format);
            return Ok(ExitCode::from(1));
        }
    };
    std::fs::create_dir_all(&global.state_dir).with_context(|| {
        format!(
            "creating the state directory {}",
            global.state_dir.display()
        )
    })?;
    let state = StateStore::open(&global.state_dir)?;
    let target = open_target(global, true, args.reconcile.rate)?;

    for resolution in execute::resolve_intents(&*target, &state).await? {
        match resolution {
            IntentResolution::Recorded(a) => {
                eprintln!("{a}: an interrupted create had reached the target; recorded it")
            }
            IntentResolution::Dropped(a) => {
                eprintln!("{a}: an interrupted create never reached the target; it will be created")
            }
            IntentResolution::Ambiguous(a, ids) => {
                eprintln!("error: {a}: an interrupted create may have reached the target and several objects match ({ids}); choose with `tenantsync import {a} <id>`");
                return Ok(ExitCode::from(1));
            }
        }
    }

    let snapshot = state.snapshot()?;
    let observed = gather::observe(&*target, &desired, &snapshot, args.reconcile.concurrency)
        .await
        .with_context(|| format!("reading the live tenant from {}", target.describe()))?;
    let context = PlanContext {
        target: target.describe(),
        manifests_fingerprint: plan::desired_fingerprint(&desired, &snapshot.salt),
    };
    let plan = match plan::plan(
        &desired,
        &snapshot,
        &observed,
        &plan_options(&args.reconcile),
        &context,
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let style = render::Style {
        color: color_stdout(global),
    };
    if args.format == OutputFormat::Text {
        print!("{}", render::text(&plan, style));
    }
    if plan.has_changes() && !args.yes && std::io::stdin().is_terminal() && !confirm()? {
        println!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    let options = ExecuteOptions {
        concurrency: args.reconcile.concurrency,
        verify_live: false,
    };
    let text = args.format == OutputFormat::Text;
    let progress = move |r: &execute::ObjectResult| {
        if text {
            match &r.outcome {
                Outcome::Ok => println!("{}: {:?} done", r.name, r.action),
                Outcome::Failed { message } => {
                    println!("{}: {:?} FAILED: {message}", r.name, r.action)
                }
                Outcome::Skipped { message } => println!("{}: {:?} {message}", r.name, r.action),
            }
        }
    };
    let report = execute::execute(&plan, &*target, &state, options, &progress).await?;
    let (reads, writes) = target.request_counts();
    tracing::info!(reads, writes, "apply finished");
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"format_version": 1, "plan": plan, "report": report})
            )?
        ),
        _ => println!(
            "Apply complete: {} succeeded, {} failed, {} unchanged.",
            report.succeeded(),
            report.failed(),
            plan.summary.unchanged
        ),
    }
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
