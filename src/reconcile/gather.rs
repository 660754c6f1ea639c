//! Observing the target for a plan: one list of applications, then the clients of only the
//! applications the plan may touch (mapped in the state, or adoptable by name), concurrently.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt as _, TryStreamExt as _};

use crate::manifest::DesiredState;
use crate::plan::{apps_needing_clients, managed_fields, trim_live, LiveApp, Observed};
use crate::state::entry::{Kind, StateSnapshot};
use crate::target::{Target, TargetError};

/// Reads what the planner needs: `1 + (apps needing clients)` requests, plus one GET per app
/// whose `logo` is managed (the list form omits it).
pub async fn observe(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    concurrency: usize,
) -> Result<Observed, TargetError> {
    let apps = target.list_apps().await?;
    let need = apps_needing_clients(desired, state, &apps);
    let (app_fields, client_fields) = managed_fields(desired, state);
    let (app_fields, client_fields) = (&app_fields, &client_fields);
    let logo_managed: BTreeSet<&str> = state
        .entries
        .values()
        .filter(|e| e.address.kind == Kind::Application && e.last_applied.contains_key("logo"))
        .map(|e| e.app_id.as_str())
        .collect();
    let logo_desired: BTreeSet<&str> = desired
        .apps
        .values()
        .filter(|a| a.spec.contains_key("logo"))
        .map(|a| a.app_name())
        .collect();
    let fetched: Vec<LiveApp> = stream::iter(apps.into_iter().map(|app| {
        let id = app
            .get("app_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let name = app
            .get("app_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let wants_clients = need.contains(&id);
        let wants_logo = wants_clients
            && (logo_managed.contains(id.as_str()) || logo_desired.contains(name.as_str()));
        async move {
            let clients = if wants_clients {
                let clients = target.list_clients(&id).await?;
                Some(
                    clients
                        .into_iter()
                        .map(|c| trim_live(Kind::Client, c, client_fields))
                        .collect(),
                )
            } else {
                None
            };
            let app = if wants_logo {
                target.get_app(&id).await?.unwrap_or(app)
            } else {
                app
            };
            Ok::<_, TargetError>(LiveApp {
                app: trim_live(Kind::Application, app, app_fields),
                clients,
            })
        }
    }))
    .buffered(concurrency.max(1))
    .try_collect()
    .await?;
    Ok(Observed { apps: fetched })
}
