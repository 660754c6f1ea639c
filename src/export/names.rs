//! Naming exported objects: file and document names (`metadata.name`) that are unique, slug-like
//! and stable, and the state's names kept for what it already maps. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::kinds::{AnyKind, NaturalKey, ObjKind};
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry};

/// A lowercase slug: letters and digits joined by single dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "app".to_owned()
    } else {
        out
    }
}

/// What the state already maps, as export names things: the application name of each mapped
/// app id, the client name of each mapped client id, and every name the state holds (which an
/// object the state does not map must not take).
#[derive(Debug, Clone, Default)]
pub struct Managed {
    apps: BTreeMap<String, (String, Ownership)>,
    clients: BTreeMap<String, (String, Ownership)>,
    app_names: BTreeSet<String>,
    client_names: BTreeMap<String, BTreeSet<String>>,
    /// Objects of the described kinds: `(kind, app id, id)` (a singleton has no id) → name.
    objects: BTreeMap<ObjectKey, String>,
    /// Every `(kind, app key, metadata.name)` the state's object entries hold.
    object_names: BTreeSet<(AnyKind, Option<String>, String)>,
}

/// How export finds a live object of a described kind in the state: kind, application id
/// (parented kinds), id (none for a singleton).
pub type ObjectKey = (AnyKind, Option<String>, Option<String>);

impl Managed {
    /// From the state's entries, of every kind. When an id is mapped twice (a state an earlier export left
    /// behind), the created entry wins over an adopted one, then the smallest name.
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a StateEntry>) -> Self {
        fn keep(
            map: &mut BTreeMap<String, (String, Ownership)>,
            id: &str,
            name: &str,
            o: Ownership,
        ) {
            let replace = match map.get(id) {
                None => true,
                Some((held_name, held)) => {
                    let rank = |o: Ownership| o != Ownership::Created;
                    (rank(o), name) < (rank(*held), held_name.as_str())
                }
            };
            if replace {
                map.insert(id.to_owned(), (name.to_owned(), o));
            }
        }
        let mut m = Managed::default();
        for e in entries {
            let address = &e.address;
            if !address.is_app() {
                m.object(address, e);
                continue;
            }
            let app = address.app_name();
            m.app_names.insert(app.to_owned());
            match address.client_name() {
                None => {
                    keep(&mut m.apps, e.application_id(), app, e.ownership);
                }
                Some(client) => {
                    m.client_names
                        .entry(app.to_owned())
                        .or_default()
                        .insert(client.to_owned());
                    if let Some(id) = &e.id {
                        keep(&mut m.clients, id, client, e.ownership);
                    }
                }
            }
        }
        m
    }

    /// A state entry of a described kind: a mapped object keeps its entry's `metadata.name`;
    /// the names they hold are taken.
    fn object(&mut self, address: &Address, e: &StateEntry) {
        let key = (address.kind, e.app_id.clone(), e.id.clone());
        // One entry per natural key; two for one id: the smaller name, as for apps.
        let keep = self.objects.get(&key).is_none_or(|held| e.name < *held);
        if keep {
            self.objects.insert(key, e.name.clone());
        }
        self.object_names
            .insert((address.kind, address.app.clone(), e.name.clone()));
    }
}

/// A live object of a described kind to name: its kind, application (key and id, parented
/// kinds), live id, and the text its name is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToName<'a> {
    /// Its kind.
    pub kind: ObjKind,
    /// Its application's `metadata.name` and id (parented kinds).
    pub app: Option<(&'a str, &'a str)>,
    /// Its live id (`None` for a singleton).
    pub id: Option<&'a str>,
    /// Its display name, or its natural key when the kind has no `name` (empty for a
    /// singleton).
    pub label: &'a str,
}

/// The base of a new object's `metadata.name`: a slug of its label, after its application's
/// name for a parented kind (`shop-courier`), and the kind for a singleton
/// (`shop-login-preferences`).
fn object_base(object: &ToName<'_>) -> String {
    let spec = object.kind.spec();
    let own = match spec.natural_key {
        NaturalKey::Singleton => slug(spec.noun),
        NaturalKey::Field(_) => slug(object.label),
    };
    match object.app {
        Some((app_key, _)) => format!("{app_key}-{own}"),
        None => own,
    }
}

