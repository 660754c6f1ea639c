//! `tenantsync history`: past applies, newest first.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, HistoryArgs, OutputFormat};
use crate::reconcile::history::HistoryRecord;

/// Runs `history`.
pub fn run(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let records: Vec<HistoryRecord> =
        if global.state_url.is_some() || global.state_dir.join("state").exists() {
            super::common::open_state(global)?.history(args.limit)?
        } else {
            Vec::new()
        };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        _ => {
            if records.is_empty() {
                println!("No applies recorded in {}.", global.state_dir.display());
            }
            for r in &records {
                println!("{}", r.line());
                for o in r
                    .report
                    .objects
                    .iter()
                    .filter(|o| !matches!(o.outcome, crate::reconcile::execute::Outcome::Ok))
                {
                    println!("    {} {:?}: {:?}", o.name, o.action, o.outcome);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
