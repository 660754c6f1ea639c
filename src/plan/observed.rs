//! What the planner reads of the live tenant: the collections read and their objects, of
//! every kind (applications and clients trimmed to the fields it compares), a view of each
//! application with its clients, and which applications it needs the clients of.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::manifest::{DesiredObject, DesiredState};
use crate::model::kinds::{
    AnyKind, APPLICATION, CLIENT, DEFAULT_CLIENT_FIELD, PROTOCOL_FIELD, REFERENCES,
};
use crate::state::entry::StateSnapshot;

/// Trims a live object to `keep` (plus identity fields: ids, natural keys, the default
/// client's id, the protocol). Observing thousands of objects then holds only what planning
/// reads.
pub fn trim_live(object: Map<String, Value>, keep: &BTreeSet<String>) -> Map<String, Value> {
    let identity = [
        APPLICATION.id_field(),
        APPLICATION.key_field(),
        DEFAULT_CLIENT_FIELD,
        CLIENT.id_field(),
        CLIENT.key_field(),
        PROTOCOL_FIELD,
    ];
    object
        .into_iter()
        .filter(|(k, _)| keep.contains(k) || identity.contains(&k.as_str()))
        .collect()
}

/// The top-level fields the planner compares for apps and for clients: everything any desired
/// object sets or any state entry last applied.
pub fn managed_fields(
    desired: &DesiredState,
    state: &StateSnapshot,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut apps: BTreeSet<String> = BTreeSet::new();
    let mut clients: BTreeSet<String> = BTreeSet::new();
    for (address, o) in desired.each().take_while(|(a, _)| a.is_app()) {
        let set = match address.kind {
            AnyKind::Client => &mut clients,
            _ => &mut apps,
        };
        set.extend(o.spec.keys().cloned());
        set.extend(o.refs.keys().map(|f| (*f).to_owned()));
    }
    for (address, e) in state.app_entries() {
        let set = match address.kind {
            AnyKind::Client => &mut clients,
            _ => &mut apps,
        };
        set.extend(e.last_applied.keys().cloned());
    }
    // What names an object upstream will not delete while named: a deletion's plan notes
    // every live application and client read that still names it, managed or not
    // (`plan::in_use`).
    for reference in REFERENCES
        .iter()
        .filter(|r| r.target.spec().in_use.is_some())
    {
        match reference.holder {
            AnyKind::Application => apps.insert(reference.field.to_owned()),
            AnyKind::Client => clients.insert(reference.field.to_owned()),
            AnyKind::Described(_) => false,
        };
    }
    (apps, clients)
}

/// A live application and (when they were read) its clients: the view of [`Observed`] that
/// planning applications reads ([`Observed::apps`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveApp<'a> {
    /// The app as the API returns it.
    pub app: &'a Map<String, Value>,
    /// Its clients, when read.
    pub clients: Option<Vec<&'a Map<String, Value>>>,
    /// Found by id although the list of applications left it out (a token that sees only some
    /// apps, a lagging list): it exists, and is planned like any other.
    pub unlisted: bool,
}

impl LiveApp<'_> {
    /// The app id.
    pub fn id(&self) -> &str {
        APPLICATION.id_str(self.app)
    }
}

/// What was observed on the target: the collections of every kind that were read, and their
/// objects (applications, their clients, the described kinds').
///
/// The planner takes an object the state maps to an id as deleted outside tenantsync when it is
/// not here. Whoever observes must therefore have confirmed that (a lookup by id answered "not
/// found") for every mapped id a list left out, as `reconcile::gather` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// The collections read, and their objects.
    pub objects: LiveObjects,
}

impl Observed {
    /// Records a live application (`unlisted`: found by id, the list left it out) and, when
    /// they were read, its clients (their collection is then read).
    pub fn push_app(
        &mut self,
        app: Map<String, Value>,
        clients: Option<Vec<Map<String, Value>>>,
        unlisted: bool,
    ) {
        let live = &mut self.objects;
        let app_id = APPLICATION.id_str(&app).to_owned();
        // A list that names one application twice (paged while the tenant changed) read its
        // clients twice: they are its clients once.
        let read_before = live.read.contains(&(AnyKind::Client, Some(app_id.clone())));
        if let Some(clients) = clients.filter(|_| !read_before) {
            live.read.insert((AnyKind::Client, Some(app_id.clone())));
            live.objects.entry(AnyKind::Client).or_default().extend(
                clients
                    .into_iter()
                    .map(|object| LiveObject::listed(Some(app_id.clone()), object)),
            );
        }
        live.objects
            .entry(AnyKind::Application)
            .or_default()
            .push(LiveObject {
                app_id: None,
                object: app,
                unlisted,
            });
    }

    /// The live applications, each with its clients when they were read, in the order they
    /// were recorded.
    pub fn apps(&self) -> Vec<LiveApp<'_>> {
        let live = &self.objects;
        let mut clients: HashMap<&str, Vec<&Map<String, Value>>> = HashMap::new();
        for c in live.of(AnyKind::Client, None) {
            clients
                .entry(c.app_id.as_deref().unwrap_or_default())
                .or_default()
                .push(&c.object);
        }
        live.of(AnyKind::Application, None)
            .map(|a| {
                let id = APPLICATION.id_str(&a.object);
                LiveApp {
                    app: &a.object,
                    clients: live
                        .was_read(AnyKind::Client, Some(id))
                        .then(|| clients.get(id).cloned().unwrap_or_default()),
                    unlisted: a.unlisted,
                }
            })
            .collect()
    }

    /// The ids of the live applications.
    pub fn app_ids(&self) -> impl Iterator<Item = &str> {
        self.objects
            .of(AnyKind::Application, None)
            .map(|a| APPLICATION.id_str(&a.object))
    }
}

