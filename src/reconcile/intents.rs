//! Unfinished creates an interrupted run left in the journal: each is looked up by name first
//! (one match is recorded, several need a human), and sent again with its idempotency key only
//! when the lookup proves it absent, the target advertises deduplication and the manifests
//! still ask for it. Runs before planning, so a crash never turns into a duplicate, nor into
//! an object nobody asks for any more.

use std::collections::{HashMap, HashSet};

use super::execute::{record_created, CreateIntent, ExecuteError};
use crate::model::kinds::{AnyKind, CLIENT};
use crate::state::address::Address;
use crate::state::store::{StateError, StateStore};
use crate::targets::{JsonObject, Target, TargetError, TargetErrorKind};

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
    wanted: &(dyn Fn(&Address) -> bool + Sync),
) -> Result<Vec<IntentResolution>, ExecuteError> {
    let intents: Vec<(String, CreateIntent)> = state.journal_all()?;
    let mut out = Vec::new();
    if intents.is_empty() {
        return Ok(out);
    }
    let idempotent = target.honors_idempotency_keys().await;
    let mut lookup = Lookup::for_state(&*state.snapshot()?);
    for (key, intent) in intents {
        // A create the manifests no longer ask for is never sent again: found live, it is
        // recorded (the plan then deletes or keeps it, as for any object that left them);
        // absent, dropped.
        let resend = idempotent && wanted(&intent.address);
        let resolution = resolve_one(target, state, &intent, resend, &mut lookup).await;
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

/// What intent resolution has looked up so far: live lists are fetched once per run (one per
/// kind and application), and the ids already mapped in the state (or recorded during this
/// run) are never adopted twice.
#[derive(Default)]
pub(super) struct Lookup {
    claimed: HashSet<String>,
    lists: HashMap<(AnyKind, Option<String>), Vec<JsonObject>>,
}

impl Lookup {
    /// Forgets the list fetched of `kind` (in application `app_id`), so the next lookup lists
    /// again.
    fn forget(&mut self, kind: AnyKind, app_id: Option<&str>) {
        self.lists.remove(&(kind, app_id.map(str::to_owned)));
    }

    /// A lookup that never adopts an object the state already maps (by its own id: a
    /// singleton's entry holds none, only its application's).
    pub(super) fn for_state(snapshot: &crate::state::entry::StateSnapshot) -> Self {
        let apps = snapshot.app_entries().map(|(_, e)| e.server_id());
        let objects = snapshot
            .object_entries()
            .filter_map(|(_, e)| e.id.as_deref());
        Self {
            claimed: apps
                .chain(objects)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
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
    One(JsonObject),
    /// Several: their ids.
    Many(String),
}

/// Looks up the object a create intent names, by its natural key, among live objects of its
/// kind nobody manages.
pub(super) async fn find_by_name(
    target: &dyn Target,
    intent: &CreateIntent,
    lookup: &mut Lookup,
) -> Result<Found, TargetError> {
    let kind = intent.address.kind;
    let spec = kind.spec();
    let list = (kind, intent.app_id.clone());
    if !lookup.lists.contains_key(&list) {
        let listed = target.list(kind, intent.app_id.as_deref()).await?;
        lookup.lists.insert(list.clone(), listed);
    }
    let matches: Vec<JsonObject> = lookup.lists[&list]
        .iter()
        .filter(|o| spec.key_of(o) == Some(intent.name.as_str()))
        .filter(|o| !lookup.claimed.contains(&spec.id_of(o).unwrap_or_default()))
        .cloned()
        .collect();
    match matches.as_slice() {
        [] => Ok(Found::None),
        [one] => {
            let id = spec.id_of(one);
            // An application is read in full: it carries its default client's id (which the
            // list form may leave out), claimed with it.
            let object = match (kind, &id) {
                (AnyKind::Application, Some(id)) => {
                    let full = target.get(kind, None, id).await?;
                    let full = full.unwrap_or_else(|| one.clone());
                    lookup.claimed.extend(CLIENT.id_of(&full));
                    full
                }
                _ => one.clone(),
            };
            lookup.claimed.extend(id);
            Ok(Found::One(object))
        }
        many => Ok(Found::Many(
            many.iter()
                .filter_map(|o| spec.id_of(o))
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
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
    resend: bool,
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
    let resendable = resend && intent.body.is_some();
    // Not found, and what is dropped is created anew, a second object if the list lagged
    // (right after a create, or leaving an item out): absence must hold at fresh lists, a
    // little apart, before it is believed.
    for pause in ABSENCE_RECHECKS {
        if !matches!(found, Found::None) || resendable {
            break;
        }
        tokio::time::sleep(pause).await;
        lookup.forget(intent.address.kind, intent.app_id.as_deref());
        found = find_by_name(target, intent, lookup).await?;
    }
    match found {
        Found::One(object) => {
            record_created(target, state, intent, &object)
                .await
                .map_err(state_err)?;
            return Ok(IntentResolution::Recorded(address));
        }
        Found::Many(ids) => return Ok(IntentResolution::Ambiguous(address, ids)),
        Found::None => {}
    }
    let (true, Some(body)) = (resend, &intent.body) else {
        return Ok(IntentResolution::Dropped(address));
    };
    let kind = intent.address.kind;
    let created = target
        .create(
            kind,
            intent.app_id.as_deref(),
            body,
            &intent.idempotency_key,
        )
        .await;
    match created {
        Ok(object) => {
            record_created(target, state, intent, &object)
                .await
                .map_err(state_err)?;
            lookup.claimed.extend(kind.spec().id_of(&object));
            // An application is created with its default client.
            if kind == AnyKind::Application {
                lookup.claimed.extend(CLIENT.id_of(&object));
            }
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
