//! The applications' and clients' side of a plan: each manifest application found among the
//! live ones (`identify`), created with its clients, or compared; each client of an
//! application found live, against that application's live clients; and each of their state
//! entries that left the manifests, with what deleting an application takes with it. The
//! walk over every kind (`plan_every_kind` in `plan/mod.rs`) calls it object by object. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::bodies::{app_create_bodies, client_create_body, str_field};
use super::created::{asked_for, created_fields};
use super::departures::{departure, Presence};
use super::diff::{self, shown_fields, Subject};
use super::fields::ObjectKind;
use super::guards;
use super::identify::{recreated_note, LiveSet, Mapping};
use super::matched::{plan_matched, Matched, PlanPart, Planned};
use super::observed::{LiveApp, Observed};
use super::refresh::ReadSet;
use super::types::{
    Action, Body, Cascaded, Change, DefaultClientRecord, PlanError, PlanOptions, Record,
    SkippedDelete,
};
use crate::manifest::{ClientFacts, DesiredObject, DesiredState};
use crate::model::kinds::{AnyKind, APPLICATION, CLIENT, DEFAULT_CLIENT_FIELD};
use crate::model::{AuthenticationProtocol, FieldRules};
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry, StateSnapshot};

/// An application's or client's create as [`Applications::created`] judges it.
struct Created {
    record: Record,
    fields: Vec<diff::FieldChange>,
    pending: bool,
}

/// The live clients of one application found live, indexed: built at its first manifest
/// client and kept while the walk is among its clients (they follow one another in address
/// order), so one application's live clients are indexed once and never all at the same time.
struct LiveClients<'a> {
    /// Its `metadata.name`.
    key: &'a str,
    set: LiveSet<'a, &'a Map<String, Value>>,
}

/// The applications and clients of a plan as they are planned.
pub(super) struct Applications<'a> {
    desired: &'a DesiredState,
    state: &'a StateSnapshot,
    observed: &'a Observed,
    read: Option<&'a ReadSet>,
    options: &'a PlanOptions,
    live_by_id: BTreeMap<&'a str, &'a LiveApp<'a>>,
    live_apps: LiveSet<'a, LiveApp<'a>>,
    /// Live application ids the state maps (adoption never takes them).
    claimed_apps: BTreeSet<&'a str>,
    /// Live client ids already mapped to a key, per application (adoption never takes them).
    claimed_clients: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// The manifest applications found live, by `metadata.name`. One not here was created
    /// (its clients with it) or not read: its clients are not planned apart.
    found: HashMap<&'a str, &'a LiveApp<'a>>,
    /// The live clients of the application whose clients the walk is among.
    clients: Option<LiveClients<'a>>,
    /// Deletions of applications and clients: what they take with them is checked once all
    /// are known ([`Applications::finish`]).
    deletes: Vec<Change>,
}

