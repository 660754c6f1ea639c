//! `tenantsync drift`: which managed objects were changed outside tenantsync, and since when;
//! read-only against target and state. Changes made in the manifests and not applied yet are
//! reported apart, as pending.

use std::process::ExitCode;

use super::common::read_drift;
use super::plan::plan_read_only;
use crate::cli::{DriftArgs, GlobalArgs, OutputFormat};
use crate::drift;
use crate::reconcile::now_rfc3339;

/// Runs `drift`.
pub async fn run(global: &GlobalArgs, args: &DriftArgs) -> anyhow::Result<ExitCode> {
    let paths = &args.manifests.paths;
    let Some((_, plan, _requests)) = plan_read_only(
        global,
        paths,
        &args.reconcile,
        args.format,
        crate::plan::Refresh::All,
    )
    .await?
    else {
        return Ok(ExitCode::from(1));
    };
    let report = drift::report(&plan, &read_drift(global)?, &now_rfc3339());
    match args.format {
        OutputFormat::Text => out!("{}", drift::render_text(&report)),
        OutputFormat::Markdown => out!("{}", drift::render_markdown(&report)),
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if args.detailed_exitcode && !report.drift.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
