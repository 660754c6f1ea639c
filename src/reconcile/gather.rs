//! Observing the target for a plan: one list of applications, then the clients of only the
//! applications the plan may touch (mapped in the state, or adoptable by name), concurrently.
//!
//! A list is never taken as proof that something is gone: an object the state maps to an id that
//! a list leaves out is looked up by id (or, for a kind upstream does not read one by one, its
//! collection listed again until three lists agree), and only then may the planner treat it as
//! deleted outside tenantsync (a token that sees only some apps, or a lagging list, must not turn
//! into duplicates, nor a pruned object into one left live and unmanaged).
//!
//! `plan --refresh changed` reads instead exactly the [`ReadSet`] the pure selection chose
//! ([`observe_read_set`]): each of its applications by id with its client list, and the list of
//! applications only when a new application may be adopted by name.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use serde_json::Value;

use crate::manifest::DesiredState;
use crate::model::kinds::{AnyKind, ObjKind, APPLICATION, CLIENT};
use crate::model::ClientKey;
use crate::plan::{
    apps_needing_clients, gone_apps, known_app_ids, managed_fields, trim_live, LiveObject,
    LiveObjects, Observed, ReadSet,
};
use crate::state::entry::{StateEntry, StateSnapshot};
use crate::targets::{JsonObject, Target, TargetError, TargetErrorKind};

