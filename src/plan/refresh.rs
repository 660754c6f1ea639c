//! `plan --refresh changed` (pure): which live objects a plan must read when only the objects
//! whose manifests changed since they were last applied are refreshed, as one [`ReadSet`] of
//! every kind: objects read by id, collections listed, new objects' keys looked for.
//!
//! An application is read by id (a GET, then the list of its clients): when it or one of its
//! clients differs from what was last applied (the planner's own record and comparison,
//! [`applied`] and [`same_records`]), when it gains a client the state does not hold, or when
//! it or one of its clients left the manifests (a deletion needs a live read). A new
//! application (no state entry) may be adopted by name, which needs to know whether a live
//! application has that name: that costs the one list of applications, and then the client
//! list of the candidates only. Everything else the state maps is not read and not planned.
//!
//! The described kinds are read by collection (`model::kinds`: one list per parentless kind,
//! one per application for a parented one). A collection is read when one of its objects is
//! new (it may be adopted by natural key), differs from what was last applied (the planner's
//! own record, [`applied`]), or left the manifests. An edit of one role reads
//! that application's roles, not every application's.

use std::collections::BTreeSet;

use super::diff::Subject;
use super::fields::ObjectKind;
use super::records::{applied, same_records};
use crate::manifest::DesiredState;
use crate::model::kinds::AnyKind;
use crate::model::FieldRules;
use crate::state::address::Address;
use crate::state::entry::{StateEntry, StateSnapshot};

/// Which objects a plan reads from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresh {
    /// Everything the plan may touch (one list, then the clients of the managed apps).
    #[default]
    All,
    /// Only the objects whose manifests differ from last-applied, new ones and their parents,
    /// and those that left the manifests.
    Changed,
}

/// A collection listed: its kind, and the live id of the application it belongs to (a
/// client's, a parented kind's) or none (a parentless kind).
pub type Collection = (AnyKind, Option<String>);

/// What a `--refresh changed` plan reads, of every kind alike: objects read one by one by live
/// id, collections listed, and the natural keys of new objects whose kind is read one by one
/// (its collection is then listed once, to find a live object to adopt).
///
/// An application is read by id (its collection is the whole tenant's), and with it the
/// collection of its clients ([`ReadSet::read_application`]); every other kind is read by
/// collection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadSet {
    /// Objects read by id: their kind and live id.
    pub objects: BTreeSet<(AnyKind, String)>,
    /// Collections listed.
    pub collections: BTreeSet<Collection>,
    /// New objects (no state entry) of a kind read by id, by natural key: their kind's
    /// collection is listed once, and only the live objects with one of these keys that no
    /// entry maps are candidates for adoption.
    pub new_keys: BTreeSet<(AnyKind, String)>,
}

impl ReadSet {
    /// Reads the application `app_id` (a GET by id) and the list of its clients.
    pub fn read_application(&mut self, app_id: &str) {
        self.objects
            .insert((AnyKind::Application, app_id.to_owned()));
        self.collections
            .insert((AnyKind::Client, Some(app_id.to_owned())));
    }

    /// Lists the collection of `kind` (under the application `app_id` for a parented kind).
    pub fn list(&mut self, kind: AnyKind, app_id: Option<&str>) {
        self.collections.insert((kind, app_id.map(str::to_owned)));
    }

    /// The applications read by id.
    pub fn app_ids(&self) -> impl Iterator<Item = &str> {
        self.ids_of(AnyKind::Application)
    }

