//! `tenantsync state list|show|forget|migrate`: look at and edit the reconciler state, or move it
//! to another backend.

use std::process::ExitCode;

use std::path::Path;

use anyhow::{bail, Context as _};

use crate::cli::{GlobalArgs, StateAction, StateArgs};
use crate::state::backend::{SledBackend, StateBackend};
use crate::state::migrate;
use crate::state::postgres::{Access, PostgresBackend};

/// Runs `state`.
pub fn run(global: &GlobalArgs, args: &StateArgs) -> anyhow::Result<ExitCode> {
    if let StateAction::Migrate { to } = &args.action {
        return migrate(global, to);
    }
    if global.state_url.is_none() && !global.state_dir.join("state").exists() {
        if matches!(args.action, StateAction::List) {
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "no state in {} (nothing applied yet)",
            global.state_dir.display()
        );
    }
    // Looking takes no lock on a shared state (a SELECT-only role may list); forgetting does.
    let store = match &args.action {
        StateAction::List | StateAction::Show { .. } => {
            match super::common::stored_state(global)? {
                Some(store) => store,
                None if matches!(args.action, StateAction::List) => return Ok(ExitCode::SUCCESS),
                None => bail!("there is no state yet (nothing applied)"),
            }
        }
        _ => super::common::open_state(global)?,
    };
    let parse = |a: &str, manifests: &[std::path::PathBuf]| {
        super::common::resolve_address(global, a, manifests)
    };
    match &args.action {
        StateAction::List => {
            for e in store.snapshot()?.entries.values() {
                let ownership = match e.ownership {
                    crate::state::entry::Ownership::Created => "created",
                    crate::state::entry::Ownership::Adopted => "adopted",
                };
                let protect = if e.protect { "\tprotected" } else { "" };
                outln!("{}\t{}\t{ownership}{protect}", e.address, e.server_id());
            }
        }
        StateAction::Show { address, manifests } => match store.get(&parse(address, manifests)?)? {
            Some(e) => outln!("{}", serde_json::to_string_pretty(&e)?),
            None => bail!("{address} is not in the state"),
        },
        StateAction::Migrate { .. } => unreachable!("handled above"),
        StateAction::Forget { address, manifests } => {
            let address = parse(address, manifests)?;
            if !store.remove(&address)? {
                bail!("{address} is not in the state");
            }
            outln!("{address} forgotten: the live object is untouched and no longer managed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `location` names a PostgreSQL database rather than a directory.
fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Opens one side of a migration: a PostgreSQL scope (holding its lock, so nobody writes
/// meanwhile) or a state directory.
fn open_side(
    global: &GlobalArgs,
    location: &str,
    access: Access,
) -> anyhow::Result<Box<dyn StateBackend>> {
    if is_postgres(location) {
        return Ok(Box::new(PostgresBackend::open(
            location,
            &global.state_scope,
            access,
        )?));
    }
    let dir = Path::new(location);
    crate::private_dir::create(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    Ok(Box::new(SledBackend::open(dir)?))
}

/// `state migrate --to`: copies, re-opens the destination, verifies.
fn migrate(global: &GlobalArgs, to: &str) -> anyhow::Result<ExitCode> {
    let write = Access::Write {
        lock_timeout: global.lock_timeout,
    };
    let source = match &global.state_url {
        Some(url) => open_side(global, url, write)?,
        None if global.state_dir.join("state").exists() => {
            Box::new(SledBackend::open(&global.state_dir)?)
        }
        None => bail!(
            "there is no state in {} to migrate",
            global.state_dir.display()
        ),
    };
    let destination = open_side(global, to, write)?;
    let location = destination.describe();
    let counts = migrate::copy(&*source, &*destination)?;
    drop(destination);
    let read_back = open_side(global, to, Access::Read)?;
    migrate::verify(&*source, &*read_back)?;
    let counts: Vec<String> = counts
        .iter()
        .map(|(tree, n)| format!("{n} {}", tree.name()))
        .collect();
    outln!(
        "migrated {} from {} to {location} and verified it; the source is unchanged",
        counts.join(", "),
        source.describe()
    );
    Ok(ExitCode::SUCCESS)
}
