//! One application's clients in a plan: each desired client matched to its live client (by the
//! state's id, else adopted by name), created, or refused when its protocol would change; and
//! the one rule adoption by name follows for applications and clients alike.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::bodies::str_field;
use super::fields::ObjectKind;
use super::fingerprint::live_protocol;
use super::{Builder, LiveApp, PlanError};
use crate::manifest::DesiredApp;
use crate::model::kinds::{CLIENT, DEFAULT_CLIENT_FIELD};
use crate::state::entry::Address;

pub(super) fn plan_clients(
    b: &mut Builder<'_>,
    key: &str,
    app: &DesiredApp,
    live: &LiveApp,
    app_id: &str,
    claimed_clients: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<(), PlanError> {
    let live_clients: &[Map<String, Value>] = live.clients.as_deref().unwrap_or_default();
    let no_claims = BTreeSet::new();
    let claimed = claimed_clients.get(app_id).unwrap_or(&no_claims);
    let live_default = str_field(&live.app, DEFAULT_CLIENT_FIELD).to_owned();
    for client in app.clients.values() {
        let address = Address::client(key, &client.name);
        let entry = b.state.app_entry(&address);
        let matched = match entry {
            Some(e) => match live_clients
                .iter()
                .find(|c| Some(CLIENT.id_str(c)) == e.id.as_deref())
            {
                Some(c) => Some(c),
                None => {
                    let change =
                        b.create_client_change(key, Some(app_id), client, app.protect, true);
                    b.changes.push(change);
                    continue;
                }
            },
            None => adoption_candidate(
                live_clients
                    .iter()
                    .filter(|c| !claimed.contains(CLIENT.id_str(c))),
                (&address, "clients", &client.name),
                |c| CLIENT.key_str(c),
                |c| CLIENT.id_str(c),
            )?,
        };
        let Some(live_client) = matched else {
            let change = b.create_client_change(key, Some(app_id), client, app.protect, false);
            b.changes.push(change);
            continue;
        };
        let live_protocol = live_protocol(live_client);
        if live_protocol != client.protocol {
            return Err(PlanError::ProtocolChange {
                address: address.to_string(),
                live: live_protocol.to_string(),
                desired: client.protocol.to_string(),
            });
        }
        let client_id = CLIENT.id_str(live_client).to_owned();
        if client.is_default && !live_default.is_empty() && live_default != client_id {
            b.warnings.push(format!(
                "{address}: the manifest marks it as the default client, but the live default of application `{key}` is another client ({live_default}); the API has no way to change which client is the default"
            ));
        }
        b.matched(
            address,
            ObjectKind::Client(client.protocol),
            entry,
            live_client,
            &client.spec,
            &client.rules,
            app.protect,
            (Some(app_id.to_owned()), Some(client_id)),
        );
    }
    Ok(())
}

/// The one unclaimed live object named like the manifest object at `who.0` (adopted), none
/// (created), or an error naming every candidate when several share the name.
pub(super) fn adoption_candidate<'a, T>(
    unclaimed: impl Iterator<Item = &'a T>,
    who: (&Address, &'static str, &str),
    name_of: impl Fn(&T) -> &str,
    id_of: impl Fn(&T) -> &str,
) -> Result<Option<&'a T>, PlanError> {
    let (address, what, name) = who;
    let candidates: Vec<&T> = unclaimed.filter(|o| name_of(o) == name).collect();
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(PlanError::AmbiguousAdoption {
            address: address.to_string(),
            what,
            name: name.to_owned(),
            count: many.len(),
            ids: many.iter().map(|o| id_of(o)).collect::<Vec<_>>().join(", "),
        }),
    }
}