impl<'a> Applications<'a> {
    /// `apps`: the live applications (`Observed::apps`); `read`: what a `--refresh changed`
    /// plan read (`None`: everything).
    pub(super) fn new(
        desired: &'a DesiredState,
        state: &'a StateSnapshot,
        observed: &'a Observed,
        apps: &'a [LiveApp<'a>],
        read: Option<&'a ReadSet>,
        options: &'a PlanOptions,
    ) -> Self {
        let claimed_apps = state
            .app_entries()
            .filter(|(a, _)| a.kind == AnyKind::Application)
            .map(|(_, e)| e.application_id())
            .collect();
        let mut claimed_clients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (_, e) in state
            .app_entries()
            .filter(|(a, _)| a.kind == AnyKind::Client)
        {
            if let Some(c) = e.id.as_deref() {
                claimed_clients
                    .entry(e.application_id())
                    .or_default()
                    .insert(c);
            }
        }
        Applications {
            desired,
            state,
            observed,
            read,
            options,
            live_by_id: apps.iter().map(|a| (a.id(), a)).collect(),
            live_apps: LiveSet::new(&APPLICATION, apps),
            claimed_apps,
            claimed_clients,
            found: HashMap::new(),
            clients: None,
            deletes: Vec::new(),
        }
    }

    /// Whether `entry` was left unread (`--refresh changed`): neither planned nor taken as gone.
    fn unread(&self, entry: &StateEntry) -> bool {
        self.read.is_some_and(|r| !r.reads(entry))
    }

    /// What the state records of an application or a client of `kind` ([`super::applied`]);
    /// `last`: its entry's last record, if it has one.
    fn record(
        &self,
        kind: ObjectKind,
        ownership: Ownership,
        (spec, rules): (&Map<String, Value>, &FieldRules),
        last: Option<&StateEntry>,
        protect: bool,
    ) -> Record {
        Record {
            name: None,
            ownership,
            last_applied: super::applied(
                Subject::catalogue(kind),
                spec,
                rules,
                last.map(|e| &e.last_applied),
                &self.state.salt,
            ),
            protect,
        }
    }

    /// What the create of an application or client of `kind` records, the field changes of
    /// `sent` (its part of the body), and whether the manifest asks for it ([`asked_for`]);
    /// `again`: its state entry when it is created again after a deletion outside tenantsync.
    fn created(
        &self,
        kind: ObjectKind,
        object: &DesiredObject,
        sent: &Map<String, Value>,
        again: Option<&StateEntry>,
    ) -> Created {
        let (spec, rules) = (&object.spec, &object.rules);
        let record = self.record(
            kind,
            Ownership::Created,
            (spec, rules),
            again,
            object.protect,
        );
        let last = again.map(|e| &e.last_applied);
        let subject = Subject::catalogue(kind);
        let fields = created_fields(subject, rules, sent, last, &record.last_applied);
        Created {
            pending: asked_for(last, &record.last_applied, &fields),
            record,
            fields,
        }
    }

    /// Plans `object` (an application or client) its manifest and the live tenant both hold
    /// ([`plan_matched`]); `entry`: its state entry (none: it is adopted).
    fn matched(
        &self,
        kind: ObjectKind,
        object: &DesiredObject,
        entry: Option<&StateEntry>,
        live: &Map<String, Value>,
        app_id: &str,
        id: Option<String>,
    ) -> Planned {
        let ownership = entry.map_or(Ownership::Adopted, |e| e.ownership);
        let record = self.record(
            kind,
            ownership,
            (&object.spec, &object.rules),
            entry,
            object.protect,
        );
        plan_matched(
            Matched {
                name: object.address.to_string(),
                address: object.address.clone(),
                subject: Subject::catalogue(kind),
                entry,
                replaces: None,
                live,
                spec: &object.spec,
                rules: &object.rules,
                record,
                app_id: Some(app_id.to_owned()),
                id,
            },
            &self.state.salt,
        )
    }

    /// The note of an application or client created again after a deletion outside tenantsync.
    fn again_note(address: &Address) -> String {
        let noun = match address.kind {
            AnyKind::Client => CLIENT.noun,
            _ => APPLICATION.noun,
        };
        recreated_note(noun)
    }

    /// The create of `client`; `again`: its state entry when it is created again after a
    /// deletion outside tenantsync (drift; pending where the manifest moved since), none when
    /// it is new.
    fn create_client_change(
        &self,
        app_id: Option<&str>,
        (client, facts): (&DesiredObject, &ClientFacts),
        again: Option<&StateEntry>,
    ) -> Change {
        let address = client.address.clone();
        let body = client_create_body(client, facts.protocol);
        let kind = ObjectKind::Client(facts.protocol);
        let created = self.created(kind, client, &body, again);
        let subject = Subject::catalogue(kind);
        Change {
            app_id: app_id.map(str::to_owned),
            drift: again.is_some(),
            pending: created.pending,
            fields: created.fields,
            notes: again
                .map(|_| Self::again_note(&address))
                .into_iter()
                .collect(),
            body: Some(Body::planned(
                shown_fields(subject, &client.rules, &body),
                body,
            )),
            record: Some(created.record),
            ..Change::new(Action::Create, address.clone(), address.to_string())
        }
    }

    /// The create of `app` with its clients. When the state holds its entry, it is created
    /// again after a deletion outside tenantsync, and so is each client the state holds with it
    /// (a client without an entry is new; one left in the state of an application it forgot is
    /// not created again either).
    fn create_app(&self, part: &mut PlanPart, app: &DesiredObject) {
        let (default, facts) = self
            .desired
            .default_client(app)
            .expect("a validated application has its default client among its clients");
        let (body, shown) = app_create_bodies(app, (default, facts));
        let address = app.address.clone();
        let again = self.state.entry(&address);
        let client_again = |client: &DesiredObject| again.and(self.state.entry(&client.address));
        let created = self.created(ObjectKind::App, app, &app.spec, again);
        // The default client's part of the body (`first_client`), judged as a client's create.
        let first_client = body
            .get("first_client")
            .and_then(Value::as_object)
            .expect("an application's create body holds its default client");
        let default_again = client_again(default);
        let kind = ObjectKind::Client(facts.protocol);
        let default_created = self.created(kind, default, first_client, default_again);
        // The manifest asks for it when it moved the application or its default client.
        let pending = created.pending || (again.is_some() && default_created.pending);
        let mut notes: Vec<String> = again
            .map(|_| Self::again_note(&address))
            .into_iter()
            .collect();
        notes.push(format!(
            "its default client `{}` is created with it",
            default.name
        ));
        part.changes.push(Change {
            drift: again.is_some(),
            pending,
            fields: created.fields,
            notes,
            body: Some(Body::planned(shown, body)),
            record: Some(created.record),
            default_client: Some(DefaultClientRecord {
                address: default.address.clone(),
                record: default_created.record,
                fields: default_created.fields,
            }),
            ..Change::new(Action::Create, address.clone(), address.to_string())
        });
        let others = self
            .desired
            .clients(&app.name)
            .filter(|(_, f)| !f.is_default);
        for (client, facts) in others {
            let change = self.create_client_change(None, (client, facts), client_again(client));
            part.changes.push(change);
        }
    }

    /// Plans the manifest application `app`: found live (compared, and remembered: its
    /// clients, which the walk reaches after every application, are planned against its live
    /// ones), or created with its clients.
    pub(super) fn plan_app(
        &mut self,
        part: &mut PlanPart,
        app: &'a DesiredObject,
    ) -> Result<(), PlanError> {
        let address = &app.address;
        let entry = self.state.entry(address);
        if entry.is_some_and(|e| self.unread(e)) {
            return Ok(());
        }
        let claimed = &self.claimed_apps;
        let identity =
            self.live_apps
                .identify(address, Mapping::of(entry), app.app_name(), |id| {
                    claimed.contains(id)
                })?;
        // None live: created (again, when the state holds its entry).
        let Some((live, entry)) = identity.found(entry) else {
            self.create_app(part, app);
            return Ok(());
        };
        let app_id = live.id();
        if live.unlisted {
            part.warnings.push(format!(
                "{address}: the list of applications leaves it out, but a lookup by id ({app_id}) finds it; \
                 it is neither created again nor deleted (does the credential see every application? a list can also lag)"
            ));
        }
        part.add(self.matched(ObjectKind::App, app, entry, live.app, app_id, None));
        self.found.insert(&app.name, live);
        Ok(())
    }

    /// Plans the manifest client `client` of an application found live: found among its live
    /// clients (by the state's id, else adopted by name), created, or refused when its
    /// protocol would change. A client of an application this plan creates was planned with
    /// it.
    pub(super) fn plan_client(
        &mut self,
        part: &mut PlanPart,
        client: &'a DesiredObject,
        facts: &ClientFacts,
    ) -> Result<(), PlanError> {
        let address = &client.address;
        let key = address.app_name();
        let Some(&live) = self.found.get(key) else {
            return Ok(());
        };
        let app_id = live.id();
        let live_clients = match &mut self.clients {
            Some(current) if current.key == key => current,
            other => other.insert(LiveClients {
                key: address.app_name(),
                set: LiveSet::new(&CLIENT, live.clients.iter().flatten()),
            }),
        };
        let no_claims = BTreeSet::new();
        let claimed = self.claimed_clients.get(app_id).unwrap_or(&no_claims);
        let entry = self.state.entry(address);
        let identity =
            live_clients
                .set
                .identify(address, Mapping::of(entry), &client.name, |id| {
                    claimed.contains(id)
                })?;
        let live_default = str_field(live.app, DEFAULT_CLIENT_FIELD);
        // None live: created (again, when the state holds its entry).
        let Some((live_client, entry)) = identity.found(entry) else {
            let change = self.create_client_change(Some(app_id), (client, facts), entry);
            part.changes.push(change);
            return Ok(());
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
            part.warnings.push(format!(
                "{address}: the manifest marks it as the default client, but the live default of application `{key}` is another client ({live_default}); the API has no way to change which client is the default"
            ));
        }
        let kind = ObjectKind::Client(facts.protocol);
        let client_id = Some(client_id);
        part.add(self.matched(kind, client, entry, live_client, app_id, client_id));
        Ok(())
    }

    /// What becomes of the state entry of an application or client at `address`, which left
    /// the manifests: kept (and why, into `part`), or deleted ([`Applications::finish`] adds
    /// the deletions). A client leaves with its application.
    pub(super) fn departure(
        &mut self,
        part: &mut PlanPart,
        address: &'a Address,
        entry: &'a StateEntry,
    ) {
        let desired = self.desired;
        if self.unread(entry) {
            return;
        }
        if address.kind == AnyKind::Client && desired.app(address.app_name()).is_none() {
            return; // deleted with its application
        }
        let live_app = self.live_by_id.get(entry.application_id());
        let presence = match (&address.kind, live_app) {
            (_, None) => Presence::Gone,
            (AnyKind::Client, Some(l)) => match &l.clients {
                None => Presence::Unread,
                Some(cs) => cs
                    .iter()
                    .find(|c| Some(CLIENT.id_str(c)) == entry.id.as_deref())
                    .map_or(Presence::Gone, |c| Presence::Listed(c)),
            },
            (_, Some(l)) => Presence::Listed(l.app),
        };
        // Deleting an application deletes every client, role and role group it has, managed
        // or not; the roles and role groups tenantsync manages have their own deletions.
        let cascade: Vec<Cascaded> = match (&address.kind, live_app) {
            (AnyKind::Application, Some(l)) => l
                .clients
                .iter()
                .flatten()
                .map(|c| {
                    let id = CLIENT.id_str(c).to_owned();
                    Cascaded {
                        kind: AnyKind::Client,
                        name: CLIENT.key_str(c).to_owned(),
                        managed: self
                            .claimed_clients
                            .get(entry.application_id())
                            .is_some_and(|ids| ids.contains(id.as_str())),
                        id,
                    }
                })
                .chain(guards::app_objects_cascade(
                    entry.application_id(),
                    self.state,
                    &self.observed.objects,
                ))
                .collect(),
            _ => Vec::new(),
        };
        let mut change = departure(address.clone(), address.to_string(), entry, presence);
        if let Some(note) = cascade_note(&cascade) {
            change.notes.push(note);
        }
        change.cascade = cascade;
        let reason = guards::kept_because(desired, entry.protect, self.options)
            .map(str::to_owned)
            .or_else(|| match address.kind {
                AnyKind::Application => {
                    guards::app_kept_for_its_objects(desired, self.state, address.app_name())
                }
                _ => None,
            });
        match reason {
            Some(reason) => part.skipped.push(SkippedDelete {
                name: change.name.clone(),
                reason,
            }),
            None => self.deletes.push(change),
        }
    }

    /// Adds the deletions of applications and clients to `part`. Prune deletes only what
    /// tenantsync created or adopted: an application whose deletion would take hand-made
    /// clients, roles or role groups with it needs `--allow-cascade`.
    pub(super) fn finish(mut self, part: &mut PlanPart) -> Result<(), PlanError> {
        let mut unmanaged: Vec<String> = Vec::new();
        for d in &mut self.deletes {
            if let (AnyKind::Application, Some(app_id), false) = (d.kind(), &d.app_id, d.state_only)
            {
                let unread = guards::unread_app_collections(app_id, &self.observed.objects);
                if !unread.is_empty() {
                    d.notes.push(format!(
                        "its {} could not be read (the credential may not read them; grant roles:read): any made by hand are deleted with it",
                        unread.join(" and ")
                    ));
                }
            }
            let names: Vec<String> = d
                .cascade
                .iter()
                .filter(|c| !c.managed)
                .map(Cascaded::shown)
                .collect();
            if !names.is_empty() {
                unmanaged.push(format!("{}: {}", d.address, names.join(", ")));
            }
        }
        if !unmanaged.is_empty() && !self.options.allow_cascade {
            return Err(PlanError::UnmanagedCascade { clients: unmanaged });
        }
        part.changes.extend(self.deletes);
        Ok(())
    }
}

/// What deleting an application says of the objects it takes with it, if any: how many of
/// each kind, and which of them tenantsync does not manage.
fn cascade_note(cascade: &[Cascaded]) -> Option<String> {
    if cascade.is_empty() {
        return None;
    }
    let counts: Vec<String> = AnyKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let n = cascade.iter().filter(|c| c.kind == kind).count();
            (n > 0).then(|| format!("{n} {}(s)", kind.spec().noun))
        })
        .collect();
    let counts = match counts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    let unmanaged: Vec<String> = cascade
        .iter()
        .filter(|c| !c.managed)
        .map(Cascaded::shown)
        .collect();
    let mut note = format!("deletes its {counts} with it");
    if !unmanaged.is_empty() {
        note.push_str(&format!(
            ", {} of them not managed by tenantsync: {}",
            unmanaged.len(),
            unmanaged.join(", ")
        ));
    }
    Some(note)
}