/// Names live objects of the described kinds, in export order: an object the state maps keeps
/// its entry's name; any other gets a unique slug (`payouts-api`, `payouts-api-2`, …) that no
/// state entry and no earlier object of its kind (and application) holds.
pub fn object_names<'a>(
    objects: impl IntoIterator<Item = ToName<'a>>,
    managed: &Managed,
) -> Vec<Named> {
    let objects: Vec<ToName<'a>> = objects.into_iter().collect();
    let mut used = managed.object_names.clone();
    let key_of = |o: &ToName<'_>| -> ObjectKey {
        (
            o.kind.into(),
            o.app.map(|(_, id)| id.to_owned()),
            o.id.map(str::to_owned),
        )
    };
    let mapped: Vec<Option<&String>> = objects
        .iter()
        .map(|o| managed.objects.get(&key_of(o)))
        .collect();
    for (o, name) in objects.iter().zip(&mapped) {
        if let Some(name) = name {
            used.insert((
                o.kind.into(),
                o.app.map(|(k, _)| k.to_owned()),
                (*name).clone(),
            ));
        }
    }
    objects
        .iter()
        .zip(mapped)
        .map(|(o, mapped)| match mapped {
            Some(name) => Named {
                name: name.clone(),
                managed: true,
            },
            None => {
                let scope = o.app.map(|(k, _)| k.to_owned());
                let base = object_base(o);
                let mut candidate = base.clone();
                let mut i = 2;
                while !used.insert((o.kind.into(), scope.clone(), candidate.clone())) {
                    candidate = format!("{base}-{i}");
                    i += 1;
                }
                Named {
                    name: candidate,
                    managed: false,
                }
            }
        })
        .collect()
}

/// The name export gives a live object, and whether the state already maps it (then the name
/// is the state's and its entry is left as it is; otherwise export adopts it under this name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The application key (`metadata.name`) or client name.
    pub name: String,
    /// The state already maps the object's id.
    pub managed: bool,
}

/// Names live applications, given as `(app_id, app_name)` in export order: an app the state
/// maps keeps the state's name; any other gets a unique slug of its `app_name` (`shop`,
/// `shop-2`, …) that no state entry and no other live app holds.
pub fn app_names<'a>(
    apps: impl IntoIterator<Item = (&'a str, &'a str)>,
    managed: &Managed,
) -> Vec<Named> {
    let apps: Vec<(&str, &str)> = apps.into_iter().collect();
    let mut used: BTreeSet<String> = managed.app_names.clone();
    apps.iter()
        .map(|(id, app_name)| match managed.apps.get(*id) {
            Some((name, _)) => Named {
                name: name.clone(),
                managed: true,
            },
            None => {
                let base = slug(app_name);
                let mut candidate = base.clone();
                let mut i = 2;
                while !used.insert(candidate.clone()) {
                    candidate = format!("{base}-{i}");
                    i += 1;
                }
                Named {
                    name: candidate,
                    managed: false,
                }
            }
        })
        .collect()
}

