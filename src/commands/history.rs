//! `tenantsync history`: past applies, newest first; with `--drift`, the drift episodes.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, HistoryArgs, OutputFormat};
use crate::drift::DriftRecord;
use crate::reconcile::history::HistoryRecord;
use crate::state::store::StateStore;

/// Runs `history`.
pub fn run(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    // Read-only: a shared state's lock is not taken, so it works while a daemon runs.
    let state = super::common::stored_state(global)?;
    if args.drift {
        return drift_history(state.as_ref(), args);
    }
    let records: Vec<HistoryRecord> = match &state {
        Some(state) => state.history(args.limit)?,
        None => Vec::new(),
    };
    match args.format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&records)?),
        _ => {
            if records.is_empty() {
                outln!("No applies recorded in {}.", global.state_dir.display());
            }
            for r in &records {
                outln!("{}", r.line());
                for o in r
                    .report
                    .objects
                    .iter()
                    .filter(|o| !matches!(o.outcome, crate::reconcile::execute::Outcome::Ok))
                {
                    outln!("    {} {:?}: {:?}", o.name, o.action, o.outcome);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `history --drift`: open episodes, then ended ones, newest first.
fn drift_history(state: Option<&StateStore>, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let (open, ended): (Vec<DriftRecord>, Vec<DriftRecord>) = match state {
        Some(state) => (
            state.drift_open()?.into_values().collect(),
            state.drift_history(args.limit)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    match args.format {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"open": open, "ended": ended}))?
        ),
        _ => {
            if open.is_empty() && ended.is_empty() {
                outln!("No drift recorded.");
            }
            for r in &open {
                outln!(
                    "open   {}  {}  first seen {}, last seen {} ({} observations)",
                    r.object,
                    r.fields.join(", "),
                    r.first_seen,
                    r.last_seen,
                    r.observations
                );
            }
            for r in &ended {
                outln!(
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
