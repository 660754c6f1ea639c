//! Which live object a manifest object is, one rule for every kind: the one its state entry
//! maps, else the one live object no entry maps that shares its natural key (adopted), else
//! none (created). Where kinds differ, their descriptions say it: a kind whose key upstream
//! keeps unique ([`KindSpec::unique_key`]) finds its object by key again after the mapped id
//! went away; one whose key is only a name (applications, clients) is created again instead,
//! and never guessed among several of the same name. Pure.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::observed::{LiveApp, LiveObject};
use super::PlanError;
use crate::model::kinds::KindSpec;
use crate::state::entry::StateEntry;

/// What a plan says of an object it adopts, of every kind.
pub(super) const ADOPTION_NOTE: &str =
    "exists on the target and is not yet managed: it will be adopted (one live object matches by name)";

/// What a plan says of an object of `noun`'s kind it creates again: the one its state entry
/// mapped was deleted outside tenantsync.
pub(super) fn recreated_note(noun: &str) -> String {
    format!("the live {noun} was deleted outside tenantsync; it is created again")
}

/// A live object as the planner holds it.
pub(super) trait Live {
    /// The object as the API answers it.
    fn object(&self) -> &Map<String, Value>;
}

impl Live for LiveApp<'_> {
    fn object(&self) -> &Map<String, Value> {
        self.app
    }
}

impl Live for &Map<String, Value> {
    fn object(&self) -> &Map<String, Value> {
        self
    }
}

impl Live for Map<String, Value> {
    fn object(&self) -> &Map<String, Value> {
        self
    }
}

impl Live for LiveObject {
    fn object(&self) -> &Map<String, Value> {
        &self.object
    }
}

/// What the state knows of a manifest object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mapping<'s> {
    /// No entry: never applied, or forgotten.
    Unmapped,
    /// An entry, with the live id it maps (for a kind without ids, one object per application,
    /// whatever it holds is not looked at).
    Mapped(Option<&'s str>),
}

impl<'s> Mapping<'s> {
    /// What `entry` (the manifest object's state entry, if any) maps.
    pub(super) fn of(entry: Option<&'s StateEntry>) -> Self {
        match entry {
            Some(e) => Mapping::Mapped(Some(e.server_id())),
            None => Mapping::Unmapped,
        }
    }
}

/// Which live object a manifest object is.
#[derive(Debug, PartialEq)]
pub(super) enum Identity<'a, T> {
    /// The one its state entry maps.
    Mapped(&'a T),
    /// The one live object no entry maps that shares its natural key: adopted. `gone`: the
    /// entry's own object was deleted outside tenantsync (a kind with a unique key).
    Adopt { live: &'a T, gone: bool },
    /// None: created. `gone`: as for `Adopt`.
    New { gone: bool },
}

impl<'a, T> Identity<'a, T> {
    /// The live object to compare the manifest object with, and the state entry whose last
    /// applied values count (none when another object is adopted in place of a gone one);
    /// `None`: there is none, it is created.
    pub(super) fn found<'e>(
        self,
        entry: Option<&'e StateEntry>,
    ) -> Option<(&'a T, Option<&'e StateEntry>)> {
        match self {
            Identity::Mapped(live) => Some((live, entry)),
            Identity::Adopt { live, gone } => Some((live, entry.filter(|_| !gone))),
            Identity::New { .. } => None,
        }
    }
}

/// Whether a live object carries its id.
fn has_id(spec: &KindSpec, object: &Map<String, Value>) -> bool {
    !spec.id_str(object).is_empty()
}

/// One collection of live objects of a kind (of one application, for a parented kind),
/// indexed by id and by natural key: finding each manifest object in it is then one lookup,
/// however large the tenant.
pub(super) struct LiveSet<'a, T> {
    spec: &'static KindSpec,
    by_id: HashMap<&'a str, &'a T>,
    by_key: HashMap<&'a str, Vec<&'a T>>,
    first: Option<&'a T>,
    /// Ids adopted by this plan so far: one live object with an id has one manifest object at
    /// most (a kind without ids has one per application, and `validate` refuses a second).
    adopted: HashSet<&'a str>,
}

