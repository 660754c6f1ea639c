//! `tenantsync history`: past applies, newest first; with `--drift`, the drift episodes.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, HistoryArgs, OutputFormat};
use crate::drift::DriftRecord;
use crate::reconcile::history::HistoryRecord;

/// Runs `history`.
pub fn run(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let has_state = global.state_url.is_some() || global.state_dir.join("state").exists();
    if args.drift {
        return drift_history(global, args, has_state);
    }
    let records: Vec<HistoryRecord> = if has_state {
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

/// `history --drift`: open episodes, then ended ones, newest first.
fn drift_history(
    global: &GlobalArgs,
    args: &HistoryArgs,
    has_state: bool,
) -> anyhow::Result<ExitCode> {
    let (open, ended): (Vec<DriftRecord>, Vec<DriftRecord>) = if has_state {
        let state = super::common::open_state(global)?;
        (
            state.drift_open()?.into_values().collect(),
            state.drift_history(args.limit)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"open": open, "ended": ended}))?
        ),
        _ => {
            if open.is_empty() && ended.is_empty() {
                println!("No drift recorded.");
            }
            for r in &open {
                println!(
                    "open   {}  {}  first seen {}, last seen {} ({} observations)",
                    r.object,
                    r.fields.join(", "),
                    r.first_seen,
                    r.last_seen,
                    r.observations
                );
            }
            for r in &ended {
                println!(
                    "{:<6} {}  {}  first seen {}, ended {}",
                    r.resolution.map_or("ended", |h| h.as_str()),
                    r.object,
                    r.fields.join(", "),
                    r.first_seen,
                    r.resolved_at.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
