//! Unfinished creates an interrupted run left in the journal: each is looked up by name first
//! (one match is recorded, several need a human), and sent again with its idempotency key only
//! when the lookup proves it absent and the target advertises deduplication. Runs before
//! planning, so a crash never turns into a duplicate.

use super::execute::{entry, record_app, CreateIntent, ExecuteError};
use crate::model::kinds::{APPLICATION, CLIENT};
use crate::state::entry::Address;
use crate::state::store::{StateError, StateStore};
use crate::targets::{Object, Target, TargetError, TargetErrorKind};

/// What happened to an unfinished create found in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentResolution {
    /// The object exists (found, or created now with the same idempotency key) and is recorded.
    Recorded(Address),
    /// It was never created; the plan will create it.
    Dropped(Address),
    /// More than one candidate: a human must choose (`tenantsync import`).
    Ambiguous(Address, String),
}

/// Finishes creates a previous run journaled but did not record. Each is first looked up by name
/// among live objects nobody manages: one match is recorded, several need a human. Only when the
/// lookup proves it absent is it sent again with its idempotency key, and only where the target
/// advertises deduplication (a list can lag right after a create); elsewhere the plan creates it
/// anew. Runs before planning, so a crash never turns into a duplicate.
pub async fn resolve_intents(
    target: &dyn Target,
    state: &StateStore,
) -> Result<Vec<IntentResolution>, ExecuteError> {
    let intents: Vec<(String, CreateIntent)> = state.journal_all()?;
    let mut out = Vec::new();
    if intents.is_empty() {
        return Ok(out);
    }
    let idempotent = target.honors_idempotency_keys().await;
    let mut lookup = Lookup::for_state(&*state.snapshot()?);
    for (key, intent) in intents {
        let resolution = resolve_one(target, state, &intent, idempotent, &mut lookup).await;
        match resolution {
            Ok(r) => {
                if !matches!(r, IntentResolution::Ambiguous(..)) {
                    state.journal_remove_pending(&key)?;
                }
                out.push(r);
            }
            Err(e) => {
                tracing::warn!(object = %intent.address, error = %e, "could not resolve an unfinished create; will retry next run");
            }
        }
    }
    state.flush()?;
    Ok(out)
}

/// What intent resolution has looked up so far: live lists are fetched once per run, and the
/// ids already mapped in the state (or recorded during this run) are never adopted twice.
#[derive(Default)]
pub(super) struct Lookup {
    claimed: std::collections::HashSet<String>,
    apps: Option<Vec<Object>>,
    clients: std::collections::HashMap<String, Vec<Object>>,
}

impl Lookup {
    /// Forgets the list fetched for `app_id`'s clients (or the applications'), so the next
    /// lookup lists again.
    fn forget(&mut self, app_id: Option<&str>) {
        match app_id {
            None => self.apps = None,
            Some(id) => {
                self.clients.remove(id);
            }
        }
    }

    /// A lookup that never adopts an object the state already maps.
    pub(super) fn for_state(snapshot: &crate::state::entry::StateSnapshot) -> Self {
        Self {
            claimed: snapshot
                .app_entries()
                .map(|(_, e)| e.server_id().to_owned())
                .collect(),
            ..Self::default()
        }
    }
}

/// What a lookup by name found.
pub(super) enum Found {
    /// Nothing unclaimed of that name.
    None,
    /// Exactly one (apps: read in full, with the default client's id where the API gives it).
    One(Object),
    /// Several: their ids.
    Many(String),
}