impl<'a, T: Live> LiveSet<'a, T> {
    /// `live`: the collection, as listed.
    pub(super) fn new(spec: &'static KindSpec, live: impl IntoIterator<Item = &'a T>) -> Self {
        let mut set = LiveSet {
            spec,
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            first: None,
            adopted: HashSet::new(),
        };
        for o in live {
            set.first.get_or_insert(o);
            if has_id(spec, o.object()) {
                set.by_id.insert(spec.id_str(o.object()), o);
            }
            if let Some(key) = spec.key_of(o.object()) {
                set.by_key.entry(key).or_default().push(o);
            }
        }
        set
    }

    /// The manifest object's [`Identity`]. `key` is its natural key; `claimed(id)`: another
    /// state entry maps live object `id` (never adopted), as does an earlier manifest object's
    /// adoption from this set (two applications with one `app_name`: the first by name adopts
    /// it, the second is created, as both would be in an empty tenant). Several candidates are
    /// an error naming them all (`address`: the manifest object, shown only in an error).
    pub(super) fn identify(
        &mut self,
        address: &dyn std::fmt::Display,
        mapping: Mapping<'_>,
        key: &str,
        claimed: impl Fn(&str) -> bool,
    ) -> Result<Identity<'a, T>, PlanError> {
        let spec = self.spec;
        let gone = match mapping {
            Mapping::Unmapped => false,
            Mapping::Mapped(id) => {
                let found = match spec.api.id_field {
                    Some(_) => id.and_then(|id| self.by_id.get(id).copied()),
                    None => self.first,
                };
                if let Some(found) = found {
                    return Ok(Identity::Mapped(found));
                }
                if !spec.unique_key {
                    return Ok(Identity::New { gone: true });
                }
                true
            }
        };
        // A kind without ids is one object per application: its collection's only one.
        // A kind without ids is one object per application: its collection's only one.
        let namesakes: Vec<&'a T> = match spec.api.id_field {
            None => self.first.into_iter().collect(),
            Some(_) => self
                .by_key
                .get(key)
                .into_iter()
                .flatten()
                .copied()
                .collect(),
        };
        // Upstream's list and read answers carry the id of a kind that has one; a namesake
        // answered without it cannot be adopted, and creating another beside it would make a
        // second object of that name.
        if spec.api.id_field.is_some() && namesakes.iter().any(|o| !has_id(spec, o.object())) {
            return Err(PlanError::UnidentifiedLive {
                address: address.to_string(),
                what: spec.noun,
                field: spec.identified_by(),
                name: key.to_owned(),
                id_field: spec.id_field(),
            });
        }
        let candidates: Vec<&'a T> = namesakes
            .into_iter()
            .filter(|o| {
                let id = spec.id_str(o.object());
                spec.api.id_field.is_none() || !(claimed(id) || self.adopted.contains(id))
            })
            .collect();
        match candidates.as_slice() {
            [] => Ok(Identity::New { gone }),
            [one] => {
                if spec.api.id_field.is_some() {
                    self.adopted.insert(spec.id_str(one.object()));
                }
                Ok(Identity::Adopt { live: one, gone })
            }
            many => Err(PlanError::AmbiguousAdoption {
                address: address.to_string(),
                what: spec.plural,
                name: key.to_owned(),
                count: many.len(),
                ids: many
                    .iter()
                    .map(|o| spec.id_str(o.object()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::{ObjKind, APPLICATION, CLIENT};
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn app(id: &str, name: &str) -> Map<String, Value> {
        obj(json!({"app_id": id, "app_name": name}))
    }

    fn resource(id: &str, uri: &str) -> LiveObject {
        LiveObject::listed(None, obj(json!({"resource_id": id, "uri": uri})))
    }

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn the_mapped_object_wins_over_a_namesake() {
        let live = [app("a1", "shop"), app("a2", "shop")];
        let found = LiveSet::new(&APPLICATION, &live).identify(
            &"Application/shop",
            Mapping::Mapped(Some("a2")),
            "shop",
            none,
        );
        assert_eq!(found.unwrap(), Identity::Mapped(&live[1]));
    }

    #[test]
    fn an_application_deleted_outside_is_created_again_not_swapped_for_a_namesake() {
        let live = [app("a9", "shop")];
        let found = LiveSet::new(&APPLICATION, &live).identify(
            &"Application/shop",
            Mapping::Mapped(Some("a1")),
            "shop",
            none,
        );
        assert_eq!(found.unwrap(), Identity::New { gone: true });
    }

    #[test]
    fn a_resource_whose_id_went_away_is_found_again_by_its_unique_uri() {
        let spec = ObjKind::Resource.spec();
        let live = [
            resource("r9", "https://api"),
            resource("r2", "https://other"),
        ];
        let found = LiveSet::new(spec, &live).identify(
            &"Resource/api",
            Mapping::Mapped(Some("r1")),
            "https://api",
            none,
        );
        assert_eq!(
            found.unwrap(),
            Identity::Adopt {
                live: &live[0],
                gone: true
            }
        );
    }

    #[test]
    fn adoption_skips_claimed_objects_and_refuses_to_guess() {
        let live = [app("a1", "shop"), app("a2", "shop"), app("a3", "shop")];
        let claimed = |id: &str| id == "a1";
        let err = LiveSet::new(&APPLICATION, &live)
            .identify(&"Application/shop", Mapping::Unmapped, "shop", claimed)
            .unwrap_err();
        match err {
            PlanError::AmbiguousAdoption {
                what, count, ids, ..
            } => {
                assert_eq!((what, count, ids.as_str()), ("applications", 2, "a2, a3"));
            }
            other => panic!("{other:?}"),
        }
        let only = |id: &str| id != "a3";
        let found = LiveSet::new(&APPLICATION, &live).identify(
            &"Application/shop",
            Mapping::Unmapped,
            "shop",
            only,
        );
        assert_eq!(
            found.unwrap(),
            Identity::Adopt {
                live: &live[2],
                gone: false
            }
        );
    }

    #[test]
    fn one_live_object_is_adopted_once() {
        let live = [app("a1", "Shop")];
        let mut set = LiveSet::new(&APPLICATION, &live);
        let first = set.identify(&"Application/a", Mapping::Unmapped, "Shop", none);
        let second = set.identify(&"Application/b", Mapping::Unmapped, "Shop", none);
        assert_eq!(
            first.unwrap(),
            Identity::Adopt {
                live: &live[0],
                gone: false
            }
        );
        assert_eq!(second.unwrap(), Identity::New { gone: false });
    }

    /// What if upstream leaves an id out of a list? The object is neither adopted (with an
    /// empty id) nor doubled by a create: the plan says what is wrong.
    #[test]
    fn a_namesake_listed_without_its_id_refuses_rather_than_doubles() {
        let live = [obj(json!({"app_name": "Shop"}))];
        let err = LiveSet::new(&APPLICATION, &live)
            .identify(&"Application/shop", Mapping::Unmapped, "Shop", none)
            .unwrap_err();
        assert!(
            matches!(
                &err,
                PlanError::UnidentifiedLive {
                    id_field: "app_id",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("leaves its `app_id` out"), "{err}");
        // Also when an entry of the state claims the empty id (a create answered without it).
        let err = LiveSet::new(&APPLICATION, &live)
            .identify(
                &"Application/shop",
                Mapping::Unmapped,
                "Shop",
                |id: &str| id.is_empty(),
            )
            .unwrap_err();
        assert!(matches!(err, PlanError::UnidentifiedLive { .. }), "{err:?}");
        // A mapped object is found by its id; one listed without an id is not it.
        let found = LiveSet::new(&APPLICATION, &live).identify(
            &"Application/other",
            Mapping::Mapped(Some("")),
            "Other",
            none,
        );
        assert_eq!(found.unwrap(), Identity::New { gone: true });
    }

    #[test]
    fn a_client_is_found_by_name_within_the_clients_given() {
        let live = [
            obj(json!({"client_id": "c1", "name": "web"})),
            obj(json!({"client_id": "c2", "name": "cli"})),
        ];
        let found = LiveSet::new(&CLIENT, &live).identify(
            &"Client/shop/cli",
            Mapping::Unmapped,
            "cli",
            none,
        );
        assert_eq!(
            found.unwrap(),
            Identity::Adopt {
                live: &live[1],
                gone: false
            }
        );
        let found = LiveSet::new(&CLIENT, &live).identify(
            &"Client/shop/new",
            Mapping::Unmapped,
            "new",
            none,
        );
        assert_eq!(found.unwrap(), Identity::New { gone: false });
    }

    #[test]
    fn a_singleton_is_its_applications_one_object() {
        let spec = ObjKind::LoginPreferences.spec();
        // A list answering two (it never should) is taken at its first, not refused.
        let live = [
            LiveObject::listed(Some("a1".into()), obj(json!({"login_methods": []}))),
            LiveObject::listed(Some("a1".into()), obj(json!({"login_methods": ["sms"]}))),
        ];
        let mapped = LiveSet::new(spec, &live).identify(
            &"LoginPreferences/shop",
            Mapping::Mapped(None),
            "",
            none,
        );
        assert_eq!(mapped.unwrap(), Identity::Mapped(&live[0]));
        let adopted = LiveSet::new(spec, &live).identify(
            &"LoginPreferences/shop",
            Mapping::Unmapped,
            "",
            none,
        );
        assert_eq!(
            adopted.unwrap(),
            Identity::Adopt {
                live: &live[0],
                gone: false
            }
        );
    }

    /// Two applications with one `app_name`, each with a role and login preferences, and one
    /// live application of that name: the plan gives the live one one manager and creates
    /// the other (as in an empty tenant), and each application's objects go to its own.
    #[test]
    fn a_plan_never_gives_one_live_application_two_manifest_objects() {
        use crate::manifest::interpolate::tests::FakeEnvironment;
        use crate::manifest::{load, SourceFile};
        use crate::plan::{plan, Observed, PlanContext, PlanOptions};
        use crate::state::entry::StateSnapshot;
        let doc = |name: &str| {
            format!(
                "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  app_name: Shop\n  clients: [{{name: Web, redirect_uris: []}}]\n---\n\
                 apiVersion: tenantsync/v1\nkind: Role\nmetadata: {{name: clerk-{name}}}\nspec: {{application: {name}, role_name: clerk, permissions: [orders:read]}}\n---\n\
                 apiVersion: tenantsync/v1\nkind: LoginPreferences\nmetadata: {{name: login-{name}}}\nspec: {{application: {name}, sms: {{expiresIn: 5, maxFailures: 3}}}}\n"
            )
        };
        let text = format!("{}---\n{}", doc("a"), doc("b"));
        let desired = load(
            &[SourceFile {
                path: "/m/a.yaml".into(),
                bytes: text.into_bytes(),
            }],
            &FakeEnvironment::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut observed = Observed::default();
        observed.push_app(
            app("a1", "Shop"),
            Some(vec![obj(
                json!({"client_id": "c1", "name": "Web", "app_id": "a1"}),
            )]),
            false,
        );
        for kind in [ObjKind::Role, ObjKind::LoginPreferences] {
            observed
                .objects
                .read
                .insert((kind.into(), Some("a1".to_owned())));
        }
        observed.objects.objects.insert(
            ObjKind::LoginPreferences.into(),
            vec![LiveObject::listed(
                Some("a1".into()),
                obj(json!({"sms": {"expiresIn": 3}})),
            )],
        );
        let planned = plan(
            &desired,
            &StateSnapshot::default(),
            &observed,
            &PlanOptions::default(),
            &PlanContext::default(),
        )
        .unwrap();
        let mut changes: Vec<String> = planned
            .changes
            .iter()
            .filter(|c| c.kind() != crate::model::kinds::AnyKind::Client)
            .map(|c| format!("{:?} {} in {:?}", c.action, c.name, c.app_id))
            .collect();
        changes.sort();
        assert_eq!(
            changes,
            [
                r#"Adopt Application/a in Some("a1")"#,
                r#"Adopt LoginPreferences/login-a in Some("a1")"#,
                "Adopt LoginPreferences/login-b in None",
                r#"Create Application/b in None"#,
                r#"Create Role/clerk-a in Some("a1")"#,
                "Create Role/clerk-b in None",
            ]
        );
    }
}
