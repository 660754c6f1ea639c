//! `tenantsync state list|show|forget|migrate`: look at and edit the reconciler state, or move it
//! to another backend.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{GlobalArgs, StateAction, StateArgs};
use crate::shown::escape_controls;
use crate::state::address::{Address, AddressRef};
use crate::state::entry::Ownership;
use crate::state::schema::Persisted;
use crate::state::{self, migrate, Access, Location};

/// Runs `state`.
pub fn run(global: &GlobalArgs, args: &StateArgs) -> anyhow::Result<ExitCode> {
    if let StateAction::Migrate { to } = &args.action {
        return migrate(global, to);
    }
    let location = super::common::state_location(global);
    // Looking takes no lock on a shared state (a SELECT-only role may list) and writes nothing
    // (an older layout is read as it is); forgetting does both.
    let store = match &args.action {
        StateAction::List | StateAction::Show { .. } => {
            match super::common::stored_state(global)? {
                Some(store) => store,
                None if matches!(args.action, StateAction::List) => return Ok(ExitCode::SUCCESS),
                None => bail!(
                    "there is no state in {} (nothing applied yet)",
                    location.describe()
                ),
            }
        }
        _ => {
            if state::open_existing(&location)?.is_none() {
                bail!(
                    "there is no state in {} (nothing applied yet)",
                    location.describe()
                );
            }
            super::common::open_state(global)?
        }
    };
    // Any kind's address; an application's or client's may name a Client document.
    let parse = |a: &str, manifests: &[std::path::PathBuf]| -> anyhow::Result<Address> {
        if let Some(object) = Address::parse(a) {
            return Ok(object);
        }
        if AddressRef::parse(a).is_none() {
            bail!(
                "`{}` is not an address: use {}, or Resource/URI, ServiceProvider/ENTITY_ID, Role/APP/ROLE_NAME, RoleGroup/APP/NAME, LoginPreferences/APP",
                escape_controls(a),
                AddressRef::FORMS
            );
        }
        super::common::resolve_address(global, a, manifests)
    };
    let ownership = |o: Ownership| match o {
        Ownership::Created => "created",
        Ownership::Adopted => "adopted",
    };
    let protected = |p: bool| if p { "\tprotected" } else { "" };
    match &args.action {
        StateAction::List => {
            let snapshot = store.snapshot()?;
            for e in snapshot.entries.values() {
                let id = match e.server_id() {
                    "" => "-",
                    id => id,
                };
                // Names are live values: a tab or an escape in one is shown, never acted on.
                outln!(
                    "{}\t{}\t{}{}",
                    escape_controls(&e.address.to_string()),
                    escape_controls(id),
                    ownership(e.ownership),
                    protected(e.protect)
                );
            }
        }
        StateAction::Show { address, manifests } => {
            let address = parse(address, manifests)?;
            match store.get(&address)? {
                // As its tree stores it.
                Some(e) => outln!("{}", serde_json::to_string_pretty(&Persisted::from(&e))?),
                None => bail!(
                    "{} is not in the state",
                    escape_controls(&address.to_string())
                ),
            }
        }
        StateAction::Migrate { .. } => unreachable!("handled above"),
        StateAction::Forget { address, manifests } => {
            let address = parse(address, manifests)?;
            let shown = escape_controls(&address.to_string()).into_owned();
            let existed = store.remove(&address)?;
            if !existed {
                bail!("{shown} is not in the state");
            }
            outln!("{shown} forgotten: the live object is untouched and no longer managed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `state migrate --to`: copies every record as it is (an older layout stays older until a
/// writer opens the copy), re-opens the destination, verifies.
fn migrate(global: &GlobalArgs, to: &str) -> anyhow::Result<ExitCode> {
    let write = Access::Write {
        lock_timeout: global.lock_timeout,
    };
    let from = super::common::state_location(global);
    // A shared source is locked so nobody writes meanwhile; a local one is exclusive anyway.
    let source = match &from {
        Location::Dir(_) => match state::open_backend(&from, Access::Read) {
            Err(state::store::StateError::NoState { .. }) => {
                bail!("there is no state in {} to migrate", from.describe())
            }
            opened => opened?,
        },
        Location::Postgres { .. } => state::open_backend(&from, write)?,
    };
    let to = Location::parse(to, &global.state_scope);
    let destination = state::open_backend(&to, write)?;
    let location = destination.describe();
    let counts = migrate::copy(&*source, &*destination)?;
    drop(destination);
    let read_back = state::open_backend(&to, Access::Read)?;
    migrate::verify(&*source, &*read_back)?;
    let counts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(tree, n)| format!("{n} {}", tree.name()))
        .collect();
    outln!(
        "migrated {} from {} to {location} and verified it; the source is unchanged",
        counts.join(", "),
        source.describe()
    );
    Ok(ExitCode::SUCCESS)
}