/// Which live apps the planner needs the clients of: those the state maps to a key, and those a
/// desired app may adopt by name. Everything else is none of tenantsync's business.
pub fn apps_needing_clients(
    desired: &DesiredState,
    state: &StateSnapshot,
    apps: &[Map<String, Value>],
) -> BTreeSet<String> {
    let names: BTreeSet<&str> = desired.apps().map(DesiredObject::app_name).collect();
    let claimed: BTreeSet<&str> = state
        .app_entries()
        .map(|(_, e)| e.application_id())
        .collect();
    apps.iter()
        .filter_map(|a| {
            let id = APPLICATION.id_of(a)?;
            let name = APPLICATION.key_str(a);
            (claimed.contains(id.as_str()) || names.contains(name)).then_some(id)
        })
        .collect()
}

/// A live object of any kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveObject {
    /// Its application's id (parented kinds).
    pub app_id: Option<String>,
    /// As the API returns it.
    pub object: Map<String, Value>,
    /// Found by id although the list of its collection left it out.
    pub unlisted: bool,
}

impl LiveObject {
    /// An object its collection's list answered (of application `app_id`, for a parented
    /// kind).
    pub fn listed(app_id: Option<String>, object: Map<String, Value>) -> Self {
        Self {
            app_id,
            object,
            unlisted: false,
        }
    }
}

/// What was read of the tenant: the collections read (kind, and application id for a parented
/// kind), and their objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveObjects {
    /// The collections read.
    pub read: BTreeSet<(AnyKind, Option<String>)>,
    /// The collections the credential may not read, of those read only to know what deleting
    /// an application takes with it (its roles and role groups).
    pub refused: BTreeSet<(AnyKind, Option<String>)>,
    /// Their objects, by kind.
    pub objects: BTreeMap<AnyKind, Vec<LiveObject>>,
    /// The applications a collection of which answered 404 (gone since they were listed, or
    /// not read at all under `--refresh changed`: the gather then looks them up by id). Their
    /// objects in a collection not read are neither planned nor taken as gone; a plan whose
    /// application was found says so.
    pub missing_parents: BTreeSet<String>,
}

impl LiveObjects {
    /// Adds what `other` read.
    pub fn extend(&mut self, other: LiveObjects) {
        self.read.extend(other.read);
        self.refused.extend(other.refused);
        for (kind, objects) in other.objects {
            self.objects.entry(kind).or_default().extend(objects);
        }
        self.missing_parents.extend(other.missing_parents);
    }

    /// The live objects of `kind` (of application `app_id`).
    pub(super) fn of<'a>(
        &'a self,
        kind: impl Into<AnyKind>,
        app_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a LiveObject> {
        self.objects
            .get(&kind.into())
            .into_iter()
            .flatten()
            .filter(move |o| app_id.is_none() || o.app_id.as_deref() == app_id)
    }

    /// Whether `kind`'s collection (of `app_id`) was read.
    pub fn was_read(&self, kind: impl Into<AnyKind>, app_id: Option<&str>) -> bool {
        self.read
            .contains(&(kind.into(), app_id.map(str::to_owned)))
    }

    /// The live object `entry` maps to, if listed.
    pub(super) fn mapped<'a>(
        &'a self,
        kind: impl Into<AnyKind>,
        app_id: Option<&'a str>,
        id: Option<&str>,
    ) -> Option<&'a LiveObject> {
        let kind = kind.into();
        let spec = kind.spec();
        self.of(kind, app_id).find(|o| match spec.api.id_field {
            Some(_) => spec.id_of(&o.object).as_deref() == id,
            None => true,
        })
    }

    /// The live objects whose natural key is `key`.
    pub(super) fn by_key<'a>(
        &'a self,
        kind: impl Into<AnyKind>,
        app_id: Option<&'a str>,
        key: &str,
    ) -> Vec<&'a LiveObject> {
        let kind = kind.into();
        let spec = kind.spec();
        self.of(kind, app_id)
            .filter(|o| spec.key_of(&o.object) == Some(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn each_application_has_its_own_clients_once_and_none_when_unread() {
        let mut observed = Observed::default();
        let shop = map(json!({"app_id": "A1", "app_name": "Shop"}));
        let web = map(json!({"client_id": "C1", "name": "Web"}));
        observed.push_app(shop.clone(), Some(vec![web.clone()]), false);
        observed.push_app(map(json!({"app_id": "A2", "app_name": "Blog"})), None, true);
        // A list that named Shop twice: its clients were read twice.
        observed.push_app(shop, Some(vec![web.clone()]), false);
        let apps = observed.apps();
        let shown: Vec<(&str, Option<usize>, bool)> = apps
            .iter()
            .map(|a| (a.id(), a.clients.as_ref().map(Vec::len), a.unlisted))
            .collect();
        assert_eq!(
            shown,
            [
                ("A1", Some(1), false),
                ("A2", None, true),
                ("A1", Some(1), false)
            ]
        );
        assert_eq!(apps[0].clients.as_ref().unwrap()[0], &web);
        assert_eq!(observed.app_ids().collect::<Vec<_>>(), ["A1", "A2", "A1"]);
        assert!(observed.objects.was_read(AnyKind::Client, Some("A1")));
        assert!(!observed.objects.was_read(AnyKind::Client, Some("A2")));
    }
}