/// Looks up the object a create intent names among live objects nobody manages.
pub(super) async fn find_by_name(
    target: &dyn Target,
    intent: &CreateIntent,
    lookup: &mut Lookup,
) -> Result<Found, TargetError> {
    let candidates: &Vec<Object> = match &intent.app_id {
        None => {
            if lookup.apps.is_none() {
                lookup.apps = Some(target.list_apps().await?);
            }
            lookup.apps.as_ref().expect("fetched above")
        }
        Some(app_id) => {
            if !lookup.clients.contains_key(app_id) {
                let clients = target.list_clients(app_id).await?;
                lookup.clients.insert(app_id.clone(), clients);
            }
            &lookup.clients[app_id]
        }
    };
    let kind = match intent.app_id {
        None => &APPLICATION,
        Some(_) => &CLIENT,
    };
    let matches: Vec<Object> = candidates
        .iter()
        .filter(|o| kind.key_of(o) == Some(intent.name.as_str()))
        .filter(|o| !lookup.claimed.contains(&kind.id_of(o).unwrap_or_default()))
        .cloned()
        .collect();
    match matches.as_slice() {
        [] => Ok(Found::None),
        [one] => {
            let object = match &intent.app_id {
                None => {
                    let app_id = APPLICATION.id_of(one).unwrap_or_default();
                    let full = target
                        .get_app(&app_id)
                        .await?
                        .unwrap_or_else(|| one.clone());
                    // An application carries its default client's id.
                    lookup.claimed.extend(CLIENT.id_of(&full));
                    lookup.claimed.insert(app_id);
                    full
                }
                Some(_) => {
                    lookup.claimed.extend(CLIENT.id_of(one));
                    one.clone()
                }
            };
            Ok(Found::One(object))
        }
        many => Ok(Found::Many(
            many.iter()
                .filter_map(|o| kind.id_of(o))
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Records what an intent created, once found or re-sent.
async fn record_intent(
    target: &dyn Target,
    state: &StateStore,
    intent: &CreateIntent,
    object: &Object,
) -> Result<(), StateError> {
    match &intent.app_id {
        None => {
            record_app(
                target,
                state,
                (
                    &intent.address,
                    &intent.record,
                    intent.default_client.as_ref(),
                ),
                object,
            )
            .await?;
        }
        Some(app_id) => {
            state.put_pending(&entry(
                &intent.address,
                app_id,
                CLIENT.id_of(object),
                &intent.record,
            ))?;
        }
    }
    Ok(())
}

/// The pauses before each fresh list that must confirm an interrupted create's absence on a
/// target that cannot deduplicate its re-send (and a mapped object's that a list left out,
/// where its kind cannot be read by id: `gather`): three lists in all, over about a second.
pub(super) const ABSENCE_RECHECKS: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(250),
    std::time::Duration::from_millis(750),
];

async fn resolve_one(
    target: &dyn Target,
    state: &StateStore,
    intent: &CreateIntent,
    idempotent: bool,
    lookup: &mut Lookup,
) -> Result<IntentResolution, TargetError> {
    let address = intent.address.clone();
    let state_err = |e: StateError| TargetError::new(TargetErrorKind::Other, e.to_string());
    // Recorded already, unless the entry still maps the object this create replaced (it was
    // deleted outside tenantsync): then the new one is looked up like any other.
    if let Some(entry) = state.get(&address).map_err(state_err)? {
        if intent.replaces.as_deref() != Some(entry.server_id()) {
            return Ok(IntentResolution::Recorded(address));
        }
    }
    let mut found = match find_by_name(target, intent, lookup).await {
        // The application a client was created in is gone, and every client with it.
        Err(e) if e.kind == TargetErrorKind::NotFound && intent.app_id.is_some() => {
            return Ok(IntentResolution::Dropped(address));
        }
        found => found?,
    };
    let resendable = idempotent && intent.body.is_some();
    // Not found, and what is dropped is created anew, a second object if the list lagged
    // (right after a create, or leaving an item out): absence must hold at fresh lists, a
    // little apart, before it is believed.
    for pause in ABSENCE_RECHECKS {
        if !matches!(found, Found::None) || resendable {
            break;
        }
        tokio::time::sleep(pause).await;
        lookup.forget(intent.app_id.as_deref());
        found = find_by_name(target, intent, lookup).await?;
    }
    match found {
        Found::One(object) => {
            record_intent(target, state, intent, &object)
                .await
                .map_err(state_err)?;
            return Ok(IntentResolution::Recorded(address));
        }
        Found::Many(ids) => return Ok(IntentResolution::Ambiguous(address, ids)),
        Found::None => {}
    }
    let (true, Some(body)) = (idempotent, &intent.body) else {
        return Ok(IntentResolution::Dropped(address));
    };
    let created = match &intent.app_id {
        None => target.create_app(body, &intent.idempotency_key).await,
        Some(app_id) => {
            target
                .create_client(app_id, body, &intent.idempotency_key)
                .await
        }
    };
    match created {
        Ok(object) => {
            record_intent(target, state, intent, &object)
                .await
                .map_err(state_err)?;
            lookup.claimed.extend(
                APPLICATION
                    .id_of(&object)
                    .filter(|_| intent.app_id.is_none()),
            );
            lookup.claimed.extend(CLIENT.id_of(&object));
            Ok(IntentResolution::Recorded(address))
        }
        // Refused for good: what the plan would create anew is refused alike.
        Err(e) if e.certainly_not_applied() && e.kind != TargetErrorKind::RateLimited => {
            Ok(IntentResolution::Dropped(address))
        }
        // A 429 says nothing of the first attempt (it may have been applied and the lookup's
        // list lagged): the intent stays, and is resolved again next run.
        Err(e) => Err(e),
    }
}
