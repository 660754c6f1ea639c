//! The plan engine (pure): desired state (manifests) + reconciler state + observed live objects →
//! an ordered list of creates, updates, adoptions and deletions with field-level detail.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan. Gathering the inputs and
//! carrying the plan out live in `crate::reconcile`.

mod bodies;
mod check;
mod clients;
mod created;
mod departures;
pub mod diff;
pub mod fields;
mod fingerprint;
mod guards;
mod identify;
pub mod in_use;
mod matched;
pub mod matrix;
mod members;
mod objects;
mod observed;
mod records;
mod references;
mod refresh;
pub mod render;
#[cfg(test)]
mod testing;
mod types;
mod unique;
mod view;
mod wire;
pub use wire::FORMAT_WITH_OBJECTS_APART;

use bodies::{app_create_bodies, client_create_body};
pub use bodies::{restore_secrets, RestoreError};
pub use check::{AppRef, ObjectId, Op, PlanDefect};
use clients::plan_clients;
use created::{asked_for, created_fields};
use departures::{departure, Presence};
use diff::shown_fields;
pub use fingerprint::{desired_fingerprint, fingerprint_live, fingerprint_matches};
pub use guards::departing_app_collections;
use identify::{recreated_note, LiveSet, Mapping};
pub use objects::entry_of;
pub use observed::{
    apps_needing_clients, managed_fields, trim_live, LiveApp, LiveObject, LiveObjects, Observed,
};
pub use records::{applied, recorded};
use references::name_removed_references;
pub use references::{gone_apps, known_app_ids, resolve_references, REF_PREFIX};
pub use refresh::{changed_read_set, ReadSet, Refresh};
pub use types::*;
pub use view::{
    partial_view_reasons, refuse_partial_view, token_reason, CredentialView, ADMIN_ROLE,
};

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::manifest::{ClientFacts, DesiredObject, DesiredState};
use crate::model::kinds::{AnyKind, APPLICATION, CLIENT};
use crate::model::FieldRules;
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry, StateSnapshot};
use diff::Subject;
use fields::ObjectKind;
use matched::{plan_matched, Matched, PlanPart};

/// An application's or client's create as [`Builder::created`] judges it.
struct Created {
    record: Record,
    fields: Vec<diff::FieldChange>,
    pending: bool,
}

/// The applications and clients of a plan as they are planned.
struct Builder<'a> {
    state: &'a StateSnapshot,
    part: PlanPart,
    delete_candidates: Vec<Change>,
}

