//! One application's clients in a plan: each desired client found among its live clients
//! (`identify`: by the state's id, else adopted by name), created, or refused when its
//! protocol would change.

use std::collections::{BTreeMap, BTreeSet};

use super::bodies::str_field;
use super::diff::Subject;
use super::fields::ObjectKind;
use super::identify::{LiveSet, Mapping};
use super::matched::Matched;
use super::{Builder, LiveApp, PlanError};
use crate::manifest::{DesiredObject, DesiredState};
use crate::model::kinds::{CLIENT, DEFAULT_CLIENT_FIELD};
use crate::model::AuthenticationProtocol;

pub(super) fn plan_clients(
    b: &mut Builder<'_>,
    desired: &DesiredState,
    app: &DesiredObject,
    live: &LiveApp,
    app_id: &str,
    claimed_clients: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<(), PlanError> {
    let mut live_clients = LiveSet::new(&CLIENT, live.clients.iter().flatten());
    let no_claims = BTreeSet::new();
    let claimed = claimed_clients.get(app_id).unwrap_or(&no_claims);
    let live_default = str_field(live.app, DEFAULT_CLIENT_FIELD).to_owned();
    let key = &app.name;
    for (client, facts) in desired.clients(key) {
        let address = client.address.clone();
        let entry = b.state.entry(&address);
        let identity = live_clients.identify(&address, Mapping::of(entry), &client.name, |id| {
            claimed.contains(id)
        })?;
        // None live: created (again, when the state holds its entry).
        let Some((live_client, entry)) = identity.found(entry) else {
            let change = b.create_client_change(Some(app_id), (client, facts), entry);
            b.part.changes.push(change);
            continue;
        };
        let live_protocol = AuthenticationProtocol::of(live_client);
        if live_protocol != facts.protocol {
            return Err(PlanError::ProtocolChange {
                address: address.to_string(),
                live: live_protocol.to_string(),
                desired: facts.protocol.to_string(),
            });
        }
        let client_id = CLIENT.id_str(live_client).to_owned();
        if facts.is_default && !live_default.is_empty() && live_default != client_id {
            b.part.warnings.push(format!(
                "{address}: the manifest marks it as the default client, but the live default of application `{key}` is another client ({live_default}); the API has no way to change which client is the default"
            ));
        }
        let kind = ObjectKind::Client(facts.protocol);
        let record = b.matched_record(kind, entry, (&client.spec, &client.rules), client.protect);
        b.matched(Matched {
            name: address.to_string(),
            address,
            subject: Subject::catalogue(kind),
            entry,
            replaces: None,
            live: live_client,
            spec: &client.spec,
            rules: &client.rules,
            record,
            app_id: Some(app_id.to_owned()),
            id: Some(client_id),
        });
    }
    Ok(())
}