    /// The live ids of the objects of `kind` read by id.
    fn ids_of(&self, kind: AnyKind) -> impl Iterator<Item = &str> {
        self.objects
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, id)| id.as_str())
    }

    /// True when the application `app_id` is read by id.
    pub fn reads_application(&self, app_id: &str) -> bool {
        self.objects
            .contains(&(AnyKind::Application, app_id.to_owned()))
    }

    /// True when the collection of `kind` under `app_id` is listed.
    pub fn lists(&self, kind: AnyKind, app_id: Option<&str>) -> bool {
        self.collections
            .contains(&(kind, app_id.map(str::to_owned)))
    }

    /// True when `name` is the natural key of a new application (one live application with
    /// it may be adopted).
    pub fn adopts_application(&self, name: &str) -> bool {
        self.new_keys
            .contains(&(AnyKind::Application, name.to_owned()))
    }

    /// True when the list of applications must be read (a new application may be adopted).
    pub fn needs_list(&self) -> bool {
        self.new_keys
            .iter()
            .any(|(kind, _)| *kind == AnyKind::Application)
    }

    /// True when the plan reads the object `entry` maps: by its own id for an application,
    /// by its collection for every other kind.
    pub fn reads(&self, entry: &StateEntry) -> bool {
        match entry.address.kind {
            AnyKind::Application => self.reads_application(entry.application_id()),
            kind => self.lists(kind, entry.app_id.as_deref()),
        }
    }

    /// Also reads the applications `slice` names (a drift sweep's tick, by id) and the
    /// described kinds' collections under them, and with `parentless` (a sweep pass begins)
    /// the parentless kinds' collections the state manages: every managed object is read once
    /// per pass.
    pub fn with_slice(
        mut self,
        slice: &BTreeSet<String>,
        parentless: bool,
        state: &StateSnapshot,
    ) -> Self {
        for (address, entry) in state.object_entries() {
            let due = match &entry.app_id {
                Some(app_id) => slice.contains(app_id),
                None => parentless,
            };
            if due {
                self.list(address.kind, entry.app_id.as_deref());
            }
        }
        for app_id in slice {
            self.read_application(app_id);
        }
        self
    }

    /// The managed objects (state entries, of every kind) this read set leaves unread.
    pub fn not_refreshed(&self, state: &StateSnapshot) -> usize {
        state.entries.values().filter(|e| !self.reads(e)).count()
    }

    /// `state` without the applications' and clients' entries this read set leaves unread:
    /// what a check over "every mapped application that was read" must look at (an unread
    /// application is not missing).
    pub fn read_part(&self, state: &StateSnapshot) -> StateSnapshot {
        StateSnapshot {
            entries: state
                .entries
                .iter()
                .filter(|(_, e)| e.object_address().is_some() || self.reads(e))
                .map(|(a, e)| (a.clone(), e.clone()))
                .collect(),
            salt: state.salt.clone(),
            lineage: state.lineage.clone(),
            binding: state.binding.clone(),
        }
    }
}

/// Whether an object of any kind differs from what its entry last applied: its `protect`, or
/// its record ([`applied`] of the manifest's `spec`) by the planner's own comparison (a hidden
/// value by its salted hash alone, a set without order).
fn differs(
    entry: &StateEntry,
    subject: Subject,
    (spec, rules): (&serde_json::Map<String, serde_json::Value>, &FieldRules),
    protect: bool,
    salt: &[u8],
) -> bool {
    let last = &entry.last_applied;
    entry.protect != protect
        || !same_records(
            last,
            &applied(subject, spec, rules, Some(last), salt),
            subject,
        )
}

