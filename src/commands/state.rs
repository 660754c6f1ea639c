//! `tenantsync state list|show|forget`: look at and edit the reconciler state.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{GlobalArgs, StateAction, StateArgs};
use crate::state::entry::Address;

/// Runs `state`.
pub fn run(global: &GlobalArgs, args: &StateArgs) -> anyhow::Result<ExitCode> {
    if global.state_url.is_none() && !global.state_dir.join("state").exists() {
        if matches!(args.action, StateAction::List) {
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "no state in {} (nothing applied yet)",
            global.state_dir.display()
        );
    }
    let store = super::common::open_state(global)?;
    let parse = |a: &str| {
        Address::parse(a).ok_or_else(|| {
            anyhow::anyhow!("`{a}` is not an address: use Application/NAME or Client/APP/NAME")
        })
    };
    match &args.action {
        StateAction::List => {
            for e in store.snapshot()?.entries.values() {
                let ownership = match e.ownership {
                    crate::state::entry::Ownership::Created => "created",
                    crate::state::entry::Ownership::Adopted => "adopted",
                };
                let protect = if e.protect { "\tprotected" } else { "" };
                println!("{}\t{}\t{ownership}{protect}", e.address, e.server_id());
            }
        }
        StateAction::Show { address } => match store.get(&parse(address)?)? {
            Some(e) => println!("{}", serde_json::to_string_pretty(&e)?),
            None => bail!("{address} is not in the state"),
        },
        StateAction::Forget { address } => {
            let address = parse(address)?;
            if !store.remove(&address)? {
                bail!("{address} is not in the state");
            }
            println!("{address} forgotten: the live object is untouched and no longer managed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