/// Names the live clients of the application exported as `app`, given as `(client_id, name)`
/// in export order: a client the state maps keeps the state's client name; any other keeps its
/// live name unless the state or an earlier client holds it, then `Web (2)`, `Web (3)`, ….
pub fn client_names<'a>(
    app: &str,
    clients: impl IntoIterator<Item = (&'a str, &'a str)>,
    managed: &Managed,
) -> Vec<Named> {
    let clients: Vec<(&str, &str)> = clients.into_iter().collect();
    let mut used: BTreeSet<String> = managed.client_names.get(app).cloned().unwrap_or_default();
    let mapped: Vec<Option<&String>> = clients
        .iter()
        .map(|(id, _)| managed.clients.get(*id).map(|(name, _)| name))
        .collect();
    used.extend(mapped.iter().flatten().map(|n| (*n).clone()));
    clients
        .iter()
        .zip(mapped)
        .map(|((_, live), mapped)| match mapped {
            Some(name) => Named {
                name: name.clone(),
                managed: true,
            },
            None => {
                let mut candidate = (*live).to_owned();
                let mut n = 2;
                while !used.insert(candidate.clone()) {
                    candidate = format!("{live} ({n})");
                    n += 1;
                }
                Named {
                    name: candidate,
                    managed: false,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    #[test]
    fn slugs_are_stable_and_unique() {
        assert_eq!(slug("Food Delivery!"), "food-delivery");
        assert_eq!(slug("  ¡¡ "), "app");
        let names = app_names(
            [("a", "Shop"), ("b", "shop"), ("c", "Shop")],
            &Managed::default(),
        );
        let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, vec!["shop", "shop-2", "shop-3"]);
    }

    fn entry(address: &str, app_id: &str, client_id: Option<&str>, o: Ownership) -> StateEntry {
        StateEntry {
            address: Address::parse(address).unwrap(),
            name: String::new(),
            app_id: Some(app_id.to_owned()),
            id: client_id.map(str::to_owned),
            ownership: o,
            last_applied: Map::new(),
            protect: false,
            applied_at: String::new(),
        }
    }

    fn named(name: &str, managed: bool) -> Named {
        Named {
            name: name.to_owned(),
            managed,
        }
    }

    #[test]
    fn mapped_apps_keep_the_state_name_and_others_avoid_every_state_name() {
        let state = [
            entry("Application/shop", "A1", None, Ownership::Created),
            entry("Application/gone", "A0", None, Ownership::Adopted),
        ];
        let managed = Managed::of(&state);
        let names = app_names(
            [
                ("A2", "Gone"),      // a state name whose app is no longer live: not taken
                ("A1", "Shop Five"), // managed as `shop`, whatever its app_name says now
                ("A3", "Shop"),      // its slug is the managed app's name
                ("A4", "Shop Five"),
            ],
            &managed,
        );
        assert_eq!(
            names,
            vec![
                named("gone-2", false),
                named("shop", true),
                named("shop-2", false),
                named("shop-five", false),
            ]
        );
    }

    #[test]
    fn an_id_mapped_twice_is_named_by_the_created_entry() {
        // What an earlier export left behind: the app under its manifest name and its slug.
        let state = [
            entry("Application/shop", "A1", None, Ownership::Created),
            entry("Application/a-shop", "A1", None, Ownership::Adopted),
        ];
        let names = app_names([("A1", "A Shop")], &Managed::of(&state));
        assert_eq!(names, vec![named("shop", true)]);
        let state = [
            entry("Application/b", "A1", None, Ownership::Adopted),
            entry("Application/a", "A1", None, Ownership::Adopted),
        ];
        let names = app_names([("A1", "C")], &Managed::of(&state));
        assert_eq!(names, vec![named("a", true)]);
    }

    #[test]
    fn mapped_clients_keep_the_state_name_and_others_are_made_unique() {
        let state = [
            entry("Application/shop", "A1", None, Ownership::Created),
            entry("Client/shop/Web", "A1", Some("C1"), Ownership::Created),
            entry("Client/shop/Old", "A1", Some("C9"), Ownership::Created),
        ];
        let managed = Managed::of(&state);
        let names = client_names(
            "shop",
            [
                ("C2", "Web"),         // a new client named like the managed one
                ("C1", "Web renamed"), // the managed one, renamed in the portal
                ("C3", "Old"),         // a state name whose client is no longer live
                ("C4", "iOS"),
                ("C5", "iOS"),
            ],
            &managed,
        );
        assert_eq!(
            names,
            vec![
                named("Web (2)", false),
                named("Web", true),
                named("Old (2)", false),
                named("iOS", false),
                named("iOS (2)", false),
            ]
        );
        // Another app's clients are not constrained by this app's names.
        let names = client_names("other", [("C7", "Web")], &managed);
        assert_eq!(names, vec![named("Web", false)]);
    }

    fn object_entry(
        address: &str,
        name: &str,
        app_id: Option<&str>,
        id: Option<&str>,
    ) -> StateEntry {
        StateEntry {
            address: Address::parse(address).unwrap(),
            name: name.to_owned(),
            id: id.map(str::to_owned),
            app_id: app_id.map(str::to_owned),
            ownership: Ownership::Adopted,
            last_applied: Map::new(),
            protect: false,
            applied_at: String::new(),
        }
    }

    #[test]
    fn objects_keep_the_state_name_and_others_get_unique_slugs_per_kind_and_application() {
        let state = [
            object_entry(
                "Resource/https://a.example/pay",
                "payments",
                None,
                Some("R1"),
            ),
            object_entry(
                "Resource/https://a.example/old",
                "payouts-api",
                None,
                Some("R0"),
            ),
            object_entry("LoginPreferences/shop", "shop-signin", Some("A1"), None),
        ];
        let managed = Managed::of(&state);
        let resource = |id, label| ToName {
            kind: ObjKind::Resource,
            app: None,
            id: Some(id),
            label,
        };
        let role = |app, id, label| ToName {
            kind: ObjKind::Role,
            app: Some(app),
            id: Some(id),
            label,
        };
        let names = object_names(
            [
                resource("R2", "Payouts API"), // the state holds `payouts-api` for a gone one
                resource("R1", "Payments API"), // mapped: the state's name
                resource("R3", "Payouts  API!"),
                role(("shop", "A1"), "X1", "courier"),
                role(("shop", "A1"), "X2", "Courier"),
                role(("food", "A2"), "X3", "courier"), // another application: its own scope
                ToName {
                    kind: ObjKind::LoginPreferences,
                    app: Some(("shop", "A1")),
                    id: None,
                    label: "",
                },
                ToName {
                    kind: ObjKind::LoginPreferences,
                    app: Some(("food", "A2")),
                    id: None,
                    label: "",
                },
                // Names are scoped by kind: a service provider may share a resource's name.
                ToName {
                    kind: ObjKind::ServiceProvider,
                    app: None,
                    id: Some("S1"),
                    label: "Payouts API",
                },
            ],
            &managed,
        );
        let names: Vec<(&str, bool)> = names.iter().map(|n| (n.name.as_str(), n.managed)).collect();
        assert_eq!(
            names,
            vec![
                ("payouts-api-2", false),
                ("payments", true),
                ("payouts-api-3", false),
                ("shop-courier", false),
                ("shop-courier-2", false),
                ("food-courier", false),
                ("shop-signin", true),
                ("food-login-preferences", false),
                ("payouts-api", false),
            ]
        );
    }
}