/// The read set of a `--refresh changed` plan of `desired` against `state`.
pub fn changed_read_set(desired: &DesiredState, state: &StateSnapshot) -> ReadSet {
    let mut set = ReadSet::default();
    let salt = &state.salt;
    for app in desired.apps() {
        let key = app.name.as_str();
        let Some(app_entry) = state.entry(&app.address) else {
            set.new_keys
                .insert((AnyKind::Application, app.app_name().to_owned()));
            continue;
        };
        let subject = Subject::catalogue(ObjectKind::App);
        let changed = differs(
            app_entry,
            subject,
            (&app.spec, &app.rules),
            app.protect,
            salt,
        ) || desired.clients(key).any(|(client, facts)| {
            match state.entry(&client.address) {
                None => true, // a new client: its application is read
                Some(e) => {
                    let subject = Subject::catalogue(ObjectKind::Client(facts.protocol));
                    differs(e, subject, (&client.spec, &client.rules), app.protect, salt)
                }
            }
        });
        if changed {
            set.read_application(app_entry.application_id());
        }
    }
    // Objects the state holds that the manifests no longer have: a deletion reads live.
    for (address, entry) in state.app_entries() {
        // A client left with its application, or alone.
        let gone = desired.object(address).is_none();
        if gone {
            set.read_application(entry.application_id());
        }
    }
    // The described kinds: new, changed or removed objects' collections. A parented object of
    // an application the state does not map yet is created with it: nothing to read.
    for (address, obj) in desired.described() {
        let app_id = match &address.app {
            None => None,
            Some(app) => match state.entry(&Address::app(app)) {
                Some(e) => e.app_id.clone(),
                None => continue,
            },
        };
        let subject = Subject::described(address.kind.spec());
        // A document renamed alone is a change too: its new name is recorded once read.
        let changed = state.entry(address).is_none_or(|e| {
            e.name != obj.name || differs(e, subject, (&obj.spec, &obj.rules), obj.protect, salt)
        });
        if changed {
            set.list(address.kind, app_id.as_deref());
        }
    }
    for (address, entry) in state.object_entries() {
        if !desired.objects.contains_key(address) {
            set.list(address.kind, entry.app_id.as_deref());
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{load, DesiredState, ProcessEnvironment, SourceFile};
    use crate::state::entry::{Ownership, StateEntry};

    const APPS: &str = "\
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  app_description: shop site
  clients:
    - {name: web, default: true, redirect_uris: [https://shop.example.com/cb]}
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: blog}
spec:
  app_name: Blog
  app_description: blog site
  clients:
    - {name: web, default: true, redirect_uris: [https://blog.example.com/cb]}
";

    fn desired(text: &str) -> DesiredState {
        let source = SourceFile {
            path: "/m/apps.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        };
        load(&[source], &ProcessEnvironment::default()).expect("manifests")
    }

    /// A state holding exactly what `desired` applies, app `key` mapped to id `id-key`.
    fn applied_state(desired: &DesiredState) -> StateSnapshot {
        let mut state = StateSnapshot {
            salt: b"salt".to_vec(),
            ..StateSnapshot::default()
        };
        for app in desired.apps() {
            let key = &app.name;
            let entry =
                |address: Address, client_id: Option<String>, kind, spec, rules| StateEntry {
                    address,
                    name: String::new(),
                    app_id: Some(format!("id-{key}")),
                    id: client_id,
                    ownership: Ownership::Created,
                    last_applied: applied(Subject::catalogue(kind), spec, rules, None, b"salt"),
                    protect: app.protect,
                    applied_at: String::new(),
                };
            let a = Address::app(key);
            state.insert(entry(a, None, ObjectKind::App, &app.spec, &app.rules));
            for (c, facts) in desired.clients(key) {
                let name = &c.name;
                let e = entry(
                    c.address.clone(),
                    Some(format!("c-{key}-{name}")),
                    ObjectKind::Client(facts.protocol),
                    &c.spec,
                    &c.rules,
                );
                state.insert(e);
            }
        }
        state
    }

    fn ids(set: &ReadSet) -> Vec<&str> {
        set.app_ids().collect()
    }

    #[test]
    fn nothing_changed_reads_nothing() {
        let d = desired(APPS);
        let state = applied_state(&d);
        let set = changed_read_set(&d, &state);
        assert_eq!(set, ReadSet::default());
        assert!(!set.needs_list());
        assert_eq!(set.not_refreshed(&state), 4);
        assert!(set.read_part(&state).entries.is_empty());
    }

    #[test]
    fn an_app_field_reads_that_app_only() {
        let state = applied_state(&desired(APPS));
        let d = desired(&APPS.replace("shop site\n", "shop site v2\n"));
        let set = changed_read_set(&d, &state);
        assert_eq!(ids(&set), ["id-shop"]);
        assert!(!set.needs_list());
        assert_eq!(set.not_refreshed(&state), 2);
        assert_eq!(set.read_part(&state).entries.len(), 2);
    }

    #[test]
    fn a_client_field_or_a_new_client_reads_its_app() {
        let state = applied_state(&desired(APPS));
        let d = desired(&APPS.replace(
            "https://blog.example.com/cb]",
            "https://blog.example.com/cb, https://blog.example.com/cb2]",
        ));
        assert_eq!(ids(&changed_read_set(&d, &state)), ["id-blog"]);
        let d = desired(&APPS.replace(
            "    - {name: web, default: true, redirect_uris: [https://shop.example.com/cb]}\n",
            "    - {name: web, default: true, redirect_uris: [https://shop.example.com/cb]}\n    - {name: api, redirect_uris: [https://shop.example.com/api]}\n",
        ));
        assert_eq!(ids(&changed_read_set(&d, &state)), ["id-shop"]);
    }

    #[test]
    fn protect_counts_as_a_change() {
        let state = applied_state(&desired(APPS));
        let d = desired(&APPS.replace(
            "metadata: {name: blog}",
            "metadata: {name: blog, annotations: {tenantsync/protect: \"true\"}}",
        ));
        assert_eq!(ids(&changed_read_set(&d, &state)), ["id-blog"]);
    }

    #[test]
    fn a_new_app_needs_the_list_and_reads_no_mapped_app() {
        let state = applied_state(&desired(APPS));
        let extra = "---\napiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: wiki}\nspec:\n  app_name: Wiki\n  app_description: wiki site\n  clients:\n    - {name: web, default: true, redirect_uris: [https://wiki.example.com/cb]}\n";
        let d = desired(&format!("{APPS}{extra}"));
        let set = changed_read_set(&d, &state);
        assert!(set.needs_list());
        assert_eq!(
            set.new_keys.iter().collect::<Vec<_>>(),
            [&(AnyKind::Application, "Wiki".to_owned())]
        );
        assert!(set.adopts_application("Wiki") && !set.adopts_application("Blog"));
        assert!(set.objects.is_empty() && set.collections.is_empty());
    }

    #[test]
    fn objects_that_left_the_manifests_are_read() {
        let state = applied_state(&desired(APPS));
        let only_shop = APPS.split("---\n").next().expect("first document");
        let set = changed_read_set(&desired(only_shop), &state);
        assert_eq!(ids(&set), ["id-blog"]);
        // An empty manifest set: every mapped app (the planner refuses to delete them).
        let mut empty = desired(only_shop);
        empty.objects.retain(|a, _| !a.is_app());
        assert_eq!(
            ids(&changed_read_set(&empty, &state)),
            ["id-blog", "id-shop"]
        );
    }

    #[test]
    fn an_application_is_taken_as_gone_only_where_it_was_read() {
        use crate::plan::{gone_apps, known_app_ids, Observed};
        let d = desired(APPS);
        let state = applied_state(&d);
        let blog = serde_json::json!({"app_id": "id-blog", "app_name": "Blog"})
            .as_object()
            .cloned()
            .unwrap();
        let mut observed = Observed::default();
        observed.push_app(blog, None, false);
        let known = |read: Option<&ReadSet>| -> Vec<String> {
            known_app_ids(&d, &state, &observed, &gone_apps(&state, &observed, read))
                .into_values()
                .collect()
        };
        // Everything read: `shop` is gone, and this plan creates it again.
        assert_eq!(known(None), ["id-blog"]);
        // Only `blog` read (`--refresh changed`): whether `shop` is there is unknown.
        let mut only_blog = ReadSet::default();
        only_blog.read_application("id-blog");
        assert_eq!(known(Some(&only_blog)), ["id-blog", "id-shop"]);
        // Nothing read yet.
        assert_eq!(known(Some(&ReadSet::default())), ["id-blog", "id-shop"]);
    }

    const OBJECTS: &str = "\
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: clerk}
spec: {application: shop, role_name: clerk, display_name: Clerk, permissions: [\"orders:read\"]}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: editor}
spec: {application: blog, role_name: editor, display_name: Editor, permissions: [\"posts:write\"]}
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts}
spec: {name: Payouts, uri: \"https://api.example.com/payouts\", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
";

    /// [`applied_state`], with the described kinds' objects recorded as the planner records them.
    fn applied_with_objects(desired: &DesiredState) -> StateSnapshot {
        let mut state = applied_state(desired);
        for (address, obj) in desired.described() {
            let app_id = address.app.as_ref().map(|a| format!("id-{a}"));
            let entry = StateEntry {
                address: address.clone(),
                name: obj.name.clone(),
                id: Some(format!("o-{}", address.key)),
                app_id,
                ownership: Ownership::Created,
                last_applied: applied(
                    Subject::described(address.kind.spec()),
                    &obj.spec,
                    &obj.rules,
                    None,
                    b"salt",
                ),
                protect: obj.protect,
                applied_at: String::new(),
            };
            state.insert(entry);
        }
        state
    }

    fn collections(set: &ReadSet) -> Vec<(&str, Option<&str>)> {
        set.collections
            .iter()
            .map(|(kind, app)| (kind.name(), app.as_deref()))
            .collect()
    }

    #[test]
    fn objects_read_their_collection_only_when_new_changed_or_removed() {
        let tree = format!("{APPS}{OBJECTS}");
        let state = applied_with_objects(&desired(&tree));
        let same = changed_read_set(&desired(&tree), &state);
        assert_eq!(same, ReadSet::default());
        assert_eq!(same.not_refreshed(&state), 4 + 3);

        // One role edited: that application's roles, nothing else.
        let edited = desired(&tree.replace("display_name: Clerk", "display_name: Cashier"));
        let set = changed_read_set(&edited, &state);
        assert_eq!(collections(&set), [("Role", Some("id-shop"))]);
        assert!(set.objects.is_empty() && !set.needs_list());
        assert_eq!(set.not_refreshed(&state), 4 + 2);

        // A document renamed alone: its collection is read, and the new name recorded.
        let renamed =
            desired(&tree.replace("metadata: {name: payouts}", "metadata: {name: payouts-api}"));
        assert_eq!(
            collections(&changed_read_set(&renamed, &state)),
            [("Resource", None)]
        );

        // A new resource may be adopted by its uri: the resources are read.
        let more = format!(
            "{tree}---\napiVersion: tenantsync/v1\nkind: Resource\nmetadata: {{name: reports}}\nspec: {{name: Reports, uri: \"https://api.example.com/reports\", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}}\n"
        );
        assert_eq!(
            collections(&changed_read_set(&desired(&more), &state)),
            [("Resource", None)]
        );

        // A role that left the manifests: its deletion reads its application's roles.
        let without = tree.replace("metadata: {name: editor}", "metadata: {name: editor2}");
        let without = without.replace("role_name: editor", "role_name: editor2");
        let set = changed_read_set(&desired(&without), &state);
        assert_eq!(collections(&set), [("Role", Some("id-blog"))]);
    }

    #[test]
    fn a_sweep_slice_reads_its_applications_objects_and_a_new_pass_the_parentless_ones() {
        let tree = format!("{APPS}{OBJECTS}");
        let state = applied_with_objects(&desired(&tree));
        let slice = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        // The slice that begins a pass reads the resources too.
        let set = ReadSet::default().with_slice(&slice(&["id-blog"]), true, &state);
        assert_eq!(
            collections(&set),
            [
                ("Client", Some("id-blog")),
                ("Resource", None),
                ("Role", Some("id-blog"))
            ]
        );
        assert_eq!(ids(&set), ["id-blog"]);
        let set = ReadSet::default().with_slice(&slice(&["id-shop"]), false, &state);
        assert_eq!(
            collections(&set),
            [("Client", Some("id-shop")), ("Role", Some("id-shop"))]
        );
        assert_eq!(
            ReadSet::default().with_slice(&BTreeSet::new(), false, &state),
            ReadSet::default()
        );
        // No application in the slice (none managed): a pass still reads the resources.
        let set = ReadSet::default().with_slice(&BTreeSet::new(), true, &state);
        assert_eq!(collections(&set), [("Resource", None)]);
        assert!(set.objects.is_empty());
    }

    #[test]
    fn a_sweep_finding_its_application_gone_plans_it_again_with_its_objects() {
        use crate::plan::{plan_refreshed, Action, Observed, PlanContext, PlanOptions};
        let tree = format!("{APPS}{OBJECTS}");
        let d = desired(&tree);
        let state = applied_with_objects(&d);
        let slice: BTreeSet<String> = ["id-shop".to_owned()].into();
        let read = ReadSet::default().with_slice(&slice, false, &state);
        // `shop` was read by id and is gone; its roles' collection went with it.
        let plan = |d: &DesiredState| {
            plan_refreshed(
                d,
                &state,
                &Observed::default(),
                Some(&read),
                &PlanOptions::default(),
                &PlanContext::default(),
            )
            .unwrap()
        };
        let planned = plan(&d);
        let changes: Vec<(Action, &str, Option<&str>)> = planned
            .changes
            .iter()
            .map(|c| (c.action, c.name.as_str(), c.app_id.as_deref()))
            .collect();
        assert_eq!(
            changes,
            [
                (Action::Create, "Application/shop", None),
                (Action::Create, "Role/clerk", None),
            ],
            "{:?}",
            planned.warnings
        );
        assert!(planned.changes.iter().all(|c| c.drift));
        // `blog`, its role and the resource were not read: neither planned, nor taken as
        // gone, nor counted as unchanged (they are not refreshed).
        assert_eq!(planned.summary.unchanged, 0);
        assert_eq!(planned.not_refreshed, Some(4));

        // A daemon holding drift holds every change of the application with its create, a
        // new role's (not drift itself) too: it has nowhere to go yet.
        let boss = "---\napiVersion: tenantsync/v1\nkind: Role\nmetadata: {name: boss}\nspec: {application: shop, role_name: boss}\n";
        let mut planned = plan(&desired(&format!("{tree}{boss}")));
        planned.hold_drifted();
        assert!(planned.changes.is_empty(), "{:#?}", planned.changes);
        assert!(planned
            .held_for_drift
            .iter()
            .any(|c| c.name == "Role/boss" && !c.drift));
    }
}