fn id(object: &JsonObject, field: &str) -> String {
    object
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Reads what the planner needs: `1 + (apps needing clients)` requests, plus one GET per app
/// whose `logo` is managed (the list form omits it), plus one GET per mapped object a list left
/// out.
pub async fn observe(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    cascades: &Collections,
    concurrency: usize,
) -> Result<Observed, TargetError> {
    let listed = target.list_apps().await?;
    let listed_ids: BTreeSet<String> = listed
        .iter()
        .map(|a| id(a, APPLICATION.id_field()))
        .collect();
    let mapped_apps: BTreeSet<&str> = state
        .app_entries()
        .filter(|(a, _)| a.kind == AnyKind::Application)
        .map(|(_, e)| e.application_id())
        .filter(|app_id| !listed_ids.contains(*app_id))
        .collect();
    let unlisted: Vec<JsonObject> = stream::iter(mapped_apps)
        .map(|app_id| target.get_app(app_id))
        .buffered(concurrency.max(1))
        .try_collect::<Vec<Option<JsonObject>>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let unlisted_ids: BTreeSet<String> = unlisted
        .iter()
        .map(|a| id(a, APPLICATION.id_field()))
        .collect();
    let apps: Vec<JsonObject> = listed.into_iter().chain(unlisted).collect();

    let need = apps_needing_clients(desired, state, &apps);
    let (app_fields, client_fields) = managed_fields(desired, state);
    let (app_fields, client_fields) = (&app_fields, &client_fields);
    let mapped_clients = &mapped_clients(state.app_entries().map(|(_, e)| e));
    let logo_managed: BTreeSet<&str> = state
        .app_entries()
        .filter(|(a, e)| a.kind == AnyKind::Application && e.last_applied.contains_key("logo"))
        .map(|(_, e)| e.application_id())
        .collect();
    let logo_desired: BTreeSet<&str> = desired
        .apps()
        .filter(|a| a.spec.contains_key("logo"))
        .map(|a| a.app_name())
        .collect();
    let fetched: Vec<ReadApp> = stream::iter(apps.into_iter().map(|app| {
        let app_id = id(&app, APPLICATION.id_field());
        let name = id(&app, APPLICATION.key_field());
        let was_unlisted = unlisted_ids.contains(&app_id);
        let wants_clients = need.contains(&app_id);
        let wants_logo = wants_clients
            && !was_unlisted
            && (logo_managed.contains(app_id.as_str()) || logo_desired.contains(name.as_str()));
        async move {
            let clients = if wants_clients {
                let clients = observe_clients(target, &app_id, mapped_clients).await?;
                Some(
                    clients
                        .into_iter()
                        .map(|c| trim_live(c, client_fields))
                        .collect(),
                )
            } else {
                None
            };
            let app = if wants_logo {
                target.get_app(&app_id).await?.unwrap_or(app)
            } else {
                app
            };
            Ok::<_, TargetError>((trim_live(app, app_fields), clients, was_unlisted))
        }
    }))
    .buffered(concurrency.max(1))
    .try_collect()
    .await?;
    with_objects(target, desired, state, fetched, None, cascades, concurrency).await
}

/// A live application read: the app, its clients when read, and whether the list of
/// applications left it out.
type ReadApp = (JsonObject, Option<Vec<JsonObject>>, bool);

/// The clients of one app: the list, plus every client the state maps in this app that the list
/// left out and a lookup by id still finds.
async fn observe_clients(
    target: &dyn Target,
    app_id: &str,
    mapped: &BTreeMap<&str, Vec<&str>>,
) -> Result<Vec<JsonObject>, TargetError> {
    let mut clients = target.list_clients(app_id).await?;
    let listed: BTreeSet<String> = clients.iter().map(|c| id(c, CLIENT.id_field())).collect();
    for client_id in mapped.get(app_id).into_iter().flatten() {
        if listed.contains(*client_id) {
            continue;
        }
        if let Some(found) = target.get_client(ClientKey::new(app_id, client_id)).await? {
            tracing::warn!(
                app_id,
                client_id,
                "a managed client is missing from the list of clients but exists"
            );
            clients.push(found);
        }
    }
    Ok(clients)
}

/// Reads exactly `read`: `2 × (its applications)` requests (a GET by id, then the client list,
/// plus the lookups by id of mapped clients a list leaves out), and when it names new
/// applications one list of applications plus the client list of each unmapped live
/// application named like one of them (a candidate for adoption). A mapped application a GET
/// does not find is left out: the planner takes it as deleted outside tenantsync, as a full read
/// would after its lookup by id. Of the described kinds, one request per collection it names.
/// A collection answering 404 whose application `read` did not read: that application is
/// looked up by id, and when it is gone too, `read` grows by it (the planner creates it again
/// with its objects, as a full read would).
pub async fn observe_read_set(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    read: &mut ReadSet,
    cascades: &Collections,
    concurrency: usize,
) -> Result<Observed, TargetError> {
    let claimed: BTreeSet<&str> = state
        .app_entries()
        .map(|(_, e)| e.application_id())
        .collect();
    let candidates: Vec<JsonObject> = if read.needs_list() {
        target
            .list_apps()
            .await?
            .into_iter()
            .filter(|a| {
                !claimed.contains(id(a, APPLICATION.id_field()).as_str())
                    && read.adopts_application(&id(a, APPLICATION.key_field()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let (app_fields, client_fields) = managed_fields(desired, state);
    let (app_fields, client_fields) = (&app_fields, &client_fields);
    let mapped_clients = &mapped_clients(
        state
            .app_entries()
            .map(|(_, e)| e)
            .filter(|e| read.reads(e)),
    );
    let by_id = read.app_ids().map(|app_id| target.get_app(app_id));
    let mut apps: Vec<JsonObject> = stream::iter(by_id)
        .buffered(concurrency.max(1))
        .try_collect::<Vec<Option<JsonObject>>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    apps.extend(candidates);
    let fetched: Vec<ReadApp> = stream::iter(apps.into_iter().map(|app| async move {
        let app_id = id(&app, APPLICATION.id_field());
        // One answered without its id cannot be asked for its clients: the planner refuses
        // to adopt it (`PlanError::UnidentifiedLive`).
        let clients = match app_id.as_str() {
            "" => None,
            app_id => Some(observe_clients(target, app_id, mapped_clients).await?),
        };
        let clients = clients.map(|clients| {
            clients
                .into_iter()
                .map(|c| trim_live(c, client_fields))
                .collect()
        });
        Ok::<_, TargetError>((trim_live(app, app_fields), clients, false))
    }))
    .buffered(concurrency.max(1))
    .try_collect()
    .await?;
    let observed = with_objects(
        target,
        desired,
        state,
        fetched,
        Some(read),
        cascades,
        concurrency,
    )
    .await?;
    let mapped: BTreeSet<&str> = state
        .app_entries()
        .filter(|(a, _)| a.kind == AnyKind::Application)
        .map(|(_, e)| e.application_id())
        .collect();
    for app_id in &observed.objects.missing_parents {
        if read.reads_application(app_id) || !mapped.contains(app_id.as_str()) {
            continue;
        }
        if target.get_app(app_id).await?.is_none() {
            tracing::warn!(
                app_id,
                "a managed application is gone: its collections answer 404"
            );
            // Read (and gone), with every collection of it the state knows: its objects are
            // planned, none counted as not refreshed.
            let gone = BTreeSet::from([app_id.clone()]);
            *read = std::mem::take(read).with_slice(&gone, false, state);
        }
    }
    Ok(observed)
}

/// The live applications read, with the described kinds' collections they imply (of those,
/// only the ones `read` names, when given: a `--refresh changed` read set's).
async fn with_objects(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    apps: Vec<ReadApp>,
    read: Option<&ReadSet>,
    cascades: &Collections,
    concurrency: usize,
) -> Result<Observed, TargetError> {
    let mut observed = Observed::default();
    if read.is_none() {
        // Every application was listed (a `--refresh changed` read reads some by id).
        observed.objects.read.insert((AnyKind::Application, None));
    }
    for (app, clients, unlisted) in apps {
        observed.push_app(app, clients, unlisted);
    }
    let described = observe_objects(
        target,
        desired,
        state,
        &observed,
        read,
        cascades,
        concurrency,
    )
    .await?;
    observed.objects.extend(described);
    Ok(observed)
}

/// Collections of the described kinds: the kind, and the application's id for a parented kind.
pub type Collections = BTreeSet<(ObjKind, Option<String>)>;

/// Reads the collections of the described kinds the plan needs: one list per parentless kind
/// the manifests or the state use, and one list (or the one object) per application for a
/// parented kind, only for the applications whose objects of that kind are managed or desired
/// (and of those, with `read`, the collections it names). None of an application that was read
/// and is gone: its objects went with it.
async fn observe_objects(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
    cascades: &Collections,
    concurrency: usize,
) -> Result<LiveObjects, TargetError> {
    let gone = gone_apps(state, observed, read);
    let app_ids = known_app_ids(desired, state, observed, &gone);
    let mut wanted: BTreeSet<(ObjKind, Option<String>)> = BTreeSet::new();
    let addresses = desired
        .objects
        .keys()
        .map(|a| (a, None))
        .chain(state.object_entries().map(|(a, e)| (a, e.app_id.clone())));
    for (address, recorded_app_id) in addresses {
        let Some(kind) = address.described() else {
            continue;
        };
        let app_id = match &address.app {
            None => None,
            Some(app) => match app_ids.get(app).cloned().or(recorded_app_id) {
                Some(id) => Some(id),
                None => continue, // its application is created by this plan: nothing to read
            },
        };
        wanted.insert((kind, app_id));
    }
    // What an application the plan may delete takes with it upstream (its hand-made roles need
    // --allow-cascade like its hand-made clients). Read only for that: a credential that may
    // not read them leaves them unread (the plan says so), it does not fail the plan.
    let extra: Collections = cascades.difference(&wanted).cloned().collect();
    wanted.extend(extra.iter().cloned());
    wanted.retain(|(_, app_id)| !app_id.as_deref().is_some_and(|id| gone.contains(id)));
    if let Some(only) = read {
        // Besides the read set's, the collections of applications this plan adopts by name
        // (the read set could not know their ids): their objects may exist already.
        let mapped: BTreeSet<&str> = state
            .app_entries()
            .map(|(_, e)| e.application_id())
            .collect();
        wanted.retain(|collection| {
            only.lists(AnyKind::Described(collection.0), collection.1.as_deref())
                || collection
                    .1
                    .as_deref()
                    .is_some_and(|app_id| !mapped.contains(app_id))
        });
    }
    let extra = &extra;
    let reads = wanted.into_iter().map(|(kind, app_id)| async move {
        let answer = match target.list_objects(kind.into(), app_id.as_deref()).await {
            Ok(objects) => Answer::Listed(objects),
            // The application is gone: its objects went with it.
            Err(e) if e.kind == TargetErrorKind::NotFound && app_id.is_some() => Answer::Missing,
            Err(e)
                if e.kind == TargetErrorKind::Forbidden
                    && extra.contains(&(kind, app_id.clone())) =>
            {
                Answer::Refused
            }
            Err(e) => return Err(e),
        };
        Ok((kind, app_id, answer))
    });
    let results: Vec<_> = stream::iter(reads)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut live = LiveObjects::default();
    for (kind, app_id, answer) in results {
        let objects = match answer {
            Answer::Listed(objects) => objects,
            Answer::Refused => {
                live.refused.insert((kind.into(), app_id));
                continue;
            }
            Answer::Missing => {
                live.missing_parents.extend(app_id);
                continue;
            }
        };
        live.read.insert((kind.into(), app_id.clone()));
        live.objects.entry(kind.into()).or_default().extend(
            objects
                .into_iter()
                .map(|object| LiveObject::listed(app_id.clone(), object)),
        );
    }
    confirm_absences(target, state, &mut live).await?;
    Ok(live)
}

/// What listing one collection answered.
enum Answer {
    Listed(Vec<JsonObject>),
    /// 403, for a collection read only to know what deleting its application takes.
    Refused,
    /// 404: its application is gone.
    Missing,
}

/// An object the state maps (its kind, its application's id, its own id).
type Mapped = (AnyKind, Option<String>, String);

/// The objects the state maps whose collection was read but left them out (one pass over
/// the lists, one over the state).
fn unlisted(state: &StateSnapshot, live: &LiveObjects) -> Vec<Mapped> {
    let listed: BTreeSet<(AnyKind, Option<&str>, String)> = live
        .objects
        .iter()
        .flat_map(|(kind, objects)| {
            let spec = kind.spec();
            objects
                .iter()
                .filter_map(move |o| Some((*kind, o.app_id.as_deref(), spec.id_of(&o.object)?)))
        })
        .collect();
    state
        .object_entries()
        .filter_map(|(address, entry)| {
            let id = entry.id.as_deref()?;
            let app = match address.kind.spec().parent {
                Some(_) => Some(entry.app_id.as_deref()?),
                None => None,
            };
            (live.was_read(address.kind, app)
                && !listed.contains(&(address.kind, app, id.to_owned())))
            .then(|| (address.kind, app.map(str::to_owned), id.to_owned()))
        })
        .collect()
}

/// A list is never proof that an object the state maps is gone (it may lag, or leave one out),
/// for the described kinds as for applications: each one a read collection left out is read by
/// id where its kind can be (`Api::read_one`); a collection of another kind that left one out
/// is listed again, after the same pauses as an interrupted create's absence check, until the
/// object shows up or three lists in all agree it is gone. Costs nothing when every list shows
/// what the state maps.
async fn confirm_absences(
    target: &dyn Target,
    state: &StateSnapshot,
    live: &mut LiveObjects,
) -> Result<(), TargetError> {
    let found = |live: &mut LiveObjects, kind: AnyKind, app_id: Option<String>, object| {
        live.objects.entry(kind).or_default().push(LiveObject {
            app_id,
            object,
            unlisted: true,
        });
    };
    let mut missing = unlisted(state, live);
    let (one_by_one, listed): (Vec<Mapped>, Vec<Mapped>) = missing
        .drain(..)
        .partition(|(kind, _, _)| kind.spec().api.read_one);
    for (kind, app_id, id) in one_by_one {
        let read = target.get(kind, app_id.as_deref(), &id).await;
        match read {
            Ok(Some(object)) => found(live, kind, app_id, object),
            Ok(None) => {}
            Err(e) if e.kind == TargetErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut missing = listed;
    for pause in super::intents::ABSENCE_RECHECKS {
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        let collections: BTreeSet<(AnyKind, Option<String>)> = missing
            .iter()
            .map(|(kind, app_id, _)| (*kind, app_id.clone()))
            .collect();
        for (kind, app_id) in collections {
            let spec = kind.spec();
            for object in target.list_objects(kind, app_id.as_deref()).await? {
                let id = spec.id_of(&object);
                if let Some(at) = missing
                    .iter()
                    .position(|(k, a, i)| (*k, a, Some(i)) == (kind, &app_id, id.as_ref()))
                {
                    missing.remove(at);
                    found(live, kind, app_id.clone(), object);
                }
            }
        }
    }
    Ok(())
}

/// The client ids the state maps, by application id.
fn mapped_clients<'a>(
    entries: impl Iterator<Item = &'a StateEntry>,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut mapped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in entries {
        if let Some(client_id) = e.id.as_deref() {
            mapped
                .entry(e.application_id())
                .or_default()
                .push(client_id);
        }
    }
    mapped
}