impl Builder<'_> {
    /// What the state records of an application or a client of `kind` ([`applied`]); `last`:
    /// its entry's last record, if it has one.
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
            last_applied: applied(
                Subject::catalogue(kind),
                spec,
                rules,
                last.map(|e| &e.last_applied),
                &self.state.salt,
            ),
            protect,
        }
    }

    /// What the state records of an application or client matched with a live object
    /// (`entry`: its state entry; none: it is adopted).
    fn matched_record(
        &self,
        kind: ObjectKind,
        entry: Option<&StateEntry>,
        (spec, rules): (&Map<String, Value>, &FieldRules),
        protect: bool,
    ) -> Record {
        let ownership = entry.map_or(Ownership::Adopted, |e| e.ownership);
        self.record(kind, ownership, (spec, rules), entry, protect)
    }

    /// Plans an application or client its manifest and the live tenant both hold
    /// ([`plan_matched`]).
    fn matched(&mut self, matched: Matched<'_>) {
        self.part.add(plan_matched(matched, &self.state.salt));
    }

    /// What the create of an application or client of `kind` records, the field changes of
    /// `sent` (its part of the body), and whether the manifest asks for it ([`asked_for`]);
    /// `again`: its state entry when it is created again after a deletion outside tenantsync.
    fn created(
        &self,
        kind: ObjectKind,
        (spec, rules): (&Map<String, Value>, &FieldRules),
        sent: &Map<String, Value>,
        again: Option<&StateEntry>,
        protect: bool,
    ) -> Created {
        let record = self.record(kind, Ownership::Created, (spec, rules), again, protect);
        let last = again.map(|e| &e.last_applied);
        let subject = Subject::catalogue(kind);
        let fields = created_fields(subject, rules, sent, last, &record.last_applied);
        Created {
            pending: asked_for(last, &record.last_applied, &fields),
            record,
            fields,
        }
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
        let created = self.created(
            kind,
            (&client.spec, &client.rules),
            &body,
            again,
            client.protect,
        );
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
    fn create_app(&mut self, desired: &DesiredState, app: &DesiredObject) {
        let (default, facts) = desired
            .default_client(app)
            .expect("a validated application has its default client among its clients");
        let (body, shown) = app_create_bodies(app, (default, facts));
        let address = app.address.clone();
        let again = self.state.entry(&address);
        let client_again = |client: &DesiredObject| again.and(self.state.entry(&client.address));
        let created = self.created(
            ObjectKind::App,
            (&app.spec, &app.rules),
            &app.spec,
            again,
            app.protect,
        );
        // The default client's part of the body (`first_client`), judged as a client's create.
        let first_client = body
            .get("first_client")
            .and_then(Value::as_object)
            .expect("an application's create body holds its default client");
        let default_again = client_again(default);
        let default_created = self.created(
            ObjectKind::Client(facts.protocol),
            (&default.spec, &default.rules),
            first_client,
            default_again,
            app.protect,
        );
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
        self.part.changes.push(Change {
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
        for (client, facts) in desired.clients(&app.name).filter(|(_, f)| !f.is_default) {
            let change = self.create_client_change(None, (client, facts), client_again(client));
            self.part.changes.push(change);
        }
    }
}

/// Makes the plan that brings the target to the desired state.
pub fn plan(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    plan_refreshed(desired, state, observed, None, options, context)
}

/// [`plan`] of what `read` read (`None`: everything, as [`plan`]): an object the state maps in
/// an application `read` left unread is neither planned nor taken as gone, and the plan counts
/// it as not refreshed (`plan --refresh changed`). With `options.hold_mass_delete`, deletions
/// past `--max-deletes`, or taking objects tenantsync does not manage with an application
/// (without `--allow-cascade`), are held (planned as without `--prune`, each saying why, and a
/// warning) and every other change is planned, from the same reads.
pub fn plan_refreshed(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    let planned = plan_as_asked(desired, state, observed, read, options, context);
    let reason = match planned {
        Err(e @ (PlanError::MassDelete { .. } | PlanError::UnmanagedCascade { .. }))
            if options.hold_mass_delete =>
        {
            e
        }
        other => return other,
    };
    let without_deletes = PlanOptions {
        prune: false,
        ..options.clone()
    };
    let mut plan = plan_as_asked(desired, state, observed, read, &without_deletes, context)?;
    // What would have gone with --prune says why it stays: one row per object the manifests
    // dropped (`/status` and the page show them). The count of the deletions includes what
    // each takes with it, so the warning says how many rows that is when they differ.
    let listed = plan
        .skipped_deletes
        .iter()
        .filter(|s| s.reason.contains("--prune"))
        .count();
    let held = match reason {
        PlanError::MassDelete { count, max } => {
            let rows = match count.saturating_sub(listed) {
                0 => String::new(),
                taken => format!(
                    " ({listed} dropped from the manifests, {taken} taken with them)"
                ),
            };
            format!(
                "{count} {HELD_DELETIONS}{rows}: more than --max-deletes {max}; review them, then raise --max-deletes or pass --allow-mass-delete (every other change is applied)"
            )
        }
        PlanError::UnmanagedCascade { clients } => format!(
            "{HELD_DELETIONS}: deleting an application would take objects tenantsync never created or adopted with it ({}); move them, manage them in the manifests, or pass --allow-cascade (every other change is applied)",
            clients.join("; ")
        ),
        other => return Err(other),
    };
    for skipped in &mut plan.skipped_deletes {
        if skipped.reason.contains("--prune") {
            skipped.reason = format!("held: {held}");
        }
    }
    plan.warnings.push(held);
    Ok(plan)
}

/// What the warning of a plan that held its deletions says (see [`held_deletions`]).
const HELD_DELETIONS: &str = "deletions held";

/// The warning of a plan that held its deletions past `--max-deletes`
/// (`PlanOptions::hold_mass_delete`), if it did.
pub fn held_deletions(plan: &Plan) -> Option<&str> {
    plan.warnings
        .iter()
        .map(String::as_str)
        .find(|w| w.contains(HELD_DELETIONS))
}

/// [`plan_refreshed`], refusing deletions past `--max-deletes`.
fn plan_as_asked(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    read: Option<&ReadSet>,
    options: &PlanOptions,
    context: &PlanContext,
) -> Result<Plan, PlanError> {
    // References by name become ids (or placeholders for objects this plan creates) before
    // the applications and clients are compared with the live ones.
    let app_ids = known_app_ids(desired, state, observed, &gone_apps(state, observed, read));
    let (resolved, references, deferred) =
        resolve_references(desired, state, &observed.objects, &app_ids);
    let apps = observed.apps();
    let PlanPart {
        mut changes,
        unchanged,
        skipped: skipped_deletes,
        warnings,
        state_updates,
        waiting,
    } = plan_apps(&resolved, state, observed, &apps, read, options)?.merged(objects::plan_objects(
        &resolved,
        state,
        &observed.objects,
        &app_ids,
        options,
    )?);
    // A unique value passed between applications is given up before it is taken (every kind's
    // changes known: an application's deletion waits for its roles' and role groups').
    // A live holder left out of the manifests but kept says why where its value is taken.
    let kept: BTreeMap<&str, &str> = skipped_deletes
        .iter()
        .filter_map(|s| {
            // Applications and clients only: another kind's is named by its document.
            let entry = state.entry(&Address::parse(&s.name).filter(Address::is_app)?)?;
            Some((entry.server_id(), s.reason.as_str()))
        })
        .collect();
    unique::order_releases(&mut changes, &apps, &kept);
    // A deletion upstream refuses while the object is named says who still names it.
    in_use::note_referrers(&mut changes, &apps);
    changes.sort_by_key(|c| c.phase);
    // Every live object that goes counts, of every kind, the clients, roles and role groups an
    // application takes with it included; an entry whose object is gone already deletes nothing.
    let live_deletes: usize = changes
        .iter()
        .filter(|c| c.action == Action::Delete && !c.state_only)
        .map(|c| 1 + c.cascade.len())
        .sum::<usize>();
    if live_deletes > options.max_deletes && !options.allow_mass_delete {
        return Err(PlanError::MassDelete {
            count: live_deletes,
            max: options.max_deletes,
        });
    }
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let summary = Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        adopt: count(Action::Adopt),
        unchanged,
        skipped_delete: skipped_deletes.len(),
        waiting,
    };
    let deferred_any = !deferred.is_empty();
    // Warnings name objects and values: what the environment gave is never shown.
    let unknown_ids = references::unknown_ids(desired, &observed.objects, &app_ids);
    let warnings = (warnings.iter().chain(&deferred).chain(&unknown_ids))
        .map(|w| desired.redactions.redact(w))
        .collect();
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        summary,
        changes,
        skipped_deletes,
        state_updates,
        held_for_drift: Vec::new(),
        warnings,
        target: context.target.clone(),
        state_lineage: state.lineage.clone(),
        manifests_fingerprint: context.manifests_fingerprint.clone(),
        not_refreshed: read.map(|r| r.not_refreshed(state)),
        refreshed: read.cloned(),
        // Only what the plan shows needs a name.
        references,
        deferred: deferred_any,
    };
    name_removed_references(&mut plan, desired, state);
    Ok(plan)
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

/// [`plan_refreshed`] of the applications and clients alone (references already resolved).
fn plan_apps(
    desired: &DesiredState,
    state: &StateSnapshot,
    observed: &Observed,
    apps: &[LiveApp<'_>],
    read: Option<&ReadSet>,
    options: &PlanOptions,
) -> Result<PlanPart, PlanError> {
    let unread = |e: &StateEntry| read.is_some_and(|r| !r.reads(e));
    let live_by_id: BTreeMap<&str, &LiveApp> = apps.iter().map(|a| (a.id(), a)).collect();
    let mut live_apps = LiveSet::new(&APPLICATION, apps);
    let claimed_apps: BTreeSet<&str> = state
        .app_entries()
        .filter(|(a, _)| a.kind == AnyKind::Application)
        .map(|(_, e)| e.application_id())
        .collect();
    // Live client ids already mapped to a key, per app (adoption never takes them).
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
    let mut b = Builder {
        state,
        part: PlanPart::default(),
        delete_candidates: Vec::new(),
    };

    for app in desired.apps() {
        let address = app.address.clone();
        let entry = state.entry(&address);
        if entry.is_some_and(unread) {
            continue;
        }
        let identity = live_apps.identify(&address, Mapping::of(entry), app.app_name(), |id| {
            claimed_apps.contains(id)
        })?;
        // None live: created (again, when the state holds its entry).
        let Some((live, entry)) = identity.found(entry) else {
            b.create_app(desired, app);
            continue;
        };
        let app_id = live.id().to_owned();
        if live.unlisted {
            b.part.warnings.push(format!(
                "{address}: the list of applications leaves it out, but a lookup by id ({app_id}) finds it; \
                 it is neither created again nor deleted (does the credential see every application? a list can also lag)"
            ));
        }
        let record = b.matched_record(ObjectKind::App, entry, (&app.spec, &app.rules), app.protect);
        b.matched(Matched {
            name: address.to_string(),
            address,
            subject: Subject::catalogue(ObjectKind::App),
            entry,
            replaces: None,
            live: live.app,
            spec: &app.spec,
            rules: &app.rules,
            record,
            app_id: Some(app_id.clone()),
            id: None,
        });
        plan_clients(&mut b, desired, app, live, &app_id, &claimed_clients)?;
    }

    // Objects in the state that left the manifests.
    for (address, entry) in state.app_entries() {
        if desired.object(address).is_some() || unread(entry) {
            continue;
        }
        if address.kind == AnyKind::Client && desired.app(address.app_name()).is_none() {
            continue; // deleted with its application
        }
        let live_app = live_by_id.get(entry.application_id());
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
                        managed: claimed_clients
                            .get(entry.application_id())
                            .is_some_and(|ids| ids.contains(id.as_str())),
                        id,
                    }
                })
                .chain(guards::app_objects_cascade(
                    entry.application_id(),
                    state,
                    &observed.objects,
                ))
                .collect(),
            _ => Vec::new(),
        };
        let mut change = departure(address.clone(), address.to_string(), entry, presence);
        if let Some(note) = cascade_note(&cascade) {
            change.notes.push(note);
        }
        change.cascade = cascade;
        b.delete_candidates.push(change);
    }

    let candidates = std::mem::take(&mut b.delete_candidates);
    let mut deletes = Vec::new();
    for change in candidates {
        // Every candidate is a state entry's (`delete_candidate`).
        let Some(entry) = change.app_address().and_then(|a| state.entry(a)) else {
            continue;
        };
        let reason = guards::kept_because(desired, entry.protect, options)
            .map(str::to_owned)
            .or_else(|| match change.kind() {
                AnyKind::Application => guards::app_kept_for_its_objects(
                    desired,
                    state,
                    change.address.application().unwrap_or_default(),
                ),
                _ => None,
            });
        match reason {
            Some(reason) => b.part.skipped.push(SkippedDelete {
                name: change.name.clone(),
                reason,
            }),
            None => deletes.push(change),
        }
    }
    // Prune deletes only what tenantsync created or adopted: an application whose deletion
    // would take hand-made clients, roles or role groups with it needs --allow-cascade.
    let mut unmanaged: Vec<String> = Vec::new();
    for d in &mut deletes {
        if let (AnyKind::Application, Some(app_id), false) = (d.kind(), &d.app_id, d.state_only) {
            let unread = guards::unread_app_collections(app_id, &observed.objects);
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
    if !unmanaged.is_empty() && !options.allow_cascade {
        return Err(PlanError::UnmanagedCascade { clients: unmanaged });
    }
    // Execution order: by phase (see `Phase`), then by address for a stable rendering.
    let mut part = b.part;
    part.changes.extend(deletes);
    part.changes
        .sort_by(|x, y| (x.phase, &x.address).cmp(&(y.phase, &y.address)));
    Ok(part)
}
