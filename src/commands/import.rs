//! `tenantsync import KIND/NAME ID`: adopt one live object into the state for an object the
//! manifests define, without any write to the target.

use std::process::ExitCode;

use anyhow::bail;
use serde_json::{Map, Value};

use super::common::{open_target, RequestSummary};
use super::validate::load_manifests;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::model::ClientKey;
use crate::reconcile::now_rfc3339;
use crate::state::entry::{Address, Kind, Ownership, StateEntry};

/// Runs `import`.
pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let address = super::common::resolve_address(global, &args.address, &args.paths)?;
    let desired = load_manifests(global, &args.paths).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(app) = desired.apps.get(&address.app) else {
        bail!("the manifests define no Application `{}`", address.app);
    };
    let state = super::common::open_state(global)?;
    let target = open_target(global, false, None)?;
    let _requests = RequestSummary::of(&*target);
    let (app_id, client_id) = match address.kind {
        Kind::Application => {
            if target.get_app(&args.id).await?.is_none() {
                bail!("no live application has app_id `{}` (is it a client id? import clients as Client/APP/NAME)", args.id);
            }
            (args.id.clone(), None)
        }
        Kind::Client => {
            let name = address.client.clone().unwrap_or_default();
            let Some(desired_client) = app.clients.get(&name) else {
                bail!(
                    "the manifests define no client `{name}` in application `{}`",
                    address.app
                );
            };
            let Some(app_entry) = state.get(&Address::app(&address.app))? else {
                bail!(
                    "import the application first: `tenantsync import Application/{} <app_id>`",
                    address.app
                );
            };
            let Some(live) = target
                .get_client(ClientKey::new(&app_entry.app_id, &args.id))
                .await?
            else {
                bail!(
                    "application `{}` ({}) has no client with client_id `{}`",
                    address.app,
                    app_entry.app_id,
                    args.id
                );
            };
            let live_protocol = live
                .get("authentication_protocol")
                .and_then(Value::as_str)
                .unwrap_or("oidc");
            if live_protocol != desired_client.protocol.as_str() {
                bail!("refused: the live client is {live_protocol} but the manifest's `{name}` is {}; kinds differ", desired_client.protocol);
            }
            (app_entry.app_id, Some(args.id.clone()))
        }
    };
    for e in state.snapshot()?.entries.values() {
        if e.server_id() == client_id.as_deref().unwrap_or(&app_id) && e.address != address {
            bail!(
                "that live object is already managed as {}; `tenantsync state forget {}` first",
                e.address,
                e.address
            );
        }
    }
    state.put(&StateEntry {
        address: address.clone(),
        app_id,
        client_id,
        ownership: Ownership::Adopted,
        last_applied: Map::new(),
        protect: app.protect,
        applied_at: now_rfc3339(),
    })?;
    outln!("{address} now manages the live object {}; run `tenantsync plan` to see how it differs from the manifest", args.id);
    Ok(ExitCode::SUCCESS)
}
